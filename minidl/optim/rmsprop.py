"""RMSprop (Hinton's lecture 6e), with momentum and the centered variant."""
from ..device import array_module
from .optimizer import Optimizer, _check, check_implementation_flags


class RMSprop(Optimizer):
    """RMSprop, PyTorch's formulation.

    ``s = alpha * s + (1 - alpha) * g * g``; the denominator is ``sqrt(s) + eps``, or with ``centered``
    ``sqrt(s - a * a) + eps`` where ``a = lerp(a, g, 1 - alpha)`` is the running mean gradient. Without
    momentum ``p -= lr * g / denom``; with it ``b = momentum * b + g / denom`` and ``p -= lr * b``.

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the squared-gradient average (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalize by an estimate of the gradient's variance.
        maximize: ascend the objective instead of descending.

    Example:
        >>> opt = md.optim.RMSprop([w], lr=0.01, momentum=0.9, centered=True)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 maximize=False, *, foreach=None, capturable=False, differentiable=False, fused=None):
        check_implementation_flags(type(self).__name__, differentiable)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
        _check(g["eps"] >= 0, f"Invalid epsilon value: {g['eps']}")
        _check(g["momentum"] >= 0, f"Invalid momentum value: {g['momentum']}")
        _check(g["weight_decay"] >= 0, f"Invalid weight_decay value: {g['weight_decay']}")
        _check(g["alpha"] >= 0, f"Invalid alpha value: {g['alpha']}")

    def _init_state(self, p, group):
        zeros_like = array_module(p.array).zeros_like
        state = {"step": 0.0, "square_avg": zeros_like(p.array)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_like(p.array)
        if group["centered"]:
            state["grad_avg"] = zeros_like(p.array)
        return state

    def _step_group(self, group, params, grads, states):
        centered, momentum = group["centered"], float(group["momentum"])
        state_lists = ([s["square_avg"] for s in states], [s["grad_avg"] for s in states] if centered else [],
                       [s["momentum_buffer"] for s in states] if momentum > 0 else [])
        self._run("rmsprop_step", self._advance(states), (params, grads, *state_lists), group["lr"], group["alpha"],
                  group["eps"], group["weight_decay"], momentum, centered, group["maximize"])
