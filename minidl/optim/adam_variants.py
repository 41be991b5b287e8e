"""Adam's relatives: Adamax (infinity norm), NAdam (Nesterov momentum) and RAdam (rectified variance)."""

import numpy as np

from ..backends.reference import _addcdiv_, _addcmul_, _direction, _lerp_, _xp
from ..device import array_module
from .adam import check_adam_group
from .optimizer import Optimizer, _check, check_implementation_flags


class _AdamFamily(Optimizer):
    """Shared checks and the two moment buffers; subclasses name their second buffer and write the update."""

    _second = "exp_avg_sq"

    def _check_group(self, g):
        check_adam_group(g)

    def _init_state(self, p, group):
        zeros_like = array_module(p.array).zeros_like
        return {"step": 0.0, "exp_avg": zeros_like(p.array), self._second: zeros_like(p.array)}

    def _decay(self, group, param):
        """Decoupled weight decay scales the parameter; returns the L2 coefficient left for the gradient."""
        wd = float(group["weight_decay"])
        if wd != 0 and group.get("decoupled_weight_decay", False):
            param *= 1 - float(group["lr"]) * wd
            return 0.0
        return wd


class Adamax(_AdamFamily):
    """Adamax (Kingma & Ba, 2015, section 7): Adam with the infinity norm in place of the second moment.

    ``m = lerp(m, g, 1 - beta1)``, ``u = max(beta2 * u, |g| + eps)``, ``p -= lr / (1 - beta1**t) * m / u``.

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate (default 2e-3).
        betas: decay rates of the first moment and of the infinity norm (default (0.9, 0.999)).
        eps: added to ``|g|`` (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        maximize: ascend the objective instead of descending.

    Example:
        >>> opt = md.optim.Adamax([w], lr=2e-3)
    """

    _second = "exp_inf"

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, *, maximize=False,
                 foreach=None, capturable=False, differentiable=False, fused=None):
        check_implementation_flags(type(self).__name__, differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _step_group(self, group, params, grads, states):
        beta1, beta2 = group["betas"]
        lr, eps = float(group["lr"]), float(group["eps"])
        self._advance(states)
        for param, grad, state in zip(params, grads, states):
            xp = _xp(param)
            g = _direction(param, grad, group["maximize"], float(group["weight_decay"]))
            exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
            _lerp_(exp_avg, g, 1 - beta1)
            exp_inf *= beta2
            xp.maximum(exp_inf, xp.abs(g) + eps, out=exp_inf)
            _addcdiv_(param, exp_avg, exp_inf, -(lr / (1 - beta1 ** state["step"])))


class NAdam(_AdamFamily):
    """NAdam (Dozat, 2016): Adam with Nesterov momentum and a warming momentum schedule.

    ``mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))``; with the product ``M_t`` of the ``mu`` so far
    (a float32 scalar, as PyTorch keeps it) and ``d = sqrt(v / (1 - beta2**t)) + eps``:
    ``p -= lr * (1 - mu_t) / (1 - M_t) * g / d + lr * mu_{t+1} / (1 - M_t * mu_{t+1}) * m / d``.

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate (default 2e-3).
        betas: decay rates of the moment estimates (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty, or decoupled decay with ``decoupled_weight_decay`` (default 0).
        momentum_decay: speed of the momentum warm-up (default 4e-3).
        decoupled_weight_decay: scale ``p *= 1 - lr * weight_decay`` instead of adding to the gradient (NAdamW).
        maximize: ascend the objective instead of descending.

    Example:
        >>> opt = md.optim.NAdam([w], lr=2e-3, momentum_decay=4e-3)
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, maximize=False,
                 foreach=None, capturable=False, differentiable=False, fused=None):
        check_implementation_flags(type(self).__name__, differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _check_group(self, g):
        super()._check_group(g)
        _check(g["momentum_decay"] >= 0, f"Invalid momentum_decay value: {g['momentum_decay']}")

    def _init_state(self, p, group):
        return {**super()._init_state(p, group), "mu_product": np.float32(1.0)}

    def _step_group(self, group, params, grads, states):
        beta1, beta2 = group["betas"]
        lr, eps, psi = float(group["lr"]), float(group["eps"]), float(group["momentum_decay"])
        self._advance(states)
        for param, grad, state in zip(params, grads, states):
            xp = _xp(param)
            step = state["step"]
            wd = self._decay(group, param)
            g = _direction(param, grad, group["maximize"], wd)
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
            state["mu_product"] = mu_product = np.float32(state["mu_product"] * np.float32(mu))
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            _lerp_(exp_avg, g, 1 - beta1)
            exp_avg_sq *= beta2
            _addcmul_(exp_avg_sq, g, g, 1 - beta2)
            denom = xp.sqrt(exp_avg_sq / (1 - beta2 ** step))
            denom += eps
            mu_product_next = float(mu_product) * mu_next
            _addcdiv_(param, g, denom, -lr * (1.0 - mu) / (1.0 - float(mu_product)))
            _addcdiv_(param, exp_avg, denom, -lr * mu_next / (1.0 - mu_product_next))

    def _load_value(self, key, value, p):
        if key == "mu_product":
            return np.float32(float(value))
        return super()._load_value(key, value, p)


class RAdam(_AdamFamily):
    """RAdam (Liu et al., 2019): Adam whose adaptive step is switched on once its variance is tractable.

    With ``rho_inf = 2 / (1 - beta2) - 1`` and ``rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)``: while
    ``rho_t <= 5`` the step is SGD with momentum, ``p -= lr * m / (1 - beta1**t)``; afterwards it is Adam's step
    times the rectification ``r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))``.

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moment estimates (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty, or decoupled decay with ``decoupled_weight_decay`` (default 0).
        decoupled_weight_decay: scale ``p *= 1 - lr * weight_decay`` instead of adding to the gradient.
        maximize: ascend the objective instead of descending.

    Example:
        >>> opt = md.optim.RAdam([w], lr=1e-3)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        check_implementation_flags(type(self).__name__, differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def _step_group(self, group, params, grads, states):
        beta1, beta2 = group["betas"]
        lr, eps = float(group["lr"]), float(group["eps"])
        rho_inf = 2 / (1 - beta2) - 1
        self._advance(states)
        for param, grad, state in zip(params, grads, states):
            xp = _xp(param)
            step = state["step"]
            wd = self._decay(group, param)
            g = _direction(param, grad, group["maximize"], wd)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            _lerp_(exp_avg, g, 1 - beta1)
            exp_avg_sq *= beta2
            _addcmul_(exp_avg_sq, g, g, 1 - beta2)
            bias_correction2 = 1 - beta2 ** step
            corrected = exp_avg / (1 - beta1 ** step)
            rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
            if rho_t > 5.0:
                rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                adaptive = xp.sqrt(exp_avg_sq)
                adaptive += eps
                adaptive = bias_correction2 ** 0.5 / adaptive
                param -= corrected * lr * adaptive * rect
            else:
                param -= corrected * lr
