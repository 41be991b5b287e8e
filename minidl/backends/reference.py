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

from .geometry import output_size

__all__ = [
    "avg_pool2d", "avg_pool2d_backward", "batch_norm", "batch_norm_backward", "conv2d", "conv2d_backward",
    "matmul", "matmul_backward", "max_pool2d", "max_pool2d_backward",
    "linear", "linear_backward",
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
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
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


def conv2d_backward(grad, x, w, stride, padding, dilation, groups):
    """Gradients of ``conv2d``.

    Args:
        grad: gradient of the output, (N, O, OH, OW).
        x, w, stride, padding, dilation, groups: as in ``conv2d``.

    Returns:
        (grad_x, grad_w): shapes and dtype of x (N, C, H, W) and w (O, C // groups, KH, KW). Input pixels that no
        window reaches (stride larger than the kernel) get zero gradient.
    """
    xp = _xp(x)
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    cols, (oh, ow) = _im2col(x, w.shape, stride, padding, dilation, groups)
    g = grad.transpose(1, 0, 2, 3).reshape(groups, o // groups, n * oh * ow)   # copies: contiguous GEMM operand
    wg = w.reshape(groups, o // groups, cg * kh * kw)
    grad_w = xp.matmul(g, xp.swapaxes(cols, 1, 2)).reshape(w.shape)
    dcols = xp.matmul(xp.swapaxes(wg, 1, 2), g)                               # (G, Cg*KH*KW, N*OH*OW)
    dcols = dcols.reshape(c, kh, kw, n, oh, ow).transpose(3, 0, 1, 2, 4, 5)
    grad_x = _col2im(dcols, x.shape, (oh, ow), (kh, kw), stride, padding, dilation)
    return grad_x, xp.ascontiguousarray(grad_w)


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
    oh, ow = output_size(h, kh, sh, ph, dh, ceil_mode), output_size(w, kw, sw, pw, dw, ceil_mode)
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
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = output_size(h, kh, sh, ph, 1, ceil_mode), output_size(w, kw, sw, pw, 1, ceil_mode)
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
