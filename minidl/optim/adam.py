"""Adam and AdamW (decoupled weight decay), with the AMSGrad variant."""
from ..device import array_module
from ._kernels import addcdiv_, addcmul_, lerp_, sqrt, zeros_like
from .optimizer import Optimizer, _check


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
                 maximize=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
        _check(g["eps"] >= 0, f"Invalid epsilon value: {g['eps']}")
        _check(len(g["betas"]) == 2, f"betas must be a pair (beta1, beta2), got {g['betas']}")
        for i, beta in enumerate(g["betas"]):
            _check(0.0 <= beta < 1.0, f"Invalid beta parameter at index {i}: {beta}")
        _check(g["weight_decay"] >= 0, f"Invalid weight_decay value: {g['weight_decay']}")

    def _init_state(self, p, group):
        state = {"step": 0.0, "exp_avg": zeros_like(p.data), "exp_avg_sq": zeros_like(p.data)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_like(p.data)
        return state

    def _update(self, param, grad, state, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        state["step"] = step = state["step"] + 1
        g = -grad if group["maximize"] else grad
        if wd != 0:
            if self._decoupled:
                param *= 1 - lr * wd
            else:
                g = g + wd * param
        m, v = state["exp_avg"], state["exp_avg_sq"]
        lerp_(m, g, 1 - beta1)
        v *= beta2
        addcmul_(v, g, g, 1 - beta2)
        step_size = lr / (1 - beta1 ** step)
        bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
        if group["amsgrad"]:
            vmax = state["max_exp_avg_sq"]
            array_module(v).maximum(vmax, v, out=vmax)
            v = vmax
        denom = sqrt(v) / bias_correction2_sqrt
        denom += eps
        addcdiv_(param, m, denom, -step_size)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): ``p *= 1 - lr * weight_decay`` before the step.

    Same arguments as :class:`Adam`, but ``weight_decay`` defaults to 1e-2 and never touches the gradient.

    Example:
        >>> opt = md.optim.AdamW([w], lr=1e-3, weight_decay=0.01)
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)

