"""Adadelta (Zeiler, 2012): per-coordinate steps from running averages of squared gradients and updates."""
from ..backends.reference import _addcmul_, _direction, _xp
from ..device import array_module
from .optimizer import Optimizer, _check, check_implementation_flags


class Adadelta(Optimizer):
    """Adadelta, PyTorch's formulation.

    With ``g = grad + weight_decay * p`` (negated first when ``maximize``):
    ``v = rho * v + (1 - rho) * g * g``, ``delta = sqrt(u + eps) / sqrt(v + eps) * g``,
    ``u = rho * u + (1 - rho) * delta * delta`` and ``p -= lr * delta``.

    Args:
        params: Tensors or param-group dicts.
        lr: scale applied to ``delta`` (default 1.0).
        rho: decay rate of both running averages (default 0.9).
        eps: added inside both square roots (default 1e-6).
        weight_decay: L2 penalty added to the gradient (default 0).
        maximize: ascend the objective instead of descending.

    Example:
        >>> w = md.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = md.optim.Adadelta([w])
        >>> (w * w).sum().backward(); opt.step()
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False,
                 foreach=None, capturable=False, differentiable=False, fused=None):
        check_implementation_flags(type(self).__name__, differentiable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
        _check(0.0 <= g["rho"] <= 1.0, f"Invalid rho value: {g['rho']}")
        _check(g["eps"] >= 0, f"Invalid epsilon value: {g['eps']}")
        _check(g["weight_decay"] >= 0, f"Invalid weight_decay value: {g['weight_decay']}")

    def _init_state(self, p, group):
        zeros_like = array_module(p.array).zeros_like
        return {"step": 0.0, "square_avg": zeros_like(p.array), "acc_delta": zeros_like(p.array)}

    def _step_group(self, group, params, grads, states):
        lr, rho, eps = float(group["lr"]), float(group["rho"]), float(group["eps"])
        self._advance(states)
        for param, grad, state in zip(params, grads, states):
            xp = _xp(param)
            g = _direction(param, grad, group["maximize"], float(group["weight_decay"]))
            square_avg, acc_delta = state["square_avg"], state["acc_delta"]
            square_avg *= rho
            _addcmul_(square_avg, g, g, 1 - rho)
            delta = xp.sqrt(acc_delta + eps)
            delta /= xp.sqrt(square_avg + eps)
            delta *= g
            acc_delta *= rho
            _addcmul_(acc_delta, delta, delta, 1 - rho)
            param += -lr * delta
