"""Averaged SGD (Polyak & Juditsky, 1992): SGD with a decaying step size and a running average of the iterates."""
import numpy as np

from ..backends.reference import _direction
from ..device import array_module
from .optimizer import Optimizer, _check, check_implementation_flags


class ASGD(Optimizer):
    """Averaged stochastic gradient descent, PyTorch's formulation.

    Each step: ``p *= 1 - lambd * eta``, ``p -= eta * g``; the average ``ax`` copies ``p`` until step ``t0``
    and then moves toward it by ``mu``; afterwards ``eta = lr / (1 + lambd * lr * t) ** alpha`` and
    ``mu = 1 / max(1, t - t0)``. ``eta`` and ``mu`` are kept as float32 scalars, as PyTorch keeps them.
    The average is ``optimizer.state[p]["ax"]``.

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate (default 1e-2).
        lambd: decay term (default 1e-4).
        alpha: power of the eta update (default 0.75).
        t0: the step at which averaging starts (default 1e6).
        weight_decay: L2 penalty added to the gradient (default 0).
        maximize: ascend the objective instead of descending.

    Example:
        >>> opt = md.optim.ASGD([w], lr=0.01, t0=100)
        >>> loss.backward(); opt.step()
    """

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, maximize=False, *,
                 foreach=None, capturable=False, differentiable=False, fused=None):
        check_implementation_flags(type(self).__name__, differentiable)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
        _check(g["weight_decay"] >= 0, f"Invalid weight_decay value: {g['weight_decay']}")

    def _init_state(self, p, group):
        return {"step": 0.0, "eta": np.float32(group["lr"]), "mu": np.float32(1.0),
                "ax": array_module(p.array).zeros_like(p.array)}

    def _step_group(self, group, params, grads, states):
        lr, lambd, alpha, t0 = float(group["lr"]), float(group["lambd"]), float(group["alpha"]), float(group["t0"])
        self._advance(states)
        for param, grad, state in zip(params, grads, states):
            g = _direction(param, grad, group["maximize"], float(group["weight_decay"]))
            eta = float(state["eta"])
            param *= 1 - lambd * eta
            param += -eta * g
            ax = state["ax"]
            if float(state["mu"]) != 1:
                ax += (param - ax) * state["mu"]
            else:
                ax[...] = param
            step = state["step"]
            state["eta"] = np.float32(lr / ((1 + lambd * lr * step) ** alpha))
            state["mu"] = np.float32(1 / max(1, step - t0))

    def _load_value(self, key, value, p):
        if key in ("eta", "mu"):
            return np.float32(float(value))
        return super()._load_value(key, value, p)
