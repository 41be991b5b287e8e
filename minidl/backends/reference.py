"""The reference kernels: the spec every provider must match (KERNELS.md).

Every heavy kernel and its ``*_backward`` is written once here against the array-module API that NumPy and CuPy
share ("xp" style), so the same body is the CPU reference and the GPU fallback. The docstring of each function is
its specification: layouts, argument meaning, and the exact PyTorch semantics followed.

Common rules for every kernel:

- Inputs are C-contiguous arrays of one module (numpy or cupy) and one float dtype (float32 or float64), shapes
  already validated by the Python ops layer. Geometry arguments are tuples of two Python ints ``(h, w)``.
- Outputs have the input's dtype (reductions may accumulate in float64 and cast back), are freshly allocated
  (never views of an input) and C-contiguous. Size-0 batches give correctly shaped empty outputs.
- No autograd, no broadcasting. The only kernel that writes into an argument is ``batch_norm`` (running stats).

Only functions CuPy also has are used; cupy itself is imported lazily, never at module top level.
"""

import numpy

from .geometry import output_hw

__all__ = [
    "avg_pool2d", "avg_pool2d_backward", "batch_norm", "batch_norm_backward", "conv2d", "conv2d_backward",
    "matmul", "matmul_backward", "max_pool2d", "max_pool2d_backward",
    # issue 13: elementwise, sums, softmax, cross-entropy
    "binary", "cross_entropy", "cross_entropy_backward", "log_softmax", "log_softmax_backward", "reduce_sum",
    "softmax", "softmax_backward", "unary", "unary_backward",
    "linear", "linear_backward",
    # issue 16: fused scaled-dot-product attention
    "attention", "attention_backward",
    "layer_norm", "layer_norm_backward",
]


# ---------------------------------------------------------------------------------------------------------------------
# helpers (private: not kernels, so providers need not define them)

def _xp(a):
    """The array module of ``a``: cupy for cupy arrays, numpy otherwise."""
    if type(a).__module__.startswith("cupy"):
        import cupy
        return cupy
    return numpy


def _scatter_add(target, index, values):
    """``target[index] += values`` with repeated indices accumulated (np.add.at; CuPy spells it cupyx.scatter_add)."""
    if _xp(target) is numpy:
        numpy.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)


def _padded(x, padding, extent, fill):
    """Copy x (N, C, H, W) into a buffer filled with ``fill``: ``padding`` on the top/left, and enough on the
    bottom/right to hold ``extent = (rows, cols)`` (at least the symmetric padding)."""
    xp = _xp(x)
    n, c, h, w = x.shape
    (ph, pw), (eh, ew) = padding, extent
    buf = xp.full((n, c, max(h + 2 * ph, eh), max(w + 2 * pw, ew)), fill, dtype=x.dtype)
    buf[:, :, ph:ph + h, pw:pw + w] = x
    return buf


def _windows(buf, out, kernel, stride, dilation):
    """Strided view (N, C, KH, KW, OH, OW) of the sliding windows of buf (N, C, Hb, Wb); no copy."""
    xp = _xp(buf)
    sn, sc, sh, sw = buf.strides
    shape = buf.shape[:2] + tuple(kernel) + tuple(out)
    strides = (sn, sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1])
    return xp.lib.stride_tricks.as_strided(buf, shape=shape, strides=strides)


def _im2col(x, w_shape, stride, padding, dilation, groups):
    """cols (G, Cg*KH*KW, N*OH*OW) of x (N, C, H, W) zero-padded, and (OH, OW)."""
    n, _, h, w = x.shape
    _, cg, kh, kw = w_shape
    oh, ow = output_hw((h, w), (kh, kw), stride, padding, dilation)
    view = _windows(_padded(x, padding, (0, 0), 0), (oh, ow), (kh, kw), stride, dilation)
    view = view.reshape(n, groups, cg, kh, kw, oh, ow).transpose(1, 2, 3, 4, 0, 5, 6)
    return view.reshape(groups, cg * kh * kw, n * oh * ow), (oh, ow)    # the reshape copies: one GEMM per group


def _col2im(cols, x_shape, out, kernel, stride, padding, dilation):
    """Adjoint of the window view: sum cols (N, C, KH, KW, OH, OW) back into an (N, C, H, W) array."""
    xp = _xp(cols)
    n, c, h, w = x_shape
    (oh, ow), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = out, kernel, stride, padding, dilation
    buf = xp.zeros((n, c, max(h + 2 * ph, (oh - 1) * sh + dh * (kh - 1) + 1),
                    max(w + 2 * pw, (ow - 1) * sw + dw * (kw - 1) + 1)), dtype=cols.dtype)
    # One strided add per kernel offset: within one offset the target pixels are distinct, so += is exact.
    for i in range(kh):
        for j in range(kw):
            buf[:, :, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw] += cols[:, :, i, j]
    return xp.ascontiguousarray(buf[:, :, ph:ph + h, pw:pw + w])


# ---------------------------------------------------------------------------------------------------------------------
# matmul

def matmul(a, b):
    """Matrix product, plain or batched.

    Args:
        a: (M, K) or (B, M, K).
        b: (K, N) or (B, K, N), the same rank as ``a`` (no broadcasting of the batch dim).

    Returns:
        c: (M, N) or (B, M, N), ``c[..., i, j] = sum_k a[..., i, k] * b[..., k, j]``.
    """
    xp = _xp(a)
    return xp.ascontiguousarray(xp.matmul(a, b))


def matmul_backward(grad, a, b, need=(True, True)):
    """Gradients of ``matmul``.

    Args:
        grad: gradient of the output, (M, N) or (B, M, N).
        a, b: the forward inputs.
        need: (need_a, need_b), which gradients to compute; the others are None and cost nothing.

    Returns:
        (grad_a, grad_b): ``grad @ b^T`` and ``a^T @ grad`` (transposing the last two dims), shapes of a and b.
    """
    xp = _xp(grad)
    return (xp.ascontiguousarray(xp.matmul(grad, xp.swapaxes(b, -1, -2))) if need[0] else None,
            xp.ascontiguousarray(xp.matmul(xp.swapaxes(a, -1, -2), grad)) if need[1] else None)


# ---------------------------------------------------------------------------------------------------------------------
# conv2d

def conv2d(x, w, stride, padding, dilation, groups):
    """2-D cross-correlation (PyTorch's conv2d without bias), NCHW.

    Args:
        x: input (N, C, H, W).
        w: weight (O, C // groups, KH, KW); output channel o sees input channels of group o // (O // groups).
        stride, padding, dilation: (h, w) tuples; padding is zeros on both sides, dilation spaces the taps.
        groups: number of channel groups; C and O are multiples of it (groups == C is depthwise).

    Returns:
        y: (N, O, OH, OW) with ``OH = (H + 2*ph - dh*(KH-1) - 1) // sh + 1`` (likewise OW), and
        ``y[n, o, i, j] = sum_{c, p, q} x_pad[n, g*Cg + c, i*sh + p*dh, j*sw + q*dw] * w[o, c, p, q]``.
    """
    xp = _xp(x)
    n, o = x.shape[0], w.shape[0]
    cols, (oh, ow) = _im2col(x, w.shape, stride, padding, dilation, groups)
    y = xp.matmul(w.reshape(groups, o // groups, cols.shape[1]), cols)                # (G, O/G, N*OH*OW)
    y = y.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)
    return xp.ascontiguousarray(y)


def conv2d_backward(grad, x, w, stride, padding, dilation, groups, need=(True, True)):
    """Gradients of ``conv2d``.

    Args:
        grad: gradient of the output, (N, O, OH, OW).
        x, w, stride, padding, dilation, groups: as in ``conv2d``.
        need: which gradients to compute, ``(grad_x, grad_w)`` or ``(grad_x, grad_w, grad_b)`` truth values; the
            ones not needed are returned as None and never computed (a first layer's input gradient, frozen weights).

    Returns:
        (grad_x, grad_w) -- or (grad_x, grad_w, grad_b) when ``need`` has three entries: shapes and dtype of x
        (N, C, H, W), w (O, C // groups, KH, KW) and, for grad_b, (O,) -- the gradient of a bias added to every
        output position, ``grad.sum((0, 2, 3))``. Input pixels that no window reaches (stride larger than the kernel)
        get zero gradient.
    """
    xp = _xp(x)
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    oh, ow = grad.shape[2:]
    grad_x = grad_w = None
    if need[0] or need[1]:
        g = grad.transpose(1, 0, 2, 3).reshape(groups, o // groups, n * oh * ow)   # copies: contiguous GEMM operand
    if need[1]:
        cols, _ = _im2col(x, w.shape, stride, padding, dilation, groups)
        grad_w = xp.ascontiguousarray(xp.matmul(g, xp.swapaxes(cols, 1, 2)).reshape(w.shape))
    if need[0]:
        wg = w.reshape(groups, o // groups, cg * kh * kw)
        dcols = xp.matmul(xp.swapaxes(wg, 1, 2), g)                               # (G, Cg*KH*KW, N*OH*OW)
        dcols = dcols.reshape(c, kh, kw, n, oh, ow).transpose(3, 0, 1, 2, 4, 5)
        grad_x = _col2im(dcols, x.shape, (oh, ow), (kh, kw), stride, padding, dilation)
    if len(need) == 3:
        grad_b = grad.sum(axis=(0, 2, 3), dtype=numpy.float64).astype(grad.dtype) if need[2] else None
        return grad_x, grad_w, grad_b
    return grad_x, grad_w


# ---------------------------------------------------------------------------------------------------------------------
# max_pool2d

def max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    """2-D max pooling with PyTorch's ``return_indices``, NCHW.

    Args:
        x: input (N, C, H, W).
        kernel_size, stride, padding, dilation: (h, w) tuples; padding (<= kernel_size / 2) is implicit -inf, never
            selected.
        ceil_mode: round the output size up; the last window must still start inside the input or the left padding.

    Returns:
        (y, indices): y (N, C, OH, OW) in x's dtype, ``OH = floor_or_ceil((H + 2*ph - dh*(KH-1) - 1) / sh) + 1``;
        indices int64 (N, C, OH, OW), the flat position ``h * W + w`` of the chosen element in x's (H, W) plane.
        Ties choose the first maximum in row-major window order; a NaN in the window is the maximum (y is NaN) and
        the last NaN in window order is chosen, as PyTorch's CPU kernel. A window holding no input element (only
        possible with dilation) gives -inf and PyTorch's index of its first in-range tap, which may lie outside
        the plane.
    """
    xp = _xp(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = output_hw((h, w), kernel_size, stride, padding, dilation, ceil_mode)
    extent = ((oh - 1) * sh + dh * (kh - 1) + 1, (ow - 1) * sw + dw * (kw - 1) + 1)
    buf = _padded(x, padding, extent, -numpy.inf)
    win = _windows(buf, (oh, ow), (kh, kw), stride, dilation)
    vals = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c, oh, ow, kh * kw)   # copy, window taps last, row-major
    y = vals.max(axis=-1)

    # Input row/col of every tap, and whether it is inside the input (padding is never an argmax).
    rows = (xp.arange(oh) * sh - ph)[:, None] + xp.arange(kh) * dh                 # (OH, KH)
    cols = (xp.arange(ow) * sw - pw)[:, None] + xp.arange(kw) * dw                 # (OW, KW)
    inside = (((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[None, :, None, :])
    inside = inside.reshape(oh, ow, kh * kw)
    taps = kh * kw
    first_max = xp.argmax((vals == y[..., None]) & inside, axis=-1)
    nans = xp.isnan(vals)
    last_nan = taps - 1 - xp.argmax(nans[..., ::-1], axis=-1)
    pos = xp.where(nans.any(axis=-1), last_nan, first_max)
    idx = (rows[:, None, :, None] * w + cols[None, :, None, :]).reshape(oh, ow, taps)
    idx = xp.take_along_axis(xp.broadcast_to(idx, vals.shape), pos[..., None], axis=-1)[..., 0]

    # NOTE: PyTorch starts each window at its first tap >= 0 (stepping by dilation) and keeps that index when no
    # tap beats -inf; for a non-empty window that is the first in-range tap, which first_max already picks.
    # Only windows with no tap inside the input need the start position itself.
    empty = ~inside.any(axis=-1)
    r0 = xp.arange(oh) * sh - ph
    c0 = xp.arange(ow) * sw - pw
    r0 = xp.where(r0 < 0, r0 + ((-r0 + dh - 1) // dh) * dh, r0)
    c0 = xp.where(c0 < 0, c0 + ((-c0 + dw - 1) // dw) * dw, c0)
    idx = xp.where(empty, r0[:, None] * w + c0[None, :], idx)
    return xp.ascontiguousarray(y), xp.ascontiguousarray(idx.astype(xp.int64))


def max_pool2d_backward(grad, x, indices, kernel_size, stride, padding, dilation, ceil_mode):
    """Gradient of ``max_pool2d``.

    Args:
        grad: gradient of the output, (N, C, OH, OW).
        x: the forward input (N, C, H, W) (only its shape and dtype are used).
        indices: int64 (N, C, OH, OW) returned by ``max_pool2d``.
        kernel_size, stride, padding, dilation, ceil_mode: as in ``max_pool2d`` (unused: indices say it all).

    Returns:
        grad_x (N, C, H, W): ``grad`` scatter-added at ``indices`` in each (H, W) plane (overlapping windows that
        chose the same element add up). Indices outside the plane (windows with no input element) are dropped.
    """
    xp = _xp(grad)
    n, c, h, w = x.shape
    grad_x = xp.zeros((n * c, h * w), dtype=grad.dtype)
    idx = indices.reshape(n * c, indices.shape[2] * indices.shape[3])   # explicit: -1 is ambiguous when N*C == 0
    ok = (idx >= 0) & (idx < h * w)
    plane = xp.broadcast_to(xp.arange(n * c)[:, None], idx.shape)
    g = grad.reshape(idx.shape)
    _scatter_add(grad_x, (plane[ok], idx[ok]), g[ok])
    return grad_x.reshape(n, c, h, w)


# ---------------------------------------------------------------------------------------------------------------------
# avg_pool2d

def _avg_divisors(xp, size, out, k, s, p, count_include_pad):
    """Per-output divisor along one axis, as PyTorch: the window clipped to the padded input (count_include_pad)
    or to the input itself. The clipping matters for ceil_mode windows hanging past the right padding."""
    start = xp.arange(out) * s - p
    end = xp.minimum(start + k, size + p)
    if count_include_pad:
        return end - start
    return xp.minimum(end, size) - xp.maximum(start, 0)


def _avg_scale(xp, x_shape, out, kernel_size, stride, padding, ceil_mode, count_include_pad, dtype):
    """1 / divisor as an (OH, OW) array; 0 where the window is empty (its output is 0, as PyTorch)."""
    (h, w), (oh, ow) = x_shape[2:], out
    dh = _avg_divisors(xp, h, oh, kernel_size[0], stride[0], padding[0], count_include_pad)
    dw = _avg_divisors(xp, w, ow, kernel_size[1], stride[1], padding[1], count_include_pad)
    div = (dh[:, None] * dw[None, :]).astype(dtype)
    return xp.where(div > 0, 1 / xp.maximum(div, 1), 0).astype(dtype)


def avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    """2-D average pooling, NCHW, exactly as PyTorch (no divisor_override).

    Args:
        x: input (N, C, H, W).
        kernel_size, stride, padding: (h, w) tuples; padding (<= kernel_size / 2) is zeros.
        ceil_mode: round the output size up; the last window must still start inside the input or the left padding.
        count_include_pad: divide by the window's size including padding, else by the number of input elements in
            it. Either way the window is first clipped to the padded input, so a ceil_mode window hanging past the
            bottom/right padding divides by fewer than KH*KW elements, as PyTorch.

    Returns:
        y: (N, C, OH, OW) in x's dtype, ``OH = floor_or_ceil((H + 2*ph - KH) / sh) + 1``.
    """
    xp = _xp(x)
    h, w = x.shape[2:]
    (kh, kw), (sh, sw) = kernel_size, stride
    oh, ow = output_hw((h, w), kernel_size, stride, padding, (1, 1), ceil_mode)
    buf = _padded(x, padding, ((oh - 1) * sh + kh, (ow - 1) * sw + kw), 0)
    total = _windows(buf, (oh, ow), (kh, kw), stride, (1, 1)).sum(axis=(2, 3))
    scale = _avg_scale(xp, x.shape, (oh, ow), kernel_size, stride, padding, ceil_mode, count_include_pad, x.dtype)
    return xp.ascontiguousarray(total * scale)


def avg_pool2d_backward(grad, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    """Gradient of ``avg_pool2d``.

    Args:
        grad: gradient of the output, (N, C, OH, OW).
        x: the forward input (N, C, H, W) (only its shape and dtype are used).
        kernel_size, stride, padding, ceil_mode, count_include_pad: as in ``avg_pool2d``.

    Returns:
        grad_x (N, C, H, W): each output's gradient divided by its divisor and spread over the input elements of
        its window (padding receives nothing).
    """
    xp = _xp(grad)
    n, c, oh, ow = grad.shape
    kh, kw = kernel_size
    scale = _avg_scale(xp, x.shape, (oh, ow), kernel_size, stride, padding, ceil_mode, count_include_pad, grad.dtype)
    g = grad * scale
    cols = xp.broadcast_to(g[:, :, None, None], (n, c, kh, kw, oh, ow))
    return _col2im(cols, x.shape, (oh, ow), (kh, kw), stride, padding, (1, 1))


# ---------------------------------------------------------------------------------------------------------------------
# batch_norm

def batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    """Batch normalization over the channel axis of x (N, C, L) (Python reshapes 2-D and 4-D input to this).

    Args:
        x: input (N, C, L); statistics are per channel over the N*L values.
        weight, bias: (C,) affine scale and shift (always given; the ops layer passes ones/zeros when absent).
        running_mean, running_var: (C,) buffers or None. Updated IN PLACE when training (and N*L > 0):
            ``r = (1 - momentum) * r + momentum * stat`` with the batch mean and the UNBIASED batch variance
            (``var * n / (n - 1)``, NaN when n == 1, as PyTorch).
        training: normalize with batch statistics (biased variance); otherwise with the running statistics.
            Without running buffers the batch statistics are used either way.
        momentum: float in [0, 1] (the ops layer resolves PyTorch's ``momentum=None``).
        eps: added to the variance.

    Returns:
        (y, save_mean, save_invstd): y (N, C, L) ``= (x - mean) * invstd * weight + bias`` in x's dtype;
        save_mean and save_invstd (C,) in x's dtype are the mean and 1/sqrt(var + eps) that normalized y (the
        batch's when training, the running ones otherwise). Statistics use a float64 two-pass (mean, then mean of
        squared deviations). N*L == 0 when training: y is empty, the buffers are untouched, and the saved pair is
        zeros.
    """
    xp = _xp(x)
    n = x.shape[0] * x.shape[2]
    if not training and running_mean is not None:
        mean = running_mean.astype(xp.float64)
        invstd = 1.0 / xp.sqrt(running_var.astype(xp.float64) + eps)
    elif n == 0:
        mean = invstd = xp.zeros(x.shape[1], dtype=xp.float64)
    else:
        mean = x.sum(axis=(0, 2), dtype=xp.float64) / n
        dev = x.astype(xp.float64) - mean[:, None]
        var_sum = (dev * dev).sum(axis=(0, 2))
        invstd = 1.0 / xp.sqrt(var_sum / n + eps)
        if training and running_mean is not None:
            unbiased = var_sum / (n - 1) if n > 1 else xp.full_like(var_sum, numpy.nan)
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
            running_var[...] = (1 - momentum) * running_var + momentum * unbiased
    mean, invstd = mean.astype(x.dtype), invstd.astype(x.dtype)
    scale = (weight * invstd)[:, None]
    y = (x - mean[:, None]) * scale + bias[:, None]
    return xp.ascontiguousarray(y), mean, invstd


def batch_norm_backward(grad, x, weight, save_mean, save_invstd, training):
    """Gradients of ``batch_norm``.

    Args:
        grad: gradient of the output, (N, C, L).
        x: the forward input (N, C, L).
        weight: (C,) the forward scale.
        save_mean, save_invstd: (C,) returned by ``batch_norm``.
        training: whether the forward used batch statistics (then they depend on x and the gradient flows through
            them); False when it used the running statistics (constants).

    Returns:
        (grad_x, grad_weight, grad_bias): grad_x (N, C, L); grad_bias = sum of grad and grad_weight = sum of
        grad * xhat over N and L, where xhat = (x - save_mean) * save_invstd. In training,
        ``grad_x = weight * invstd * (grad - grad_bias / n - xhat * grad_weight / n)``; otherwise
        ``grad_x = weight * invstd * grad``. Reductions accumulate in float64.
    """
    xp = _xp(x)
    n = x.shape[0] * x.shape[2]
    xhat = (x - save_mean[:, None]) * save_invstd[:, None]
    grad_bias = grad.sum(axis=(0, 2), dtype=xp.float64)
    grad_weight = (grad * xhat).sum(axis=(0, 2), dtype=xp.float64)
    scale = (weight * save_invstd)[:, None]
    if training and n > 0:
        mean_g = (grad_bias / n).astype(x.dtype)[:, None]
        mean_gx = (grad_weight / n).astype(x.dtype)[:, None]
        grad_x = (grad - mean_g - xhat * mean_gx) * scale
    else:
        grad_x = grad * scale
    return xp.ascontiguousarray(grad_x), grad_weight.astype(x.dtype), grad_bias.astype(x.dtype)


# ---------------------------------------------------------------------------------------------------------------------
# optimizer steps: one call updates every parameter of a group in place
#
# Shared contract: ``params``, ``grads`` and each state list hold arrays of equal shapes, pairwise (any dtype and module
# per parameter here; the native provider needs C-contiguous arrays of one float dtype). Every array except the grads
# is updated in place; nothing is returned. ``steps`` (float64, one entry per parameter) holds each parameter's step
# count with this step included, as the optimizer keeps it. The operations and their order follow PyTorch's
# single-tensor kernels so that float32 rounds like PyTorch: ``lerp`` switches formula at weight 0.5, ``addcmul`` and
# ``addcdiv`` scale their first operand before the multiply/divide, and every Python scalar is rounded to the array's
# dtype before it is used.

def _lerp_(a, b, weight):
    """a <- lerp(a, b, weight), with the two-sided formula that is exact at both ends."""
    if abs(weight) < 0.5:
        a += weight * (b - a)
    else:
        a[...] = b - (b - a) * (1 - weight)
    return a


def _addcmul_(a, t1, t2, value=1.0):
    """a <- a + value * t1 * t2 (multiplied left to right)."""
    a += value * t1 * t2
    return a


def _addcdiv_(a, t1, t2, value=1.0):
    """a <- a + value * t1 / t2."""
    a += value * t1 / t2
    return a


def _direction(param, grad, maximize, weight_decay):
    """The gradient the update follows: negated when maximizing, plus the L2 term ``weight_decay * param``."""
    g = -grad if maximize else grad
    return g + weight_decay * param if weight_decay != 0 else g


def sgd_step(first, params, grads, momentum_buffers, lr, momentum, dampening, weight_decay, nesterov, maximize):
    """SGD (PyTorch's formulation) over a group, in place.

    ``g = grad (negated when maximize) + weight_decay * p``. With ``momentum != 0`` the buffer becomes ``g`` where
    ``first[i]`` (bool, one per parameter: the buffer was just created; its old content is ignored), else
    ``b = momentum * b + (1 - dampening) * g``; the direction is ``g + momentum * b`` (nesterov) or ``b``. Then
    ``p -= lr * direction``. ``momentum_buffers`` may be empty when ``momentum == 0``.
    """
    lr, momentum, weight_decay = float(lr), float(momentum), float(weight_decay)
    for i, (param, grad) in enumerate(zip(params, grads)):
        g = _direction(param, grad, maximize, weight_decay)
        if momentum != 0:
            buf = momentum_buffers[i]
            if first[i]:
                buf[...] = g
            else:
                buf *= momentum
                buf += (1 - float(dampening)) * g
            g = g + momentum * buf if nesterov else buf
        param += -lr * g


def adam_step(steps, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, lr, beta1, beta2, eps, weight_decay,
              amsgrad, maximize, decoupled):
    """Adam, or AdamW when ``decoupled`` (PyTorch's formulation), over a group, in place.

    Decoupled decay first scales ``p *= 1 - lr * weight_decay``; otherwise ``g = grad + weight_decay * p``. Then
    ``m = lerp(m, g, 1 - beta1)``, ``v = beta2 * v + (1 - beta2) * g * g``, with ``amsgrad`` ``vmax = max(vmax, v)``
    replacing ``v`` below (``max_exp_avg_sqs`` may be empty otherwise), and at step ``t = steps[i]``
    ``p += -lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``.
    """
    lr, eps, weight_decay, beta1, beta2 = float(lr), float(eps), float(weight_decay), float(beta1), float(beta2)
    for i, (param, grad) in enumerate(zip(params, grads)):
        step = float(steps[i])
        if weight_decay != 0 and decoupled:
            param *= 1 - lr * weight_decay
        g = _direction(param, grad, maximize, 0.0 if decoupled else weight_decay)
        m, v = exp_avgs[i], exp_avg_sqs[i]
        _lerp_(m, g, 1 - beta1)
        v *= beta2
        _addcmul_(v, g, g, 1 - beta2)
        step_size = lr / (1 - beta1 ** step)
        bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
        if amsgrad:
            vmax = max_exp_avg_sqs[i]
            _xp(v).maximum(vmax, v, out=vmax)
            v = vmax
        denom = _xp(v).sqrt(v) / bias_correction2_sqrt
        denom += eps
        _addcdiv_(param, m, denom, -step_size)


def rmsprop_step(steps, params, grads, square_avgs, grad_avgs, momentum_buffers, lr, alpha, eps, weight_decay,
                 momentum, centered, maximize):
    """RMSprop (PyTorch's formulation) over a group, in place; the formula does not use ``steps``.

    ``g = grad (negated when maximize) + weight_decay * p``; ``s = alpha * s + (1 - alpha) * g * g``; the
    denominator is ``sqrt(s) + eps``, or with ``centered`` ``sqrt(s - a * a) + eps`` where
    ``a = lerp(a, g, 1 - alpha)``. Without momentum ``p += -lr * g / denom``; with it
    ``b = momentum * b + g / denom`` and ``p += -lr * b``. ``grad_avgs`` / ``momentum_buffers`` may be empty
    when not centered / ``momentum == 0``.
    """
    lr, alpha, eps, weight_decay, momentum = float(lr), float(alpha), float(eps), float(weight_decay), float(momentum)
    for i, (param, grad) in enumerate(zip(params, grads)):
        xp = _xp(param)
        g = _direction(param, grad, maximize, weight_decay)
        square_avg = square_avgs[i]
        square_avg *= alpha
        _addcmul_(square_avg, g, g, 1 - alpha)
        if centered:
            grad_avg = _lerp_(grad_avgs[i], g, 1 - alpha)
            avg = xp.sqrt(_addcmul_(square_avg.copy(), grad_avg, grad_avg, -1.0))
        else:
            avg = xp.sqrt(square_avg)
        avg += eps
        if momentum > 0:
            buf = momentum_buffers[i]
            buf *= momentum
            _addcdiv_(buf, g, avg)
            param += -lr * buf
        else:
            _addcdiv_(param, g, avg, -lr)


def adagrad_step(steps, params, grads, sums, lr, lr_decay, weight_decay, eps, maximize):
    """Adagrad (PyTorch's formulation) over a group, in place.

    ``g = grad (negated when maximize) + weight_decay * p``; ``s += g * g``;
    ``p += -clr * g / (sqrt(s) + eps)`` with ``clr = lr / (1 + (t - 1) * lr_decay)`` at step ``t = steps[i]``.
    """
    lr, lr_decay, weight_decay, eps = float(lr), float(lr_decay), float(weight_decay), float(eps)
    for i, (param, grad) in enumerate(zip(params, grads)):
        step = float(steps[i])
        g = _direction(param, grad, maximize, weight_decay)
        clr = lr / (1 + (step - 1) * lr_decay)
        _addcmul_(sums[i], g, g)
        std = _xp(param).sqrt(sums[i])
        std += eps
        _addcdiv_(param, g, std, -clr)


__all__ += ["adagrad_step", "adam_step", "rmsprop_step", "sgd_step"]
# elementwise ops, sums, softmax and the fused softmax + cross-entropy (issue 13). Unlike the heavy kernels above,
# these take any dtype the array module handles (providers may serve float32/float64 themselves and hand the rest
# back to these bodies) and broadcast where NumPy does.

UNARY_OPS = ("relu", "sigmoid", "tanh", "exp", "log", "sqrt", "gelu", "gelu_tanh")
BINARY_OPS = ("add", "sub", "mul", "div")


def _erf(x):
    from ..ops.elementwise import _erf_array  # noqa: PLC0415 -- SciPy when present, a series otherwise
    return _erf_array(numpy.asarray(x) if _xp(x) is numpy else x)


def _sigmoid(xp, x):
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def unary(x, op):
    """``op(x)`` elementwise, op one of UNARY_OPS, as PyTorch defines it.

    ``relu`` is ``maximum(x, 0)`` (NaN stays NaN); ``sigmoid`` is computed from ``exp(-|x|)`` so it never
    overflows; ``gelu`` is the exact ``x Phi(x)`` and ``gelu_tanh`` the tanh approximation. Output: x's shape and
    dtype.
    """
    xp = _xp(x)
    if op == "relu":
        return xp.maximum(x, 0).astype(x.dtype, copy=False)
    if op == "sigmoid":
        return _sigmoid(xp, x)
    if op == "gelu":
        return (0.5 * x * (1 + _erf(x * (1 / numpy.sqrt(2))))).astype(x.dtype, copy=False)
    if op == "gelu_tanh":
        u = numpy.sqrt(2 / numpy.pi) * (x + 0.044715 * x * x * x)
        return (0.5 * x * (1 + xp.tanh(u))).astype(x.dtype, copy=False)
    return getattr(xp, op)(x)


def unary_backward(grad, saved, op):
    """Gradient of ``unary(x, op)``. ``saved`` is the forward OUTPUT for relu, sigmoid, tanh, exp and sqrt and
    the forward INPUT for log, gelu and gelu_tanh. relu passes ``grad`` where the output is > 0 and 0 elsewhere
    (a select, so an inf/nan gradient does not leak through a zero mask), as PyTorch's threshold_backward."""
    xp = _xp(grad)
    s = saved
    if op == "relu":
        return xp.where(s > 0, grad, 0).astype(grad.dtype, copy=False)
    if op == "sigmoid":
        return grad * s * (1 - s)
    if op == "tanh":
        return grad * (1 - s * s)
    if op == "exp":
        return grad * s
    if op == "log":
        return grad / s
    if op == "sqrt":
        return grad / (2 * s)
    if op == "gelu":
        pdf = xp.exp(-0.5 * s * s) * (1 / numpy.sqrt(2 * numpy.pi))
        return (grad * (0.5 * (1 + _erf(s * (1 / numpy.sqrt(2)))) + s * pdf)).astype(grad.dtype, copy=False)
    if op == "gelu_tanh":
        k = numpy.sqrt(2 / numpy.pi)
        t = xp.tanh(k * (s + 0.044715 * s * s * s))
        du = k * (1 + 3 * 0.044715 * s * s)
        return (grad * (0.5 * (1 + t) + 0.5 * s * (1 - t * t) * du)).astype(grad.dtype, copy=False)
    raise ValueError(f"unary_backward: unknown op {op!r}")


def binary(a, b, op):
    """``a op b`` with NumPy broadcasting, op one of BINARY_OPS (``div`` is true division). Inputs share a dtype
    (the ops layer promotes); the output has the broadcast shape."""
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return a / b
    raise ValueError(f"binary: unknown op {op!r}")


def reduce_sum(x, dims):
    """Sum of float x over the sorted axes ``dims``, kept as size-1 axes (``keepdims=True``); float64 accumulation
    is allowed, the result has x's dtype. Also the reduction that undoes broadcasting in backward."""
    return _xp(x).sum(x, axis=tuple(dims), keepdims=True, dtype=x.dtype)


def _shifted_exp(x, dim):
    """(x - m, exp(x - m), sum of exp) along dim, m the max (0 where the max is not finite: all -inf rows)."""
    xp = _xp(x)
    if x.size:
        m = xp.max(x, axis=dim, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
    else:
        m = xp.zeros(x.shape[:dim] + (1,) + x.shape[dim + 1:], x.dtype)
    shifted = x - m
    e = xp.exp(shifted)
    return shifted, e, xp.sum(e, axis=dim, keepdims=True)


def softmax(x, dim):
    """``exp(x) / sum(exp(x))`` along axis ``dim`` (non-negative), computed from ``x - max`` so large logits lose
    no precision (float32 [1e5, 1e5, 0] gives [0.5, 0.5, 0]); an all -inf slice gives NaN, as PyTorch."""
    _, e, total = _shifted_exp(x, dim)
    with numpy.errstate(invalid="ignore"):
        return e / total


def softmax_backward(grad, y, dim):
    """Gradient of ``softmax`` from its output y: ``y * (grad - sum(grad * y, dim))``."""
    return y * (grad - _xp(y).sum(grad * y, axis=dim, keepdims=True))


def log_softmax(x, dim):
    """``x - logsumexp(x)`` along ``dim``, computed as ``(x - max) - log(sum(exp(x - max)))``."""
    shifted, _, total = _shifted_exp(x, dim)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        return shifted - _xp(x).log(total)


def log_softmax_backward(grad, y, dim):
    """Gradient of ``log_softmax`` from its output y: ``grad - exp(y) * sum(grad, dim)``."""
    xp = _xp(y)
    return grad - xp.exp(y) * xp.sum(grad, axis=dim, keepdims=True)


def cross_entropy(x, target, weight, ignore_index, label_smoothing):
    """Per-row softmax cross-entropy of logits x (N, C) against int64 class indices target (N,).

    Row i (t = target[i], m = the row max (0 if not finite), ls = log sum exp(x[i] - m), w = weight or ones):
    ``loss[i] = (1 - eps) w[t] (ls - (x[i, t] - m)) + eps / C * sum_c w[c] (ls - (x[i, c] - m))`` with
    eps = label_smoothing, and 0 where t == ignore_index: the log-softmax from ``x - max``, so huge logits lose
    nothing. Targets are in [0, C) or ignore_index (checked by the ops layer). Returns (loss (N,), stats (N, 2))
    in x's dtype, stats[i] = (m, ls) for ``cross_entropy_backward``. The reduction (mean over the weight of the
    kept rows, sum, none) is the ops layer's.
    """
    xp = _xp(x)
    n, c = x.shape
    shifted, _, total = _shifted_exp(x, 1)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        log_total = xp.log(total)
        logp = shifted - log_total
        m = xp.max(x, axis=1, keepdims=True) if x.size else xp.zeros((n, 1), x.dtype)
        stats = xp.concatenate([xp.where(xp.isfinite(m), m, 0), log_total], axis=1)
    keep = target != ignore_index
    safe = xp.where(keep, target, 0)
    w_t = weight[safe] if weight is not None else xp.ones(n, x.dtype)
    picked = xp.take_along_axis(logp, safe[:, None], axis=1)[:, 0] if c else xp.zeros(n, x.dtype)
    loss = -(1 - label_smoothing) * w_t * picked
    if label_smoothing:
        wl = logp if weight is None else logp * weight
        loss = loss - label_smoothing / c * wl.sum(axis=1)
    return xp.where(keep, loss, 0).astype(x.dtype, copy=False), stats.astype(x.dtype, copy=False)


def cross_entropy_backward(grad, x, stats, target, weight, ignore_index, label_smoothing):
    """Gradient of the per-row losses of ``cross_entropy`` for their gradients grad (N,):
    ``grad_x[i, j] = grad[i] ((1 - eps) w[t] (p_ij - [j == t]) + eps / C (W p_ij - w[j]))`` with
    ``p = exp((x - m) - ls)`` from stats = (m, ls), W the sum of the weights (C without weights), and 0 on
    ignored rows."""
    xp = _xp(x)
    n, c = x.shape
    with numpy.errstate(invalid="ignore", over="ignore"):
        p = xp.exp((x - stats[:, :1]) - stats[:, 1:])
    keep = target != ignore_index
    safe = xp.where(keep, target, 0)
    w = weight if weight is not None else xp.ones(c, x.dtype)
    gt = grad * (1 - label_smoothing) * w[safe]
    gs = grad * (label_smoothing / c) if c else grad * 0
    out = p * (gt + gs * w.sum())[:, None] - gs[:, None] * w[None, :]
    out[xp.arange(n), safe] -= gt
    return xp.where(keep[:, None], out, 0).astype(x.dtype, copy=False)
# recurrent layers: one layer and one direction of an RNN (tanh, relu), LSTM or GRU over a whole sequence

__all__ += ["rnn_backward", "rnn_forward"]

_RNN_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _sigmoid(xp, v):
    e = xp.exp(-xp.abs(v))          # never overflows
    return xp.where(v >= 0, 1 / (1 + e), e / (1 + e))


def _rnn_times(steps, reverse):
    return range(steps - 1, -1, -1) if reverse else range(steps)


def rnn_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    """One layer and one direction of a recurrent layer over a whole sequence, PyTorch's formulas.

    Args:
        mode: "rnn_tanh", "rnn_relu" (h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)), "lstm" (gates i, f, g, o
            stacked in W's rows; c' = f c + i g, h' = o tanh(c')) or "gru" (gates r, z, n;
            n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)), h' = (1 - z) n + z h).
        x: (T, B, I), T >= 1; h0: (B, H); c0: (B, H) for "lstm", else None.
        w_ih: (G H, I), w_hh: (G H, H) with G = 1, 4, 3 gates; b_ih, b_hh: (G H,) each, or both None.
        reverse: run from t = T - 1 down to 0 (the backward direction of a bidirectional layer).

    Returns:
        (y, h_n, c_n, workspace): y (T, B, H) the hidden state at every time t (in time order also when
        reverse), h_n (B, H) the last one processed, c_n (B, H) the final cell state ("lstm"; else None), and
        workspace (T, B, W) what ``rnn_backward`` reads: W = 0 for the RNNs; "lstm": W = 5H, the activated gates
        i, f, g, o then c_t; "gru": W = 4H, the activated r, z, n then hn = h_{t-1} W_hn^T + b_hn.
    """
    xp = _xp(x)
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    proj = xp.matmul(x.reshape(steps * batch, -1), w_ih.T).reshape(steps, batch, -1)
    if b_ih is not None:
        proj = proj + b_ih
    width = {"lstm": 5 * hidden, "gru": 4 * hidden}.get(mode, 0)
    ws = xp.zeros((steps, batch, width), x.dtype)
    y = xp.empty((steps, batch, hidden), x.dtype)
    h, c = h0, c0
    for t in _rnn_times(steps, reverse):
        gh = xp.matmul(h, w_hh.T)
        if b_hh is not None:
            gh = gh + b_hh
        if mode == "lstm":
            pre = proj[t] + gh
            i, f, o = (_sigmoid(xp, pre[:, k * hidden:(k + 1) * hidden]) for k in (0, 1, 3))
            g = xp.tanh(pre[:, 2 * hidden:3 * hidden])
            c = f * c + i * g
            h = o * xp.tanh(c)
            ws[t] = xp.concatenate([i, f, g, o, c], axis=1)
        elif mode == "gru":
            xr, xz, xn = (proj[t][:, k * hidden:(k + 1) * hidden] for k in range(3))
            hr, hz, hn = (gh[:, k * hidden:(k + 1) * hidden] for k in range(3))
            r, z = _sigmoid(xp, xr + hr), _sigmoid(xp, xz + hz)
            n = xp.tanh(xn + r * hn)
            h = n + z * (h - n)
            ws[t] = xp.concatenate([r, z, n, hn], axis=1)
        else:
            pre = proj[t] + gh
            h = xp.tanh(pre) if mode == "rnn_tanh" else xp.maximum(pre, 0)
        y[t] = h
    c_n = xp.ascontiguousarray(c) if mode == "lstm" else None
    return y, xp.ascontiguousarray(h), c_n, ws


def rnn_backward(mode, grad_y, grad_hn, grad_cn, x, h0, c0, w_ih, w_hh, b_ih, b_hh, y, workspace, reverse,
                 output_mask):
    """Gradients of ``rnn_forward`` (backpropagation through time).

    Args:
        mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse: the forward's arguments.
        grad_y: (T, B, H) gradient of y; grad_hn: (B, H) of h_n; grad_cn: (B, H) of c_n ("lstm"; else None).
        y, workspace: the forward's outputs.
        output_mask: 7 booleans, which of the results to compute.

    Returns:
        (grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh) in the shapes of the forward's
        arguments; None where output_mask is False or the argument is None (c0 outside "lstm", absent biases).
    """
    xp = _xp(x)
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    gates = _RNN_GATES[mode] * hidden
    dgx = xp.empty((steps, batch, gates), x.dtype)
    dgh = xp.empty((steps, batch, gates), x.dtype) if mode == "gru" else dgx
    dh, dc = grad_hn.copy(), (grad_cn.copy() if mode == "lstm" else None)
    h_prev = {}
    order = list(_rnn_times(steps, reverse))
    for k, t in enumerate(order):
        h_prev[t] = h0 if k == 0 else y[order[k - 1]]
    for k in range(steps - 1, -1, -1):
        t = order[k]
        d = dh + grad_y[t]
        if mode == "lstm":
            i, f, g, o, c = (workspace[t][:, j * hidden:(j + 1) * hidden] for j in range(5))
            cp = c0 if k == 0 else workspace[order[k - 1]][:, 4 * hidden:]
            tc = xp.tanh(c)
            dct = dc + d * o * (1 - tc * tc)
            dgx[t] = xp.concatenate([dct * g * i * (1 - i), dct * cp * f * (1 - f), dct * i * (1 - g * g),
                                     d * tc * o * (1 - o)], axis=1)
            dc = dct * f
            dh = xp.matmul(dgx[t], w_hh)
        elif mode == "gru":
            r, z, n, hn = (workspace[t][:, j * hidden:(j + 1) * hidden] for j in range(4))
            dan = d * (1 - z) * (1 - n * n)
            dar = dan * hn * r * (1 - r)
            daz = d * (h_prev[t] - n) * z * (1 - z)
            dgx[t] = xp.concatenate([dar, daz, dan], axis=1)
            dgh[t] = xp.concatenate([dar, daz, dan * r], axis=1)
            dh = d * z + xp.matmul(dgh[t], w_hh)
        else:
            dgx[t] = d * (1 - y[t] * y[t]) if mode == "rnn_tanh" else d * (y[t] > 0)
            dh = xp.matmul(dgx[t], w_hh)
    want = list(output_mask)
    want[2] = want[2] and mode == "lstm"
    want[5] = want[5] and b_ih is not None
    want[6] = want[6] and b_hh is not None
    flat_x, flat_gx, flat_gh = x.reshape(steps * batch, -1), dgx.reshape(steps * batch, -1), dgh.reshape(-1, gates)
    h_all = xp.stack([h_prev[t] for t in range(steps)]).reshape(steps * batch, hidden)
    results = (lambda: xp.matmul(flat_gx, w_ih).reshape(x.shape), lambda: dh, lambda: dc,
               lambda: xp.matmul(flat_gx.T, flat_x), lambda: xp.matmul(flat_gh.T, h_all),
               lambda: flat_gx.sum(axis=0), lambda: flat_gh.sum(axis=0))
    return tuple(xp.ascontiguousarray(fn()) if w else None for fn, w in zip(results, want))
# linear (fully connected layer): the weight is stored (out_features, in_features), as in PyTorch

def linear(x, w, bias=None):
    """``y = x @ w^T + bias``.

    Args:
        x: (M, K) input rows.
        w: (N, K) weight, one row per output feature.
        bias: (N,) or None.

    Returns:
        y: (M, N).
    """
    xp = _xp(x)
    y = xp.matmul(x, w.T)
    if bias is not None:
        y += bias
    return xp.ascontiguousarray(y)


def linear_backward(grad, x, w, need=(True, True, True)):
    """Gradients of ``linear``.

    Args:
        grad: gradient of the output, (M, N).
        x, w: the forward inputs.
        need: (need_x, need_w, need_bias), which gradients to compute; the others are None and cost nothing.

    Returns:
        (grad_x, grad_w, grad_bias): ``grad @ w`` (M, K), ``grad^T @ x`` (N, K) and ``grad`` summed over rows (N,),
        the bias gradient accumulated in float64.
    """
    xp = _xp(grad)
    gx = xp.ascontiguousarray(xp.matmul(grad, w)) if need[0] else None
    gw = xp.ascontiguousarray(xp.matmul(grad.T, x)) if need[1] else None
    gb = grad.sum(axis=0, dtype=xp.float64).astype(grad.dtype) if need[2] else None
    return gx, gw, gb


# ---------------------------------------------------------------------------------------------------------------------
# scatter_add_rows: the backward of picking rows by an index array (embedding lookups, x[idx] on dim 0)

def scatter_add_rows(grad, index, rows):
    """``out`` (rows, d) of zeros with row ``grad[i]`` added into row ``index[i]`` (repeats add up), for ``grad``
    (n, d) and int64 ``index`` (n,) in ``0..rows-1``.

    Example:
        >>> scatter_add_rows(numpy.ones((3, 2)), numpy.array([0, 2, 0]), 4)[:, 0]
        array([2., 0., 1., 0.])
    """
    out = _xp(grad).zeros((int(rows),) + tuple(grad.shape[1:]), dtype=grad.dtype)
    _scatter_add(out, index, grad)
    return out


__all__ += ["scatter_add_rows"]


# ---------------------------------------------------------------------------------------------------------------------
# attention (issue 16): the composed spec of the fused kernels; it builds the (B, H, L, S) score matrix the fused
# providers never build

def _attention_scores(q, k, mask, is_causal, scale):
    """scale * q k^T + mask, with -inf where ``is_causal`` hides key j from query i (j > i)."""
    xp = _xp(q)
    s = xp.matmul(q, xp.swapaxes(k, -1, -2)) * q.dtype.type(scale)
    if mask is not None:
        s = s + mask
    if is_causal:
        seen = xp.tril(xp.ones(s.shape[-2:], dtype=bool))
        s = xp.where(seen, s, xp.asarray(-numpy.inf, dtype=s.dtype))
    return s


def attention(q, k, v, mask, is_causal, scale):
    """Scaled dot-product attention over the last two axes, as PyTorch's ``F.scaled_dot_product_attention``.

    q (B, H, L, E), k (B, H, S, E), v (B, H, S, Ev); mask None or an additive float array (MB, MH, ML, S) with
    MB in {1, B}, MH in {1, H}, ML in {1, L} (ML = 1: one row for every query, a key-padding mask), entries
    possibly -inf; is_causal: query i sees key j only if j <= i (top-left
    aligned, on top of mask); scale a float. L, S, E, Ev, B, H >= 1 (the op handles zero sizes).

    Returns (out (B, H, L, Ev), lse (B, H, L)): lse = log sum_j exp(scores_ij) over the keys row i sees. A row that
    sees no key gives out = 0 and lse = -inf (PyTorch's CPU result for a fully masked row).
    """
    xp = _xp(q)
    s = _attention_scores(q, k, mask, is_causal, scale)
    m = s.max(axis=-1, keepdims=True)
    m = xp.where(xp.isneginf(m), xp.asarray(0, dtype=s.dtype), m)
    p = xp.exp(s - m)
    total = p.sum(axis=-1, keepdims=True)
    seen = total > 0
    lse = xp.where(seen, xp.log(xp.where(seen, total, 1)) + m, xp.asarray(-numpy.inf, dtype=s.dtype))
    out = xp.matmul(p / xp.where(seen, total, 1), v)
    return xp.ascontiguousarray(out.astype(q.dtype, copy=False)), xp.ascontiguousarray(lse[..., 0])


def attention_backward(grad, q, k, v, out, lse, mask, is_causal, scale, need=(True, True, True)):
    """Gradients (dq, dk, dv) of ``attention`` for the output gradient ``grad`` (B, H, L, Ev), from the saved
    ``out`` and ``lse``: P = exp(scores - lse) (0 for rows with lse = -inf), D = rowsum(grad * out),
    dv = P^T grad, dS = P (grad v^T - D), dq = scale dS k, dk = scale dS^T q. One not in ``need`` is None."""
    xp = _xp(q)
    s = _attention_scores(q, k, mask, is_causal, scale)
    shift = xp.where(xp.isneginf(lse), xp.asarray(numpy.inf, dtype=lse.dtype), lse)[..., None]
    p = xp.exp(s - shift)
    dv = xp.matmul(xp.swapaxes(p, -1, -2), grad) if need[2] else None
    d = (grad * out).sum(axis=-1, keepdims=True)
    ds = p * (xp.matmul(grad, xp.swapaxes(v, -1, -2)) - d) * q.dtype.type(scale)
    dq = xp.matmul(ds, k) if need[0] else None
    dk = xp.matmul(xp.swapaxes(ds, -1, -2), q) if need[1] else None
    return tuple(None if g is None else xp.ascontiguousarray(g.astype(q.dtype, copy=False)) for g in (dq, dk, dv))


# ---------------------------------------------------------------------------------------------------------------------
# layer norm over the rows of (M, N): one pass per row instead of the eight ops of its composition

def layer_norm(x, weight, bias, eps):
    """y = (x - mean) * rstd * weight + bias over each row of x (M, N), M, N >= 1, with the biased variance;
    weight and bias (N,) or None. Returns (y, mean (M,), rstd (M,)), rstd = 1 / sqrt(var + eps)."""
    xp = _xp(x)
    wide = x.astype(numpy.float64)
    mean = wide.mean(axis=1)
    centred = wide - mean[:, None]
    rstd = 1.0 / xp.sqrt((centred * centred).mean(axis=1) + eps)
    y = centred * rstd[:, None]
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return tuple(xp.ascontiguousarray(a.astype(x.dtype)) for a in (y, mean, rstd))


def layer_norm_backward(grad, x, weight, mean, rstd, need=(True, True, True)):
    """(grad_x, grad_weight, grad_bias) of ``layer_norm`` from its saved mean and rstd; with h = (x - mean) rstd
    and g = grad * weight: grad_x = rstd (g - rowmean(g) - h rowmean(g h)), grad_weight = colsum(grad h),
    grad_bias = colsum(grad). One not in ``need`` (or without its parameter) is None."""
    xp = _xp(x)
    g64 = grad.astype(numpy.float64)
    h = (x.astype(numpy.float64) - mean.astype(numpy.float64)[:, None]) * rstd.astype(numpy.float64)[:, None]
    gh = g64 if weight is None else g64 * weight
    gx = rstd.astype(numpy.float64)[:, None] * (gh - gh.mean(axis=1, keepdims=True)
                                                - h * (gh * h).mean(axis=1, keepdims=True)) if need[0] else None
    gw = (g64 * h).sum(axis=0) if need[1] and weight is not None else None
    gb = g64.sum(axis=0) if need[2] else None
    return tuple(None if a is None else xp.ascontiguousarray(a.astype(x.dtype)) for a in (gx, gw, gb))
