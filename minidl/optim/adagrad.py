"""Adagrad (Duchi et al., 2011) with learning-rate decay."""
from ..device import array_module
from .optimizer import Optimizer, _check, check_implementation_flags


class Adagrad(Optimizer):
    """Adagrad, PyTorch's formulation.

    ``s += g * g``; ``p -= clr * g / (sqrt(s) + eps)`` with ``clr = lr / (1 + (t - 1) * lr_decay)`` at step ``t``.

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay per step (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: starting value of the squared-gradient sum (default 0).
        eps: added to the denominator (default 1e-10).
        maximize: ascend the objective instead of descending.

    Example:
        >>> opt = md.optim.Adagrad([w], lr=0.1, lr_decay=1e-3)
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 maximize=False, *, foreach=None, capturable=False, differentiable=False, fused=None):
        check_implementation_flags(type(self).__name__, differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
        _check(g["lr_decay"] >= 0, f"Invalid lr_decay value: {g['lr_decay']}")
        _check(g["weight_decay"] >= 0, f"Invalid weight_decay value: {g['weight_decay']}")
        _check(g["initial_accumulator_value"] >= 0,
               f"Invalid initial_accumulator_value value: {g['initial_accumulator_value']}")
        _check(g["eps"] >= 0, f"Invalid epsilon value: {g['eps']}")

    def _init_state(self, p, group):
        return {"step": 0.0, "sum": array_module(p.array).full_like(p.array, float(group["initial_accumulator_value"]))}

    def _step_group(self, group, params, grads, states):
        self._run("adagrad_step", self._advance(states), (params, grads, [s["sum"] for s in states]), group["lr"],
                  group["lr_decay"], group["weight_decay"], group["eps"], group["maximize"])
