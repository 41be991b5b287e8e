"""Adam and AdamW (decoupled weight decay), with the AMSGrad variant."""
from ..device import array_module
from .optimizer import Optimizer, _check, check_implementation_flags


def check_adam_group(g):
    """PyTorch's argument checks shared by the Adam family: lr, eps, two betas in [0, 1), weight_decay."""
    _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
    _check(g["eps"] >= 0, f"Invalid epsilon value: {g['eps']}")
    _check(len(g["betas"]) == 2, f"betas must be a pair (beta1, beta2), got {g['betas']}")
    for i, beta in enumerate(g["betas"]):
        _check(0.0 <= beta < 1.0, f"Invalid beta parameter at index {i}: {beta}")
    _check(g["weight_decay"] >= 0, f"Invalid weight_decay value: {g['weight_decay']}")


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), PyTorch's formulation.

    ``m = lerp(m, g, 1 - beta1)``, ``v = beta2 * v + (1 - beta2) * g * g``, then
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``; with ``amsgrad`` the
    running maximum of ``v`` replaces ``v`` in the denominator. ``weight_decay`` adds
    ``weight_decay * p`` to the gradient (L2); use :class:`AdamW` for decoupled decay.

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate (default 1e-3).
        betas: decay rates of the first and second moment estimates, each in [0, 1).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: L2 penalty (default 0).
        amsgrad: use the AMSGrad variant.
        maximize: ascend the objective instead of descending.

    Example:
        >>> opt = md.optim.Adam([w], lr=1e-3, betas=(0.9, 0.999))
        >>> loss.backward(); opt.step(); opt.zero_grad()
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
                 maximize=False, *, foreach=None, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        check_implementation_flags(type(self).__name__, differentiable)
        if decoupled_weight_decay:              # PyTorch's Adam(decoupled_weight_decay=True) is AdamW
            self._decoupled = True
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        check_adam_group(g)

    def _init_state(self, p, group):
        zeros_like = array_module(p.array).zeros_like
        state = {"step": 0.0, "exp_avg": zeros_like(p.array), "exp_avg_sq": zeros_like(p.array)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_like(p.array)
        return state

    def _step_group(self, group, params, grads, states):
        beta1, beta2 = group["betas"]
        amsgrad = group["amsgrad"]
        state_lists = ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                       [s["max_exp_avg_sq"] for s in states] if amsgrad else [])
        self._run("adam_step", self._advance(states), (params, grads, *state_lists), group["lr"], beta1, beta2,
                  group["eps"], group["weight_decay"], amsgrad, group["maximize"], self._decoupled)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): ``p *= 1 - lr * weight_decay`` before the step.

    Same arguments as :class:`Adam`, but ``weight_decay`` defaults to 1e-2 and never touches the gradient.

    Example:
        >>> opt = md.optim.AdamW([w], lr=1e-3, weight_decay=0.01)
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False, *, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize, differentiable=differentiable)

