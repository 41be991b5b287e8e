"""``md.nn.functional`` (also ``md.nn.F``): layers and losses as functions, on top of the ops."""
import numpy as np

import math

from ..autograd.function import Function, once_differentiable
from ..autograd.grad_mode import is_grad_enabled
from ..backends import kernels
from ..backends.geometry import check_array_size, check_window, output_size
from ..ops import (avg_pool2d, batch_norm, conv2d, gelu, layer_norm, leaky_relu, log_softmax, logsumexp, max_pool2d,
                   relu, sigmoid, softmax, softplus, tanh, where)
from ..ops.elementwise import kernel as _kernel
from ..ops.linalg import Linear, linear_fusable
from ..ops.conv import _batched, _check_float, _check_tensors, _contig, _is_int, pair
from ..ops.conv import conv2d_backward as _conv2d_backward_masked
from ..random import generator
from ..tensor import Tensor

__all__ = ["avg_pool2d", "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits", "conv2d",
           "conv_transpose2d", "cross_entropy", "dropout", "embedding", "gelu", "interpolate", "l1_loss", "layer_norm",
           "leaky_relu", "linear", "log_softmax", "logsumexp", "max_pool2d", "mse_loss", "nll_loss", "relu", "sigmoid",
           "softmax", "softplus", "tanh"]


def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` with weight of shape (out_features, in_features), as PyTorch.

    Example:
        >>> F.linear(md.ones(4, 3), md.ones(2, 3)).shape
        (4, 2)
    """
    if x.shape[-1:] != weight.shape[-1:] or weight.ndim != 2:
        raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape {weight.shape} "
                         f"(expects (out_features, {x.shape[-1] if x.ndim else '?'}))")
    if linear_fusable(x, weight, bias):
        return Linear.apply(x, weight, bias)
    y = x @ weight.T
    return y if bias is None else y + bias


def dropout(x, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) when ``training``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = generator().random(x.shape) >= p
    mask = x._xp.asarray(keep.astype(x.dtype.np) / (1.0 - p))
    return x * Tensor._wrap(mask)


def embedding(indices, weight, padding_idx=None):
    """Rows of ``weight`` picked by integer ``indices``; the ``padding_idx`` row gets no gradient."""
    if not isinstance(indices, Tensor) or indices.dtype.is_floating_point:
        raise TypeError(f"embedding: indices must be an integer Tensor, got {getattr(indices, 'dtype', indices)}")
    n = weight.shape[0]
    if indices.numel() and (int(indices.array.min()) < -n or int(indices.array.max()) >= n):
        raise IndexError(f"embedding: index out of range for weight of shape {weight.shape} ({n} embeddings); "
                         f"indices span {int(indices.array.min())}..{int(indices.array.max())}")
    out = weight[indices]
    if padding_idx is not None:
        pad = (indices == padding_idx % n).unsqueeze(-1)
        out = where(pad, out.detach(), out)
    return out


# --- transposed convolution ------------------------------------------------------------------
def _grow(a, h, w):
    """Zero-extend array (N, C, H0, W0) at the bottom/right to (N, C, h, w) (h >= H0, w >= W0)."""
    if a.shape[2:] == (h, w):
        return a
    xp = Tensor._wrap(a)._xp
    out = xp.zeros(a.shape[:2] + (h, w), dtype=a.dtype)
    out[:, :, :a.shape[2], :a.shape[3]] = a
    return out


class ConvTranspose2d(Function):
    """The adjoint of conv2d: forward is conv2d's input gradient, backward is conv2d and conv2d's weight gradient.

    ``x`` (N, Cin, H, W) plays conv2d's output gradient and ``w`` (Cin, Cout/groups, KH, KW) conv2d's weight
    (O = Cin, C = Cout). When output_padding >= stride (allowed when dilation is larger) the conv2d of the output
    has more rows than ``x``: ``x`` is zero-extended to that size and the extra rows are dropped on the way back.
    """

    @staticmethod
    def forward(ctx, x, w, stride, padding, dilation, groups, out_hw):
        n, _, h, wd = x.shape
        c_out = w.shape[1] * groups
        kh, kw = w.shape[2:]
        # the conv2d that maps the output back: its spatial size is >= x's
        ch = output_size(out_hw[0], kh, stride[0], padding[0], dilation[0])
        cw = output_size(out_hw[1], kw, stride[1], padding[1], dilation[1])
        ctx.geom, ctx.out_hw, ctx.conv_hw = (stride, padding, dilation, groups), out_hw, (ch, cw)
        ctx.save_for_backward(x, w)
        xp = x._xp
        zeros = xp.zeros((n, c_out) + tuple(out_hw), dtype=x.array.dtype)
        # conv2d's input gradient only: the output mask skips its weight gradient
        gx, _ = _conv2d_backward_masked(_grow(_contig(x), ch, cw), zeros, _contig(w), ctx.geom, (True, False))
        return gx

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        g = _contig(grad)
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = kernels.conv2d(g, _contig(w), *ctx.geom)[:, :, :x.shape[2], :x.shape[3]]
            gx = Tensor._wrap(x._xp.ascontiguousarray(gx))
        if ctx.needs_input_grad[1]:
            _, gw = _conv2d_backward_masked(_grow(_contig(x), *ctx.conv_hw), g, _contig(w), ctx.geom, (False, True))
            gw = Tensor._wrap(gw)
        return gx, gw


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     output_size=None):
    """Transposed 2-D convolution (the gradient of conv2d with respect to its input), NCHW, as PyTorch.

    Args:
        x: input (N, Cin, H, W) or (Cin, H, W).
        weight: (Cin, Cout // groups, KH, KW), PyTorch's layout.
        bias: optional (Cout,).
        stride, padding, output_padding, dilation: int or (h, w) pair; output_padding < stride or < dilation.
        groups: channel groups.
        output_size: optional (H_out, W_out) (or with leading N, C) that picks output_padding for you.

    Returns:
        (N, Cout, OH, OW) with OH = (H - 1) sh - 2 ph + dh (KH - 1) + oph + 1.

    Example:
        >>> F.conv_transpose2d(md.randn(1, 4, 5, 5), md.randn(4, 2, 3, 3), stride=2).shape
        (1, 2, 11, 11)
    """
    op = "conv_transpose2d"
    _check_tensors(op, weight=weight, bias=bias)
    x4, squeeze = _batched(op, x)
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D (Cin, Cout/groups, KH, KW), got shape {weight.shape}")
    _check_float(op, x4, weight, *([bias] if bias is not None else []))
    stride, padding = pair(op, "stride", stride), pair(op, "padding", padding)
    dilation, output_padding = pair(op, "dilation", dilation), pair(op, "output_padding", output_padding)
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"{op}: stride and dilation must be >= 1, padding and output_padding >= 0, got {stride}, "
                         f"{dilation}, {padding}, {output_padding}")
    check_window(op, stride=stride, padding=padding, dilation=dilation, output_padding=output_padding,
                 kernel_size=tuple(weight.shape[2:]))
    n, c, h, w = x4.shape
    if not _is_int(groups) or groups < 1 or c % groups:
        raise ValueError(f"{op}: groups={groups} must divide the input channels {c} (input shape {x.shape})")
    if weight.shape[0] != c:
        raise ValueError(f"{op}: input of shape {x.shape} has {c} channels but weight of shape {weight.shape} "
                         f"expects {weight.shape[0]}")
    kh, kw = weight.shape[2:]
    base = [(size - 1) * s - 2 * p + d * (k - 1) + 1
            for size, s, p, d, k in zip((h, w), stride, padding, dilation, (kh, kw))]
    if output_size is not None:
        want = tuple(output_size)[-2:]
        output_padding = tuple(o - b for o, b in zip(want, base))
        if any(not 0 <= op_ < max(s, d) for op_, s, d in zip(output_padding, stride, dilation)):
            top = tuple(b + max(s, d) - 1 for b, s, d in zip(base, stride, dilation))
            raise ValueError(f"{op}: output_size {tuple(output_size)} is not reachable from input {x.shape}: valid "
                             f"sizes are {tuple(base)} up to {top}")
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ >= max(s, d):
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than either stride {stride} or "
                             f"dilation {dilation}")
    out_hw = (base[0] + output_padding[0], base[1] + output_padding[1])
    if min(out_hw) < 1:
        raise ValueError(f"{op}: input of shape {x.shape} with weight {weight.shape}, stride {stride} and padding "
                         f"{padding} gives an empty output {out_hw}")
    c_out = weight.shape[1] * groups
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"{op}: bias must have shape ({c_out},), got {bias.shape}")
    check_array_size(op, "output", (n, c_out) + out_hw, x4.array.dtype.itemsize,
                     f"input {x.shape}, weight {weight.shape}, stride {stride}, padding {padding}, dilation "
                     f"{dilation}, output_padding {output_padding}")
    y = ConvTranspose2d.apply(x4, weight, stride, padding, dilation, int(groups), out_hw)
    if bias is not None:
        y = y + bias.reshape(1, c_out, 1, 1)
    return y.squeeze(0) if squeeze else y


# --- resampling -----------------------------------------------------------------------------------------------------
def _source_size(op, x, size, scale_factor):
    """Output spatial size and the per-dim scale used to map output to input coordinates (PyTorch's rules)."""
    spatial = x.shape[2:]
    k = len(spatial)
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    if size is not None:
        out = (size,) * k if isinstance(size, int) else tuple(size)
        if len(out) != k:
            raise ValueError(f"{op}: size {size} has {len(out)} entries for input of shape {x.shape} ({k} spatial)")
        return out, tuple(i / o for i, o in zip(spatial, out))
    sf = (float(scale_factor),) * k if isinstance(scale_factor, (int, float)) else tuple(map(float, scale_factor))
    if len(sf) != k or min(sf) <= 0:
        raise ValueError(f"{op}: scale_factor {scale_factor} must be positive with {k} entries for input of shape "
                         f"{x.shape}")
    return tuple(math.floor(i * f) for i, f in zip(spatial, sf)), tuple(1.0 / f for f in sf)


def _take(x, dim, idx):
    """x indexed along ``dim`` by the integer array ``idx`` (differentiable: the backward scatter-adds)."""
    return x[(slice(None),) * dim + (Tensor._wrap(idx),)]


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
    """Resize (N, C, L) or (N, C, H, W) with ``mode`` "nearest" (any of them) or "linear"/"bilinear", as PyTorch.

    ``align_corners=True`` maps the corner pixels onto each other; False (the default) maps pixel centres, using
    the given ``scale_factor`` unless ``recompute_scale_factor`` or ``size`` is used.

    Example:
        >>> F.interpolate(md.ones(1, 1, 2, 2), scale_factor=2, mode="bilinear").shape
        (1, 1, 4, 4)
    """
    op = "interpolate"
    modes = {"nearest": None, "linear": 3, "bilinear": 4}
    if mode not in modes:
        raise ValueError(f"{op}: mode must be one of {sorted(modes)}, got {mode!r}")
    if x.ndim not in (3, 4) or (modes[mode] is not None and x.ndim != modes[mode]):
        raise ValueError(f"{op}: mode {mode!r} expects a {modes[mode] or '3-D or 4'}-D input (N, C, ...), "
                         f"got shape {x.shape}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"{op}: align_corners only applies to the linear modes, not {mode!r}")
    out, scales = _source_size(op, x, size, scale_factor)
    if recompute_scale_factor:
        scales = tuple(i / o for i, o in zip(x.shape[2:], out))
    if min(out) < 1:
        raise ValueError(f"{op}: output size {out} for input of shape {x.shape} is empty")
    xp = x._xp
    for axis, (n_in, n_out, scale) in enumerate(zip(x.shape[2:], out, scales)):
        dim = axis + 2
        if mode == "nearest":
            # NOTE: float32 arithmetic on purpose: PyTorch computes nearest source indices in float, and floor()
            # of a product like 7 * (3/7) can land on the other side of an integer in double precision
            dst = xp.arange(n_out, dtype=xp.float32)
            src = xp.floor(dst * xp.float32(scale)).astype(xp.int64)
            x = _take(x, dim, xp.minimum(src, n_in - 1))
            continue
        ft = x.dtype.np.type       # PyTorch computes linear source positions in the input's precision
        dst = xp.arange(n_out, dtype=ft)
        if align_corners:
            src = dst * ft((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        else:
            src = xp.maximum((dst + ft(0.5)) * ft(scale) - ft(0.5), ft(0))
        i0 = xp.minimum(xp.floor(src).astype(xp.int64), n_in - 1)
        i1 = xp.minimum(i0 + 1, n_in - 1)
        shape = [1] * x.ndim
        shape[dim] = n_out
        lam = Tensor._wrap((src - i0).astype(x.dtype.np).reshape(shape))
        x = _take(x, dim, i0) * (1 - lam) + _take(x, dim, i1) * lam
    return x


# --- losses ---------------------------------------------------------------------------------
def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _same_shape(op, input, target):
    if input.shape != target.shape:
        raise ValueError(f"{op}: input of shape {input.shape} and target of shape {target.shape} differ")


def _class_last(x):
    """(N, C, d1, ...) -> (N * d1 * ..., C)."""
    return x.reshape(x.shape[0], x.shape[1], -1).transpose(1, 2).reshape(-1, x.shape[1]) if x.ndim > 2 else x


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of class indices under log-probabilities ``input`` (N, C) or (N, C, d...).

    With ``reduction="mean"`` the sum is divided by the total weight of the non-ignored targets.
    """
    return _nll(input, target, weight, ignore_index, reduction, "nll_loss")


def _weighted_mean(total, weight_sum):
    """``total / weight_sum``; when nothing carries weight (every target ignored) the loss is nan, as in PyTorch,
    and its gradient 0 rather than the nan that ``0 / 0`` would send back."""
    if weight_sum.item() == 0:
        return total * 0.0 + float("nan")
    return total / weight_sum


def _class_targets(op, input, target, weight, ignore_index):
    """Validate class-index targets for ``input`` (N, C, d...) or (C,); return (input as (N, C, d...), target)."""
    if input.ndim < 1 or target.dtype.is_floating_point:
        raise TypeError(f"{op}: expects log-probabilities (N, C, ...) and integer targets, got {input.shape} "
                        f"and {target.dtype.name} {target.shape}")
    if input.ndim == 1:                 # unbatched (C,) with a 0-d target
        if target.shape != ():
            raise ValueError(f"{op}: an unbatched input of shape {input.shape} needs a 0-d target, got "
                             f"{target.shape}")
        input, target = input.unsqueeze(0), target.reshape(1)
    expected = (input.shape[0],) + input.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{op}: target of shape {target.shape} does not match input of shape {input.shape} "
                         f"(expected {expected})")
    c = input.shape[1]
    if weight is not None and weight.shape != (c,):
        raise ValueError(f"{op}: weight must have shape ({c},), got {weight.shape}")
    t = target.array.reshape(-1)
    valid = t != ignore_index
    if valid.any() and (int(t[valid].min()) < 0 or int(t[valid].max()) >= c):
        raise IndexError(f"{op}: target values must be in [0, {c}) (or ignore_index={ignore_index}) for input of "
                         f"shape {input.shape}, got range {int(t[valid].min())}..{int(t[valid].max())}")
    return input, target


def _nll(input, target, weight, ignore_index, reduction, op):
    out_shape = target.shape
    input, target = _class_targets(op, input, target, weight, ignore_index)
    t = target.array.reshape(-1)
    valid = t != ignore_index
    xp = input._xp
    safe = Tensor._wrap(xp.where(valid, t, 0))
    rows = Tensor._wrap(xp.arange(t.shape[0]))
    picked = _class_last(input)[rows, safe]
    w = Tensor._wrap(valid.astype(input.dtype.np))
    if weight is not None:
        w = w * weight[safe]
    loss = -picked * w
    if reduction == "mean":
        return _weighted_mean(loss.sum(), w.sum())
    return _reduce(loss.reshape(out_shape), reduction, op)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy of logits ``input`` (N, C) or (N, C, d...) against class indices or class probabilities.

    Follows PyTorch, including ``label_smoothing`` (mixing the target with the uniform distribution).

    Example:
        >>> F.cross_entropy(md.zeros(2, 4), md.tensor([1, 3]))    # log(4)
    """
    op = "cross_entropy"
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    class_dim = 1 if input.ndim > 1 else 0
    if not target.dtype.is_floating_point and input.dtype.is_floating_point:
        return _cross_entropy_indices(input, target, weight, ignore_index, reduction, label_smoothing)
    logp = log_softmax(input, dim=class_dim)
    c = input.shape[class_dim]
    wshape = [1] * input.ndim
    wshape[class_dim] = c
    if target.dtype.is_floating_point:          # class probabilities
        _same_shape(op, input, target)
        if label_smoothing:
            target = target * (1 - label_smoothing) + label_smoothing / c
        per = logp * target if weight is None else logp * target * weight.reshape(wshape)
        return _reduce(-per.sum(dim=class_dim), reduction, op)
    nll = _nll(logp, target, weight, ignore_index, reduction, op)
    if not label_smoothing:
        return nll
    return _smoothed(input, logp, target, nll, weight, ignore_index, reduction, label_smoothing)


def _smoothed(input, logp, target, nll, weight, ignore_index, reduction, label_smoothing):
    """The composed label-smoothing loss for class indices: nll (1 - eps) + the uniform part eps / C."""
    op = "cross_entropy"
    class_dim = 1 if input.ndim > 1 else 0
    c = input.shape[class_dim]
    wshape = [1] * input.ndim
    wshape[class_dim] = c
    keep = Tensor._wrap((target.array != ignore_index).astype(input.dtype.np))
    smooth = -(logp if weight is None else logp * weight.reshape(wshape)).sum(dim=class_dim) * keep
    if reduction == "mean":
        if weight is None:
            smooth = _weighted_mean(smooth.sum(), keep.sum())
        else:
            safe = Tensor._wrap(input._xp.where(target.array != ignore_index, target.array, 0))
            smooth = _weighted_mean(smooth.sum(), (weight[safe] * keep).sum())
    else:
        smooth = _reduce(smooth, reduction, op)
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / c)


class CrossEntropy(Function):
    """Softmax + cross-entropy of logits (M, C) against class indices, forward and backward each one kernel pass
    (``cross_entropy`` / ``cross_entropy_backward``; the composed form makes about fifteen temporaries). The
    class weight is a constant here; under create_graph the backward is composed from differentiable ops."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, smoothing):
        w = None if weight is None else weight.array.astype(x.array.dtype, copy=False)
        loss, stats = _kernel("cross_entropy", x.array, target, w, ignore_index, smoothing)
        ctx.x, ctx.target, ctx.w, ctx.stats = x, target, w, stats
        ctx.ignore_index, ctx.reduction, ctx.smoothing = ignore_index, reduction, smoothing
        if reduction == "none":
            return loss
        total = loss.sum()
        if reduction == "sum":
            return total
        keep = target != ignore_index
        ctx.denom = float(keep.sum() if w is None else (w[x._xp.where(keep, target, 0)] * keep).sum())
        # every target ignored: nan, as PyTorch (and a zero gradient, see backward)
        return x._xp.asarray(total / ctx.denom if ctx.denom else np.nan, dtype=x.array.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, n = ctx.x, ctx.x.shape[0]
        # d loss / d row loss: 1 (sum, none) or 1 / the kept weight (mean; 0 when every target was ignored)
        scale = 1.0 if ctx.reduction != "mean" else (1.0 / ctx.denom if ctx.denom else 0.0)
        if is_grad_enabled():
            rows = grad if ctx.reduction == "none" else (grad * scale).expand((n,))
            return _cross_entropy_grad_composed(ctx, rows)
        xp = x._xp
        if ctx.reduction == "none":
            g = xp.ascontiguousarray(grad.array, dtype=x.array.dtype)
        else:
            g = xp.full(n, float(grad.array) * scale, dtype=x.array.dtype)
        return Tensor._wrap(_kernel("cross_entropy_backward", g, x.array, ctx.stats, ctx.target, ctx.w,
                                    ctx.ignore_index, ctx.smoothing))


def _cross_entropy_grad_composed(ctx, rows):
    """The backward of CrossEntropy as differentiable ops of x and the incoming gradient (double backward)."""
    x, xp = ctx.x, ctx.x._xp
    n, c = x.shape
    keep = ctx.target != ctx.ignore_index
    safe = xp.where(keep, ctx.target, 0)
    w = ctx.w if ctx.w is not None else xp.ones(c, x.array.dtype)
    onehot = xp.zeros((n, c), x.array.dtype)
    onehot[xp.arange(n), safe] = 1
    eps = ctx.smoothing
    coef = Tensor._wrap(((1 - eps) * w[safe] * keep).astype(x.array.dtype)[:, None])
    p = softmax(x, dim=1)
    out = coef * (p - Tensor._wrap(onehot))
    if eps:
        keep_col = Tensor._wrap(keep.astype(x.array.dtype)[:, None])
        out = out + (p * float(w.sum()) - Tensor._wrap(w[None, :])) * keep_col * (eps / c)
    return rows.reshape((n, 1)) * out


def _cross_entropy_indices(input, target, weight, ignore_index, reduction, label_smoothing):
    """cross_entropy for class-index targets: the fused CrossEntropy, or composed when the weight needs a grad."""
    op = "cross_entropy"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if weight is not None and weight.requires_grad and is_grad_enabled():
        logp = log_softmax(input, dim=1 if input.ndim > 1 else 0)
        nll = _nll(logp, target, weight, ignore_index, reduction, op)
        if not label_smoothing:
            return nll
        return _smoothed(input, logp, target, nll, weight, ignore_index, reduction, label_smoothing)
    out_shape = target.shape
    x, target = _class_targets(op, input, target, weight, ignore_index)
    t = input._xp.ascontiguousarray(target.array.reshape(-1).astype(np.int64, copy=False))
    out = CrossEntropy.apply(_class_last(x), t, weight, ignore_index, reduction, float(label_smoothing))
    return out.reshape(out_shape) if reduction == "none" else out


def mse_loss(input, target, reduction="mean"):
    """Mean squared error; input and target must have the same shape."""
    _same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error; input and target must have the same shape."""
    _same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction, "l1_loss")


class BinaryCrossEntropy(Function):
    # NOTE: fused, not composed from log and clamp: at input 0 or 1 the composed backward is 0 * inf = nan,
    # while PyTorch's gradient (x - t) / max(x (1 - x), 1e-12) stays finite; we match PyTorch.
    @staticmethod
    def forward(ctx, x, t):
        ctx.save_for_backward(x, t)
        xp = x._xp
        with np.errstate(divide="ignore"):
            log_x, log_1mx = xp.maximum(xp.log(x.array), -100), xp.maximum(xp.log1p(-x.array), -100)
        return -(t.array * log_x + (1 - t.array) * log_1mx)

    @staticmethod
    def backward(ctx, grad):
        x, t = ctx.saved_tensors
        gx = grad * (x - t) / (x * (1 - x)).clamp(min=1e-12) if ctx.needs_input_grad[0] else None
        gt = None
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore"):      # unclamped logs, as PyTorch: +-inf at input 0 or 1
                gt = grad * ((1 - x).log() - x.log())
        return gx, gt


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """BCE of probabilities ``input`` in [0, 1]; logs are clamped at -100 as PyTorch does."""
    _same_shape("binary_cross_entropy", input, target)
    if input.numel() and (float(input.array.min()) < 0 or float(input.array.max()) > 1):
        raise ValueError("binary_cross_entropy: input values must be probabilities in [0, 1] "
                         "(use binary_cross_entropy_with_logits for logits)")
    loss = BinaryCrossEntropy.apply(input, target.astype(input.dtype))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """BCE on logits, computed stably as ``(1 - t) x + (1 + (pw - 1) t) softplus(-x)``."""
    _same_shape("binary_cross_entropy_with_logits", input, target)
    sp = softplus(-input)
    if pos_weight is None:
        loss = (1 - target) * input + sp
    else:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


