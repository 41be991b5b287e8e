"""Provider "numba": every kernel of the reference as Numba-JIT loops on the CPU (the fallback when minidl._C is
not built).

Each kernel is a thin Python wrapper (geometry to ints, contiguous inputs, output allocation, the tiny C-sized
bookkeeping of batch_norm) around an ``@njit(parallel=True, cache=True)`` loop nest that ``prange``s over
independent work: batch rows for matmul, (sample, group) pairs for conv2d, (N*C) planes for pooling and channels
for batch_norm. Numba specializes each loop for float32 and float64 on first call; ``cache=True`` keeps the
machine code on disk so a second process skips the compile.
"""
try:
    import numba
    from numba import njit, prange
except ImportError as exc:  # the dispatcher shows this sentence as the reason the provider is unavailable
    raise ImportError('numba is not installed (pip install "minidl[numba]")') from exc

import numpy as np

from .geometry import output_hw

# Reassociation lets LLVM vectorize the reductions and fuse multiply-adds; no 'nnan'/'ninf', so NaN and inf still
# propagate as in the reference.
_FM = {"reassoc", "contract"}


# ---------------------------------------------------------------------------------------------------------------------
# serial GEMM building blocks (called inside the parallel loops)

@njit(cache=True, fastmath=_FM)
def _gemm_acc(a, a0, b, b0, c, c0, m, k):
    """c[c0+i, :] += sum_{kk<k} a[a0+i, kk] * b[b0+kk, :] for i < m.

    Four rows of c share each loaded row of b, and they accumulate in a private (4, N) buffer: LLVM cannot prove
    that rows of c and b do not alias, and only vectorizes the inner loop cleanly when the stores go to a local
    array indexed from 0 (row views, no column offsets). A 4 x N buffer stays in L1/L2 for the conv and benchmark
    widths, so no column blocking is needed.
    """
    n = c.shape[1]
    acc = np.empty((4, n), dtype=c.dtype)
    for i in range(0, m, 4):
        rows = min(4, m - i)
        acc[:, :] = 0
        if rows == 4:
            for kk in range(k):
                x0, x1, x2, x3 = a[a0 + i, kk], a[a0 + i + 1, kk], a[a0 + i + 2, kk], a[a0 + i + 3, kk]
                brow = b[b0 + kk]
                for j in range(n):
                    bv = brow[j]
                    acc[0, j] += x0 * bv
                    acc[1, j] += x1 * bv
                    acc[2, j] += x2 * bv
                    acc[3, j] += x3 * bv
        else:
            for r in range(rows):
                for kk in range(k):
                    x0 = a[a0 + i + r, kk]
                    brow = b[b0 + kk]
                    for j in range(n):
                        acc[r, j] += x0 * brow[j]
        for r in range(rows):
            crow = c[c0 + i + r]
            for j in range(n):
                crow[j] += acc[r, j]


@njit(cache=True, fastmath=_FM)
def _gemm_nt_acc(a, a0, b, c, c0, m):
    """c[c0+i, r] += dot(a[a0+i, :], b[r, :]) for i < m and every row r of b (A @ B^T, both row-contiguous)."""
    rows, p = b.shape
    for i in range(m):
        for r in range(rows):
            s = c[c0 + i, r] * 0
            for j in range(p):
                s += a[a0 + i, j] * b[r, j]
            c[c0 + i, r] += s


# ---------------------------------------------------------------------------------------------------------------------
# matmul

@njit(parallel=True, cache=True, fastmath=_FM)
def _bmm(a, b, c, mb):
    """c[t] = a[t] @ b[t] for the (B, M, K) x (B, K, N) batch; c is zeroed. Work items: (batch, block of mb rows)."""
    nb, m, k = a.shape
    blocks = (m + mb - 1) // mb
    for t in prange(nb * blocks):
        bi = t // blocks
        i0 = (t % blocks) * mb
        _gemm_acc(a[bi], i0, b[bi], 0, c[bi], i0, min(mb, m - i0), k)


def _row_block(nb, m):
    # Enough work items for every thread, but blocks of at least 4 rows (the register block of _gemm_acc).
    threads = numba.get_num_threads()
    return max(4, min(64, -(-m * nb // (2 * threads))))


def _matmul3(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    c = np.zeros((a.shape[0], a.shape[1], b.shape[2]), dtype=a.dtype)
    if c.size and a.shape[2]:
        _bmm(a, b, c, _row_block(a.shape[0], a.shape[1]))
    return c


def matmul(a, b):
    if a.ndim == 2:
        return _matmul3(a[None], b[None])[0]
    return _matmul3(a, b)


def matmul_backward(grad, a, b, need=(True, True)):
    # The transposed operands are copied contiguous (O(n^2)) so that both products run the same row-streaming GEMM.
    squeeze = grad.ndim == 2
    if squeeze:
        grad, a, b = grad[None], a[None], b[None]
    grad_a = _matmul3(grad, np.swapaxes(b, -1, -2)) if need[0] else None
    grad_b = _matmul3(np.swapaxes(a, -1, -2), grad) if need[1] else None
    if squeeze:
        return (None if grad_a is None else grad_a[0]), (None if grad_b is None else grad_b[0])
    return grad_a, grad_b


# ---------------------------------------------------------------------------------------------------------------------
# conv2d: per (sample, group) an im2col buffer and a GEMM with the group's weights

@njit(cache=True)
def _im2col(x, n, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, cols):
    """cols (Cg*KH*KW, OH*OW) of sample n, channels c0..c0+cg, zero padding."""
    h, w = x.shape[2], x.shape[3]
    for c in range(cg):
        for p in range(kh):
            for q in range(kw):
                r = (c * kh + p) * kw + q
                for i in range(oh):
                    hi = i * sh - ph + p * dh
                    base = i * ow
                    if hi < 0 or hi >= h:
                        for j in range(ow):
                            cols[r, base + j] = 0
                    else:
                        for j in range(ow):
                            wi = j * sw - pw + q * dw
                            cols[r, base + j] = x[n, c0 + c, hi, wi] if 0 <= wi < w else 0


@njit(cache=True)
def _col2im(dcols, gx, n, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """Adjoint of _im2col: add dcols back into gx[n, c0..c0+cg] (taps in the padding are dropped)."""
    h, w = gx.shape[2], gx.shape[3]
    for c in range(cg):
        for p in range(kh):
            for q in range(kw):
                r = (c * kh + p) * kw + q
                for i in range(oh):
                    hi = i * sh - ph + p * dh
                    if 0 <= hi < h:
                        for j in range(ow):
                            wi = j * sw - pw + q * dw
                            if 0 <= wi < w:
                                gx[n, c0 + c, hi, wi] += dcols[r, i * ow + j]


@njit(parallel=True, cache=True, fastmath=_FM)
def _conv2d(x, w2, groups, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, y):
    """y (N, O, OH*OW), zeroed, += W_g (Og, R) @ cols (R, OH*OW) per (sample, group)."""
    nb = x.shape[0]
    o, r = w2.shape
    og, cg = o // groups, r // (kh * kw)
    for t in prange(nb * groups):
        n, g = t // groups, t % groups
        cols = np.empty((r, oh * ow), dtype=x.dtype)
        _im2col(x, n, g * cg, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, cols)
        _gemm_acc(w2, g * og, cols, 0, y[n], g * og, og, r)


@njit(parallel=True, cache=True, fastmath=_FM)
def _conv2d_backward(x, wt, g3, groups, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, gx, gw_part, need_x, need_w):
    """gx (N, C, H, W) and the per-worker partial weight gradients gw_part (T, O, R), all zeroed; only those
    flagged by need_x / need_w are computed.

    Worker t takes samples t, t+T, ...: grad_x of a sample is written by one worker only, and each worker sums its
    own grad_w partial (reduced by the caller), so nothing is shared. wt is (G*R, Og): each group's W_g^T.
    """
    nb = x.shape[0]
    workers, o = gw_part.shape[0], gw_part.shape[1]
    r = wt.shape[0] // groups
    og, cg = o // groups, r // (kh * kw)
    for t in prange(workers):
        cols = np.empty((r, oh * ow), dtype=x.dtype)
        dcols = np.empty((r, oh * ow), dtype=x.dtype)
        for n in range(t, nb, workers):
            gn = g3[n]
            for g in range(groups):
                if need_w:
                    _im2col(x, n, g * cg, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, cols)
                    _gemm_nt_acc(gn, g * og, cols, gw_part[t], g * og, og)
                if not need_x:
                    continue
                dcols[:] = 0
                _gemm_acc(wt, g * r, gn, g * og, dcols, 0, r, og)
                _col2im(dcols, gx, n, g * cg, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)


def _conv_out(x, w, stride, padding, dilation):
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    kh, kw = w.shape[2:]
    oh, ow = output_hw(x.shape[2:], (kh, kw), stride, padding, dilation)
    return (kh, kw, sh, sw, ph, pw, dh, dw), oh, ow


def conv2d(x, w, stride, padding, dilation, groups):
    x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
    geom, oh, ow = _conv_out(x, w, stride, padding, dilation)
    y = np.zeros((x.shape[0], w.shape[0], oh * ow), dtype=x.dtype)
    if y.size:
        _conv2d(x, w.reshape(w.shape[0], -1), int(groups), *geom, oh, ow, y)
    return y.reshape(x.shape[0], w.shape[0], oh, ow)


def conv2d_backward(grad, x, w, stride, padding, dilation, groups, need=(True, True)):
    x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
    groups = int(groups)
    geom, oh, ow = _conv_out(x, w, stride, padding, dilation)
    o, r = w.shape[0], int(np.prod(w.shape[1:]))  # w[0] fails when there are no output channels
    g3 = np.ascontiguousarray(grad).reshape(x.shape[0], o, oh * ow)
    wt = np.ascontiguousarray(w.reshape(groups, o // groups, r).transpose(0, 2, 1)).reshape(groups * r, o // groups)
    workers = max(1, min(numba.get_num_threads(), x.shape[0]))
    need_x, need_w = bool(need[0]), bool(need[1])
    gx = np.zeros(x.shape if need_x else (0, 0, 0, 0), dtype=x.dtype)
    gw_part = np.zeros((workers, o, r) if need_w else (workers, o, 0), dtype=x.dtype)
    if x.shape[0] and oh * ow and (need_x or need_w):
        _conv2d_backward(x, wt, g3, groups, *geom, oh, ow, gx, gw_part, need_x, need_w)
    out = (gx if need_x else None,
           np.ascontiguousarray(gw_part.sum(axis=0).reshape(w.shape), dtype=x.dtype) if need_w else None)
    if len(need) == 3:
        out += (g3.sum(axis=(0, 2), dtype=np.float64).astype(x.dtype) if need[2] else None,)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# max_pool2d

@njit(cache=True)
def _taps(start, size, k, d):
    """Range [t0, t1) of taps t with 0 <= start + t*d < size (empty when none), so the tap loops need no checks."""
    t0 = 0 if start >= 0 else (-start + d - 1) // d
    t1 = max(0, min(k, (size - 1 - start) // d + 1))
    return t0, max(t0, t1)


@njit(parallel=True, cache=True)
def _max_pool2d(x, kh, kw, sh, sw, ph, pw, dh, dw, y, idx):
    """One (N*C) plane per work item; taps visited in row-major window order (first max, last NaN, as the spec)."""
    planes, h, w = x.shape
    oh, ow = y.shape[1], y.shape[2]
    # tap ranges per output column, computed once (integer divisions are the costliest part of a 2x2 window)
    qr = np.empty((ow, 2), dtype=np.int64)
    for j in range(ow):
        qr[j, 0], qr[j, 1] = _taps(j * sw - pw, w, kw, dw)
    for pl in prange(planes):
        for i in range(oh):
            r0 = i * sh - ph
            p0, p1 = _taps(r0, h, kh, dh)
            for j in range(ow):
                c0 = j * sw - pw
                q0, q1 = qr[j, 0], qr[j, 1]
                if p0 == p1 or q0 == q1:
                    # No tap inside the input: -inf and PyTorch's first tap >= 0 (stepping by dilation).
                    y[pl, i, j] = -np.inf
                    idx[pl, i, j] = (r0 + p0 * dh) * w + c0 + q0 * dw
                    continue
                pos = (r0 + p0 * dh) * w + c0 + q0 * dw
                best = x[pl, r0 + p0 * dh, c0 + q0 * dw]
                for p in range(p0, p1):
                    hi = r0 + p * dh
                    for q in range(q0, q1):
                        wi = c0 + q * dw
                        v = x[pl, hi, wi]
                        # strictly greater keeps the first max; a NaN always takes over (the last NaN wins), and
                        # nothing beats a NaN since comparisons with it are false
                        if v > best or v != v:
                            best, pos = v, hi * w + wi
                y[pl, i, j] = best
                idx[pl, i, j] = pos


@njit(parallel=True, cache=True)
def _max_pool2d_backward(g, idx, gx):
    planes, oh, ow = g.shape
    hw = gx.shape[1]
    for pl in prange(planes):
        for i in range(oh):
            for j in range(ow):
                k = idx[pl, i, j]
                if 0 <= k < hw:          # windows with no input element carry an index outside the plane
                    gx[pl, k] += g[pl, i, j]


def max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = output_hw((h, w), kernel_size, stride, padding, dilation, ceil_mode)
    y = np.empty((n * c, oh, ow), dtype=x.dtype)
    idx = np.empty((n * c, oh, ow), dtype=np.int64)
    if y.size:
        _max_pool2d(x.reshape(n * c, h, w), kh, kw, sh, sw, ph, pw, dh, dw, y, idx)
    return y.reshape(n, c, oh, ow), idx.reshape(n, c, oh, ow)


def max_pool2d_backward(grad, x, indices, kernel_size, stride, padding, dilation, ceil_mode):
    n, c, h, w = x.shape
    oh, ow = grad.shape[2], grad.shape[3]
    gx = np.zeros((n * c, h * w), dtype=grad.dtype)
    if grad.size:
        _max_pool2d_backward(np.ascontiguousarray(grad).reshape(n * c, oh, ow),
                             np.ascontiguousarray(indices, dtype=np.int64).reshape(n * c, oh, ow), gx)
    return gx.reshape(n, c, h, w)


# ---------------------------------------------------------------------------------------------------------------------
# avg_pool2d

def _avg_scale(h, w, oh, ow, kernel, stride, padding, count_include_pad, dtype):
    """1/divisor per output (OH, OW) in the input's dtype, 0 for empty windows: the reference's formula (C-sized)."""
    def divisors(size, out, k, s, p):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, size + p)
        return end - start if count_include_pad else np.minimum(end, size) - np.maximum(start, 0)
    div = (divisors(h, oh, kernel[0], stride[0], padding[0])[:, None]
           * divisors(w, ow, kernel[1], stride[1], padding[1])[None, :]).astype(dtype)
    return np.ascontiguousarray(np.where(div > 0, 1 / np.maximum(div, 1), 0).astype(dtype))


@njit(parallel=True, cache=True, fastmath=_FM)
def _avg_pool2d(x, kh, kw, sh, sw, ph, pw, scale, y):
    planes, h, w = x.shape
    oh, ow = y.shape[1], y.shape[2]
    for pl in prange(planes):
        for i in range(oh):
            h0, h1 = max(i * sh - ph, 0), min(i * sh - ph + kh, h)
            for j in range(ow):
                w0, w1 = max(j * sw - pw, 0), min(j * sw - pw + kw, w)
                s = y[pl, i, j] * 0      # padding taps are zeros: sum only the input part of the window
                for hi in range(h0, h1):
                    for wi in range(w0, w1):
                        s += x[pl, hi, wi]
                y[pl, i, j] = s * scale[i, j]


@njit(parallel=True, cache=True)
def _avg_pool2d_backward(g, kh, kw, sh, sw, ph, pw, scale, gx):
    planes, h, w = gx.shape
    oh, ow = g.shape[1], g.shape[2]
    for pl in prange(planes):
        for i in range(oh):
            h0, h1 = max(i * sh - ph, 0), min(i * sh - ph + kh, h)
            for j in range(ow):
                w0, w1 = max(j * sw - pw, 0), min(j * sw - pw + kw, w)
                v = g[pl, i, j] * scale[i, j]
                for hi in range(h0, h1):
                    for wi in range(w0, w1):
                        gx[pl, hi, wi] += v


def _avg_geometry(x_shape, kernel_size, stride, padding, ceil_mode):
    oh, ow = output_hw(x_shape[2:], kernel_size, stride, padding, (1, 1), ceil_mode)
    return kernel_size, stride, padding, oh, ow


def avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    k, s, p, oh, ow = _avg_geometry(x.shape, kernel_size, stride, padding, ceil_mode)
    scale = _avg_scale(h, w, oh, ow, k, s, p, bool(count_include_pad), x.dtype)
    y = np.zeros((n * c, oh, ow), dtype=x.dtype)
    if y.size:
        _avg_pool2d(x.reshape(n * c, h, w), *k, *s, *p, scale, y)
    return y.reshape(n, c, oh, ow)


def avg_pool2d_backward(grad, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    n, c, h, w = x.shape
    k, s, p, _, _ = _avg_geometry(x.shape, kernel_size, stride, padding, ceil_mode)
    oh, ow = grad.shape[2:]
    scale = _avg_scale(h, w, oh, ow, k, s, p, bool(count_include_pad), grad.dtype)
    gx = np.zeros((n * c, h, w), dtype=grad.dtype)
    if grad.size:
        _avg_pool2d_backward(np.ascontiguousarray(grad).reshape(n * c, oh, ow), *k, *s, *p, scale, gx)
    return gx.reshape(n, c, h, w)


# ---------------------------------------------------------------------------------------------------------------------
# batch_norm: one channel per work item; statistics in float64 two-pass, as the reference (reassociated sums:
# vectorized, and within rounding of the reference's pairwise sums)

@njit(parallel=True, cache=True, fastmath=_FM)
def _bn_stats(x, mean, var_sum):
    nb, c, length = x.shape
    cnt = nb * length
    for ch in prange(c):
        s = 0.0
        for n in range(nb):
            for i in range(length):
                s += x[n, ch, i]
        m = s / cnt
        v = 0.0
        for n in range(nb):
            for i in range(length):
                d = x[n, ch, i] - m
                v += d * d
        mean[ch], var_sum[ch] = m, v


@njit(parallel=True, cache=True, fastmath=_FM)
def _bn_apply(x, mean, scale, bias, y):
    """y = (x - mean) * scale + bias, in x's dtype (mean, scale already cast to it, as the reference)."""
    nb, c, length = x.shape
    for ch in prange(c):
        m, sc, b = mean[ch], scale[ch], bias[ch]
        for n in range(nb):
            for i in range(length):
                y[n, ch, i] = (x[n, ch, i] - m) * sc + b


@njit(parallel=True, cache=True, fastmath=_FM)
def _bn_backward(grad, x, weight, mean, invstd, training, gx, gw, gb, means):
    nb, c, length = x.shape
    cnt = nb * length
    for ch in prange(c):
        m, inv = mean[ch], invstd[ch]
        sb, sw = 0.0, 0.0
        for n in range(nb):
            for i in range(length):
                gv = grad[n, ch, i]
                sb += gv
                sw += gv * ((x[n, ch, i] - m) * inv)       # product in x's dtype, sum in float64 as the reference
        gb[ch], gw[ch] = sb, sw
        scale = weight[ch] * inv
        if training and cnt > 0:
            # the means rounded to x's dtype (stored through the x-typed buffer), as the reference's astype
            means[ch, 0], means[ch, 1] = sb / cnt, sw / cnt
            mg, mgx = means[ch, 0], means[ch, 1]
            for n in range(nb):
                for i in range(length):
                    xh = (x[n, ch, i] - m) * inv
                    gx[n, ch, i] = (grad[n, ch, i] - mg - xh * mgx) * scale
        else:
            for n in range(nb):
                for i in range(length):
                    gx[n, ch, i] = grad[n, ch, i] * scale


def batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    x = np.ascontiguousarray(x)
    n = x.shape[0] * x.shape[2]
    c = x.shape[1]
    if not training and running_mean is not None:
        mean = np.asarray(running_mean, dtype=np.float64)
        invstd = 1.0 / np.sqrt(np.asarray(running_var, dtype=np.float64) + eps)
    elif n == 0:
        mean = invstd = np.zeros(c, dtype=np.float64)
    else:
        mean, var_sum = np.empty(c), np.empty(c)
        _bn_stats(x, mean, var_sum)
        invstd = 1.0 / np.sqrt(var_sum / n + eps)
        if training and running_mean is not None:
            # C-sized and in place on the caller's arrays (any layout or dtype), exactly the reference's update
            unbiased = var_sum / (n - 1) if n > 1 else np.full_like(var_sum, np.nan)
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
            running_var[...] = (1 - momentum) * running_var + momentum * unbiased
    mean, invstd = mean.astype(x.dtype), invstd.astype(x.dtype)
    scale = np.ascontiguousarray(np.asarray(weight, dtype=x.dtype) * invstd)
    y = np.empty_like(x)
    if x.size:
        _bn_apply(x, mean, scale, np.ascontiguousarray(bias, dtype=x.dtype), y)
    return y, mean, invstd


def batch_norm_backward(grad, x, weight, save_mean, save_invstd, training):
    x, grad = np.ascontiguousarray(x), np.ascontiguousarray(grad)
    c = x.shape[1]
    gx = np.empty_like(x)
    gw, gb = np.zeros(c), np.zeros(c)
    _bn_backward(grad, x, np.ascontiguousarray(weight, dtype=x.dtype), np.ascontiguousarray(save_mean, dtype=x.dtype),
                 np.ascontiguousarray(save_invstd, dtype=x.dtype), bool(training), gx, gw, gb,
                 np.empty((c, 2), dtype=x.dtype))
    return gx, gw.astype(x.dtype), gb.astype(x.dtype)
