"""Helpers shared by the distributions: parameters as broadcast tensors, probabilities <-> logits, random draws."""
import numpy as np

from .. import dtypes
from ..random import generator
from ..tensor import Tensor

__all__ = ["broadcast_all", "clamp_probs", "probs_to_logits", "logits_to_probs"]


def broadcast_all(*values):
    """Tensors of one broadcast shape from tensors and numbers (numbers take the tensors' float dtype, else the
    default dtype), as ``torch.distributions.utils.broadcast_all``.

    Example:
        >>> loc, scale = broadcast_all(md.zeros(3), 1.0)
    """
    tensors = [v for v in values if isinstance(v, Tensor)]
    for v in values:
        if not isinstance(v, (Tensor, int, float)) or isinstance(v, bool):
            raise ValueError(f"broadcast_all: expected Tensors or numbers, got {type(v).__name__}")
    float_t = [t for t in tensors if t.dtype.is_floating_point]
    dtype = float_t[0].dtype if float_t else dtypes.get_default_dtype()
    like = tensors[0] if tensors else None
    as_t = [v if isinstance(v, Tensor) else _scalar(v, dtype, like) for v in values]
    try:
        shape = tuple(np.broadcast_shapes(*[t.shape for t in as_t]))
    except ValueError:
        raise ValueError("broadcast_all: the parameters of shapes " + ", ".join(str(t.shape) for t in as_t) +
                         " do not broadcast together") from None
    return tuple(t if t.shape == shape else t.expand(*shape) for t in as_t)


def _scalar(v, dtype, like):
    xp = like._xp if like is not None else np
    return Tensor._wrap(xp.asarray(v, dtype=dtype.np))


def clamp_probs(probs):
    """``probs`` clamped into [eps, 1 - eps] of its dtype (so logs stay finite)."""
    eps = dtypes.finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary=False):
    """Log-probabilities (or log-odds when ``is_binary``) of ``probs``."""
    from ..ops import log  # noqa: PLC0415
    from ..tensor_api.math_more import log1p  # noqa: PLC0415
    p = clamp_probs(probs)
    return log(p) - log1p(-p) if is_binary else log(p)


def logits_to_probs(logits, is_binary=False):
    """Probabilities from logits (sigmoid when ``is_binary``, softmax over the last dim otherwise)."""
    return logits.sigmoid() if is_binary else logits.softmax(-1)


def draw(fn, shape, like):
    """An array of ``shape`` drawn by ``fn(rng, shape)`` from minidl's generator, in ``like``'s dtype and device."""
    arr = np.asarray(fn(generator(), tuple(shape)), dtype=like.array.dtype)
    return Tensor._wrap(like._xp.asarray(arr))
