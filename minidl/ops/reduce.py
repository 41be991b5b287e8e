"""Reductions: sum, mean, var/std, max/min (with indices), arg-reductions, logsumexp, softmax."""
import builtins
from collections import namedtuple

import numpy as np

from .. import dtypes
from ..autograd.function import Function
from ..tensor import Tensor
from ..autograd.grad_mode import is_grad_enabled
from .elementwise import exp, kernel, saved_output, where

MaxMin = namedtuple("MaxMin", ["values", "indices"])


def normalize_dims(op, x, dim):
    """``dim`` (None, int or tuple, negative allowed) as a sorted tuple of axes, validated."""
    if dim is None:
        return tuple(range(x.ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not -builtins.max(x.ndim, 1) <= d < builtins.max(x.ndim, 1):
            raise IndexError(f"{op}: dim {d} is out of range for a tensor of shape {x.shape}")
        out.append(int(d) % builtins.max(x.ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim} repeats an axis")
    return tuple(sorted(out)) if x.ndim else ()


def _keep_shape(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _args(dim, axis, keepdim, keepdims):
    """SPEC section 10: ``axis=`` is an alias of ``dim=`` and ``keepdims=`` of ``keepdim=``."""
    return (dim if axis is None else axis), bool(keepdim or keepdims)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims = x.shape, dims
        if not x.dtype.is_floating_point:       # ints and bools sum to int64
            return x._xp.sum(x.array, axis=dims, keepdims=keepdim, dtype=np.int64)
        if not dims:
            return x.array.copy()
        out = kernel("reduce_sum", x.array, dims)
        return out if keepdim else out.reshape([s for i, s in enumerate(x.shape) if i not in dims])

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(_keep_shape(ctx.shape, ctx.dims)).expand(ctx.shape)


def sum(x, dim=None, keepdim=False, *, axis=None, keepdims=False, dtype=None):  # noqa: A001
    """Sum over ``dim`` (int, tuple or None for all); ``keepdim`` keeps reduced axes as size 1.

    Example:
        >>> md.ones(2, 3).sum(dim=1)
        tensor([3., 3.])
    """
    dim, keepdim = _args(dim, axis, keepdim, keepdims)
    if dtype is not None:
        x = x.astype(dtype)
    return Sum.apply(x, normalize_dims("sum", x, dim), keepdim)


def _count(x, dims):
    return int(np.prod([x.shape[d] for d in dims])) if dims else 1


def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    """Mean over ``dim``; floating tensors only (as PyTorch). The mean of nothing is nan."""
    dim, keepdim = _args(dim, axis, keepdim, keepdims)
    if not x.dtype.is_floating_point:
        raise TypeError(f"mean: needs a floating tensor, got {x.dtype.name} of shape {x.shape}; use .float() first")
    dims = normalize_dims("mean", x, dim)
    n = _count(x, dims)
    return Sum.apply(x, dims, keepdim) * (1.0 / n if n else float("nan"))


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=False):
    """Variance over ``dim``; unbiased (``correction=1``) by default, ``unbiased=False`` or ``correction=0``
    for the population variance."""
    dim, keepdim = _args(dim, axis, keepdim, keepdims)
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    dims = normalize_dims("var", x, dim)
    n = _count(x, dims)
    centered = x - mean(x, dims, keepdim=True)
    denom = n - correction
    total = Sum.apply(centered * centered, dims, keepdim)
    return total * (1.0 / denom if denom > 0 else float("nan"))


class Std(Function):
    """Standard deviation, fused for the two edge cases a ``sqrt(var)`` composition gets wrong."""

    # NOTE: fused on purpose. sqrt(var) overflows when the squares do (std of [3e38, -3e38, 0, 1] in float32 is
    # finite, its variance is not), so the sum of squares is taken of the deviations divided by their largest
    # magnitude; and d sqrt(v)/dv is inf at v = 0, so a constant slice would get 0 * inf = nan gradients where
    # PyTorch (std_backward masks std == 0) gives 0.
    @staticmethod
    def forward(ctx, x, dims, keepdim, correction):
        xp, n = x._xp, _count(x, dims)
        centered = x.array - xp.mean(x.array, axis=dims, keepdims=True) if x.numel() else x.array
        scale = xp.max(xp.abs(centered), axis=dims, keepdims=True, initial=0)
        scale = xp.where((scale > 0) & xp.isfinite(scale), scale, 1).astype(x.array.dtype, copy=False)
        denom = n - correction
        with np.errstate(invalid="ignore", divide="ignore"):
            out = scale * xp.sqrt(xp.sum((centered / scale) ** 2, axis=dims, keepdims=True)
                                  / (denom if denom > 0 else np.nan))
        ctx.save_for_backward(x)
        ctx.dims, ctx.denom, ctx.correction = dims, denom, correction
        ctx.out = out.astype(x.array.dtype, copy=False)
        return ctx.out if keepdim else ctx.out.reshape([s for i, s in enumerate(out.shape) if i not in dims])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        out = saved_output(ctx, lambda: Std.apply(x, ctx.dims, True, ctx.correction))
        centered = x - mean(x, ctx.dims, keepdim=True)
        zero = Tensor._wrap(out.array == 0)
        safe = where(zero, 1.0, out)
        per = where(zero, 0.0, grad.reshape(_keep_shape(x.shape, ctx.dims)) / (safe * ctx.denom))
        return per * centered


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=False):
    """Standard deviation over ``dim``, with ``var``'s arguments (unbiased by default).

    Its gradient is 0 where the deviation is 0 (a constant slice), as in PyTorch.

    Example:
        >>> md.tensor([1.0, 2.0, 3.0]).std()
        tensor(1.)
    """
    dim, keepdim = _args(dim, axis, keepdim, keepdims)
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    if not x.dtype.is_floating_point:
        raise TypeError(f"std: needs a floating tensor, got {x.dtype.name} of shape {x.shape}; use .float() first")
    return Std.apply(x, normalize_dims("std", x, dim), keepdim, correction)


class _ExtremumAll(Function):
    """max/min of all elements; the gradient is shared among ties (as PyTorch's full reduction)."""

    @staticmethod
    def forward(ctx, x, largest):
        if x.numel() == 0:
            raise RuntimeError(f"{'max' if largest else 'min'}: the reduction of an empty tensor (shape {x.shape}) "
                               "has no identity; pass dim=")
        ctx.save_for_backward(x)
        ctx.out = x._xp.max(x.array) if largest else x._xp.min(x.array)
        return ctx.out

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        hit = (x.array == ctx.out) | (x._xp.isnan(ctx.out) & x._xp.isnan(x.array))
        mask = hit.astype(grad.dtype.np)
        return grad * Tensor._wrap(mask / mask.sum())


class _ExtremumDim(Function):
    """max/min along one dim: values (differentiable) and the index of the first extremum."""

    @staticmethod
    def forward(ctx, x, dim, keepdim, largest):
        xp = x._xp
        if x.shape[dim] == 0:
            raise IndexError(f"{'max' if largest else 'min'}: dim {dim} of shape {x.shape} is empty")
        idx = (xp.argmax if largest else xp.argmin)(x.array, axis=dim)
        # NOTE: NaN wins (PyTorch propagates it); numpy's argmax already returns the first NaN
        idx = xp.expand_dims(idx, dim)
        values = xp.take_along_axis(x.array, idx, axis=dim)
        ctx.shape, ctx.dim, ctx.idx = x.shape, dim, idx
        if not keepdim:
            values, idx = values.squeeze(dim), idx.squeeze(dim)
        ctx.keepdim = keepdim
        indices = Tensor._wrap(idx.astype(np.int64))
        ctx.mark_non_differentiable(indices)
        return Tensor._wrap(values), indices

    @staticmethod
    def backward(ctx, grad, _):
        if not ctx.keepdim:
            grad = grad.unsqueeze(ctx.dim)
        xp = grad._xp
        pos = xp.arange(ctx.shape[ctx.dim]).reshape([-1 if i == ctx.dim else 1 for i in range(len(ctx.shape))])
        mask = Tensor._wrap((pos == ctx.idx).astype(grad.dtype.np))
        return grad * mask


def _extremum(op, largest, x, dim, keepdim):
    if isinstance(dim, Tensor):     # x.max(other): the binary form
        from .elementwise import maximum, minimum  # noqa: PLC0415
        return (maximum if largest else minimum)(x, dim)
    if dim is None:
        return _ExtremumAll.apply(x, largest)
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be one int (max/min along a dim give values and indices), got {dim!r}; "
                        f"use {'amax' if largest else 'amin'}(dim={tuple(dim)!r}) to reduce several dims")
    (d,) = normalize_dims(op, x, dim) if x.ndim else (0,)
    return MaxMin(*_ExtremumDim.apply(x, d, keepdim, largest)) if x.ndim else MaxMin(x.clone(), x.long() * 0)


def max(x, dim=None, keepdim=False, *, axis=None, keepdims=False):  # noqa: A001
    """Largest element (a 0-d tensor), or with ``dim`` a ``(values, indices)`` pair as PyTorch.

    Example:
        >>> values, indices = md.tensor([[1., 5.], [7., 2.]]).max(dim=1)
    """
    dim, keepdim = _args(dim, axis, keepdim, keepdims)
    return _extremum("max", True, x, dim, keepdim)


def min(x, dim=None, keepdim=False, *, axis=None, keepdims=False):  # noqa: A001
    """Smallest element (a 0-d tensor), or with ``dim`` a ``(values, indices)`` pair as PyTorch."""
    dim, keepdim = _args(dim, axis, keepdim, keepdims)
    return _extremum("min", False, x, dim, keepdim)


def _arg(op, fn, x, dim, keepdim):
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(f"{op}: empty tensor of shape {x.shape} has no extremum; pass dim=")
        out = fn(x.array.reshape(-1))
        return Tensor._wrap(x._xp.asarray(out, dtype=np.int64).reshape((1,) * x.ndim if keepdim else ()))
    (d,) = normalize_dims(op, x, dim)
    if x.shape[d] == 0:
        raise IndexError(f"{op}: dim {d} of shape {x.shape} is empty")
    out = fn(x.array, axis=d)
    return Tensor._wrap((x._xp.expand_dims(out, d) if keepdim else out).astype(np.int64))


def argmax(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    """Index of the largest value (flattened when ``dim`` is None); int64, no gradient."""
    dim, keepdim = _args(dim, axis, keepdim, keepdims)
    return _arg("argmax", x._xp.argmax, x, dim, keepdim)


def argmin(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    """Index of the smallest value (flattened when ``dim`` is None); int64, no gradient."""
    dim, keepdim = _args(dim, axis, keepdim, keepdims)
    return _arg("argmin", x._xp.argmin, x, dim, keepdim)


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        xp = x._xp
        if x.numel():
            m = xp.max(x.array, axis=dims, keepdims=True)
        else:
            m = xp.zeros(_keep_shape(x.shape, dims), x.array.dtype)
        m = xp.where(xp.isfinite(m), m, 0)          # all -inf (or inf) rows: shift by 0 instead of nan
        with np.errstate(divide="ignore"):     # log(0) = -inf is the right answer for empty/all -inf rows
            out = xp.log(xp.sum(xp.exp(x.array - m), axis=dims, keepdims=True)) + m
        ctx.save_for_backward(x)
        ctx.dims, ctx.keepdim, ctx.out = dims, keepdim, out
        return out if keepdim else out.reshape([s for i, s in enumerate(out.shape) if i not in dims])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        keep = _keep_shape(x.shape, ctx.dims)
        out = saved_output(ctx, lambda: LogSumExp.apply(x, ctx.dims, True))
        return grad.reshape(keep) * exp(x - out)


def logsumexp(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``dim``, computed stably."""
    dim, keepdim = _args(dim, axis, keepdim, keepdims)
    x = x if x.dtype.is_floating_point else x.astype(dtypes.default_float)
    return LogSumExp.apply(x, normalize_dims("logsumexp", x, dim), keepdim)


# NOTE: softmax and log_softmax are fused rather than composed from logsumexp: ``x - logsumexp(x)`` rounds the
# large logsumexp first and then cancels it (float32 logits [1e5, 1e5, 0] would give softmax 0.4989, and rows
# summing to 2 from 2e7); working from ``x - max`` keeps every step small, as PyTorch does.
# The kernels (reference.log_softmax / softmax and their backwards) follow exactly this recipe; under create_graph the
# backward is composed from differentiable ops instead.
class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.out = kernel("log_softmax", x.array, dim)    # an all -inf row gives nan, as in PyTorch
        ctx.x, ctx.dim = x, dim         # x only to rebuild the output as a graph under create_graph
        return ctx.out

    @staticmethod
    def backward(ctx, grad):
        if not is_grad_enabled():
            return Tensor._wrap(kernel("log_softmax_backward", grad.array, ctx.out, ctx.dim))
        out = saved_output(ctx, lambda: LogSoftmax.apply(ctx.x, ctx.dim))
        return grad - exp(out) * Sum.apply(grad, (ctx.dim,), True)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.out = kernel("softmax", x.array, dim)
        ctx.x, ctx.dim = x, dim
        return ctx.out

    @staticmethod
    def backward(ctx, grad):
        if not is_grad_enabled():
            return Tensor._wrap(kernel("softmax_backward", grad.array, ctx.out, ctx.dim))
        out = saved_output(ctx, lambda: Softmax.apply(ctx.x, ctx.dim))
        return out * (grad - Sum.apply(grad * out, (ctx.dim,), True))


def _softmax_op(cls, op, x, dim, axis):
    dim = dim if axis is None else axis
    x = x if x.dtype.is_floating_point else x.astype(dtypes.default_float)
    (d,) = normalize_dims(op, x, dim)
    return cls.apply(x, d)


def log_softmax(x, dim=-1, *, axis=None):
    """Log-probabilities along ``dim``, computed from ``x - max`` so large logits lose no precision.

    Example:
        >>> md.tensor([1e5, 1e5, 0.0]).log_softmax(dim=0)
        tensor([-6.9315e-01, -6.9315e-01, -1.0000e+05])
    """
    return _softmax_op(LogSoftmax, "log_softmax", x, dim, axis)


def softmax(x, dim=-1, *, axis=None):
    """Probabilities along ``dim`` (default the last), computed stably from ``x - max``.

    Example:
        >>> md.tensor([0.0, 0.0]).softmax(dim=0)
        tensor([0.5, 0.5])
    """
    return _softmax_op(Softmax, "softmax", x, dim, axis)


def all(x, dim=None, keepdim=False):  # noqa: A001
    """True where every element along ``dim`` is nonzero."""
    return Tensor._wrap(x._xp.all(x.array, axis=None if dim is None else normalize_dims("all", x, dim),
                                  keepdims=keepdim))


def any(x, dim=None, keepdim=False):  # noqa: A001
    """True where any element along ``dim`` is nonzero."""
    return Tensor._wrap(x._xp.any(x.array, axis=None if dim is None else normalize_dims("any", x, dim),
                                  keepdims=keepdim))
