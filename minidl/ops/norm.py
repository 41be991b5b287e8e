"""Normalization: batch norm (kernel-backed) and layer norm (composed)."""
import math

from .. import backends
from ..autograd.function import Function, once_differentiable, recomputed_grads
from ..autograd.grad_mode import is_grad_enabled
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


class LayerNorm(Function):
    """Layer norm over the rows of x (M, N) on the ``layer_norm`` kernels; weight, bias (N,) or None."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        xp = x._xp
        arr = [None if t is None else xp.ascontiguousarray(t.array) for t in (x, weight, bias)]
        y, ctx.mean, ctx.rstd = kernels.layer_norm(*arr, eps)
        ctx.save_for_backward(x, weight, bias)
        ctx.eps = eps
        return Tensor._wrap(y)

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias = ctx.saved_tensors
        need = (ctx.needs_input_grad[0], weight is not None and ctx.needs_input_grad[1],
                bias is not None and ctx.needs_input_grad[2])
        if is_grad_enabled():       # create_graph: recompute from differentiable ops on the saved inputs
            return recomputed_grads(lambda a, w, b: _composed_layer_norm(a, w, b, (1,), ctx.eps), (x, weight, bias),
                                    need, grad) + (None,)
        xp = x._xp
        arr = [None if t is None else xp.ascontiguousarray(t.array) for t in (grad, x, weight)]
        grads = kernels.layer_norm_backward(*arr, ctx.mean, ctx.rstd, need)
        return tuple(None if g is None or not n else Tensor._wrap(g) for g, n in zip(grads, need)) + (None,)


def _composed_layer_norm(x, weight, bias, shape, eps):
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    mu = mean(x, dims, keepdim=True)
    y = (x - mu) / sqrt(var(x, dims, keepdim=True, correction=0) + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the last ``len(normalized_shape)`` dims (biased variance), then scale and shift.

    One fused op over the ``layer_norm`` kernels (rows of the flattened trailing dims) where a provider has them.

    Example:
        >>> md.nn.functional.layer_norm(md.randn(4, 10), (10,)).std(dim=1, correction=0)[0].item() > 0.99
        True
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ValueError(f"layer_norm: normalized_shape {shape} does not match the end of input shape {x.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"layer_norm: {name} must have shape {shape}, got {tuple(t.shape)}")
    n = math.prod(shape)
    rows = x.numel() // n if n else 0
    fusable = (n and rows and x.dtype.is_floating_point
               and all(t is None or t.dtype == x.dtype for t in (weight, bias))
               and backends.supports("layer_norm", x.device))
    if not fusable:
        return _composed_layer_norm(x, weight, bias, shape, eps)
    flat = [None if t is None else t.reshape(n) for t in (weight, bias)]
    return LayerNorm.apply(x.reshape(rows, n), *flat, float(eps)).reshape(x.shape)
