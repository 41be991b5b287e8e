"""Provider "numba_cuda": the reference kernels as ``numba.cuda.jit`` kernels.

Inputs are CuPy arrays (anything with ``__cuda_array_interface__``); kernels launch on them directly, on CuPy's
current stream, and outputs are allocated with the input's array module. Under the Numba CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``, set before numba is imported) NumPy arrays are accepted too, which is how the tests
run these kernels without a GPU. The simulator has no warp shuffles, so reductions use shared-memory trees only,
and it keys shared arrays by source line: every ``cuda.shared.array`` call stays on its own line.
"""
import math

import numpy

try:
    import numba
    from numba import cuda
except ImportError:
    raise ImportError('numba_cuda: numba-cuda is not installed (pip install "minidl[numba]")') from None
if getattr(cuda, "implementation", None) != "NVIDIA":
    raise ImportError('numba_cuda: numba-cuda is not installed, only numba\'s built-in numba.cuda '
                      '(pip install "minidl[numba]")')
_SIM = bool(getattr(numba.config, "ENABLE_CUDASIM", 0))
try:
    _gpu = cuda.is_available()
except Exception:  # noqa: BLE001 -- a broken driver raises from deep inside CUDA
    _gpu = False
if not _gpu:
    raise ImportError("numba_cuda: no CUDA GPU (numba.cuda.is_available() is False)")

from .geometry import output_hw  # noqa: E402

TILE = 8 if _SIM else 16    # matmul tile: TILE x TILE threads (the simulator pays per thread: smaller tiles)
BLOCK = 128                 # threads per block for elementwise and pooling kernels
RED = 32 if _SIM else 128   # threads per block for the batch_norm reductions (a power of two)


# ---------------------------------------------------------------------------------------------------------------------
# launch helpers

def _xp(a):
    if type(a).__module__.startswith("cupy"):
        import cupy  # noqa: PLC0415
        return cupy
    if not _SIM:
        raise TypeError(f"numba_cuda: expected a CUDA array (cupy), got {type(a).__name__}")
    return numpy


def _stream(xp):
    """CuPy's current stream as a Numba stream (0: default stream, and always under the simulator)."""
    if xp is numpy:
        return 0
    return cuda.external_stream(xp.cuda.get_current_stream().ptr)


def _launch(kernel, total, xp, *args):
    """One thread per item: ``total`` items in blocks of BLOCK."""
    if total > 0:
        kernel[(total + BLOCK - 1) // BLOCK, BLOCK, _stream(xp)](*args)


# ---------------------------------------------------------------------------------------------------------------------
# matmul: C[b] = op(A[b]) @ op(B[b]), tiled through shared memory; op transposes the stored (B, K, M) / (B, N, K)

def _make_matmul(dt):
    @cuda.jit
    def kernel(a, b, c, ta, tb):
        sa = cuda.shared.array((TILE, TILE), dt)
        sb = cuda.shared.array((TILE, TILE), dt)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        col = cuda.blockIdx.x * TILE + tx
        row = cuda.blockIdx.y * TILE + ty
        z = cuda.blockIdx.z
        m, n = c.shape[1], c.shape[2]
        k = a.shape[1] if ta else a.shape[2]
        acc = dt(0)
        for t in range((k + TILE - 1) // TILE):
            ka = t * TILE + tx                      # A tile: element (row, ka)
            kb = t * TILE + ty                      # B tile: element (kb, col)
            if row < m and ka < k:
                sa[ty, tx] = a[z, ka, row] if ta else a[z, row, ka]
            else:
                sa[ty, tx] = 0
            if kb < k and col < n:
                sb[ty, tx] = b[z, col, kb] if tb else b[z, kb, col]
            else:
                sb[ty, tx] = 0
            cuda.syncthreads()
            for i in range(TILE):
                acc += sa[ty, i] * sb[i, tx]
            cuda.syncthreads()
        if row < m and col < n:
            c[z, row, col] = acc
    return kernel


_MATMUL = {numpy.dtype(numpy.float32): _make_matmul(numba.float32),
           numpy.dtype(numpy.float64): _make_matmul(numba.float64)}


def _gemm(a, b, ta=False, tb=False):
    """Batched (G, M, N) product of 3-D arrays a and b, either stored transposed (ta / tb)."""
    xp = _xp(a)
    m = a.shape[2] if ta else a.shape[1]
    n = b.shape[1] if tb else b.shape[2]
    c = xp.empty((a.shape[0], m, n), dtype=a.dtype)
    if c.size:
        grid = ((n + TILE - 1) // TILE, (m + TILE - 1) // TILE, a.shape[0])
        _MATMUL[numpy.dtype(a.dtype)][grid, (TILE, TILE), _stream(xp)](a, b, c, bool(ta), bool(tb))
    return c


def _batched(a):
    return a if a.ndim == 3 else a.reshape((1,) + a.shape)


def matmul(a, b):
    xp = _xp(a)
    a, b = xp.ascontiguousarray(a), xp.ascontiguousarray(b)
    c = _gemm(_batched(a), _batched(b))
    return c if a.ndim == 3 else c.reshape(c.shape[1:])


def matmul_backward(grad, a, b, need=(True, True)):
    """(grad_a, grad_b); ``need`` masks the gradients computed (None for an unwanted one, its launch skipped)."""
    xp = _xp(grad)
    grad, a, b = xp.ascontiguousarray(grad), xp.ascontiguousarray(a), xp.ascontiguousarray(b)
    ga = _gemm(_batched(grad), _batched(b), tb=True).reshape(a.shape) if need[0] else None
    gb = _gemm(_batched(a), _batched(grad), ta=True).reshape(b.shape) if need[1] else None
    return ga, gb


# ---------------------------------------------------------------------------------------------------------------------
# pooling: one thread per output element, over (N*C, OH, OW) flattened

@cuda.jit
def _max_pool_fwd(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    t = cuda.grid(1)
    planes, h, w = x.shape
    oh, ow = y.shape[1], y.shape[2]
    if t >= planes * oh * ow:
        return
    p, r = t // (oh * ow), t % (oh * ow)
    i, j = r // ow, r % ow
    r0, c0 = i * sh - ph, j * sw - pw
    # PyTorch's start: the first tap >= 0; kept as the index while nothing beats -inf.
    rs = r0 + ((-r0 + dh - 1) // dh) * dh if r0 < 0 else r0
    cs = c0 + ((-c0 + dw - 1) // dw) * dw if c0 < 0 else c0
    best = -math.inf
    at = rs * w + cs
    for a in range(kh):
        row = r0 + a * dh
        if row >= 0 and row < h:
            for b in range(kw):
                col = c0 + b * dw
                if col >= 0 and col < w:
                    v = x[p, row, col]
                    if v > best or v != v:      # first maximum; a NaN wins, the last NaN in window order
                        best = v
                        at = row * w + col
    y[p, i, j] = best
    idx[p, i, j] = at


@cuda.jit
def _max_pool_bwd(grad, idx, gx):
    t = cuda.grid(1)
    planes, oh, ow = grad.shape
    hw = gx.shape[1]
    if t >= planes * oh * ow:
        return
    p, r = t // (oh * ow), t % (oh * ow)
    i, j = r // ow, r % ow
    k = idx[p, i, j]
    if k >= 0 and k < hw:
        cuda.atomic.add(gx, (p, k), grad[p, i, j])


@cuda.jit(device=True)
def _avg_divisor(i, size, k, s, p, include_pad):
    start = i * s - p
    end = min(start + k, size + p)
    if include_pad:
        return end - start
    return min(end, size) - max(start, 0)


@cuda.jit
def _avg_pool_fwd(x, y, kh, kw, sh, sw, ph, pw, include_pad):
    t = cuda.grid(1)
    planes, h, w = x.shape
    oh, ow = y.shape[1], y.shape[2]
    if t >= planes * oh * ow:
        return
    p, r = t // (oh * ow), t % (oh * ow)
    i, j = r // ow, r % ow
    div = _avg_divisor(i, h, kh, sh, ph, include_pad) * _avg_divisor(j, w, kw, sw, pw, include_pad)
    total = x[p, 0, 0] * 0
    for a in range(kh):
        row = i * sh - ph + a
        if row >= 0 and row < h:
            for b in range(kw):
                col = j * sw - pw + b
                if col >= 0 and col < w:
                    total += x[p, row, col]
    y[p, i, j] = total / div if div > 0 else total * 0


@cuda.jit
def _avg_pool_bwd(grad, gx, kh, kw, sh, sw, ph, pw, include_pad):
    t = cuda.grid(1)
    planes, oh, ow = grad.shape
    h, w = gx.shape[1], gx.shape[2]
    if t >= planes * oh * ow:
        return
    p, r = t // (oh * ow), t % (oh * ow)
    i, j = r // ow, r % ow
    div = _avg_divisor(i, h, kh, sh, ph, include_pad) * _avg_divisor(j, w, kw, sw, pw, include_pad)
    if div <= 0:
        return
    g = grad[p, i, j] / div
    for a in range(kh):
        row = i * sh - ph + a
        if row >= 0 and row < h:
            for b in range(kw):
                col = j * sw - pw + b
                if col >= 0 and col < w:
                    cuda.atomic.add(gx, (p, row, col), g)


def _geom(*pairs):
    return tuple(v for p in pairs for v in p)


def max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    xp = _xp(x)
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    oh, ow = output_hw(x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    y = xp.empty((n, c, oh, ow), dtype=x.dtype)
    idx = xp.empty((n, c, oh, ow), dtype=xp.int64)
    _launch(_max_pool_fwd, y.size, xp, x.reshape(n * c, h, w), y.reshape(n * c, oh, ow),
            idx.reshape(n * c, oh, ow), *_geom(kernel_size, stride, padding, dilation))
    return y, idx


def max_pool2d_backward(grad, x, indices, kernel_size, stride, padding, dilation, ceil_mode):
    xp = _xp(grad)
    grad, indices = xp.ascontiguousarray(grad), xp.ascontiguousarray(indices, dtype=xp.int64)
    n, c, h, w = x.shape
    oh, ow = grad.shape[2:]
    gx = xp.zeros((n, c, h, w), dtype=grad.dtype)
    _launch(_max_pool_bwd, grad.size, xp, grad.reshape(n * c, oh, ow), indices.reshape(n * c, oh, ow),
            gx.reshape(n * c, h * w))
    return gx


def avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    xp = _xp(x)
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    oh, ow = output_hw(x.shape[2:], kernel_size, stride, padding, (1, 1), ceil_mode)
    y = xp.empty((n, c, oh, ow), dtype=x.dtype)
    _launch(_avg_pool_fwd, y.size, xp, x.reshape(n * c, h, w), y.reshape(n * c, oh, ow),
            *_geom(kernel_size, stride, padding), bool(count_include_pad))
    return y


def avg_pool2d_backward(grad, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    xp = _xp(grad)
    grad = xp.ascontiguousarray(grad)
    n, c, h, w = x.shape
    oh, ow = grad.shape[2:]
    gx = xp.zeros((n, c, h, w), dtype=grad.dtype)
    _launch(_avg_pool_bwd, grad.size, xp, grad.reshape(n * c, oh, ow), gx.reshape(n * c, h, w),
            *_geom(kernel_size, stride, padding), bool(count_include_pad))
    return gx


# ---------------------------------------------------------------------------------------------------------------------
# batch_norm: one block per channel; float64 shared-memory tree reductions (no warp shuffles)

@cuda.jit(device=True)
def _tree_sum(s, tid):
    """Sum s[0:RED] into s[0] (every thread of the block calls it)."""
    step = RED // 2
    while step > 0:
        if tid < step:
            s[tid] += s[tid + step]
        cuda.syncthreads()
        step //= 2


@cuda.jit
def _bn_fwd(x, weight, bias, rm, rv, use_batch, update, momentum, eps, y, save_mean, save_invstd):
    c = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    n, length = x.shape[0], x.shape[2]
    count = n * length
    s = cuda.shared.array(RED, numba.float64)
    if use_batch:
        acc = 0.0
        for e in range(tid, count, RED):                        # pass 1: mean
            acc += x[e // length, c, e % length]
        s[tid] = acc
        cuda.syncthreads()
        _tree_sum(s, tid)
        mean = s[0] / count
        cuda.syncthreads()
        acc = 0.0
        for e in range(tid, count, RED):                        # pass 2: squared deviations
            d = x[e // length, c, e % length] - mean
            acc += d * d
        s[tid] = acc
        cuda.syncthreads()
        _tree_sum(s, tid)
        var_sum = s[0]
        if tid == 0:
            save_mean[c] = mean
            save_invstd[c] = 1.0 / math.sqrt(var_sum / count + eps)
            if update:
                unbiased = var_sum / (count - 1) if count > 1 else math.nan
                rm[c] = (1 - momentum) * rm[c] + momentum * mean
                rv[c] = (1 - momentum) * rv[c] + momentum * unbiased
    elif tid == 0:
        save_mean[c] = rm[c]
        save_invstd[c] = 1.0 / math.sqrt(numba.float64(rv[c]) + eps)
    cuda.syncthreads()
    m = save_mean[c]                                             # x's dtype, as the reference casts
    scale = weight[c] * save_invstd[c]
    for e in range(tid, count, RED):
        i, j = e // length, e % length
        y[i, c, j] = (x[i, c, j] - m) * scale + bias[c]


@cuda.jit
def _bn_bwd(grad, x, weight, save_mean, save_invstd, training, gx, gw, gb):
    c = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    n, length = x.shape[0], x.shape[2]
    count = n * length
    s = cuda.shared.array(RED, numba.float64)
    m, invstd = save_mean[c], save_invstd[c]
    acc = 0.0
    for e in range(tid, count, RED):
        acc += grad[e // length, c, e % length]
    s[tid] = acc
    cuda.syncthreads()
    _tree_sum(s, tid)
    sum_g = s[0]
    cuda.syncthreads()
    acc = 0.0
    for e in range(tid, count, RED):
        i, j = e // length, e % length
        acc += grad[i, c, j] * ((x[i, c, j] - m) * invstd)
    s[tid] = acc
    cuda.syncthreads()
    _tree_sum(s, tid)
    sum_gx = s[0]
    if tid == 0:
        gb[c] = sum_g
        gw[c] = sum_gx
    cuda.syncthreads()
    scale = weight[c] * invstd
    if training and count > 0:
        if tid == 0:                                            # means cast to x's dtype (gx as scratch)
            gx[0, c, 0] = sum_g / count
        cuda.syncthreads()
        mg = gx[0, c, 0]
        cuda.syncthreads()
        if tid == 0:
            gx[0, c, 0] = sum_gx / count
        cuda.syncthreads()
        mgx = gx[0, c, 0]
        cuda.syncthreads()
        for e in range(tid, count, RED):
            i, j = e // length, e % length
            gx[i, c, j] = (grad[i, c, j] - mg - (x[i, c, j] - m) * invstd * mgx) * scale
    else:
        for e in range(tid, count, RED):
            i, j = e // length, e % length
            gx[i, c, j] = grad[i, c, j] * scale


def batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    xp = _xp(x)
    x, weight, bias = xp.ascontiguousarray(x), xp.ascontiguousarray(weight), xp.ascontiguousarray(bias)
    n, c, length = x.shape
    y = xp.empty(x.shape, dtype=x.dtype)
    save_mean, save_invstd = xp.zeros(c, dtype=x.dtype), xp.zeros(c, dtype=x.dtype)
    has_running = running_mean is not None
    use_batch = bool(training) or not has_running
    if c == 0 or (use_batch and n * length == 0):
        return y, save_mean, save_invstd                       # empty batch: buffers untouched, saved pair zeros
    # running_* are updated in place: passed as they are (dummies when absent).
    rm = running_mean if has_running else xp.zeros(1, dtype=x.dtype)
    rv = running_var if has_running else xp.zeros(1, dtype=x.dtype)
    _bn_fwd[c, RED, _stream(xp)](x, weight, bias, rm, rv, use_batch, bool(training) and has_running,
                                 float(momentum), float(eps), y, save_mean, save_invstd)
    return y, save_mean, save_invstd


def batch_norm_backward(grad, x, weight, save_mean, save_invstd, training):
    xp = _xp(x)
    grad, x = xp.ascontiguousarray(grad), xp.ascontiguousarray(x)
    n, c, length = x.shape
    gx = xp.empty(x.shape, dtype=x.dtype)
    gw, gb = xp.zeros(c, dtype=x.dtype), xp.zeros(c, dtype=x.dtype)
    if c and n * length:
        _bn_bwd[c, RED, _stream(xp)](grad, x, xp.ascontiguousarray(weight), xp.ascontiguousarray(save_mean),
                                     xp.ascontiguousarray(save_invstd), bool(training), gx, gw, gb)
    return gx, gw, gb


# ---------------------------------------------------------------------------------------------------------------------
# conv2d: im2col into cols (G, Cg*KH*KW, N*OH*OW), then the tiled matmul per group; backward scatters with col2im

@cuda.jit(device=True)
def _tap(t, rows, ncols, cg, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw):
    """Entry t of the (G, Cg*KH*KW, N*OH*OW) column matrix: its (g, r, q) and the input pixel (n, channel,
    row, col) it reads; row/col may fall in the padding. Shared by im2col and col2im."""
    g, r, q = t // (rows * ncols), (t // ncols) % rows, t % ncols
    c, p, qq = r // (kh * kw), (r // kw) % kh, r % kw
    n, i, j = q // (oh * ow), (q // ow) % oh, q % ow
    return g, r, q, n, g * cg + c, i * sh - ph + p * dh, j * sw - pw + qq * dw


@cuda.jit
def _im2col(x, cols, cg, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw):
    t = cuda.grid(1)
    groups, rows, ncols = cols.shape
    if t >= groups * rows * ncols:
        return
    g, r, q, n, ch, row, col = _tap(t, rows, ncols, cg, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw)
    if row >= 0 and row < x.shape[2] and col >= 0 and col < x.shape[3]:
        cols[g, r, q] = x[n, ch, row, col]
    else:
        cols[g, r, q] = 0


@cuda.jit
def _col2im(dcols, gx, cg, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw):
    t = cuda.grid(1)
    groups, rows, ncols = dcols.shape
    if t >= groups * rows * ncols:
        return
    g, r, q, n, ch, row, col = _tap(t, rows, ncols, cg, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw)
    if row >= 0 and row < gx.shape[2] and col >= 0 and col < gx.shape[3]:
        cuda.atomic.add(gx, (n, ch, row, col), dcols[g, r, q])


def _conv_cols(x, w_shape, stride, padding, dilation, groups, im2col=True):
    """cols (G, Cg*KH*KW, N*OH*OW) of x (None unless ``im2col``), (OH, OW) and the kernels' geometry."""
    xp = _xp(x)
    n, _, h, wd = x.shape
    _, cg, kh, kw = w_shape
    oh, ow = output_hw((h, wd), (kh, kw), stride, padding, dilation)
    geom = (cg, kh, kw, oh, ow, *_geom(stride, padding, dilation))
    cols = None
    if im2col:
        cols = xp.empty((groups, cg * kh * kw, n * oh * ow), dtype=x.dtype)
        _launch(_im2col, cols.size, xp, x, cols, *geom)
    return cols, (oh, ow), geom


def conv2d(x, w, stride, padding, dilation, groups):
    xp = _xp(x)
    x, w, groups = xp.ascontiguousarray(x), xp.ascontiguousarray(w), int(groups)
    n, o = x.shape[0], w.shape[0]
    cols, (oh, ow), _ = _conv_cols(x, w.shape, stride, padding, dilation, groups)
    y = _gemm(w.reshape(groups, o // groups, cols.shape[1]), cols)             # (G, O/G, N*OH*OW)
    return xp.ascontiguousarray(y.reshape(o, n, oh, ow).transpose(1, 0, 2, 3))


def conv2d_backward(grad, x, w, stride, padding, dilation, groups, need=(True, True)):
    """(grad_x, grad_w); ``need`` masks the gradients computed (None for an unwanted one, its launches skipped)."""
    xp = _xp(x)
    grad, x, w, groups = xp.ascontiguousarray(grad), xp.ascontiguousarray(x), xp.ascontiguousarray(w), int(groups)
    n = x.shape[0]
    o = w.shape[0]
    cols, (oh, ow), geom = _conv_cols(x, w.shape, stride, padding, dilation, groups, im2col=need[1])
    g = xp.ascontiguousarray(grad.transpose(1, 0, 2, 3)).reshape(groups, o // groups, n * oh * ow)
    grad_w = _gemm(g, cols, tb=True).reshape(w.shape) if need[1] else None
    grad_x = None
    if need[0]:
        rows = int(numpy.prod(w.shape[1:]))                                      # Cg*KH*KW (w may have O = 0)
        dcols = _gemm(w.reshape(groups, o // groups, rows), g, ta=True)          # (G, Cg*KH*KW, N*OH*OW)
        grad_x = xp.zeros(x.shape, dtype=x.dtype)
        _launch(_col2im, dcols.size, xp, dcols, grad_x, *geom)
    return grad_x, grad_w


# --- issue 13: elementwise ops, sums, softmax, cross-entropy --------------------------------------------------------
# The reference bodies are CuPy expressions already (xp style), each one or a few fused CuPy kernels; a numba.cuda
# version would not beat them, so this provider serves them as they are (reached only when it is forced: "cupy"
# comes first in the cuda order).
from . import reference as _reference  # noqa: E402

for _name in ("binary", "cross_entropy", "cross_entropy_backward", "log_softmax", "log_softmax_backward",
              "reduce_sum", "softmax", "softmax_backward", "unary", "unary_backward"):
    globals()[_name] = getattr(_reference, _name)
del _name
# ---------------------------------------------------------------------------------------------------------------------
# linear: the tiled matmul reading w transposed in place

def linear(x, w, bias=None):
    xp = _xp(x)
    x, w = xp.ascontiguousarray(x), xp.ascontiguousarray(w)
    y = _gemm(x[None], w[None], tb=True)[0]
    if bias is not None:
        y += bias
    return y


def linear_backward(grad, x, w, need=(True, True, True)):
    xp = _xp(grad)
    grad, x, w = xp.ascontiguousarray(grad), xp.ascontiguousarray(x), xp.ascontiguousarray(w)
    gx = _gemm(grad[None], w[None])[0] if need[0] else None
    gw = _gemm(grad[None], x[None], ta=True)[0] if need[1] else None
    gb = grad.sum(axis=0, dtype=xp.float64).astype(grad.dtype) if need[2] else None
    return gx, gw, gb
