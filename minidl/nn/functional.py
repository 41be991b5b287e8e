"""``md.nn.functional`` (also ``md.nn.F``): layers and losses as functions, on top of the ops."""
import numpy as np

from ..autograd.function import Function
from ..ops import (avg_pool2d, batch_norm, conv2d, gelu, layer_norm, leaky_relu, log_softmax, logsumexp, max_pool2d,
                   relu, sigmoid, softmax, softplus, tanh, where)
from ..random import generator
from ..tensor import Tensor

__all__ = ["avg_pool2d", "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits", "conv2d",
           "cross_entropy", "dropout", "embedding", "gelu", "l1_loss", "layer_norm", "leaky_relu", "linear",
           "log_softmax", "logsumexp", "max_pool2d", "mse_loss", "nll_loss", "relu", "sigmoid", "softmax",
           "softplus", "tanh"]


def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` with weight of shape (out_features, in_features), as PyTorch.

    Example:
        >>> F.linear(md.ones(4, 3), md.ones(2, 3)).shape
        (4, 2)
    """
    if x.shape[-1:] != weight.shape[-1:] or weight.ndim != 2:
        raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape {weight.shape} "
                         f"(expects (out_features, {x.shape[-1] if x.ndim else '?'}))")
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
    if indices.numel() and (int(indices.data.min()) < -n or int(indices.data.max()) >= n):
        raise IndexError(f"embedding: index out of range for weight of shape {weight.shape} ({n} embeddings); "
                         f"indices span {int(indices.data.min())}..{int(indices.data.max())}")
    out = weight[indices]
    if padding_idx is not None:
        pad = (indices == padding_idx % n).unsqueeze(-1)
        out = where(pad, out.detach(), out)
    return out


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


def _nll(input, target, weight, ignore_index, reduction, op):
    if input.ndim < 1 or target.dtype.is_floating_point:
        raise TypeError(f"{op}: expects log-probabilities (N, C, ...) and integer targets, got {input.shape} "
                        f"and {target.dtype.name} {target.shape}")
    out_shape = target.shape
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
    t = target.data.reshape(-1)
    valid = t != ignore_index
    if valid.any() and (int(t[valid].min()) < 0 or int(t[valid].max()) >= c):
        raise IndexError(f"{op}: target values must be in [0, {c}) (or ignore_index={ignore_index}) for input of "
                         f"shape {input.shape}, got range {int(t[valid].min())}..{int(t[valid].max())}")
    xp = input._xp
    safe = Tensor._wrap(xp.where(valid, t, 0))
    rows = Tensor._wrap(xp.arange(t.shape[0]))
    picked = _class_last(input)[rows, safe]
    w = Tensor._wrap(valid.astype(input.dtype.np))
    if weight is not None:
        w = w * weight[safe]
    loss = -picked * w
    if reduction == "mean":
        return loss.sum() / w.sum()
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
    keep = Tensor._wrap((target.data != ignore_index).astype(input.dtype.np))
    smooth = -(logp if weight is None else logp * weight.reshape(wshape)).sum(dim=class_dim) * keep
    if reduction == "mean":
        if weight is None:
            smooth = smooth.sum() / keep.sum()
        else:
            safe = Tensor._wrap(input._xp.where(target.data != ignore_index, target.data, 0))
            smooth = smooth.sum() / (weight[safe] * keep).sum()
    else:
        smooth = _reduce(smooth, reduction, op)
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / c)


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
            log_x, log_1mx = xp.maximum(xp.log(x.data), -100), xp.maximum(xp.log1p(-x.data), -100)
        return -(t.data * log_x + (1 - t.data) * log_1mx)

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
    if input.numel() and (float(input.data.min()) < 0 or float(input.data.max()) > 1):
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


