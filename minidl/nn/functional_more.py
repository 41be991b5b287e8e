"""More of ``torch.nn.functional``: the shrink/threshold activations, the in-place activation spellings
(``F.relu_``...), ``pairwise_distance``, and the margin, embedding and likelihood losses.

All are compositions of differentiable ops, so autograd derives their gradients; each follows PyTorch's formula
and ``reduction`` rule (``"mean"``, ``"sum"``, ``"none"``). Re-exported by ``md.nn.functional``.
"""
import math

import numpy as np

from .. import creation, ops
from ..tensor import Tensor
from ..ops.inplace import _elementwise as _in_place
from ..tensor_api.math_more import rsqrt
from . import functional as F
from .functional import _reduce, elu, hardtanh, leaky_relu, logsigmoid, relu, selu


def _zeros_like(x):
    return Tensor._wrap(x._xp.zeros((), x.array.dtype))


# --- activations -------------------------------------------------------------------------------------------------
def softmin(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    """``softmax(-input, dim)``.

    Example:
        >>> F.softmin(md.tensor([0.0, 0.0]), dim=0).tolist()
        [0.5, 0.5]
    """
    x = input if dtype is None else input.astype(dtype)
    return ops.softmax(-x, -1 if dim is None else dim)


def softsign(input):  # noqa: A002
    """``x / (1 + |x|)``."""
    return input / (1 + ops.abs(input))


def threshold(input, threshold, value, inplace=False):  # noqa: A002
    """``x`` where ``x > threshold``, else ``value``."""
    if inplace:
        return threshold_(input, threshold, value)
    return ops.where(input > threshold, input, creation.zeros_like(input) + value)


def hardshrink(input, lambd=0.5):  # noqa: A002
    """``x`` where ``|x| > lambd``, else 0."""
    return ops.where(ops.abs(input) > lambd, input, _zeros_like(input))


def softshrink(input, lambd=0.5):  # noqa: A002
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be non-negative, got {lambd}")
    return ops.where(input > lambd, input - lambd, ops.where(input < -lambd, input + lambd, _zeros_like(input)))


def tanhshrink(input):  # noqa: A002
    """``x - tanh(x)``."""
    return input - ops.tanh(input)


def celu(input, alpha=1.0, inplace=False):  # noqa: A002
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    if inplace:
        return celu_(input, alpha)
    return relu(input) + ops.minimum(_zeros_like(input), alpha * (ops.exp(input / alpha) - 1))


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):  # noqa: A002
    """Leaky ReLU whose negative slope is drawn from U(lower, upper) per element in training, and is
    ``(lower + upper) / 2`` in evaluation."""
    if inplace:
        return rrelu_(input, lower, upper, training)
    if training:
        slope = creation.empty(*input.shape, dtype=input.dtype).uniform_(lower, upper)
        return ops.where(input >= 0, input, input * slope)
    return leaky_relu(input, (lower + upper) / 2)


# written into ``input`` (recorded where it is part of a graph), as Tensor's own in-place methods
relu_ = _in_place("relu_", relu)
elu_ = _in_place("elu_", elu)
selu_ = _in_place("selu_", selu)
celu_ = _in_place("celu_", celu)
leaky_relu_ = _in_place("leaky_relu_", leaky_relu)
hardtanh_ = _in_place("hardtanh_", hardtanh)
threshold_ = _in_place("threshold_", threshold)
rrelu_ = _in_place("rrelu_", rrelu)


# --- distances ---------------------------------------------------------------------------------------------------
def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The ``p``-norm of ``x1 - x2 + eps`` over the last dim (PyTorch adds ``eps`` to the difference).

    Example:
        >>> F.pairwise_distance(md.tensor([[0.0, 0.0]]), md.tensor([[3.0, 4.0]]), eps=0).tolist()
        [5.0]
    """
    d = x1 - x2 + eps
    if p == float("inf"):
        return ops.amax(ops.abs(d), dim=-1, keepdim=keepdim)
    if p == 0:
        return ops.sum((d != 0).astype(d.dtype), dim=-1, keepdim=keepdim)
    return ops.sum(ops.abs(d) ** p, dim=-1, keepdim=keepdim) ** (1.0 / p)


# --- losses ------------------------------------------------------------------------------------------------------
def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """``max(0, -target * (input1 - input2) + margin)``: ``target`` 1 ranks ``input1`` higher, -1 lower."""
    return _reduce(relu(-target * (input1 - input2) + margin), _reduction(size_average, reduce, reduction),
                   "margin_ranking_loss")


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """``x`` where ``target`` is 1, ``max(0, margin - x)`` where it is -1 (``x``: a distance)."""
    zero = _zeros_like(input)
    loss = ops.where(target != 1, relu(margin - input), zero) + ops.where(target != -1, input, zero)
    return _reduce(loss, _reduction(size_average, reduce, reduction), "hinge_embedding_loss")


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """Two-class logistic loss ``log(1 + exp(-target * input))`` for targets of 1 or -1."""
    return _reduce(-logsigmoid(target * input), _reduction(size_average, reduce, reduction), "soft_margin_loss")


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                reduction="mean"):
    """Per-class logistic loss for multi-label targets of 0/1, averaged over the classes of each sample."""
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    return _reduce(ops.mean(loss, dim=-1), _reduction(size_average, reduce, reduction),
                   "multilabel_soft_margin_loss")


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """``1 - cos(x1, x2)`` where ``target`` is 1, ``max(0, cos(x1, x2) - margin)`` where it is -1."""
    eps = 1e-12                         # PyTorch's: inside the norms, not a floor on them
    dot = ops.sum(input1 * input2, dim=-1)
    cos = dot / ops.sqrt((ops.sum(input1 * input1, dim=-1) + eps) * (ops.sum(input2 * input2, dim=-1) + eps))
    zero = _zeros_like(cos)
    loss = ops.where(target == 1, 1 - cos, zero) + ops.where(target == -1, relu(cos - margin), zero)
    return _reduce(loss, _reduction(size_average, reduce, reduction), "cosine_embedding_loss")


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,  # noqa: A002
                      reduction="mean"):
    """Multi-class hinge loss: ``sum_{i != y} max(0, margin - x[y] + x[i]) ** p / C`` per sample."""
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: p must be 1 or 2, got {p}")
    x = input if input.ndim == 2 else input.reshape(1, -1)
    y = target.reshape(-1, 1)
    picked = ops.gather(x, 1, y)
    margins = relu(margin - picked + x) ** p
    if weight is not None:
        margins = margins * ops.index_select(weight, 0, y.reshape(-1)).reshape(-1, 1)
    not_target = creation.ones_like(x).scatter(1, y, 0.0)
    loss = ops.sum(margins * not_target, dim=1) / x.shape[1]
    loss = loss if input.ndim == 2 else loss.reshape(())
    return _reduce(loss, _reduction(size_average, reduce, reduction), "multi_margin_loss")


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d`` the ``pairwise_distance``; ``swap`` uses the smaller of
    ``d(a, n)`` and ``d(p, n)``."""
    d_ap = pairwise_distance(anchor, positive, p, eps)
    d_an = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_an = ops.minimum(d_an, pairwise_distance(positive, negative, p, eps))
    return _reduce(relu(d_ap - d_an + margin), _reduction(size_average, reduce, reduction), "triplet_margin_loss")


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,  # noqa: A002
                     reduction="mean"):
    """Negative log-likelihood of a Poisson ``target`` with rate ``exp(input)`` (``log_input``) or ``input``;
    ``full`` adds Stirling's approximation of ``log(target!)`` where ``target > 1``."""
    loss = ops.exp(input) - target * input if log_input else input - target * ops.log(input + eps)
    if full:
        safe = ops.where(target > 1, target, creation.ones_like(target))
        stirling = safe * ops.log(safe) - safe + 0.5 * ops.log(2 * math.pi * safe)
        loss = loss + ops.where(target > 1, stirling, _zeros_like(stirling))
    return _reduce(loss, _reduction(size_average, reduce, reduction), "poisson_nll_loss")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):  # noqa: A002
    """Negative log-likelihood of ``target`` under N(``input``, ``var``): ``0.5 * (log(var) + (input - target)**2
    / var)`` (+ ``0.5 * log(2 pi)`` with ``full``). ``var`` may lack the last dim or be one value per sample; it
    is clamped to ``eps`` for stability without stopping its gradient, as PyTorch does."""
    if isinstance(var, (int, float)):
        var = creation.full_like(input, float(var))
    if var.shape != input.shape:
        if var.shape == input.shape[:-1] or (var.ndim == input.ndim and var.shape[-1] == 1):
            var = var if var.ndim == input.ndim else var.unsqueeze(-1)
        else:
            raise ValueError(f"gaussian_nll_loss: var of shape {var.shape} does not fit input of shape {input.shape}")
    if bool((var.detach() < 0).any()):
        raise ValueError("gaussian_nll_loss: var has negative entries")
    var = var + (ops.clamp(var.detach(), min=eps) - var.detach())
    loss = 0.5 * (ops.log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, "gaussian_nll_loss")


def _pair(op, v, n=2):
    t = (v,) * n if isinstance(v, int) else tuple(v)
    if len(t) != n or any(not isinstance(i, int) for i in t):
        raise ValueError(f"{op}: expected an int or {n} ints, got {v!r}")
    return t


def _patch_index(op, size, kernel_size, dilation, padding, stride):
    """For each output location and kernel tap: the row/column in the padded input, and the output's grid."""
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = (_pair(op, v) for v in (kernel_size, dilation, padding, stride))
    h, w = size[0] + 2 * ph, size[1] + 2 * pw
    oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    if oh <= 0 or ow <= 0:
        raise ValueError(f"{op}: the kernel {kh}x{kw} (dilation {dh}x{dw}) does not fit the padded input {h}x{w}")
    rows = (np.arange(kh) * dh)[:, None, None, None] + (np.arange(oh) * sh)[None, None, :, None]
    cols = (np.arange(kw) * dw)[None, :, None, None] + (np.arange(ow) * sw)[None, None, None, :]
    rows, cols = np.broadcast_arrays(rows, cols)        # (kh, kw, oh, ow)
    return rows.reshape(kh * kw, oh * ow), cols.reshape(kh * kw, oh * ow), (ph, pw), (oh, ow), (kh, kw)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """Sliding local blocks of (N, C, H, W) as columns: (N, C * kh * kw, L), L the number of block positions
    (im2col; differentiable, its gradient the matching ``fold``).

    Example:
        >>> F.unfold(md.ones(1, 2, 4, 4), 2).shape
        (1, 8, 9)
    """
    if input.ndim not in (3, 4):
        raise ValueError(f"unfold: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {input.shape}")
    x = input if input.ndim == 4 else input.unsqueeze(0)
    rows, cols, (ph, pw), _, (kh, kw) = _patch_index("unfold", x.shape[2:], kernel_size, dilation, padding, stride)
    if ph or pw:
        x = F.pad(x, (pw, pw, ph, ph))
    n, c = x.shape[:2]
    out = x[:, :, rows, cols].reshape(n, c * kh * kw, rows.shape[1])      # (N, C, kh*kw, L) -> columns
    return out if input.ndim == 4 else out.squeeze(0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """The inverse layout of ``unfold``: columns (N, C * kh * kw, L) summed back into (N, C, H, W) (overlaps add).

    Example:
        >>> F.fold(F.unfold(md.ones(1, 1, 3, 3), 2), (3, 3), 2).tolist()[0][0][1]
        [2.0, 4.0, 2.0]
    """
    if input.ndim not in (2, 3):
        raise ValueError(f"fold: expected a 2-D (C*k, L) or 3-D (N, C*k, L) input, got shape {input.shape}")
    cols_in = input if input.ndim == 3 else input.unsqueeze(0)
    size = _pair("fold", output_size)
    rows, cols, (ph, pw), _, (kh, kw) = _patch_index("fold", size, kernel_size, dilation, padding, stride)
    n, ck, length = cols_in.shape
    if ck % (kh * kw) or length != rows.shape[1]:
        raise ValueError(f"fold: input of shape {input.shape} does not match kernel {kh}x{kw} with "
                         f"{rows.shape[1]} block positions for output size {size}")
    c = ck // (kh * kw)
    h, w = size[0] + 2 * ph, size[1] + 2 * pw
    flat = (rows * w + cols).reshape(-1)                  # each column entry's place in the padded plane
    src = cols_in.reshape(n, c, kh * kw * length)
    zeros = creation.zeros(n, c, h * w, dtype=input.dtype, device=input.device)
    index = Tensor._wrap(input._xp.asarray(np.broadcast_to(flat, (n, c, flat.size)).copy()))
    out = zeros.scatter_add(2, index, src).reshape(n, c, h, w)
    out = out[:, :, ph:ph + size[0], pw:pw + size[1]]
    return out if input.ndim == 3 else out.squeeze(0)


def _adaptive_bins(n_in, n_out):
    return [(i * n_in // n_out, -(-(i + 1) * n_in // n_out)) for i in range(n_out)]


def adaptive_max_pool2d(input, output_size, return_indices=False):  # noqa: A002
    """Maximum over an ``output_size`` grid of nearly equal bins of (N, C, H, W) or (C, H, W) (PyTorch's bins);
    with ``return_indices`` also each maximum's flat index in its H x W plane.

    Example:
        >>> F.adaptive_max_pool2d(md.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
        [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    if input.ndim not in (3, 4):
        raise ValueError(f"adaptive_max_pool2d: expected a 3-D or 4-D input, got shape {input.shape}")
    h, w = input.shape[-2:]
    oh, ow = (h if s is None else s for s in _pair_or_none(output_size))
    rows = []
    for r0, r1 in _adaptive_bins(h, oh):
        rows.append(ops.stack([ops.amax(input[..., r0:r1, c0:c1], dim=(-2, -1)) for c0, c1 in
                               _adaptive_bins(w, ow)], dim=-1))
    out = ops.stack(rows, dim=-2)
    if not return_indices:
        return out
    return out, _window_argmax(input, _adaptive_bins(h, oh), _adaptive_bins(w, ow))


def _pair_or_none(v):
    return (v, v) if v is None or isinstance(v, int) else tuple(v)


def _window_argmax(input, row_bins, col_bins):
    """The flat H*W index of each bin's first maximum."""
    arr = input.array
    xp = input._xp
    w = arr.shape[-1]
    out = xp.zeros(arr.shape[:-2] + (len(row_bins), len(col_bins)), dtype=np.int64)
    for i, (r0, r1) in enumerate(row_bins):
        for j, (c0, c1) in enumerate(col_bins):
            win = arr[..., r0:r1, c0:c1]
            flat = win.reshape(win.shape[:-2] + (-1,)).argmax(-1)
            out[..., i, j] = (r0 + flat // (c1 - c0)) * w + c0 + flat % (c1 - c0)
    return Tensor._wrap(out)


def adaptive_max_pool1d(input, output_size, return_indices=False):  # noqa: A002
    """Maximum over ``output_size`` nearly equal bins of the last dim of (N, C, L) or (C, L)."""
    if input.ndim not in (2, 3):
        raise ValueError(f"adaptive_max_pool1d: expected a 2-D or 3-D input, got shape {input.shape}")
    out = adaptive_max_pool2d(input.unsqueeze(-2), (1, output_size), return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):  # noqa: A002
    """Divide each value by ``(k + alpha / size * sum of squares over ``size`` neighbouring channels) ** beta``
    (AlexNet's normalization), over (N, C, ...)."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected an input of 3 or more dims (N, C, ...), got shape "
                         f"{input.shape}")
    sq = input * input
    c = input.shape[1]
    pad = [0, 0] * (input.ndim - 2) + [size // 2, (size - 1) // 2]
    padded = F.pad(sq, pad)
    window = padded[:, 0:c]
    for i in range(1, size):
        window = window + padded[:, i:i + c]
    return input / (k + (alpha / size) * window) ** beta


def rms_norm(input, normalized_shape, weight=None, eps=None):  # noqa: A002
    """``x / sqrt(mean(x**2) + eps)`` over the last ``len(normalized_shape)`` dims, times ``weight``
    (``eps`` defaults to the dtype's machine epsilon, as PyTorch's)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise ValueError(f"rms_norm: normalized_shape {shape} does not match the last dims of input shape "
                         f"{input.shape}")
    eps = float(np.finfo(input.dtype.np).eps) if eps is None else eps
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    out = input * rsqrt(ops.mean(input * input, dim=dims, keepdim=True) + eps)
    return out if weight is None else out * weight


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):  # noqa: A002
    """``interpolate`` under its old name."""
    return F.interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):  # noqa: A002
    """``interpolate(mode="nearest")`` under its old name."""
    return F.interpolate(input, size, scale_factor, "nearest")


def upsample_bilinear(input, size=None, scale_factor=None):  # noqa: A002
    """``interpolate(mode="bilinear", align_corners=True)``, as PyTorch's old ``upsample_bilinear``."""
    return F.interpolate(input, size, scale_factor, "bilinear", align_corners=True)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,  # noqa: A002
                     dilation=1):
    """The 1-d transposed convolution of (N, C_in, L) or (C_in, L) with ``weight`` (C_in, C_out / groups, k)."""
    if input.ndim not in (2, 3) or weight.ndim != 3:
        raise ValueError(f"conv_transpose1d: expected a 2-D or 3-D input and a 3-D weight, got shapes "
                         f"{input.shape} and {weight.shape}")
    x = input.unsqueeze(-2)
    one = lambda v: (1, v) if isinstance(v, int) else (1, *v)  # noqa: E731
    zero = lambda v: (0, v) if isinstance(v, int) else (0, *v)  # noqa: E731
    out = F.conv_transpose2d(x, weight.unsqueeze(-2), bias, one(stride), zero(padding), zero(output_padding),
                             groups, one(dilation))
    return out.squeeze(-2)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """A differentiable sample from the categorical distribution of ``logits``: softmax((logits + Gumbel noise) /
    tau); ``hard`` gives one-hot values with the soft sample's gradient (straight-through)."""
    u = creation.empty(*logits.shape, dtype=logits.dtype, device=logits.device).uniform_(0, 1)
    gumbels = -ops.log(-ops.log(u + eps) + eps)
    y = ops.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y
    index = ops.argmax(y, dim, keepdim=True)
    y_hard = creation.zeros_like(y).scatter(dim, index, 1.0)
    return y_hard - y.detach() + y


def _reduction(size_average, reduce, reduction):
    from .loss import _legacy_reduction  # noqa: PLC0415
    return _legacy_reduction(size_average, reduce, reduction)


__all__ = ["softmin", "softsign", "threshold", "hardshrink", "softshrink", "tanhshrink", "celu", "rrelu", "relu_",
           "elu_", "selu_", "celu_", "leaky_relu_", "hardtanh_", "threshold_", "rrelu_", "pairwise_distance",
           "margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
           "cosine_embedding_loss", "multi_margin_loss", "triplet_margin_loss", "poisson_nll_loss",
           "gaussian_nll_loss", "unfold", "fold", "adaptive_max_pool1d", "adaptive_max_pool2d", "local_response_norm",
           "rms_norm", "upsample", "upsample_nearest", "upsample_bilinear", "conv_transpose1d", "gumbel_softmax"]
