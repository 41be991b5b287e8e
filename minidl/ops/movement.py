"""Shape and movement ops: reshape, permute, expand, indexing (scatter-add backward), cat, split, device moves."""
import builtins
import math

import numpy as np

from .. import dtypes
from ..autograd.function import Function
from ..backends import kernels, supports
from ..device import Device, move
from ..tensor import Tensor


class Reshape(Function):
    returns_view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.array.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


def _infer_shape(op, x, shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    unknown = [i for i, s in enumerate(shape) if s == -1]
    known = math.prod(s for s in shape if s != -1)
    if len(unknown) > 1 or any(s < -1 for s in shape):
        raise ValueError(f"{op}: invalid shape {shape}")
    if unknown:
        if known == 0 or x.numel() % known:
            raise ValueError(f"{op}: cannot reshape tensor of shape {x.shape} into {shape}")
        shape = shape[:unknown[0]] + (x.numel() // known,) + shape[unknown[0] + 1:]
    if math.prod(shape) != x.numel():
        raise ValueError(f"{op}: cannot reshape tensor of shape {x.shape} ({x.numel()} elements) into {shape}")
    return shape


def reshape(x, *shape):
    """The same elements in a new shape (one dim may be -1). Shares data when it can, like PyTorch.

    Example:
        >>> md.arange(6).reshape(2, -1).shape
        (2, 3)
    """
    shape = _infer_shape("reshape", x, shape)
    return x if shape == x.shape else Reshape.apply(x, shape)


def view(x, *shape):
    """Alias of ``reshape``: a view sharing memory and version counter when the layout allows (else a copy;
    PyTorch's ``view`` would raise there)."""
    return reshape(x, *shape)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim..end_dim`` into one."""
    if x.ndim == 0:
        return x.reshape(1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    return reshape(x, x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:])


def _dim(op, x, d, extra=0):
    n = x.ndim + extra
    if not -builtins.max(n, 1) <= d < builtins.max(n, 1):
        raise IndexError(f"{op}: dim {d} is out of range for a tensor of shape {x.shape}")
    return d % builtins.max(n, 1)


def squeeze(x, dim=None):
    """Drop size-1 dims (all of them, or only ``dim``: an int or a tuple)."""
    if dim is None:
        dims = [i for i, s in enumerate(x.shape) if s == 1]
    else:
        dims = [_dim("squeeze", x, d) for d in ((dim,) if isinstance(dim, int) else dim)]
        dims = [d for d in dims if x.ndim and x.shape[d] == 1]
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in dims))


def unsqueeze(x, dim):
    """Insert a size-1 dim at ``dim`` (negative counts from the end of the result)."""
    d = _dim("unsqueeze", x, dim, extra=1)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


class Permute(Function):
    returns_view = True

    @staticmethod
    def forward(ctx, x, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return x._xp.transpose(x.array, dims)

    @staticmethod
    def backward(ctx, grad):
        return Permute.apply(grad, ctx.inverse)


def permute(x, *dims):
    """Reorder dims: ``x.permute(2, 0, 1)``."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if len(dims) != x.ndim or sorted(d % builtins.max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the dims of shape {x.shape}")
    dims = tuple(d % x.ndim for d in dims)
    return x if dims == tuple(range(x.ndim)) else Permute.apply(x, dims)


def transpose(x, dim0, dim1):
    """Swap two dims."""
    if x.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    d0, d1 = _dim("transpose", x, dim0), _dim("transpose", x, dim1)
    dims = list(range(x.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(x, dims)


def T(x):  # noqa: N802 -- PyTorch's property name
    """All dims reversed."""
    return permute(x, tuple(reversed(range(x.ndim))))


class Expand(Function):
    returns_view = True

    @staticmethod
    def forward(ctx, x, shape):
        return x._xp.broadcast_to(x.array, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad             # the engine sums broadcast dims back to the input's shape


def expand(x, *shape):
    """Broadcast to a larger shape without copying (-1 keeps a dim)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: target {tuple(shape)} has fewer dims than the tensor's shape {x.shape}")
    shape = tuple(x.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
    try:
        if np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"expand: cannot expand shape {x.shape} to {shape}") from None
    return x if shape == x.shape else Expand.apply(x, shape)


def broadcast_to(x, shape):
    """``expand`` with NumPy's name."""
    return expand(x, tuple(shape))


# --- indexing -------------------------------------------------------------------------------
def normalize_index(key, x):
    """Turn an index with Tensors inside into one NumPy/CuPy understands, checked against ``x``'s shape."""
    items = key if isinstance(key, tuple) else (key,)
    out = []
    for k in items:
        if isinstance(k, Tensor):
            if k.dtype.is_floating_point:
                raise IndexError(f"index: tensors used as indices must be integer or bool, got {k.dtype.name}")
            # as PyTorch: host indices serve any tensor (copied over), GPU indices only their own device
            if k.device.type != "cpu" and k.device != x.device:
                raise RuntimeError(f"index: indices on {k.device} cannot index a tensor on {x.device} (shape "
                                   f"{x.shape}); move the indices with .to({str(x.device)!r})")
            k = k.array
        elif isinstance(k, list):
            k = np.asarray(k)
            if k.dtype.kind == "f":
                raise IndexError("index: lists used as indices must hold integers or bools")
        if hasattr(k, "dtype") and type(k) is not type(x.array) and k.ndim > 0:
            k = move(k, x.device)
        out.append(k)
    return tuple(out)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _row_index(key, shape, grad):
    """The int64 row numbers (negatives wrapped) when ``key`` picks whole rows of dim 0 with one integer host array
    and a kernel can scatter them back, else None."""
    if len(key) != 1 or len(shape) < 1 or type(key[0]) is not np.ndarray or key[0].dtype.kind not in "iu" \
            or type(grad) is not np.ndarray or grad.dtype not in _FLOATS or not supports("scatter_add_rows"):
        return None
    rows = key[0].reshape(-1).astype(np.int64, copy=False)
    return np.where(rows < 0, rows + shape[0], rows) if rows.size and rows.min() < 0 else rows


def _is_basic(key):
    return builtins.all(k is None or k is Ellipsis or isinstance(k, (int, slice, np.integer)) for k in key)


class Index(Function):
    returns_view = True

    @staticmethod
    def forward(ctx, x, key):
        ctx.shape, ctx.key = x.shape, key
        try:
            out = x.array[key]
        except IndexError as e:
            raise IndexError(f"index: {e} (tensor of shape {x.shape})") from None
        return out      # basic indexing gives a view (sharing x's version counter), advanced indexing a copy

    @staticmethod
    def backward(ctx, grad):
        return IndexAdd.apply(grad, ctx.shape, ctx.key)


class IndexAdd(Function):
    """Scatter-add ``grad`` into zeros of ``shape`` at ``key``: the backward of indexing (repeats add up)."""

    @staticmethod
    def forward(ctx, grad, shape, key):
        ctx.key = key
        xp = grad._xp
        rows = _row_index(key, shape, grad.array)
        if rows is not None:          # x[idx] on dim 0 (embeddings): the row scatter-add kernel, no np.add.at
            flat = grad.array.reshape(rows.size, -1) if rows.size else grad.array.reshape(0, math.prod(shape[1:]))
            return kernels.scatter_add_rows(flat, rows, shape[0]).reshape(shape)
        out = xp.zeros(shape, dtype=grad.array.dtype)
        if _is_basic(key):
            out[key] = grad.array
        elif xp is np:
            np.add.at(out, key, grad.array)
        else:
            import cupyx  # noqa: PLC0415
            cupyx.scatter_add(out, key, grad.array)
        return out

    @staticmethod
    def backward(ctx, grad):
        return Index.apply(grad, ctx.key)


def getitem(x, key):
    """``x[key]`` with ints, slices, None, ..., integer and bool arrays/tensors; gradient is a scatter-add."""
    return Index.apply(x, normalize_index(key, x))


# --- joining and splitting --------------------------------------------------------------------
class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *tensors):
        ctx.dim, ctx.sizes = dim, [t.shape[dim] for t in tensors]
        return tensors[0]._xp.concatenate([t.array for t in tensors], axis=dim)

    @staticmethod
    def backward(ctx, grad):
        out, start = [None], 0
        for n in ctx.sizes:
            out.append(narrow(grad, ctx.dim, start, n))
            start += n
        return tuple(out)


def cat(tensors, dim=0, *, axis=None):
    """Join tensors along an existing dim; shapes must match elsewhere.

    Example:
        >>> md.cat([md.zeros(2, 3), md.ones(1, 3)]).shape
        (3, 3)
    """
    dim = dim if axis is None else axis
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    d = _dim("cat", ref, dim)
    common = ref.dtype
    for t in tensors[1:]:
        if t.ndim != ref.ndim or builtins.any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape)) if i != d):
            raise ValueError(f"cat: shapes {ref.shape} and {t.shape} differ outside dim {dim}")
        common = dtypes.promote_types(common, t.dtype)         # PyTorch's table: float32 + int64 stay float32
    return Cat.apply(d, *[t.astype(common) for t in tensors])


concatenate = cat


def stack(tensors, dim=0, *, axis=None):
    """Join same-shape tensors along a new dim."""
    dim = dim if axis is None else axis
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: every tensor must have the same shape, got {tensors[0].shape} and {t.shape}")
    d = _dim("stack", tensors[0], dim, extra=1)
    return cat([unsqueeze(t, d) for t in tensors], d)


def narrow(x, dim, start, length):
    """The slice ``start:start+length`` along ``dim`` (a negative ``start`` counts from the end).

    Example: ``md.arange(6).narrow(0, 2, 3)`` is ``tensor([2, 3, 4])``.
    """
    d = _dim("narrow", x, dim)
    size = x.shape[d]
    if not -size <= start <= size:
        raise IndexError(f"narrow: start {start} is out of range for dim {dim} of a tensor of shape {x.shape}")
    start = start % size if start < 0 else start
    if length < 0 or start + length > size:
        raise ValueError(f"narrow: start ({start}) + length ({length}) exceeds dim {dim} of size {size} "
                         f"(tensor of shape {x.shape})")
    return Index.apply(x, (slice(None),) * d + (slice(start, start + length),))


def split(x, split_size_or_sections, dim=0):
    """Split into chunks of ``split_size`` (last may be smaller) or into the given list of sizes (PyTorch)."""
    d = _dim("split", x, dim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        sizes = [builtins.min(step, n - i) for i in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} do not add up to size {n} of dim {dim} (shape {x.shape})")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(x, d, start, s))
        start += s
    return tuple(out)


def chunk(x, chunks, dim=0):
    """Split into ``chunks`` pieces of size ceil(n / chunks) (fewer when n is small, as PyTorch)."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[_dim("chunk", x, dim)]
    if n == 0:                   # as PyTorch: an empty dim gives ``chunks`` empty pieces
        return split(x, [0] * chunks, dim)
    return split(x, -(-n // chunks), dim)


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.array.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


def clone(x):
    """A differentiable copy with its own memory."""
    return Clone.apply(x)


def contiguous(x):
    """x itself if its data is C-contiguous, else a contiguous copy (differentiable)."""
    return x if x.array.flags.c_contiguous else clone(x)


class ToDevice(Function):
    @staticmethod
    def forward(ctx, x, device):
        ctx.source = x.device
        return move(x.array, device)

    @staticmethod
    def backward(ctx, grad):
        return ToDevice.apply(grad, ctx.source)


def to_device(x, device):
    """Copy to ``device`` ("cpu", "cuda", "cuda:1"); gradients flow back to the source device."""
    device = Device(device)
    return x if x.device == device else ToDevice.apply(x, device)
