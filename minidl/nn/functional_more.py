"""More of ``torch.nn.functional``: the shrink/threshold activations, the in-place activation spellings
(``F.relu_``...), ``pairwise_distance``, and the margin, embedding and likelihood losses.

All are compositions of differentiable ops, so autograd derives their gradients; each follows PyTorch's formula
and ``reduction`` rule (``"mean"``, ``"sum"``, ``"none"``). Re-exported by ``md.nn.functional``.
"""
import math

from .. import creation, ops
from ..tensor import Tensor
from ..ops.inplace import _elementwise as _in_place
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


def _reduction(size_average, reduce, reduction):
    from .loss import _legacy_reduction  # noqa: PLC0415
    return _legacy_reduction(size_average, reduce, reduction)


__all__ = ["softmin", "softsign", "threshold", "hardshrink", "softshrink", "tanhshrink", "celu", "rrelu", "relu_",
           "elu_", "selu_", "celu_", "leaky_relu_", "hardtanh_", "threshold_", "rrelu_", "pairwise_distance",
           "margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
           "cosine_embedding_loss", "multi_margin_loss", "triplet_margin_loss", "poisson_nll_loss",
           "gaussian_nll_loss"]
