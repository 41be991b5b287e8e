"""``md.nn.utils``: regularization penalties and gradient clipping (``md.nn.utils.clip_grad``)."""
import math

from ...autograd.grad_mode import no_grad
from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "l1_penalty", "l2_penalty"]


def _params(params, op):
    if isinstance(params, Tensor):
        return [params]
    params = list(params)
    if not params:
        raise ValueError(f"{op}: got an empty list of parameters")
    return params


def l1_penalty(params):
    """Sum of absolute values of every parameter, a differentiable scalar to add to a loss.

    Example:
        >>> loss = loss + 1e-4 * md.nn.utils.l1_penalty(model.parameters())
    """
    total = None
    for p in _params(params, "l1_penalty"):
        s = p.abs().sum()
        total = s if total is None else total + s
    return total


def l2_penalty(params):
    """Sum of squares of every parameter (no factor 1/2), a differentiable scalar to add to a loss.

    Its gradient is ``2 * p``, so ``lam * l2_penalty`` matches SGD's ``weight_decay=2 * lam``.

    Example:
        >>> loss = loss + 1e-4 * md.nn.utils.l2_penalty(model.parameters())
    """
    total = None
    for p in _params(params, "l2_penalty"):
        s = (p * p).sum()
        total = s if total is None else total + s
    return total


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients in place so that their joint ``norm_type``-norm is at most ``max_norm``.

    As PyTorch: the total norm is the norm of the per-parameter norms, gradients are multiplied by
    ``min(1, max_norm / (total + 1e-6))``; parameters without a gradient are skipped.

    Returns:
        The total norm before clipping, a 0-d Tensor (0 when no parameter has a gradient).

    Example:
        >>> loss.backward(); md.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
    """
    grads = [p.grad for p in ([parameters] if isinstance(parameters, Tensor) else parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return Tensor(0.0)
    xp = grads[0]._xp
    with no_grad():
        if math.isinf(norm_type):
            per = [xp.abs(g.array).max() if g.numel() else xp.asarray(0.0) for g in grads]
            total = xp.max(xp.stack([xp.asarray(v, dtype=xp.float64) for v in per]))
        else:
            per = [(xp.abs(g.array.astype(xp.float64)) ** norm_type).sum() ** (1.0 / norm_type) for g in grads]
            total = (xp.stack(per) ** norm_type).sum() ** (1.0 / norm_type)
        total_f = float(total)
        if error_if_nonfinite and not math.isfinite(total_f):
            raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                               f"{total_f}; set error_if_nonfinite=False to clip anyway")
        coef = min(max_norm / (total_f + 1e-6), 1.0)
        for g in grads:
            g.array *= g.array.dtype.type(coef)
    return Tensor(xp.asarray(total, dtype=grads[0].array.dtype))


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient in place to [-clip_value, clip_value]."""
    for p in [parameters] if isinstance(parameters, Tensor) else parameters:
        if p.grad is not None:
            xp = p.grad._xp
            xp.clip(p.grad.array, -clip_value, clip_value, out=p.grad.array)
