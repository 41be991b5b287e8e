"""Normalization: batch norm (kernel-backed) and layer norm (composed)."""
import math

from ..autograd.function import Function, once_differentiable
from ..backends import kernels
from ..tensor import Tensor
from .conv import _check_float
from .elementwise import sqrt
from .reduce import mean, var


def _ncl(shape):
    """(N, C, *) as the kernels' (N, C, L), with L explicit: reshape(-1) is ambiguous for empty batches."""
    return shape[0], shape[1], math.prod(shape[2:])


class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        xp = x._xp
        x3 = xp.ascontiguousarray(x.array).reshape(_ncl(x.shape))
        c = x.shape[1]
        w = xp.ones(c, x.array.dtype) if weight is None else xp.ascontiguousarray(weight.array)
        b = xp.zeros(c, x.array.dtype) if bias is None else xp.ascontiguousarray(bias.array)
        rm = None if running_mean is None else running_mean.array
        rv = None if running_var is None else running_var.array
        y, ctx.save_mean, ctx.save_invstd = kernels.batch_norm(x3, w, b, rm, rv, training, momentum, eps)
        ctx.save_for_backward(x, weight)
        ctx.training, ctx.w = training, w
        return y.reshape(x.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        xp = x._xp
        g3 = xp.ascontiguousarray(grad.array).reshape(_ncl(x.shape))
        x3 = xp.ascontiguousarray(x.array).reshape(_ncl(x.shape))
        gx, gw, gb = kernels.batch_norm_backward(g3, x3, ctx.w, ctx.save_mean, ctx.save_invstd, ctx.training)
        return Tensor._wrap(gx.reshape(x.shape)), Tensor._wrap(gw), Tensor._wrap(gb)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over dim 1 of (N, C), (N, C, L) or (N, C, H, W) inputs, as PyTorch's ``F.batch_norm``.

    When ``training``, normalizes with the batch statistics and, if the running buffers are given,
    updates them IN PLACE (running_var with the unbiased batch variance). Otherwise uses the running
    statistics. A zero-size batch is accepted.

    Example:
        >>> rm, rv = md.zeros(3), md.ones(3)
        >>> y = md.nn.functional.batch_norm(md.randn(8, 3), rm, rv, training=True)   # rm, rv updated
    """
    op = "batch_norm"
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input of shape (N, C, ...), got {x.shape}")
    c = x.shape[1]
    given = [t for t in (weight, bias, running_mean, running_var) if t is not None]
    _check_float(op, x, *given)
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.shape != (c,):
            raise ValueError(f"{op}: {name} must have shape ({c},) for an input of shape {x.shape}, got {t.shape}")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError(f"{op}: running_mean and running_var are needed when training=False")
    per_channel = x.numel() // c if c else 0
    if training and per_channel == 1:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got input of shape {x.shape}")
    for t in (running_mean, running_var):
        if t is not None:
            if t.requires_grad:
                raise ValueError(f"{op}: running statistics must not require grad")
            if not t.array.flags.c_contiguous:
                raise ValueError(f"{op}: running statistics must be contiguous (they are updated in place)")
            if training:
                t._version += 1
    return BatchNorm.apply(x, weight, bias, running_mean, running_var, bool(training), float(momentum), float(eps))


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the last ``len(normalized_shape)`` dims (biased variance), then scale and shift."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} does not match the end of input shape {x.shape}")
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    mu = mean(x, dims, keepdim=True)
    y = (x - mu) / sqrt(var(x, dims, keepdim=True, correction=0) + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


