"""More of PyTorch's tensor functions: comparisons (``allclose``, ``isclose``, ``equal``), index queries
(``nonzero``, ``unique``, ``bincount``, ``searchsorted``), diagonals, stacking, ``movedim``, ``diff``, ``cdist``,
``tensordot``/``kron``/``cross``, robust statistics (``median``, ``kthvalue``, ``nanmean``) and random draws
(``bernoulli``, ``normal``, ``poisson``).

Differentiable ones are compositions of differentiable ops (indexing, ``where``, ``matmul``, reductions), so
their gradients, and gradients of gradients, come from autograd; index queries return integer tensors.
"""
import builtins
from collections import namedtuple

import numpy as np

from .. import dtypes
from ..autograd.grad_mode import no_grad as _no_grad
from ..device import move
from ..random import generator as _generator
from ..tensor import Tensor
from ..ops.elementwise import abs, isnan, sqrt, where
from ..ops.extra import amax, gather, sort
from ..ops.inplace import setitem
from ..ops.linalg import matmul
from ..ops.movement import cat, expand, getitem, permute, reshape, stack, transpose
from ..ops.reduce import sum

MedianResult = namedtuple("MedianResult", ["values", "indices"])


def _tensor(op, x, what="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected {what} to be a Tensor, got {type(x).__name__}")
    return x


def _dim(op, x, dim):
    n = builtins.max(x.ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of shape {x.shape}")
    return dim % n


def _host(x):
    return x.array if x.device.type == "cpu" else x.array.get()


def _wrap_like(arr, like):
    return Tensor._wrap(move(np.asarray(arr), like.device))


# --- comparisons -------------------------------------------------------------------------------------------------
def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):  # noqa: A002
    """``|input - other| <= atol + rtol * |other|`` elementwise (bool), as PyTorch's.

    >>> md.isclose(md.tensor([1.0, 2.0]), md.tensor([1.0 + 1e-9, 2.1]))
    tensor([ True, False])
    """
    a, b = _tensor("isclose", input), other if isinstance(other, Tensor) else Tensor(other)
    return Tensor._wrap(a._xp.isclose(a.array, move(b.array, a.device), rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):  # noqa: A002
    """Whether every element is ``isclose`` (a Python bool)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).array.all())


def equal(input, other):  # noqa: A002
    """True when both tensors have the same shape and the same elements."""
    return input.shape == other.shape and bool((input.array == move(other.array, input.device)).all())


def isinf(input):  # noqa: A002
    """Where the value is +inf or -inf (bool)."""
    return Tensor._wrap(input._xp.isinf(input.array))


def isposinf(input):  # noqa: A002
    """Where the value is +inf (bool)."""
    return Tensor._wrap(input._xp.isposinf(input.array))


def isneginf(input):  # noqa: A002
    """Where the value is -inf (bool)."""
    return Tensor._wrap(input._xp.isneginf(input.array))


# --- index queries -----------------------------------------------------------------------------------------------
def nonzero(input, *, as_tuple=False):  # noqa: A002
    """The indices of the non-zero elements: an ``(n, ndim)`` int64 tensor, or one 1-d tensor per dim.

    >>> md.nonzero(md.tensor([[0, 3], [5, 0]]))
    tensor([[0, 1],
            [1, 0]])
    """
    _tensor("nonzero", input)
    idx = input._xp.nonzero(input.array.reshape(1) if input.ndim == 0 else input.array)
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in idx)
    return Tensor._wrap(input._xp.stack(idx, axis=1).astype(np.int64))


def argwhere(input):  # noqa: A002
    """``nonzero(input)``: the indices of the non-zero elements as rows."""
    return nonzero(input)


def count_nonzero(input, dim=None):  # noqa: A002
    """How many elements are non-zero, over ``dim`` (an int or a tuple) or all of them."""
    axis = tuple(dim) if isinstance(dim, (tuple, list)) else dim
    return Tensor._wrap(input._xp.asarray(input._xp.count_nonzero(input.array, axis=axis), dtype=np.int64))


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """The distinct values (sorted), and optionally where each element went and how often each value occurs.

    >>> md.unique(md.tensor([3, 1, 3, 2]), return_counts=True)
    (tensor([1, 2, 3]), tensor([1, 1, 2]))
    """
    _tensor("unique", input)
    arr = _host(input)
    if dim is None:
        values, inverse, counts = np.unique(arr.reshape(-1), return_inverse=True, return_counts=True)
        inverse = inverse.reshape(arr.shape)
    else:
        d = _dim("unique", input, dim)
        values, inverse, counts = np.unique(arr, return_inverse=True, return_counts=True, axis=d)
        inverse = inverse.reshape(-1)
    out = [_wrap_like(values, input)]
    if return_inverse:
        out.append(_wrap_like(inverse.astype(np.int64), input))
    if return_counts:
        out.append(_wrap_like(counts.astype(np.int64), input))
    return out[0] if len(out) == 1 else tuple(out)


def bincount(input, weights=None, minlength=0):  # noqa: A002
    """How often each non-negative integer occurs in the 1-d ``input`` (or the sum of ``weights`` there)."""
    _tensor("bincount", input)
    if input.ndim != 1 or input.dtype.is_floating_point:
        raise ValueError(f"bincount: expected a 1-d integer tensor, got {input.dtype.name} of shape {input.shape}")
    arr = _host(input)
    if arr.size and arr.min() < 0:
        raise ValueError("bincount: the input must not hold negative values")
    w = None if weights is None else _host(weights)
    out = np.bincount(arr, weights=w, minlength=minlength)
    if weights is None:
        out = out.astype(np.int64)
    elif weights.dtype.is_floating_point:
        out = out.astype(weights.dtype.np)
    return _wrap_like(out, input)


def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None, sorter=None):
    """Where each of ``values`` would go in the last dim of ``sorted_sequence`` to keep it sorted."""
    if sorter is not None:
        raise NotImplementedError("searchsorted: sorter= is not supported; sort the sequence first")
    side = side or ("right" if right else "left")
    seq = _host(sorted_sequence)
    vals = _host(values) if isinstance(values, Tensor) else np.asarray(values)
    if seq.ndim == 1:
        out = np.searchsorted(seq, vals, side=side)
    else:
        if seq.shape[:-1] != vals.shape[:-1]:
            raise ValueError(f"searchsorted: the leading dims of sorted_sequence {seq.shape} and values "
                             f"{vals.shape} must match")
        flat_s, flat_v = seq.reshape(-1, seq.shape[-1]), vals.reshape(-1, vals.shape[-1])
        out = np.stack([np.searchsorted(s, v, side=side) for s, v in zip(flat_s, flat_v)]).reshape(vals.shape)
    return _wrap_like(out.astype(np.int32 if out_int32 else np.int64), sorted_sequence)


def bucketize(input, boundaries, *, out_int32=False, right=False):  # noqa: A002
    """The bucket index of each element given 1-d sorted ``boundaries`` (PyTorch's ``right`` convention)."""
    if boundaries.ndim != 1:
        raise ValueError(f"bucketize: boundaries must be 1-d, got shape {boundaries.shape}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def histc(input, bins=100, min=0, max=0):  # noqa: A002
    """A histogram of ``bins`` equal bins between ``min`` and ``max`` (both 0: the data's range)."""
    arr = _host(input).astype(np.float64).reshape(-1)
    lo, hi = (arr.min(), arr.max()) if min == max == 0 and arr.size else (min, max)
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    counts, _ = np.histogram(arr[(arr >= lo) & (arr <= hi)], bins=bins, range=(lo, hi))
    return _wrap_like(counts.astype(input.dtype.np), input)


# --- diagonals ---------------------------------------------------------------------------------------------------
def diagonal(input, offset=0, dim1=0, dim2=1):  # noqa: A002
    """The diagonal ``offset`` of the matrices over ``dim1``/``dim2``, as the last dim (a copy; differentiable).

    >>> md.diagonal(md.arange(9.0).reshape(3, 3), 1)
    tensor([1., 5.])
    """
    _tensor("diagonal", input)
    d1, d2 = _dim("diagonal", input, dim1), _dim("diagonal", input, dim2)
    if d1 == d2:
        raise ValueError(f"diagonal: dim1 and dim2 must differ, got {dim1} and {dim2}")
    rest = [d for d in range(input.ndim) if d not in (d1, d2)]
    x = permute(input, *rest, d1, d2)
    n1, n2 = x.shape[-2], x.shape[-1]
    r0, c0 = (0, offset) if offset >= 0 else (-offset, 0)
    length = builtins.max(0, builtins.min(n1 - r0, n2 - c0))
    rows, cols = np.arange(length) + r0, np.arange(length) + c0
    return getitem(x, (Ellipsis, rows, cols))


def diag(input, diagonal=0):  # noqa: A002
    """A 1-d input: the square matrix with it on diagonal ``diagonal``; a 2-d input: that diagonal.

    >>> md.diag(md.tensor([1.0, 2.0]))
    tensor([[1., 0.],
            [0., 2.]])
    """
    _tensor("diag", input)
    if input.ndim == 2:
        return globals()["diagonal"](input, diagonal)
    if input.ndim != 1:
        raise ValueError(f"diag: expected a 1-d or 2-d tensor, got shape {input.shape}")
    n = input.shape[0] + builtins.abs(diagonal)
    idx = np.arange(input.shape[0])
    rows, cols = (idx, idx + diagonal) if diagonal >= 0 else (idx - diagonal, idx)
    return setitem(Tensor._wrap(input._xp.zeros((n, n), dtype=input.dtype.np)), (rows, cols), input)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):  # noqa: A002
    """Each last-dim vector of ``input`` on the diagonal of a new matrix (dims ``-2, -1``)."""
    if (dim1, dim2) != (-2, -1):
        raise NotImplementedError("diag_embed: only dim1=-2, dim2=-1 are supported")
    k = input.shape[-1]
    n = k + builtins.abs(offset)
    idx = np.arange(k)
    rows, cols = (idx, idx + offset) if offset >= 0 else (idx - offset, idx)
    zeros = Tensor._wrap(input._xp.zeros(input.shape[:-1] + (n, n), dtype=input.dtype.np))
    return setitem(zeros, (Ellipsis, rows, cols), input)


def trace(input):  # noqa: A002
    """The sum of the main diagonal of a 2-d tensor."""
    if input.ndim != 2:
        raise ValueError(f"trace: expected a 2-d tensor, got shape {input.shape}")
    return sum(diagonal(input))


# --- products ----------------------------------------------------------------------------------------------------
def outer(input, vec2):  # noqa: A002
    """The outer product of two 1-d tensors.

    >>> md.outer(md.tensor([1.0, 2.0]), md.tensor([3.0, 4.0]))
    tensor([[3., 4.],
            [6., 8.]])
    """
    if input.ndim != 1 or vec2.ndim != 1:
        raise ValueError(f"outer: expected two 1-d tensors, got shapes {input.shape} and {vec2.shape}")
    return reshape(input, -1, 1) * reshape(vec2, 1, -1)


def tensordot(a, b, dims=2):
    """Contract the last ``dims`` dims of ``a`` with the first of ``b`` (or the listed dims of each)."""
    if isinstance(dims, int):
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    da, db = [d % a.ndim for d in da], [d % b.ndim for d in db]
    if [a.shape[d] for d in da] != [b.shape[d] for d in db]:
        raise ValueError(f"tensordot: contracted dims of shapes {a.shape} {da} and {b.shape} {db} differ in size")
    fa, fb = [d for d in range(a.ndim) if d not in da], [d for d in range(b.ndim) if d not in db]
    k = int(np.prod([a.shape[d] for d in da]))
    am = reshape(permute(a, *fa, *da), -1, k)
    bm = reshape(permute(b, *db, *fb), k, -1)
    return reshape(matmul(am, bm), *[a.shape[d] for d in fa], *[b.shape[d] for d in fb])


def kron(input, other):  # noqa: A002
    """The Kronecker product (block matrix of ``input[i] * other``), for any matching number of dims."""
    n = builtins.max(input.ndim, other.ndim)
    a = reshape(input, *(1,) * (n - input.ndim), *input.shape)
    b = reshape(other, *(1,) * (n - other.ndim), *other.shape)
    a_shape = [s for d in a.shape for s in (d, 1)]
    b_shape = [s for d in b.shape for s in (1, d)]
    return reshape(reshape(a, *a_shape) * reshape(b, *b_shape), *[x * y for x, y in zip(a.shape, b.shape)])


def cross(input, other, dim=None):  # noqa: A002
    """The 3-vector cross product over ``dim`` (default: the first dim of size 3, as PyTorch's)."""
    if dim is None:
        dim = next((d for d, n in enumerate(input.shape) if n == 3), None)
        if dim is None:
            raise ValueError(f"cross: no dim of size 3 in shape {input.shape}")
    d = _dim("cross", input, dim)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise ValueError(f"cross: dim {dim} must have size 3, got shapes {input.shape} and {other.shape}")

    def part(x, i):
        return getitem(x, (slice(None),) * d + (slice(i, i + 1),))
    a0, a1, a2 = (part(input, i) for i in range(3))
    b0, b1, b2 = (part(other, i) for i in range(3))
    return cat([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim=d)


def cdist(x1, x2, p=2.0, compute_mode=None):
    """The ``p``-norm distance between each row of ``x1`` and each row of ``x2`` (batched), differentiable.

    >>> md.cdist(md.tensor([[0.0, 0.0]]), md.tensor([[3.0, 4.0], [0.0, 1.0]]))
    tensor([[5., 1.]])
    """
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise ValueError(f"cdist: expected (..., P, M) and (..., R, M) tensors, got shapes {x1.shape} and {x2.shape}")
    d = abs(x1.unsqueeze(-2) - x2.unsqueeze(-3))
    if p == 0:
        return sum((d != 0).astype(x1.dtype), dim=-1)
    if p == float("inf"):
        return amax(d, dim=-1)
    if p == 2:
        sq = sum(d * d, dim=-1)
        zero = sq == 0                  # the gradient of the distance at 0 is 0, as PyTorch's
        return where(zero, sq * 0, sqrt(where(zero, sq * 0 + 1, sq)))
    if p == 1:
        return sum(d, dim=-1)
    s = sum(d ** p, dim=-1)
    zero = s == 0
    return where(zero, s * 0, where(zero, s * 0 + 1, s) ** (1 / p))


# --- stacking and moving dims ------------------------------------------------------------------------------------
def atleast_1d(*tensors):
    """Each tensor with at least 1 dim (a 0-d one becomes shape (1,))."""
    out = [reshape(t, 1) if t.ndim == 0 else t for t in _flat(tensors)]
    return out[0] if len(out) == 1 else tuple(out)


def atleast_2d(*tensors):
    """Each tensor with at least 2 dims (a 1-d one becomes a row)."""
    out = [reshape(t, 1, -1) if t.ndim < 2 else t for t in _flat(tensors)]
    return out[0] if len(out) == 1 else tuple(out)


def atleast_3d(*tensors):
    """Each tensor with at least 3 dims (NumPy's placement: (1, n, 1), (m, n, 1))."""
    def up(t):
        if t.ndim == 0:
            return reshape(t, 1, 1, 1)
        if t.ndim == 1:
            return reshape(t, 1, -1, 1)
        return t.unsqueeze(-1) if t.ndim == 2 else t
    out = [up(t) for t in _flat(tensors)]
    return out[0] if len(out) == 1 else tuple(out)


def _flat(tensors):
    return list(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else list(tensors)


def vstack(tensors):
    """Rows stacked: ``cat(atleast_2d(t), dim=0)``."""
    return cat([atleast_2d(t) for t in tensors], dim=0)


def hstack(tensors):
    """Columns stacked (1-d tensors are joined end to end)."""
    ts = [atleast_1d(t) for t in tensors]
    return cat(ts, dim=0 if ts[0].ndim == 1 else 1)


def dstack(tensors):
    """Stacked along the third dim."""
    return cat([atleast_3d(t) for t in tensors], dim=2)


def column_stack(tensors):
    """1-d tensors as columns, 2-d ones as they are, side by side."""
    return cat([reshape(t, -1, 1) if t.ndim <= 1 else t for t in tensors], dim=1)


def row_stack(tensors):
    """``vstack``."""
    return vstack(tensors)


def movedim(input, source, destination):  # noqa: A002
    """Move dims ``source`` to positions ``destination`` (ints or sequences), keeping the others' order."""
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {source} and destination {destination} differ in length")
    n = input.ndim
    src, dst = [_dim("movedim", input, s) for s in src], [_dim("movedim", input, d) for d in dst]
    order = [None] * n
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(d for d in range(n) if d not in src)
    order = [next(rest) if o is None else o for o in order]
    return permute(input, *order)


def swapaxes(input, axis0, axis1):  # noqa: A002
    """``transpose(input, axis0, axis1)``."""
    return transpose(input, axis0, axis1)


def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape (views)."""
    shape = np.broadcast_shapes(*(t.shape for t in tensors))
    return tuple(expand(t, *shape) for t in tensors)


def broadcast_shapes(*shapes):
    """The shape the given shapes broadcast to."""
    return tuple(np.broadcast_shapes(*(tuple(s) if not isinstance(s, int) else (s,) for s in shapes)))


def rot90(input, k=1, dims=(0, 1)):  # noqa: A002
    """Rotate by 90 degrees ``k`` times in the plane of ``dims`` (from the first towards the second)."""
    d0, d1 = (_dim("rot90", input, d) for d in dims)
    k %= 4
    if k == 0:
        return input.clone()
    if k == 2:
        return input.flip(d0, d1)
    if k == 1:
        return transpose(input.flip(d1), d0, d1)
    return transpose(input, d0, d1).flip(d1)


# --- selection ---------------------------------------------------------------------------------------------------
def take(input, index):  # noqa: A002
    """Elements of the flattened ``input`` at ``index`` (any shape)."""
    return getitem(reshape(input, -1), index)


def take_along_dim(input, indices, dim=None):  # noqa: A002
    """``gather`` with broadcasting of ``input`` and ``indices`` (flattened when ``dim`` is None)."""
    if dim is None:
        return take(input, reshape(indices, -1))
    d = _dim("take_along_dim", input, dim)
    shape_i = list(indices.shape)
    shape_x = list(input.shape)
    shape_x[d] = shape_i[d] = 1
    common = list(np.broadcast_shapes(tuple(shape_x), tuple(shape_i)))
    xs, is_ = common.copy(), common.copy()
    xs[d], is_[d] = input.shape[d], indices.shape[d]
    return gather(expand(input, *xs), d, expand(indices, *is_).contiguous())


def masked_select(input, mask):  # noqa: A002
    """The elements where the (broadcast) boolean ``mask`` is True, as a 1-d tensor."""
    shape = np.broadcast_shapes(input.shape, mask.shape)
    return getitem(expand(input, *shape), expand(mask, *shape).array)


def diff(input, n=1, dim=-1, prepend=None, append=None):  # noqa: A002
    """The ``n``-th forward difference along ``dim`` (with ``prepend``/``append`` joined first)."""
    d = _dim("diff", input, dim)
    x = cat([t for t in (prepend, input, append) if t is not None], dim=d) if prepend is not None or \
        append is not None else input
    for _ in range(n):
        m = x.shape[d]
        head = (slice(None),) * d
        x = getitem(x, head + (slice(1, m),)) - getitem(x, head + (slice(0, m - 1),))
    return x


def kthvalue(input, k, dim=-1, keepdim=False):  # noqa: A002
    """The ``k``-th smallest value (1-based) along ``dim`` and its index."""
    d = _dim("kthvalue", input, dim)
    if not 1 <= k <= (input.shape[d] if input.ndim else 1):
        raise IndexError(f"kthvalue: k={k} is out of range for dim {dim} of shape {input.shape}")
    values, indices = sort(input, dim=d, stable=True)
    key = (slice(None),) * d + (slice(k - 1, k) if keepdim else k - 1,)
    return MedianResult(getitem(values, key), getitem(indices, key))


def median(input, dim=None, keepdim=False):  # noqa: A002
    """The lower median: of all elements (a 0-d tensor), or along ``dim`` with its indices.

    >>> md.median(md.tensor([3.0, 1.0, 4.0, 2.0]))
    tensor(2.)
    """
    if dim is None:
        flat = reshape(input, -1)
        return kthvalue(flat, (flat.shape[0] + 1) // 2, 0).values
    d = _dim("median", input, dim)
    return kthvalue(input, (input.shape[d] + 1) // 2 if input.ndim else 1, d, keepdim)


def nanmedian(input, dim=None, keepdim=False):  # noqa: A002
    """``median`` ignoring NaN (only without ``dim``)."""
    if dim is not None:
        raise NotImplementedError("nanmedian: dim= is not supported; use median on a tensor without NaN")
    keep = ~isnan(reshape(input, -1)).array
    return median(getitem(reshape(input, -1), keep))


def nansum(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """``sum`` counting NaN as zero."""
    if input.dtype.is_floating_point:
        input = where(isnan(input), Tensor._wrap(input._xp.zeros((), input.dtype.np)), input)  # noqa: A001
    return sum(input, dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False):  # noqa: A002
    """``mean`` over the elements that are not NaN."""
    ok = (~isnan(input)).astype(input.dtype)
    return nansum(input, dim, keepdim) / sum(ok, dim, keepdim)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):  # noqa: A002
    """``(var, mean)`` over ``dim`` (``correction=1`` by default, as ``var``)."""
    return (input.var(dim, unbiased, keepdim, correction=correction), input.mean(dim, keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):  # noqa: A002
    """``(std, mean)`` over ``dim``."""
    return (input.std(dim, unbiased, keepdim, correction=correction), input.mean(dim, keepdim))


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids from 1-d tensors (``indexing='ij'``: matrix order; ``'xy'``: the first two swapped)."""
    ts = _flat(tensors)
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    shape = [t.numel() for t in ts]
    grids = []
    for i, t in enumerate(ts):
        view = [1] * len(ts)
        view[i] = -1
        grids.append(expand(reshape(t, *view), *shape))
    if indexing == "xy" and len(grids) >= 2:       # Cartesian order: the first two dims swapped
        grids = [transpose(g, 0, 1) for g in grids]
    return tuple(grids)


def cartesian_prod(*tensors):
    """Every combination of the 1-d tensors' elements, as rows (one 1-d tensor: itself)."""
    if len(tensors) == 1:
        return tensors[0]
    return stack([reshape(g, -1) for g in meshgrid(*tensors)], dim=1)


# --- random draws ------------------------------------------------------------------------------------------------
def _draw(values, like, dtype):
    return Tensor._wrap(move(np.asarray(values).astype(dtype.np), like.device))


def bernoulli(input, p=None, *, generator=None):  # noqa: A002
    """0/1 draws: 1 with probability ``input`` elementwise (or the number ``p``), in ``input``'s dtype."""
    probs = np.full(input.shape, p) if p is not None else _host(input)
    if probs.size and (probs.min() < 0 or probs.max() > 1):
        raise ValueError("bernoulli: probabilities must lie in [0, 1]")
    return _draw(_generator().random(input.shape) < probs, input, input.dtype)


def poisson(input, generator=None):  # noqa: A002
    """Poisson draws with rates ``input``, in ``input``'s dtype."""
    rates = _host(input)
    if rates.size and rates.min() < 0:
        raise ValueError("poisson: rates must be non-negative")
    return _draw(_generator().poisson(rates), input, input.dtype)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Normal draws with the given ``mean`` and ``std`` (tensors broadcast, or numbers with ``size``)."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        like = mean if isinstance(mean, Tensor) else std
        m = _host(mean) if isinstance(mean, Tensor) else mean
        s = _host(std) if isinstance(std, Tensor) else std
        if np.min(s) < 0:
            raise ValueError("normal: std must be non-negative")
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        return _draw(_generator().normal(m, s, shape), like, like.dtype)
    if size is None:
        raise TypeError("normal: with numbers for mean and std, size= is needed")
    from ..creation import empty  # noqa: PLC0415
    out = empty(*size, dtype=dtype, device=device).normal_(mean, std)
    return out.requires_grad_(requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None):  # noqa: A002
    """Random integers in ``[low, high)`` with ``input``'s shape (``randint_like(x, high)`` as PyTorch's)."""
    if high is None:
        low, high = 0, low
    dt = dtype or input.dtype
    return Tensor._wrap(move(_generator().integers(low, high, input.shape).astype(dtypes.to_dtype(dt).np),
                             device or input.device))


def empty_like(input, *, dtype=None, device=None, requires_grad=False):  # noqa: A002
    """A tensor of ``input``'s shape whose values are not set (zeros here)."""
    from ..creation import zeros_like  # noqa: PLC0415
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


__all__ = ["isclose", "allclose", "equal", "isinf", "isposinf", "isneginf", "nonzero", "argwhere", "count_nonzero",
           "unique", "bincount", "searchsorted", "bucketize", "histc", "diagonal", "diag", "diag_embed", "trace",
           "outer", "tensordot", "kron", "cross", "cdist", "atleast_1d", "atleast_2d", "atleast_3d", "vstack",
           "hstack", "dstack", "column_stack", "row_stack", "movedim", "swapaxes", "broadcast_tensors",
           "broadcast_shapes", "rot90", "take", "take_along_dim", "masked_select", "diff", "kthvalue", "median",
           "nanmedian", "nansum", "nanmean", "var_mean", "std_mean", "meshgrid", "cartesian_prod", "bernoulli",
           "poisson", "normal", "randint_like", "empty_like", "moveaxis", "swapdims", "ger"]
moveaxis, swapdims, ger = movedim, swapaxes, outer

_METHODS = ["isclose", "allclose", "equal", "isinf", "isposinf", "isneginf", "nonzero", "argwhere", "count_nonzero",
            "unique", "bincount", "diagonal", "diag", "diag_embed", "trace", "outer", "ger", "kron", "cross",
            "movedim", "moveaxis", "swapaxes", "swapdims", "rot90", "take", "take_along_dim", "masked_select",
            "diff", "kthvalue", "median", "nanmedian", "nansum", "nanmean", "histc", "bernoulli"]


def bernoulli_(self, p=0.5, *, generator=None):
    """Fill in place with 0/1 draws that are 1 with probability ``p`` (a number or a tensor)."""
    probs = _host(p) if isinstance(p, Tensor) else p
    with _no_grad():
        return self.copy_(_draw(_generator().random(self.shape) < probs, self, self.dtype))


def install():
    """The functions PyTorch also offers as Tensor methods (``x.nonzero()``, ``x.diagonal()``...)."""
    for name in _METHODS:
        if not hasattr(Tensor, name):
            setattr(Tensor, name, globals()[name])
    Tensor.bernoulli_ = bernoulli_
