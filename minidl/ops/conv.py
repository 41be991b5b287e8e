"""Convolution and pooling: kernel-backed Functions plus the validating functional forms."""

import numpy

from ..autograd.function import Function, once_differentiable
from ..backends import kernels, supports
from ..backends.geometry import check_array_size, check_window, output_hw, pair, pool_geometry
from ..backends.geometry import is_int as _is_int
from ..tensor import Tensor


def _contig(t):
    return t._xp.ascontiguousarray(t.array)


def _check_float(op, *tensors):
    ref = tensors[0]
    for t in tensors:
        if not t.dtype.is_floating_point:
            raise TypeError(f"{op}: expected floating tensors, got {t.dtype.name} of shape {t.shape}")
        if t.dtype != ref.dtype:
            raise TypeError(f"{op}: dtypes differ: {ref.dtype.name} {ref.shape} and {t.dtype.name} {t.shape}")


def _check_tensors(op, **named):
    """TypeError naming the op for an argument that is not a Tensor (None allowed: optional arguments)."""
    for name, t in named.items():
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")


def _batched(op, x):
    """Accept (N, C, H, W) or unbatched (C, H, W) like PyTorch; return the 4-D tensor and whether to squeeze."""
    _check_tensors(op, input=x)
    if x.ndim == 3:
        return x.unsqueeze(0), True
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {x.shape}")
    return x, False


def _pad_end(x, rows, cols):
    """Append ``rows`` zero rows and ``cols`` zero columns to (N, C, H, W) (differentiable)."""
    from .movement import cat  # noqa: PLC0415 -- movement imports nothing from here; avoid a cycle on load
    n, c, h, w = x.shape
    if rows:
        x = cat([x, Tensor._wrap(x._xp.zeros((n, c, rows, w), x.array.dtype))], dim=2)
    if cols:
        x = cat([x, Tensor._wrap(x._xp.zeros((n, c, h + rows, cols), x.array.dtype))], dim=3)
    return x


def _device_type(t):
    return "cpu" if type(t.array) is numpy.ndarray else t.device.type


def conv2d_backward(grad, x, w, geom, need):
    """``kernels.conv2d_backward`` with the output mask ``need`` = (grad_x, grad_w[, grad_b]) truth values: a tuple
    of the same length, None where not needed. A provider that does not take ``need`` computes everything and the
    extra is dropped here (and grad_b is then ``grad.sum((0, 2, 3))``)."""
    try:
        out = kernels.conv2d_backward(grad, x, w, *geom, need=tuple(need))
    except TypeError as e:
        if "need" not in str(e):
            raise
        out = kernels.conv2d_backward(grad, x, w, *geom)
    out = tuple(a if n else None for a, n in zip(out, need))
    if len(need) == 3 and len(out) == 2:
        out += (grad.sum(axis=(0, 2, 3)) if need[2] else None,)
    return out


class Conv2d(Function):
    # The bias is fused: added in the native kernel's epilogue (conv2d_bias) and its gradient is a reduction in the
    # C++ backward (conv2d_backward's need mask). A provider without conv2d_bias (md.backends.supports) gets the
    # composed form: the bias added in place into the kernel's fresh output. Gradients nobody needs (a first
    # layer's input, frozen weights) are never computed.
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.geom = (stride, padding, dilation, groups)
        ctx.has_bias = b is not None
        if b is not None and supports("conv2d_bias", _device_type(x)):
            return kernels.conv2d_bias(_contig(x), _contig(w), _contig(b), *ctx.geom)
        y = kernels.conv2d(_contig(x), _contig(w), *ctx.geom)
        if b is not None:
            y += b.array.reshape(1, -1, 1, 1)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        need = ctx.needs_input_grad[:3] if ctx.has_bias else ctx.needs_input_grad[:2]
        grads = conv2d_backward(_contig(grad), _contig(x), _contig(w), ctx.geom, need)
        return tuple(None if g is None else Tensor._wrap(g) for g in grads) + (None,) * (3 - len(grads))


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as PyTorch), NCHW.

    Args:
        x: input (N, C, H, W) or (C, H, W).
        weight: (O, C // groups, KH, KW).
        bias: optional (O,).
        stride, padding, dilation: int or (h, w) pair; padding may also be "valid" or "same" (stride 1).
        groups: split channels into this many independent convolutions.

    Returns:
        (N, O, OH, OW) with OH = (H + 2 ph - dh (KH - 1) - 1) // sh + 1.

    Example:
        >>> md.nn.functional.conv2d(md.randn(1, 3, 8, 8), md.randn(4, 3, 3, 3), padding=1).shape
        (1, 4, 8, 8)
    """
    op = "conv2d"
    _check_tensors(op, weight=weight, bias=bias)
    x4, squeeze = _batched(op, x)
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D (O, C/groups, KH, KW), got shape {weight.shape}")
    _check_float(op, x4, weight, *([bias] if bias is not None else []))
    stride, dilation = pair(op, "stride", stride), pair(op, "dilation", dilation)
    check_window(op, stride=stride, dilation=dilation)
    kh, kw = weight.shape[2:]
    if isinstance(padding, str) and padding not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be an int, a pair of ints, 'valid' or 'same', got {padding!r}")
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
        total = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
        if total[0] % 2 or total[1] % 2:
            # uneven: the extra zero row/column goes at the bottom/right, as PyTorch does
            x4 = _pad_end(x4, total[0] % 2, total[1] % 2)
        padding = (total[0] // 2, total[1] // 2)
    padding = pair(op, "padding", padding)
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{op}: stride and dilation must be >= 1 and padding >= 0, got {stride}, {dilation}, "
                         f"{padding}")
    check_window(op, padding=padding, kernel_size=(kh, kw))
    n, c, h, w = x4.shape
    o = weight.shape[0]
    if not _is_int(groups) or groups < 1 or c % groups or o % groups:
        raise ValueError(f"{op}: groups={groups} must divide both input channels {c} and output channels {o}")
    if weight.shape[1] * groups != c:
        raise ValueError(f"{op}: input of shape {x.shape} has {c} channels but weight of shape {weight.shape} "
                         f"expects {weight.shape[1] * groups} (C/groups={weight.shape[1]}, groups={groups})")
    oh, ow = output_hw((h, w), (kh, kw), stride, padding, dilation)
    if oh < 1 or ow < 1:
        raise ValueError(f"{op}: input of shape {x.shape} (padded {h + 2 * padding[0]}x{w + 2 * padding[1]}) is "
                         f"smaller than the dilated kernel of weight {weight.shape}")
    if bias is not None and bias.shape != (o,):
        raise ValueError(f"{op}: bias must have shape ({o},), got {bias.shape}")
    context = f"input {x.shape}, weight {weight.shape}, stride {stride}, padding {padding}, dilation {dilation}"
    check_array_size(op, "output", (n, o, oh, ow), x4.array.dtype.itemsize, context)
    # some providers copy the input into a zero-padded buffer
    check_array_size(op, "padded input", (n, c, h + 2 * padding[0], w + 2 * padding[1]), x4.array.dtype.itemsize,
                     context)
    y = Conv2d.apply(x4, weight, bias, stride, padding, dilation, int(groups))
    return y.squeeze(0) if squeeze else y


def _pool_args(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    x4, squeeze = _batched(op, x)
    _check_float(op, x4)
    k, s, p, d, (oh, ow) = pool_geometry(op, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    check_array_size(op, "output", x4.shape[:2] + (oh, ow), x4.array.dtype.itemsize,
                     f"input {x.shape}, kernel_size {k}, stride {s}, padding {p}, dilation {d}")
    return x4, squeeze, k, s, p, d


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode):
        ctx.geom = (kernel_size, stride, padding, dilation, ceil_mode)
        y, idx = kernels.max_pool2d(_contig(x), *ctx.geom)
        ctx.save_for_backward(x)
        ctx.indices = idx
        indices = Tensor._wrap(idx)
        ctx.mark_non_differentiable(indices)
        return Tensor._wrap(y), indices

    @staticmethod
    @once_differentiable
    def backward(ctx, grad, _):
        (x,) = ctx.saved_tensors
        return Tensor._wrap(kernels.max_pool2d_backward(_contig(grad), _contig(x), ctx.indices, *ctx.geom))


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling, NCHW; NaN propagates; ``return_indices`` also gives flat (h * W + w) argmax indices.

    Example:
        >>> md.nn.functional.max_pool2d(md.randn(1, 1, 4, 4), 2).shape
        (1, 1, 2, 2)
    """
    x4, squeeze, k, s, p, d = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    y, idx = MaxPool2d.apply(x4, k, s, p, d, bool(ceil_mode))
    if squeeze:
        y, idx = y.squeeze(0), idx.squeeze(0)
    return (y, idx) if return_indices else y


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
        ctx.geom = (kernel_size, stride, padding, ceil_mode, count_include_pad)
        ctx.save_for_backward(x)
        return kernels.avg_pool2d(_contig(x), *ctx.geom)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return Tensor._wrap(kernels.avg_pool2d_backward(_contig(grad), _contig(x), *ctx.geom))


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """2-D average pooling, NCHW, with PyTorch's ``count_include_pad`` and ``ceil_mode`` semantics.

    Example:
        >>> md.nn.functional.avg_pool2d(md.ones(1, 1, 4, 4), 2).sum().item()
        4.0
    """
    x4, squeeze, k, s, p, _ = _pool_args("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    y = AvgPool2d.apply(x4, k, s, p, bool(ceil_mode), bool(count_include_pad))
    return y.squeeze(0) if squeeze else y
