"""``md.nn.utils``: regularization penalties and gradient clipping (``md.nn.utils.clip_grad``)."""
import math

from ...autograd.grad_mode import no_grad
from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "l1_penalty", "l2_penalty", "get_total_norm", "clip_grads_with_norm_",
           "clip_grad_norm"]


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


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of the per-tensor norms of ``tensors`` (gradients, usually), a 0-d Tensor.

    Example:
        >>> md.nn.utils.get_total_norm([md.tensor([3.0]), md.tensor([4.0])]).item()
        5.0
    """
    tensors = [tensors] if isinstance(tensors, Tensor) else [t for t in tensors if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return Tensor._from(0.0)
    xp = tensors[0]._xp
    with no_grad():
        if math.isinf(norm_type):
            per = [xp.abs(t.array).max() if t.numel() else xp.asarray(0.0) for t in tensors]
            total = xp.max(xp.stack([xp.asarray(v, dtype=xp.float64) for v in per]))
        else:
            per = [(xp.abs(t.array.astype(xp.float64)) ** norm_type).sum() ** (1.0 / norm_type) for t in tensors]
            total = (xp.stack(per) ** norm_type).sum() ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(float(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                           f"{float(total)}; set error_if_nonfinite=False to clip anyway")
    return Tensor._wrap(xp.asarray(total, dtype=tensors[0].array.dtype))


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients in place by ``min(1, max_norm / (total_norm + 1e-6))`` (``total_norm`` from
    ``get_total_norm``), as ``clip_grad_norm_`` does in one call."""
    grads = [p.grad for p in ([parameters] if isinstance(parameters, Tensor) else parameters) if p.grad is not None]
    coef = min(max_norm / (float(total_norm) + 1e-6), 1.0)
    with no_grad():
        for g in grads:
            g.array *= g.array.dtype.type(coef)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients in place so that their joint ``norm_type``-norm is at most ``max_norm``.

    As PyTorch: the total norm is the norm of the per-parameter norms, gradients are multiplied by
    ``min(1, max_norm / (total + 1e-6))``; parameters without a gradient are skipped.

    Returns:
        The total norm before clipping, a 0-d Tensor (0 when no parameter has a gradient).

    Example:
        >>> loss.backward(); md.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    total = get_total_norm([p.grad for p in params], norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The deprecated spelling of ``clip_grad_norm_`` (warns, as PyTorch)."""
    import warnings  # noqa: PLC0415
    warnings.warn("md.nn.utils.clip_grad_norm is deprecated in favor of md.nn.utils.clip_grad_norm_", FutureWarning,
                  stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite)


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient in place to [-clip_value, clip_value]."""
    for p in [parameters] if isinstance(parameters, Tensor) else parameters:
        if p.grad is not None:
            xp = p.grad._xp
            xp.clip(p.grad.array, -clip_value, clip_value, out=p.grad.array)
