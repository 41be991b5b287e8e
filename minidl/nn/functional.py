"""``md.nn.functional`` (also ``md.nn.F``): layers and losses as functions, on top of the ops."""
import numpy as np

import math

from ..autograd.function import Function, once_differentiable
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.grad_mode import no_grad as _no_grad
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
           "softmax", "softplus", "tanh",
           # issue 14
           "cosine_similarity", "elu", "hardsigmoid", "hardswish", "hardtanh", "huber_loss", "kl_div", "logsigmoid",
           "mish", "normalize", "one_hot", "pad", "pixel_shuffle", "pixel_unshuffle", "prelu", "relu6", "selu",
           "silu", "smooth_l1_loss", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "avg_pool1d", "conv1d",
           "dropout1d", "dropout2d", "group_norm", "instance_norm", "max_pool1d", "bilinear", "glu"]


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




# --- issue 14: more activations, losses and tensor utilities (composed from differentiable ops) -----------------
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def elu(input, alpha=1.0, inplace=False):
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere. ``inplace`` is accepted; a new tensor is returned.

    Example:
        >>> F.elu(md.tensor([-1.0, 2.0])).tolist()    # [-0.632..., 2.0]
    """
    # exp of the clamped input: exp(x) of a large positive x would overflow and its zero gradient become nan
    return where(input > 0, input, (input.clamp(max=0).exp() - 1) * alpha)


def selu(input, inplace=False):
    """Scaled ELU with the self-normalizing constants (alpha 1.6733, scale 1.0507).

    Example:
        >>> F.selu(md.tensor([0.0, 1.0])).tolist()    # [0.0, 1.0507...]
    """
    return elu(input, _SELU_ALPHA) * _SELU_SCALE


def silu(input, inplace=False):
    """``x * sigmoid(x)`` (also called swish).

    Example:
        >>> F.silu(md.tensor([0.0])).item()
        0.0
    """
    return input * sigmoid(input)


def mish(input, inplace=False):
    """``x * tanh(softplus(x))``.

    Example:
        >>> F.mish(md.tensor([0.0])).item()
        0.0
    """
    return input * tanh(softplus(input))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Clamp to [min_val, max_val]; the gradient is 1 strictly inside and 0 on and beyond the bounds, as PyTorch.

    Example:
        >>> F.hardtanh(md.tensor([-2.0, 0.5, 3.0])).tolist()
        [-1.0, 0.5, 1.0]
    """
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    inside = (input > min_val) & (input < max_val)
    return where(inside, input, input.detach().clamp(min_val, max_val))


def relu6(input, inplace=False):
    """``min(max(x, 0), 6)``.

    Example:
        >>> F.relu6(md.tensor([-1.0, 7.0])).tolist()
        [0.0, 6.0]
    """
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input, inplace=False):
    """Piecewise-linear sigmoid: 0 below -3, 1 above 3, ``x / 6 + 1 / 2`` between.

    Example:
        >>> F.hardsigmoid(md.tensor([0.0])).item()
        0.5
    """
    return hardtanh(input, -3.0, 3.0) / 6 + 0.5


def hardswish(input, inplace=False):
    """``x * hardsigmoid(x)``.

    Example:
        >>> F.hardswish(md.tensor([-4.0, 4.0])).tolist()
        [-0.0, 4.0]
    """
    return input * hardsigmoid(input)


def logsigmoid(input):
    """``log(sigmoid(x))`` computed stably as ``-softplus(-x)``.

    Example:
        >>> F.logsigmoid(md.tensor([0.0])).item()    # -log(2)
    """
    return -softplus(-input)


def prelu(input, weight):
    """``x`` where positive, ``weight * x`` elsewhere; ``weight`` has one entry or one per channel (dim 1).

    Example:
        >>> F.prelu(md.tensor([[-1.0, -1.0]]), md.tensor([0.1, 0.2])).tolist()
        [[-0.1, -0.2]]
    """
    n = weight.numel()
    if weight.ndim > 1:
        raise ValueError(f"prelu: weight must be 1-D or a scalar, got shape {weight.shape}")
    if n == 1:
        w = weight.reshape(())
    elif input.ndim < 2 or input.shape[1] != n:
        raise ValueError(f"prelu: weight of {n} entries needs an input with {n} channels in dim 1, "
                         f"got input of shape {input.shape}")
    else:
        w = weight.reshape(n, *([1] * (input.ndim - 2)))
    return where(input > 0, input, input * w)


def _legacy(reduction, size_average, reduce):
    """Map PyTorch's deprecated ``size_average``/``reduce`` onto ``reduction`` as PyTorch does."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "mean" if size_average and reduce else "sum" if reduce else "none"


def _float_pair(op, input, target):
    _same_shape(op, input, target)
    if not input.dtype.is_floating_point:
        raise TypeError(f"{op}: input must be floating point, got {input.dtype}")
    return target.astype(input.dtype) if target.dtype != input.dtype else target


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """``0.5 d^2 / beta`` where ``|d| < beta``, ``|d| - 0.5 beta`` elsewhere (``d = input - target``);
    ``beta=0`` is the L1 loss.

    Example:
        >>> F.smooth_l1_loss(md.tensor([0.5, 3.0]), md.zeros(2)).item()    # (0.125 + 2.5) / 2
        1.3125
    """
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    target = _float_pair("smooth_l1_loss", input, target)
    d = (input - target).abs()
    loss = d if beta == 0 else where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta)
    return _reduce(loss, _legacy(reduction, size_average, reduce), "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """``0.5 d^2`` where ``|d| < delta``, ``delta (|d| - 0.5 delta)`` elsewhere; ``weight`` scales each element.

    Example:
        >>> F.huber_loss(md.tensor([0.5, 3.0]), md.zeros(2), delta=2.0).item()    # (0.125 + 4) / 2
        2.0625
    """
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    target = _float_pair("huber_loss", input, target)
    d = (input - target).abs()
    loss = where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "huber_loss")


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL divergence of ``target`` from the log-probabilities ``input``: ``t (log t - input)`` elementwise
    (0 where ``t`` is 0); with ``log_target`` the target holds log-probabilities too.

    ``reduction="batchmean"`` divides the sum by the batch size (dim 0), the mathematically correct KL;
    ``"mean"`` divides by the number of elements, as PyTorch.

    Example:
        >>> p = md.tensor([[0.25, 0.75]])
        >>> F.kl_div(p.log(), p, reduction="batchmean").item()
        0.0
    """
    reduction = _legacy(reduction, size_average, reduce)
    target = _float_pair("kl_div", input, target)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        pos = target > 0
        # log of 1 where the target is 0: t log t is 0 there, and the log's gradient stays finite
        loss = where(pos, target * where(pos, target, 1.0).log(), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction, "kl_div")


def _pad_pairs(op, x, pad):
    """PyTorch's ``pad`` list (last dim first: left, right, then the dim before, ...) as ((dim, lo, hi), ...)."""
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim or not all(_is_int(p) for p in pad):
        raise ValueError(f"{op}: pad must hold an even number of ints, at most 2 per dim of the input "
                         f"(shape {x.shape}), got {pad}")
    pairs = tuple((x.ndim - 1 - i, int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(len(pad) // 2))
    for d, lo, hi in pairs:
        if x.shape[d] + lo + hi < 0:
            raise ValueError(f"{op}: padding ({lo}, {hi}) of dim {d} leaves a negative size for input of shape "
                             f"{x.shape}")
    return pairs


class ConstantPad(Function):
    """Constant padding (negative amounts crop). Its adjoint is the same pad with every amount negated and 0 as
    fill, so the backward is itself differentiable."""
    @staticmethod
    def forward(ctx, x, pairs, value):
        ctx.pairs = pairs
        a = x.array
        shape, dst, src = list(a.shape), [slice(None)] * a.ndim, [slice(None)] * a.ndim
        for d, lo, hi in pairs:
            n = a.shape[d]
            shape[d] = n + lo + hi
            src[d] = slice(max(-lo, 0), n - max(-hi, 0))
            dst[d] = slice(max(lo, 0), max(lo, 0) + max(src[d].stop - src[d].start, 0))
        out = x._xp.full(shape, value, dtype=a.dtype)
        out[tuple(dst)] = a[tuple(src)]
        return out

    @staticmethod
    def backward(ctx, grad):
        return ConstantPad.apply(grad, tuple((d, -lo, -hi) for d, lo, hi in ctx.pairs), 0), None, None


def _pad_index(mode, n, lo, hi):
    """Source index for each output position along one dim of size ``n`` padded by (lo, hi)."""
    i = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    period = 2 * (n - 1)           # reflect: mirror about the edge elements, which are not repeated
    i = np.abs(i) % period if period else np.zeros_like(i)
    return np.where(i >= n, period - i, i)


def pad(input, pad, mode="constant", value=None):
    """Pad ``input``: ``pad`` lists (left, right) amounts for the last dim, then the dim before, and so on.

    ``mode`` is "constant" (fill ``value``, default 0; negative amounts crop), "reflect" (mirror without
    repeating the edge; amounts must be smaller than the dim), "replicate" (repeat the edge) or "circular" (wrap).
    The non-constant modes pad at most the last three dims, leaving the first (batch) dim alone, as PyTorch.

    Example:
        >>> F.pad(md.ones(2, 3), (1, 1)).shape
        (2, 5)
        >>> F.pad(md.tensor([[[1.0, 2.0, 3.0]]]), (2, 1), mode="reflect").tolist()
        [[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]]
    """
    pairs = _pad_pairs("pad", input, pad)
    if mode == "constant":
        return ConstantPad.apply(input, pairs, 0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: mode {mode!r} is not supported (use 'constant', 'reflect', 'replicate' "
                                  "or 'circular')")
    if value is not None and value != 0:
        raise ValueError(f"pad: a fill value is only used by mode 'constant', got value={value} with mode {mode!r}")
    if len(pairs) > 3 or input.ndim < len(pairs) + 1:
        raise NotImplementedError(f"pad: mode {mode!r} pads the last 1 to 3 dims of an input with a leading batch "
                                  f"or channel dim; got pad {tuple(pad)} for input of shape {input.shape}")
    out = input
    for d, lo, hi in pairs:
        n = input.shape[d]
        if mode == "reflect" and (max(lo, hi) >= n):
            raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be smaller than dim {d} of size {n} "
                             f"(input shape {input.shape})")
        if mode == "circular" and max(lo, hi) > n:
            raise ValueError(f"pad: circular padding ({lo}, {hi}) must not exceed dim {d} of size {n} "
                             f"(input shape {input.shape})")
        if n == 0 and lo + hi > 0:
            raise ValueError(f"pad: mode {mode!r} cannot pad the empty dim {d} of input of shape {input.shape}")
        out = _take(out, d, _pad_index(mode, n, lo, hi))
    return out


def one_hot(tensor, num_classes=-1):
    """int64 one-hot encoding: a new last dim of ``num_classes`` (-1: max value + 1) with a 1 at each index.

    Example:
        >>> F.one_hot(md.tensor([0, 2]), 3).tolist()
        [[1, 0, 0], [0, 0, 1]]
    """
    if tensor.dtype.is_floating_point or tensor.dtype == "bool":
        raise TypeError(f"one_hot: expects an integer tensor of class indices, got {tensor.dtype}")
    a = tensor.array.astype(np.int64, copy=False)
    xp = tensor._xp
    if a.size and int(a.min()) < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {int(a.min())}")
    if num_classes == -1:
        if not a.size:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
        num_classes = int(a.max()) + 1
    elif not _is_int(num_classes) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive int or -1, got {num_classes!r}")
    elif a.size and int(a.max()) >= num_classes:
        raise ValueError(f"one_hot: class value {int(a.max())} is out of range for num_classes={num_classes}")
    return Tensor._wrap((a[..., None] == xp.arange(num_classes)).astype(np.int64))


def _norm(x, p, dim, keepdim=True):
    """p-norm along ``dim`` whose gradient is 0 (not nan) at an all-zero slice, as PyTorch's."""
    a = x.abs()
    if p == math.inf:
        return a.max(dim=dim, keepdim=keepdim)[0] if a.shape[dim] else a.sum(dim=dim, keepdim=keepdim)
    if p == 1:
        return a.sum(dim=dim, keepdim=keepdim)
    if p <= 0:
        raise ValueError(f"normalize: p must be positive, got {p}")
    s = (x * x if p == 2 else a ** p).sum(dim=dim, keepdim=keepdim)
    pos = s > 0
    return where(pos, where(pos, s, 1.0) ** (1.0 / p), 0.0)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input`` divided by its ``p``-norm along ``dim`` (the norm floored at ``eps``).

    Example:
        >>> F.normalize(md.tensor([[3.0, 4.0]]))     # [[0.6, 0.8]]
    """
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported; use the returned tensor")
    if not -max(input.ndim, 1) <= dim < max(input.ndim, 1):
        raise IndexError(f"normalize: dim {dim} is out of range for input of shape {input.shape}")
    return input / _norm(input, p, dim).clamp(min=eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim`` (after broadcasting them together); each
    norm is floored at ``eps``.

    Example:
        >>> F.cosine_similarity(md.tensor([[1.0, 0.0]]), md.tensor([[1.0, 1.0]])).tolist()   # [0.7071...]
    """
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"cosine_similarity: shapes {x1.shape} and {x2.shape} do not broadcast") from None
    if not -max(len(shape), 1) <= dim < max(len(shape), 1):
        raise IndexError(f"cosine_similarity: dim {dim} is out of range for broadcast shape {shape}")
    x1, x2 = x1.broadcast_to(shape), x2.broadcast_to(shape)
    return ((x1 / _floored_norm(x1, dim, eps)) * (x2 / _floored_norm(x2, dim, eps))).sum(dim=dim)


def _floored_norm(x, dim, eps):
    """The 2-norm floored at ``eps`` in value only: the gradient is the unfloored norm's, as PyTorch's
    cosine_similarity floors it outside autograd."""
    n = _norm(x, 2, dim)
    return n + (n.clamp(min=eps) - n).detach()


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): moves channel blocks into space.

    Example:
        >>> F.pixel_shuffle(md.zeros(1, 8, 2, 3), 2).shape
        (1, 2, 4, 6)
    """
    r = upscale_factor
    if input.ndim < 3 or not _is_int(r) or r < 1 or input.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: needs (*, C * {r}^2, H, W) with a positive int factor, got input of "
                         f"shape {input.shape}")
    *b, c, h, w = input.shape
    k = len(b)
    x = input.reshape(*b, c // (r * r), r, r, h, w)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return x.reshape(*b, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of ``pixel_shuffle``.

    Example:
        >>> F.pixel_unshuffle(md.zeros(1, 2, 4, 6), 2).shape
        (1, 8, 2, 3)
    """
    r = downscale_factor
    if input.ndim < 3 or not _is_int(r) or r < 1 or input.shape[-2] % r or input.shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: needs (*, C, H, W) with H and W divisible by a positive int factor "
                         f"{r}, got input of shape {input.shape}")
    *b, c, h, w = input.shape
    k = len(b)
    x = input.reshape(*b, c, h // r, r, w // r, r)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return x.reshape(*b, c * r * r, h // r, w // r)


# --- issue 14: 1-D layers as their 2-D counterparts over a height-1 image; adaptive pooling, group/instance norm ---
def _one(op, name, v):
    """An int or a 1-tuple (PyTorch's 1-D layer arguments) as an int."""
    if isinstance(v, (tuple, list)) and len(v) == 1:
        v = v[0]
    if not _is_int(v):
        raise ValueError(f"{op}: {name} must be an int or a 1-tuple, got {v!r}")
    return int(v)


def _check_1d(op, x):
    if x.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 2-D (C, L) or 3-D (N, C, L) input, got shape {x.shape}")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) of (N, C, L) or (C, L) with weight (O, C // groups, K), as PyTorch.

    Example:
        >>> F.conv1d(md.randn(2, 3, 10), md.randn(4, 3, 3), padding=1).shape
        (2, 4, 10)
    """
    _check_1d("conv1d", input)
    if weight.ndim != 3:
        raise ValueError(f"conv1d: weight must be 3-D (out_channels, in_channels // groups, K), got {weight.shape}")
    pad = padding if isinstance(padding, str) else (0, _one("conv1d", "padding", padding))
    y = conv2d(input.unsqueeze(-2), weight.unsqueeze(-2), bias, (1, _one("conv1d", "stride", stride)), pad,
               (1, _one("conv1d", "dilation", dilation)), groups)
    return y.squeeze(-2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling of (N, C, L) or (C, L); ``stride`` defaults to ``kernel_size``.

    Example:
        >>> F.max_pool1d(md.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2).tolist()
        [[[3.0, 2.0]]]
    """
    _check_1d("max_pool1d", input)
    k = _one("max_pool1d", "kernel_size", kernel_size)
    s = k if stride is None or stride == () else _one("max_pool1d", "stride", stride)
    out = max_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, _one("max_pool1d", "padding", padding)),
                     (1, _one("max_pool1d", "dilation", dilation)), ceil_mode, return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling of (N, C, L) or (C, L) with PyTorch's ``ceil_mode``/``count_include_pad``.

    Example:
        >>> F.avg_pool1d(md.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2).tolist()
        [[[2.0, 1.0]]]
    """
    _check_1d("avg_pool1d", input)
    k = _one("avg_pool1d", "kernel_size", kernel_size)
    s = k if stride is None or stride == () else _one("avg_pool1d", "stride", stride)
    y = avg_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, _one("avg_pool1d", "padding", padding)), ceil_mode,
                   count_include_pad)
    return y.squeeze(-2)


def _adaptive_matrix(n_in, n_out, dtype, xp):
    """(n_out, n_in) averaging matrix of adaptive pooling: bin i covers [floor(i n/m), ceil((i+1) n/m))."""
    m = np.zeros((n_out, n_in), dtype=dtype.np)
    for i in range(n_out):
        lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return Tensor._wrap(xp.asarray(m))


def _adaptive_sizes(op, x, output_size, k):
    sizes = (output_size,) * k if output_size is None or _is_int(output_size) else tuple(output_size)
    if len(sizes) != k:
        raise ValueError(f"{op}: output_size must be an int or {k} ints/None, got {output_size!r}")
    sizes = tuple(x.shape[x.ndim - k + i] if s is None else s for i, s in enumerate(sizes))
    if any(not _is_int(s) or s < 1 for s in sizes) or any(x.shape[x.ndim - k + i] == 0 for i in range(k)):
        raise ValueError(f"{op}: output_size {output_size!r} must be positive for a non-empty input, got input of "
                         f"shape {x.shape}")
    return sizes


def adaptive_avg_pool1d(input, output_size):
    """Average over ``output_size`` nearly equal bins of the last dim of (N, C, L) or (C, L), as PyTorch bins.

    Example:
        >>> F.adaptive_avg_pool1d(md.randn(2, 3, 10), 4).shape
        (2, 3, 4)
    """
    _check_1d("adaptive_avg_pool1d", input)
    (lo,) = _adaptive_sizes("adaptive_avg_pool1d", input, output_size, 1)
    return input @ _adaptive_matrix(input.shape[-1], lo, input.dtype, input._xp).T


def adaptive_avg_pool2d(input, output_size):
    """Average over an ``output_size`` grid of nearly equal bins of (N, C, H, W) or (C, H, W); an int is square,
    None keeps that dim's size.

    Example:
        >>> F.adaptive_avg_pool2d(md.randn(2, 3, 7, 9), 1).shape
        (2, 3, 1, 1)
    """
    if input.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                         f"{input.shape}")
    oh, ow = _adaptive_sizes("adaptive_avg_pool2d", input, output_size, 2)
    if (oh, ow) == (1, 1):
        return input.mean(dim=(-2, -1), keepdim=True)
    ph = _adaptive_matrix(input.shape[-2], oh, input.dtype, input._xp)
    pw = _adaptive_matrix(input.shape[-1], ow, input.dtype, input._xp)
    return ph @ input @ pw.T


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize (N, C, *) over each group of C / num_groups channels and the spatial dims (biased variance),
    then a per-channel affine map.

    Example:
        >>> F.group_norm(md.randn(2, 6, 5), 3).shape
        (2, 6, 5)
    """
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise ValueError(f"group_norm: num_groups={num_groups} must divide the channels (dim 1) of input of shape "
                         f"{input.shape}")
    n, c = input.shape[:2]
    g = input.reshape(n, num_groups, -1)
    mean = g.mean(dim=2, keepdim=True)
    centered = g - mean
    var = (centered * centered).mean(dim=2, keepdim=True)
    y = (centered / (var + eps).sqrt()).reshape(input.shape)
    return _channel_affine(y, weight, bias)


def _channel_affine(y, weight, bias):
    shape = (y.shape[1],) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalize each (sample, channel) of (N, C, *) over its spatial dims. With running stats and
    ``use_input_stats`` they are updated in place (batch average of the instance statistics, unbiased variance);
    without ``use_input_stats`` the running stats normalize.

    Example:
        >>> F.instance_norm(md.randn(2, 3, 4, 4)).shape
        (2, 3, 4, 4)
    """
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected (N, C, *spatial) input, got shape {input.shape}")
    dims = tuple(range(2, input.ndim))
    shape = (1, input.shape[1]) + (1,) * len(dims)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and running_var")
        y = (input - running_mean.reshape(shape)) / (running_var.reshape(shape) + eps).sqrt()
        return _channel_affine(y, weight, bias)
    mean = input.mean(dim=dims, keepdim=True)
    centered = input - mean
    var = (centered * centered).mean(dim=dims, keepdim=True)
    if running_mean is not None or running_var is not None:
        count = math.prod(input.shape[2:])
        with _no_grad():
            if running_mean is not None:
                running_mean.mul_(1 - momentum).add_(mean.detach().mean(dim=0).reshape(-1) * momentum)
            if running_var is not None:
                unbiased = var.detach().mean(dim=0).reshape(-1) * (count / max(count - 1, 1))
                running_var.mul_(1 - momentum).add_(unbiased * momentum)
    return _channel_affine(centered / (var + eps).sqrt(), weight, bias)


def _channel_dropout(op, x, p, training, channel_dims):
    """Zero whole channels: the mask covers the leading ``channel_dims`` dims and broadcasts over the rest."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    mask_shape = x.shape[:channel_dims] + (1,) * (x.ndim - channel_dims)
    keep = generator().random(mask_shape) >= p
    return x * Tensor._wrap(x._xp.asarray(keep.astype(x.dtype.np) / (1.0 - p)))


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) with probability ``p``, scaling the rest by 1/(1-p).

    Example:
        >>> F.dropout1d(md.ones(2, 3, 4), 0.5, training=False).sum().item()
        24.0
    """
    if input.ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected a 2-D (C, L) or 3-D (N, C, L) input, got shape {input.shape}")
    return _channel_dropout("dropout1d", input, p, training, input.ndim - 1)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) with probability ``p``, scaling the rest by 1/(1-p).

    As PyTorch, the mask always covers dims 0 and 1: a 3-D input is read as (N, C, L) (channel-wise 1-D
    dropout, with PyTorch's warning) and a 2-D one as (N, C), elementwise (warned as deprecated).

    Example:
        >>> F.dropout2d(md.ones(2, 3, 4, 4), 0.5, training=False).sum().item()
        96.0
    """
    import warnings  # noqa: PLC0415
    if input.ndim < 2:
        raise ValueError(f"dropout2d: expected an input with at least 2 dims (N, C, ...), got shape {input.shape}")
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated; dims 0 and 1 "
                      "are dropped as (N, C), as PyTorch does. Use dropout instead.",
                      UserWarning, stacklevel=2)
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior "
                      "is desired - input is interpreted as shape (N, C, L) (PyTorch's rule); use dropout1d",
                      UserWarning, stacklevel=2)
    return _channel_dropout("dropout2d", input, p, training, 2)


def bilinear(input1, input2, weight, bias=None):
    """``y_k = x1^T W_k x2 + b_k`` for inputs (*, in1) and (*, in2), weight (out, in1, in2), bias (out,).

    Example:
        >>> F.bilinear(md.randn(5, 2), md.randn(5, 3), md.randn(4, 2, 3)).shape
        (5, 4)
    """
    if weight.ndim != 3 or input1.shape[-1:] != weight.shape[1:2] or input2.shape[-1:] != weight.shape[2:] \
            or input1.shape[:-1] != input2.shape[:-1]:
        raise ValueError(f"bilinear: inputs of shapes {input1.shape} and {input2.shape} do not fit weight of shape "
                         f"{weight.shape} (expects (*, in1), (*, in2) and (out, in1, in2))")
    out, in1, in2 = weight.shape
    lead = input1.shape[:-1]
    x1, x2 = input1.reshape(-1, in1), input2.reshape(-1, in2)
    # x1 against every W_k at once: (M, in1) @ (in1, out * in2), then the dot with x2 per output
    t = (x1 @ weight.permute(1, 0, 2).reshape(in1, out * in2)).reshape(-1, out, in2)
    y = (t * x2.unsqueeze(1)).sum(dim=2)
    if bias is not None:
        y = y + bias
    return y.reshape(*lead, out)


def glu(input, dim=-1):
    """Gated linear unit: the first half of ``dim`` times the sigmoid of the second half.

    Example:
        >>> F.glu(md.randn(4, 6)).shape
        (4, 3)
    """
    if input.ndim == 0 or input.shape[dim] % 2:
        raise ValueError(f"glu: dim {dim} of input of shape {input.shape} must have an even size")
    a, b = input.chunk(2, dim)
    return a * sigmoid(b)


# --- more of torch.nn.functional: shrink/threshold activations, in-place spellings, margin and likelihood losses --
from .functional_more import *  # noqa: E402,F403
from .functional_more import __all__ as _more_all  # noqa: E402

__all__ += _more_all


# --- issue 14: programs (vis): the deprecated size_average/reduce of PyTorch's older losses (yunjey's VAE calls
# binary_cross_entropy(..., size_average=False)), as keywords: the positional order stays minidl's (callers rely
# on it), where PyTorch puts size_average (and for nll_loss/cross_entropy ignore_index) before reduction.
def _legacy_warned(op, reduction, size_average, reduce):
    if size_average is not None or reduce is not None:
        import warnings  # noqa: PLC0415
        warnings.warn(f"{op}: size_average and reduce args will be deprecated, please use "
                      f"reduction='{_legacy('mean', size_average, reduce)}' instead.", UserWarning, stacklevel=3)
    return _legacy(reduction, size_average, reduce)


_bce, _bce_logits, _mse, _l1, _nll_loss, _cross_entropy = (binary_cross_entropy, binary_cross_entropy_with_logits,
                                                           mse_loss, l1_loss, nll_loss, cross_entropy)


def binary_cross_entropy(input, target, weight=None, reduction="mean", *, size_average=None, reduce=None):
    """Binary cross-entropy of probabilities ``input`` against ``target``; ``size_average`` and ``reduce`` are
    PyTorch's deprecated spelling of ``reduction`` (with its warning).

    Example:
        >>> F.binary_cross_entropy(md.tensor([0.5]), md.tensor([1.0]), size_average=False).item()    # -log 0.5
        0.6931...
    """
    return _bce(input, target, weight, _legacy_warned("binary_cross_entropy", reduction, size_average, reduce))


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None, *,
                                     size_average=None, reduce=None):
    """Binary cross-entropy of logits; also takes PyTorch's deprecated ``size_average``/``reduce``."""
    reduction = _legacy_warned("binary_cross_entropy_with_logits", reduction, size_average, reduce)
    return _bce_logits(input, target, weight, reduction, pos_weight)


def mse_loss(input, target, reduction="mean", *, size_average=None, reduce=None):
    """Mean (or summed) squared error; also takes PyTorch's deprecated ``size_average``/``reduce``."""
    return _mse(input, target, _legacy_warned("mse_loss", reduction, size_average, reduce))


def l1_loss(input, target, reduction="mean", *, size_average=None, reduce=None):
    """Mean (or summed) absolute error; also takes PyTorch's deprecated ``size_average``/``reduce``."""
    return _l1(input, target, _legacy_warned("l1_loss", reduction, size_average, reduce))


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean", *, size_average=None, reduce=None):
    """Negative log-likelihood of log-probabilities; also takes PyTorch's deprecated ``size_average``/``reduce``."""
    return _nll_loss(input, target, weight, ignore_index, _legacy_warned("nll_loss", reduction, size_average, reduce))


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, *,
                  size_average=None, reduce=None):
    """Cross-entropy of logits; also takes PyTorch's deprecated ``size_average``/``reduce``."""
    reduction = _legacy_warned("cross_entropy", reduction, size_average, reduce)
    return _cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)

from ..ops.attention import scaled_dot_product_attention  # noqa: E402  (issue 16: fused attention)

__all__ += ["scaled_dot_product_attention"]

from .attention_layer import multi_head_attention_forward  # noqa: E402  (issue 16: nn.MultiheadAttention's body)

__all__ += ["multi_head_attention_forward"]
