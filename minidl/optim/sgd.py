"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""
import numpy as np

from ..device import array_module
from .optimizer import Optimizer, _check, check_implementation_flags


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's formulation.

    With ``g = grad + weight_decay * p`` (negated first when ``maximize``): the momentum buffer is
    ``b = g`` on the first step, then ``b = momentum * b + (1 - dampening) * g``; the step direction
    is ``g + momentum * b`` (Nesterov) or ``b``; ``p -= lr * direction``.

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening of the momentum (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        nesterov: use Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: ascend the objective instead of descending.

    Example:
        >>> w = md.tensor([1.0, 2.0], requires_grad=True)
        >>> opt = md.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> (w * w).sum().backward(); opt.step()      # w == [0.8, 1.6]
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False, *,
                 foreach=None, capturable=False, differentiable=False, fused=None):
        check_implementation_flags(type(self).__name__, differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g):
        _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
        _check(g["momentum"] >= 0, f"Invalid momentum value: {g['momentum']}")
        _check(g["weight_decay"] >= 0, f"Invalid weight_decay value: {g['weight_decay']}")
        _check(not g["nesterov"] or (g["momentum"] > 0 and g["dampening"] == 0),
               "Nesterov momentum requires a momentum and zero dampening")

    def _init_state(self, p, group):
        return {}                           # the momentum buffer starts as a copy of the first gradient

    def _step_group(self, group, params, grads, states):
        momentum = float(group["momentum"])
        first, bufs = [False] * len(params) if momentum == 0 else [], []
        if momentum != 0:
            for param, grad, state in zip(params, grads, states):
                buf = state.get("momentum_buffer")
                first.append(buf is None)
                if buf is None:             # takes this step's direction: the gradient's dtype, as g.copy() had
                    dtype = array_module(param).result_type(grad, param) if group["weight_decay"] else grad.dtype
                    buf = state["momentum_buffer"] = array_module(param).empty(param.shape, dtype=dtype)
                bufs.append(buf)
        self._run("sgd_step", np.array(first, dtype=bool), (params, grads, bufs), group["lr"], momentum,
                  group["dampening"], group["weight_decay"], group["nesterov"], group["maximize"])
