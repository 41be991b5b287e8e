"""``md.diag``: PyTorch's diagonal-matrix op, composed of differentiable ops (so it differentiates twice).

Kept outside ``ops/`` (the core's line budget): it adds no kernel, only a composition of indexing and masking.
"""
import numpy as np

from .ops import cat, getitem, unsqueeze
from .tensor import Tensor


def diag(input, diagonal=0):  # noqa: A002 -- PyTorch's names
    """A 1-d tensor put on the ``diagonal``-th diagonal of a square matrix, or that diagonal taken out of a 2-d one.

    ``diagonal`` > 0 is above the main diagonal, < 0 below it (PyTorch's ``torch.diag``).

    Example:
        >>> md.diag(md.tensor([1.0, 2.0]))
        tensor([[1., 0.],
                [0., 2.]])
        >>> md.diag(md.ones(2, 3), 1)
        tensor([1., 1.])
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"diag: expected input to be a Tensor, got {type(input).__name__}")
    if isinstance(diagonal, bool) or not isinstance(diagonal, (int, np.integer)):
        raise TypeError(f"diag: diagonal must be an int, got {diagonal!r}")
    if input.ndim == 1:
        return _vector_to_matrix(input, int(diagonal))
    if input.ndim == 2:
        return _matrix_to_vector(input, int(diagonal))
    raise ValueError(f"diag: expected a 1-d or 2-d tensor, got shape {tuple(input.shape)}")


def _vector_to_matrix(v, k):
    """out[r, c] = v[r] where c == r + k (k >= 0), v[c] where r == c - k (k < 0); zeros elsewhere."""
    n = v.shape[0] + abs(k)
    rows, cols = np.indices((n, n))
    mask = Tensor._wrap(v._xp.asarray((cols - rows == k).astype(v.dtype.np)))
    if mask.device != v.device:
        mask = mask.to(v.device)
    padded = cat([v, v.new_zeros(abs(k))]) if k else v   # the last |k| rows (k > 0) / columns (k < 0) stay empty
    return unsqueeze(padded, 1 if k >= 0 else 0) * mask


def _matrix_to_vector(a, k):
    rows, cols = a.shape
    start_r, start_c = (0, k) if k >= 0 else (-k, 0)
    length = max(0, min(rows - start_r, cols - start_c))
    idx = np.arange(length)
    return getitem(a, (idx + start_r, idx + start_c))


Tensor.diag = diag

__all__ = ["diag"]
