"""More of PyTorch's tensor ops: matrix shortcuts, masking, gather/scatter, repeat, triangles, flip/roll, cumsum,
prod, norms, amax/amin, sort/topk.

Most are compositions of differentiable ops (indexing, where, expand); the rest are Functions with forward beside
backward. Gathering (``gather``, ``sort``/``topk`` values) goes through ``movement.Index`` so its backward is the
scatter-add the indexing op already has, and is itself differentiable.
"""
import builtins
import functools
from collections import namedtuple

import numpy as np

from .. import dtypes
from ..autograd import hooks as _hooks
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..device import move
from ..random import generator as _generator
from ..tensor import Tensor
from .elementwise import abs, clamp, mul, pow, saved_output, where
from .linalg import matmul
from .movement import Index, getitem, normalize_index, transpose
from .reduce import normalize_dims, sum

SortResult = namedtuple("SortResult", ["values", "indices"])
TopKResult = namedtuple("TopKResult", ["values", "indices"])


def _check_tensor(op, x, what="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected {what} to be a Tensor, got {type(x).__name__}")


def _one_dim(op, x, dim):
    """``dim`` as a non-negative axis of ``x`` (a 0-d tensor has the one axis 0, as in PyTorch)."""
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}: dim must be one int, got {dim!r}")
    n = builtins.max(x.ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of shape {x.shape}")
    return int(dim) % n


def _index_array(op, index, x):
    """An integer Tensor index as an int64 array on ``x``'s device."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}: expected index to be an integer Tensor, got {type(index).__name__}")
    if index.dtype.is_floating_point or index.dtype == dtypes.bool_:
        raise TypeError(f"{op}: index must be an integer tensor, got {index.dtype.name} of shape {index.shape}")
    return normalize_index(index, x)[0].astype(np.int64, copy=False)


# --- matrix shortcuts ---------------------------------------------------------------------------
def t(input):  # noqa: A002 -- PyTorch's names
    """Transpose of a tensor of at most 2 dims (0-d and 1-d come back unchanged).

    Example:
        >>> md.ones(2, 3).t().shape
        (3, 2)
    """
    _check_tensor("t", input)
    if input.ndim > 2:
        raise ValueError(f"t: expects a tensor with <= 2 dims, got shape {input.shape}; use transpose(dim0, dim1)")
    return input if input.ndim < 2 else transpose(input, 0, 1)


def mm(input, mat2):  # noqa: A002
    """Product of two 2-d matrices (no broadcasting; ``matmul`` has it).

    Example:
        >>> md.mm(md.ones(2, 3), md.ones(3, 4)).shape
        (2, 4)
    """
    _check_tensor("mm", input)
    _check_tensor("mm", mat2, "mat2")
    if input.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"mm: expects two 2-d matrices, got shapes {input.shape} and {mat2.shape}")
    if input.shape[1] != mat2.shape[0]:
        raise ValueError(f"mm: shapes {input.shape} and {mat2.shape} cannot be multiplied "
                         f"({input.shape[1]} != {mat2.shape[0]})")
    return matmul(input, mat2)


def bmm(input, mat2):  # noqa: A002
    """Batched product of (b, n, m) and (b, m, p) tensors, one batch size (no broadcasting).

    Example:
        >>> md.bmm(md.ones(5, 2, 3), md.ones(5, 3, 4)).shape
        (5, 2, 4)
    """
    _check_tensor("bmm", input)
    _check_tensor("bmm", mat2, "mat2")
    if input.ndim != 3 or mat2.ndim != 3:
        raise ValueError(f"bmm: expects two 3-d tensors, got shapes {input.shape} and {mat2.shape}")
    if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise ValueError(f"bmm: shapes {input.shape} and {mat2.shape} do not match (batch sizes equal and "
                         f"{input.shape[2]} == {mat2.shape[1]} needed)")
    return matmul(input, mat2)


# --- masking -----------------------------------------------------------------------------------
def _mask(op, x, mask):
    _check_tensor(op, mask, "mask")
    if mask.dtype != dtypes.bool_:
        raise TypeError(f"{op}: mask must be a bool tensor, got {mask.dtype.name}")
    try:
        if np.broadcast_shapes(mask.shape, x.shape) != x.shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"{op}: mask of shape {mask.shape} cannot be broadcast to the tensor's shape "
                         f"{x.shape}") from None
    return mask


def _fill_value(op, x, value):
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"{op}: value must be a 0-d tensor or a number, got a tensor of shape {value.shape}")
        return value.astype(x.dtype)
    if isinstance(value, float) and not x.dtype.is_floating_point:
        raise TypeError(f"{op}: cannot fill a {x.dtype.name} tensor with the float {value}")
    return Tensor._wrap(x._xp.asarray(value, dtype=x.dtype.np))


def masked_fill(input, mask, value):  # noqa: A002
    """``value`` where ``mask`` is True, else the input (the mask broadcasts); value may be a 0-d tensor.

    Example:
        >>> md.tensor([1., 2., 3.]).masked_fill(md.tensor([True, False, True]), 0.0)
        tensor([0., 2., 0.])
    """
    _check_tensor("masked_fill", input)
    mask = _mask("masked_fill", input, mask)
    return where(mask, _fill_value("masked_fill", input, value), input).astype(input.dtype)


def masked_fill_(input, mask, value):  # noqa: A002
    """In-place ``masked_fill`` (recorded by autograd where the tensor is part of a graph)."""
    mask = _mask("masked_fill_", input, mask)
    if input._inplace("masked_fill_", value):
        return input._record_inplace(lambda old: masked_fill(old, mask, value))
    value = value.array if isinstance(value, Tensor) else value
    input.array[...] = input._xp.where(mask.array, value, input.array)
    return input


# --- gather / scatter ----------------------------------------------------------------------------
def index_select(input, dim, index):  # noqa: A002
    """The entries of ``index`` (1-d integer tensor) along ``dim``; gradient is a scatter-add (repeats add up).

    Example:
        >>> md.arange(6).reshape(3, 2).index_select(0, md.tensor([2, 0]))
        tensor([[4, 5],
                [0, 1]])
    """
    _check_tensor("index_select", input)
    d = _one_dim("index_select", input, dim)
    idx = _index_array("index_select", index, input)
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be 1-d, got shape {index.shape}")
    size = input.shape[d] if input.ndim else 1
    if idx.size and (int(idx.min()) < -size or int(idx.max()) >= size):
        raise IndexError(f"index_select: index out of range for dim {dim} of size {size} (tensor of shape "
                         f"{input.shape})")
    if input.ndim == 0:
        return getitem(input.reshape(1), (idx.reshape(-1),)).reshape(idx.shape)
    return getitem(input, (slice(None),) * d + (idx.reshape(-1),))


def _gather_key(op, x, d, idx):
    """Advanced-index arrays that pick ``x[..., idx[i, j, k], ...]`` along axis ``d`` for every position of idx."""
    if idx.ndim != x.ndim:
        raise ValueError(f"{op}: index (shape {tuple(idx.shape)}) must have as many dims as the tensor (shape "
                         f"{x.shape})")
    for i, (n, s) in enumerate(zip(idx.shape, x.shape)):
        if i != d and n > s:
            raise ValueError(f"{op}: index of shape {tuple(idx.shape)} is larger than the tensor's shape "
                             f"{x.shape} in dim {i}")
    size = x.shape[d]
    if idx.size and (int(idx.min()) < -size or int(idx.max()) >= size):
        raise IndexError(f"{op}: index out of range for dim {d} of size {size} (tensor of shape {x.shape})")
    xp = x._xp
    key = []
    for i, n in enumerate(idx.shape):
        if i == d:
            key.append(idx)
        else:
            key.append(xp.arange(n).reshape([-1 if j == i else 1 for j in range(idx.ndim)]))
    return tuple(key)


def gather(input, dim, index):  # noqa: A002
    """``out[i][j] = input[index[i][j]][j]`` for ``dim=0`` (and so on): values picked along ``dim``.

    Example:
        >>> md.tensor([[1., 2.], [3., 4.]]).gather(1, md.tensor([[1], [0]]))
        tensor([[2.],
                [3.]])
    """
    _check_tensor("gather", input)
    d = _one_dim("gather", input, dim)
    idx = _index_array("gather", index, input)
    if input.ndim == 0:
        return gather(input.reshape(1), 0, index.reshape(1)).reshape(index.shape)
    return Index.apply(input, _gather_key("gather", input, d, idx))


def _scatter_into(out, key, values, add):
    """Write (or add, repeats adding up) ``values`` into the array ``out`` at ``key``, in place."""
    if not add:
        out[key] = values
    elif type(out) is np.ndarray:
        np.add.at(out, key, values)
    else:
        import cupyx  # noqa: PLC0415
        cupyx.scatter_add(out, key, values)
    return out


class _Scatter(Function):
    """``input`` with ``src`` written (or added, ``add=True``) at the positions ``key`` picks."""

    @staticmethod
    def forward(ctx, x, src, key, add):
        ctx.key, ctx.add = key, add
        return _scatter_into(x.array.copy(), key, src.array, add)

    @staticmethod
    def backward(ctx, grad):
        gx = grad
        if not ctx.add and ctx.needs_input_grad[0]:     # overwritten positions get nothing from the output
            gx = _Scatter.apply(grad, Tensor._wrap(grad._xp.zeros((), grad.array.dtype)), ctx.key, False)
        gsrc = Index.apply(grad, ctx.key) if ctx.needs_input_grad[1] else None
        return gx, gsrc


def _scatter_args(op, input, dim, index, src, value):
    _check_tensor(op, input)
    d = _one_dim(op, input, dim)
    idx = _index_array(op, index, input)
    if input.ndim == 0:
        raise ValueError(f"{op}: needs a tensor with at least 1 dim, got a 0-d tensor")
    key = _gather_key(op, input, d, idx)
    if src is None and value is None:
        raise TypeError(f"{op}: expected src (a Tensor) or value (a number)")
    if src is None or not isinstance(src, Tensor):
        val = value if src is None else src
        src = Tensor._wrap(input._xp.full(tuple(idx.shape), val, dtype=input.dtype.np))
    else:
        if src.ndim != idx.ndim or any(n > s for n, s in zip(idx.shape, src.shape)):
            raise ValueError(f"{op}: index of shape {tuple(idx.shape)} is larger than src of shape {src.shape}")
        src = getitem(src, tuple(slice(0, n) for n in idx.shape)).astype(input.dtype)
    return key, src


def scatter(input, dim, index, src=None, value=None, *, reduce=None):  # noqa: A002
    """A copy of ``input`` with ``src[i][j]`` (or the number ``value``) written at ``index[i][j]`` along ``dim``.

    ``reduce="add"`` adds instead (as ``scatter_add``); ``reduce="multiply"`` is not supported. Where an index
    repeats, which write wins is unspecified, as in PyTorch.

    Example:
        >>> md.zeros(3).scatter(0, md.tensor([2, 0]), md.tensor([5., 7.]))
        tensor([7., 0., 5.])
    """
    if reduce not in (None, "add"):
        raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported (only None and 'add')")
    key, src = _scatter_args("scatter", input, dim, index, src, value)
    return _Scatter.apply(input, src, key, reduce == "add")


def scatter_add(input, dim, index, src):  # noqa: A002
    """A copy of ``input`` with ``src[i][j]`` added at ``index[i][j]`` along ``dim`` (repeats add up).

    Example:
        >>> md.zeros(3).scatter_add(0, md.tensor([0, 0, 2]), md.tensor([1., 2., 3.]))
        tensor([3., 0., 3.])
    """
    key, src = _scatter_args("scatter_add", input, dim, index, src, None)
    return _Scatter.apply(input, src, key, True)


def _scatter_inplace(op, add, input, dim, index, src, value, reduce=None):
    if reduce not in (None, "add"):
        raise NotImplementedError(f"{op}: reduce={reduce!r} is not supported (only None and 'add')")
    key, src = _scatter_args(op, input, dim, index, src, value)
    if input._inplace(op, src):
        return input._record_inplace(lambda old: _Scatter.apply(old, src, key, add or reduce == "add"))
    _scatter_into(input.array, key, src.array, add or reduce == "add")
    return input


def scatter_(input, dim, index, src=None, value=None, *, reduce=None):  # noqa: A002
    """In-place ``scatter`` (recorded by autograd where the tensor is part of a graph)."""
    return _scatter_inplace("scatter_", False, input, dim, index, src, value, reduce)


def scatter_add_(input, dim, index, src):  # noqa: A002
    """In-place ``scatter_add`` (recorded by autograd where the tensor is part of a graph)."""
    return _scatter_inplace("scatter_add_", True, input, dim, index, src, None)


# --- repeat, triangles, flip, roll, unbind --------------------------------------------------------
def repeat(input, *sizes):  # noqa: A002
    """Tile the tensor ``sizes[i]`` times along each dim (extra leading sizes add dims), as PyTorch's repeat.

    Example:
        >>> md.tensor([1, 2]).repeat(2, 2)
        tensor([[1, 2, 1, 2],
                [1, 2, 1, 2]])
    """
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < input.ndim:
        raise ValueError(f"repeat: the number of repeats ({len(sizes)}) can not be smaller than the number of dims "
                         f"of the tensor (shape {input.shape})")
    if any(s < 0 for s in sizes):
        raise ValueError(f"repeat: repeats must be non-negative, got {sizes}")
    shape = (1,) * (len(sizes) - input.ndim) + input.shape
    inter = []                          # (1, s0, 1, s1, ...) expanded to (r0, s0, r1, s1, ...)
    for s in shape:
        inter += [1, s]
    target = []
    for r, s in zip(sizes, shape):
        target += [r, s]
    out = input.reshape(tuple(inter)).expand(tuple(target))
    return out.reshape(tuple(r * s for r, s in zip(sizes, shape)))


def _triangle(op, x, diagonal, lower):
    _check_tensor(op, x)
    if x.ndim < 2:
        raise ValueError(f"{op}: needs a tensor with at least 2 dims, got shape {x.shape}")
    n, m = x.shape[-2:]
    xp = x._xp
    keep = xp.tri(n, m, k=diagonal, dtype=bool) if lower else ~xp.tri(n, m, k=diagonal - 1, dtype=bool)
    return where(Tensor._wrap(keep), x, Tensor._wrap(xp.zeros((), x.dtype.np))).astype(x.dtype)


def tril(input, diagonal=0):  # noqa: A002
    """The lower triangle of the last two dims (entries with j - i <= diagonal), zeros elsewhere.

    Example:
        >>> md.ones(2, 2).tril()
        tensor([[1., 0.],
                [1., 1.]])
    """
    return _triangle("tril", input, diagonal, True)


def triu(input, diagonal=0):  # noqa: A002
    """The upper triangle of the last two dims (entries with j - i >= diagonal), zeros elsewhere."""
    return _triangle("triu", input, diagonal, False)


def _dims(op, x, dims):
    if isinstance(dims, (int, np.integer)):
        dims = (dims,)
    out = tuple(_one_dim(op, x, d) for d in dims)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dims {tuple(dims)} repeat an axis")
    return out


class Flip(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x._xp.flip(x.array, dims).copy() if x.ndim else x.array.copy()

    @staticmethod
    def backward(ctx, grad):
        return Flip.apply(grad, ctx.dims)


def flip(input, *dims):  # noqa: A002
    """A copy with the order of entries reversed along ``dims``: ints, or one list or tuple of them.

    Example:
        >>> md.tensor([1, 2, 3]).flip(0)
        tensor([3, 2, 1])
    """
    _check_tensor("flip", input)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    return Flip.apply(input, _dims("flip", input, dims))


class Roll(Function):
    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        if dims is None:
            return x._xp.roll(x.array.reshape(-1), shifts[0]).reshape(x.shape)
        return x._xp.roll(x.array, shifts, dims)

    @staticmethod
    def backward(ctx, grad):
        return Roll.apply(grad, tuple(-s for s in ctx.shifts), ctx.dims)


def roll(input, shifts, dims=None):  # noqa: A002
    """Shift entries cyclically by ``shifts`` along ``dims`` (the flattened tensor when ``dims`` is None).

    Example:
        >>> md.tensor([1, 2, 3]).roll(1)
        tensor([3, 1, 2])
    """
    _check_tensor("roll", input)
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise ValueError(f"roll: without dims, shifts must be one int, got {shifts}")
        return Roll.apply(input, tuple(int(s) for s in shifts), None)
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    dims = tuple(_one_dim("roll", input, d) for d in dims)
    if input.ndim == 0:
        return input.clone()
    return Roll.apply(input, tuple(int(s) for s in shifts), dims)


def unbind(input, dim=0):  # noqa: A002
    """The slices along ``dim`` as a tuple of tensors, that dim removed.

    Example:
        >>> a, b = md.tensor([[1, 2], [3, 4]]).unbind(1)
    """
    _check_tensor("unbind", input)
    if input.ndim == 0:
        raise ValueError("unbind: needs a tensor with at least 1 dim, got a 0-d tensor")
    d = _one_dim("unbind", input, dim)
    return tuple(getitem(input, (slice(None),) * d + (i,)) for i in range(input.shape[d]))


# --- cumulative sums and products -------------------------------------------------------------
class Cumsum(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return x._xp.cumsum(x.array, axis=dim, dtype=x.array.dtype)

    @staticmethod
    def backward(ctx, grad):
        # each input feeds every later output: the reversed cumulative sum of the gradient
        return Flip.apply(Cumsum.apply(Flip.apply(grad, (ctx.dim,)), ctx.dim), (ctx.dim,))


def cumsum(input, dim, *, dtype=None):  # noqa: A002
    """Running sums along ``dim``; integer and bool tensors sum in int64 (as PyTorch) unless ``dtype`` is given.

    Example:
        >>> md.tensor([1, 2, 3]).cumsum(0)
        tensor([1, 3, 6])
    """
    _check_tensor("cumsum", input)
    d = _one_dim("cumsum", input, dim)
    if dtype is not None:
        input = input.astype(dtype)
    elif not input.dtype.is_floating_point:
        input = input.astype(dtypes.int64)
    if input.ndim == 0:
        return input.clone()
    return Cumsum.apply(input, d)


def _exclusive_products(xp, a, axis):
    """Per entry, the product of the other entries along ``axis`` (no division, so zeros are handled)."""
    def cut(arr, start, stop):
        return arr[(slice(None),) * axis + (slice(start, stop),)]
    ones = xp.ones_like(cut(a, 0, 1))
    before = xp.cumprod(xp.concatenate([ones, cut(a, 0, -1)], axis), axis=axis)
    after = xp.cumprod(xp.concatenate([ones, cut(xp.flip(a, axis), 0, -1)], axis), axis=axis)
    return before * xp.flip(after, axis)


class Prod(Function):
    """Product over one dim (or all, flattened); the gradient is the product of the other entries, right with
    zeros (where ``out / x`` would divide by zero)."""

    @staticmethod
    def forward(ctx, x, dim, keepdim):
        ctx.save_for_backward(x)
        ctx.dim, ctx.keepdim = dim, keepdim
        if dim is None:
            return x._xp.prod(x.array, dtype=x.array.dtype)
        return x._xp.prod(x.array, axis=dim, keepdims=keepdim, dtype=x.array.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        if ctx.dim is None:
            return Prod.backward_along(x.reshape(-1), 0, grad.reshape(1)).reshape(x.shape)
        return Prod.backward_along(x, ctx.dim, grad if ctx.keepdim else grad.unsqueeze(ctx.dim))

    @staticmethod
    def backward_along(x, dim, grad):
        """grad (keepdim shape) times, per entry, the product of the other entries along ``dim``."""
        xp, n = x._xp, x.shape[dim]
        if n == 0:
            return Tensor._wrap(xp.zeros(x.shape, x.array.dtype))
        if not is_grad_enabled():
            return Tensor._wrap(_exclusive_products(xp, x.array, dim) * grad.array)
        # create_graph: the same products as differentiable ops; row i of an (n, n) copy has x_i replaced by 1
        xt = transpose(x, dim, -1)
        rows = xt.unsqueeze(-2).expand(xt.shape[:-1] + (n, n))
        others = Prod.apply(where(Tensor._wrap(xp.eye(n, dtype=bool)), 1.0, rows), xt.ndim, False)
        return transpose(others, dim, -1) * grad


def prod(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """Product of all entries, or along one ``dim``; integer and bool tensors multiply in int64 (as PyTorch).

    The gradient is right where entries are zero.

    Example:
        >>> md.tensor([[1., 2.], [3., 4.]]).prod(1)
        tensor([ 2., 12.])
    """
    _check_tensor("prod", input)
    if dtype is not None:
        input = input.astype(dtype)
    elif not input.dtype.is_floating_point:
        input = input.astype(dtypes.int64)
    if dim is None:
        return Prod.apply(input, None, False)
    d = _one_dim("prod", input, dim)
    if input.ndim == 0:
        return input.clone()
    return Prod.apply(input, d, keepdim)


def square(input):  # noqa: A002
    """``input * input`` elementwise (integers stay integers).

    Example:
        >>> md.tensor([2, -3]).square()
        tensor([4, 9])
    """
    _check_tensor("square", input)
    if input.dtype == dtypes.bool_:
        input = input.astype(dtypes.int64)
    return mul(input, input)


# --- amax / amin and norms -----------------------------------------------------------------------
class _Extremum(Function):
    """amax/amin over several dims; ties share the gradient equally (as PyTorch's amax/amin)."""

    @staticmethod
    def forward(ctx, x, dims, keepdim, largest):
        xp = x._xp
        for d in dims:
            if x.shape[d] == 0:
                raise IndexError(f"{'amax' if largest else 'amin'}: dim {d} of shape {x.shape} is empty")
        out = (xp.max if largest else xp.min)(x.array, axis=dims, keepdims=True)
        ctx.save_for_backward(x)
        ctx.dims, ctx.keepdim, ctx.out = dims, keepdim, out
        return out if keepdim else out.reshape([s for i, s in enumerate(x.shape) if i not in dims])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        xp = x._xp
        hit = (x.array == ctx.out) | (xp.isnan(ctx.out) & xp.isnan(x.array))
        hit = hit.astype(grad.dtype.np)
        share = Tensor._wrap(hit / hit.sum(axis=ctx.dims, keepdims=True))
        if not ctx.keepdim:
            grad = grad.reshape(ctx.out.shape)
        return grad * share


def _amax(op, largest, input, dim, keepdim):
    _check_tensor(op, input)
    dims = tuple(range(input.ndim)) if dim is None or dim == () else normalize_dims(op, input, dim)
    if input.ndim == 0:
        return input.clone()
    if not input.dtype.is_floating_point:
        out = (input._xp.max if largest else input._xp.min)(input.array, axis=dims, keepdims=keepdim)
        return Tensor._wrap(out)
    return _Extremum.apply(input, dims, keepdim, largest)


def amax(input, dim=(), keepdim=False):  # noqa: A002
    """Largest values over ``dim`` (an int or a tuple; all dims by default). Ties share the gradient equally.

    Example:
        >>> md.tensor([[1., 5.], [7., 2.]]).amax(dim=(0, 1))
        tensor(7.)
    """
    return _amax("amax", True, input, dim, keepdim)


def amin(input, dim=(), keepdim=False):  # noqa: A002
    """Smallest values over ``dim`` (an int or a tuple; all dims by default). Ties share the gradient equally."""
    return _amax("amin", False, input, dim, keepdim)


class _Norm2(Function):
    """The 2-norm over ``dims``; its gradient ``x / norm`` is taken as 0 where the norm is 0 (as PyTorch)."""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        xp = x._xp
        scale = xp.max(xp.abs(x.array), axis=dims, keepdims=True, initial=0)     # no overflow of the squares
        scale = xp.where((scale > 0) & xp.isfinite(scale), scale, 1).astype(x.array.dtype, copy=False)
        out = scale * xp.sqrt(xp.sum((x.array / scale) ** 2, axis=dims, keepdims=True))
        ctx.save_for_backward(x)
        ctx.dims, ctx.keepdim, ctx.out = dims, keepdim, out
        return out if keepdim else out.reshape([s for i, s in enumerate(x.shape) if i not in dims])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        out = saved_output(ctx, lambda: _Norm2.apply(x, ctx.dims, True))
        zero = Tensor._wrap(out.array == 0)
        if not ctx.keepdim:
            grad = grad.reshape(ctx.out.shape)
        return where(zero, 0.0, grad / where(zero, 1.0, out)) * x


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):  # noqa: A002
    """Vector norm over ``dim`` (all entries by default): ``p`` = 2 or "fro" (Euclidean), 1, inf, -inf, 0
    (count of non-zeros) or any other number. Gradients are 0 where the norm (or an entry for p=1) is 0.

    Example:
        >>> md.tensor([3., 4.]).norm()
        tensor(5.)
    """
    _check_tensor("norm", input)
    if dtype is not None:
        input = input.astype(dtype)
    if not input.dtype.is_floating_point:
        raise TypeError(f"norm: needs a floating tensor, got {input.dtype.name} of shape {input.shape}")
    if p == "nuc":                  # the nuclear norm of the matrices over dim (all of a 2-D input), from md.linalg
        from ..linalg import matrix_norm  # noqa: PLC0415
        return matrix_norm(input, "nuc", tuple(range(input.ndim)) if dim is None else dim, keepdim)
    if isinstance(p, str) and p != "fro":
        raise NotImplementedError(f"norm: p={p!r} is not supported (matrix norms other than 'fro' and 'nuc')")
    dims = normalize_dims("norm", input, dim)
    if p in ("fro", 2, 2.0):
        return _Norm2.apply(input, dims, keepdim)
    a = abs(input)
    if p in (1, 1.0):
        return sum(a, dims, keepdim)
    if p == float("inf"):
        return amax(a, dims, keepdim)
    if p == float("-inf"):
        return amin(a, dims, keepdim)
    if p == 0:
        return sum((input != 0).astype(input.dtype), dims, keepdim)
    return pow(sum(pow(a, p), dims, keepdim), 1.0 / p)


# --- sorting -------------------------------------------------------------------------------
def _argsort(xp, a, axis, descending):
    """Stable argsort; descending keeps equal entries in their original order and puts NaN first (as PyTorch)."""
    if not descending:
        return xp.argsort(a, axis=axis, kind="stable")
    n = a.shape[axis]
    rev = xp.argsort(xp.flip(a, axis), axis=axis, kind="stable")
    return (n - 1) - xp.flip(rev, axis)


def _take(x, d, idx):
    """Differentiable ``take_along_axis`` (gradient: scatter-add of the indices)."""
    return Index.apply(x, _gather_key("sort", x, d, idx))


def sort(input, dim=-1, descending=False, stable=False):  # noqa: A002
    """Sorted values along ``dim`` and the indices they came from (a ``(values, indices)`` pair).

    The sort is always stable here (``stable`` is accepted); NaN sorts as the largest value, as in PyTorch.

    Example:
        >>> md.tensor([3., 1., 2.]).sort()
        SortResult(values=tensor([1., 2., 3.]), indices=tensor([1, 2, 0]))
    """
    _check_tensor("sort", input)
    d = _one_dim("sort", input, dim)
    if input.ndim == 0:
        return SortResult(input.clone(), Tensor._wrap(input._xp.zeros((), np.int64)))
    idx = _argsort(input._xp, input.array, d, descending).astype(np.int64)
    return SortResult(_take(input, d, idx), Tensor._wrap(idx))


def argsort(input, dim=-1, descending=False, stable=False):  # noqa: A002
    """The indices that sort ``input`` along ``dim`` (int64)."""
    return sort(input, dim, descending, stable).indices


def topk(input, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    """The ``k`` largest (or smallest) values along ``dim`` and their indices, largest first.

    Example:
        >>> md.tensor([1., 5., 3.]).topk(2)
        TopKResult(values=tensor([5., 3.]), indices=tensor([1, 2]))
    """
    _check_tensor("topk", input)
    d = _one_dim("topk", input, dim)
    size = input.shape[d] if input.ndim else 1
    if not 0 <= k <= size:
        raise IndexError(f"topk: k ({k}) is out of range for dim {dim} of size {size} (tensor of shape "
                         f"{input.shape})")
    if input.ndim == 0:
        return TopKResult(input.clone(), Tensor._wrap(input._xp.zeros((), np.int64)))
    idx = _argsort(input._xp, input.array, d, largest).astype(np.int64)
    idx = idx[(slice(None),) * d + (slice(0, k),)]
    return TopKResult(_take(input, d, idx), Tensor._wrap(idx))


# --- constructors and in-place fills on a tensor ------------------------------------------------------
def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if not builtins.all(isinstance(s, (int, np.integer)) and s >= 0 for s in size):
        raise ValueError(f"size must be non-negative integers, got {size}")
    return tuple(int(s) for s in size)


def _new(self, fill, size, dtype, device, requires_grad):
    dt = self.dtype if dtype is None else dtypes.to_dtype(dtype)
    arr = np.empty(size, dt.np) if fill is None else np.full(size, fill, dt.np)
    return Tensor._wrap(move(arr, self.device if device is None else device)).requires_grad_(requires_grad)


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
    """Zeros of ``size`` with this tensor's dtype and device unless given.

    Example:
        >>> md.ones(2, dtype=md.float64).new_zeros(3).dtype
        minidl.float64
    """
    return _new(self, 0, _size(size), dtype, device, requires_grad)


def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
    """Ones of ``size`` with this tensor's dtype and device unless given."""
    return _new(self, 1, _size(size), dtype, device, requires_grad)


def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
    """An uninitialized tensor of ``size`` with this tensor's dtype and device unless given."""
    return _new(self, None, _size(size), dtype, device, requires_grad)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """``fill_value`` everywhere in ``size``, with this tensor's dtype and device unless given."""
    return _new(self, fill_value, _size((size,)), dtype, device, requires_grad)


def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    """A copy of ``data`` with this tensor's dtype and device unless given (PyTorch's ``new_tensor``)."""
    out = Tensor._from(data, self.dtype if dtype is None else dtype, self.device if device is None else device)
    return out.requires_grad_(requires_grad)


def _fill_random(op, self, values):
    if self._inplace(op):
        from .inplace import setitem  # noqa: PLC0415
        return self._record_inplace(lambda old: setitem(old, Ellipsis, values))
    self.array[...] = move(np.asarray(values, dtype=self.array.dtype), self.device)
    return self


def uniform_(self, a=0.0, b=1.0):
    """Fill in place with samples of U(a, b) from minidl's generator (``md.manual_seed`` makes them repeat).

    Example:
        >>> md.empty(3).uniform_(-1, 1).shape
        (3,)
    """
    if not a <= b:
        raise ValueError(f"uniform_: expects a <= b, got a={a}, b={b}")
    return _fill_random("uniform_", self, _generator().uniform(a, b, self.shape))


def normal_(self, mean=0.0, std=1.0):
    """Fill in place with samples of N(mean, std**2) from minidl's generator."""
    if std < 0:
        raise ValueError(f"normal_: expects std >= 0, got {std}")
    return _fill_random("normal_", self, _generator().normal(mean, std, self.shape))


def clamp_(self, min=None, max=None):  # noqa: A002
    """In-place ``clamp`` (recorded by autograd where the tensor is part of a graph)."""
    if self._inplace("clamp_", min if isinstance(min, Tensor) else max):
        return self._record_inplace(lambda old: clamp(old, min, max))
    out = clamp(self.detach(), min, max)
    self.array[...] = out.array
    return self


def is_contiguous(self):
    """Whether the data is laid out in C order without gaps."""
    return bool(self.array.flags.c_contiguous)


def data_ptr(self):
    """The address of the first element (an int), as PyTorch's ``data_ptr``."""
    arr = self.array
    return int(arr.ctypes.data) if isinstance(arr, np.ndarray) else int(arr.data.ptr)


def is_tensor(obj):
    """Whether ``obj`` is a minidl Tensor.

    Example:
        >>> md.is_tensor(md.zeros(1)), md.is_tensor([1])
        (True, False)
    """
    return isinstance(obj, Tensor)


def numel(input):  # noqa: A002
    """The number of elements of a tensor."""
    _check_tensor("numel", input)
    return input.numel()


# --- sampling --------------------------------------------------------------------------------
def multinomial(input, num_samples, replacement=False, *, generator=None):  # noqa: A002
    """Draw ``num_samples`` category indices per row of non-negative weights (1-d or 2-d), from minidl's
    seeded generator. Without replacement each category is drawn at most once.

    Example:
        >>> md.multinomial(md.tensor([0.0, 1.0, 0.0]), 2, replacement=True)
        tensor([1, 1])
    """
    _check_tensor("multinomial", input)
    if input.ndim not in (1, 2):
        raise ValueError(f"multinomial: probabilities must be 1-d or 2-d, got shape {input.shape}")
    if not input.dtype.is_floating_point:
        raise TypeError(f"multinomial: expects a floating tensor, got {input.dtype.name}")
    if num_samples <= 0:
        raise ValueError(f"multinomial: num_samples must be positive, got {num_samples}")
    rows = np.asarray(input.numpy(), dtype=np.float64).reshape(-1, input.shape[-1])
    if not np.isfinite(rows).all() or (rows < 0).any():
        raise ValueError("multinomial: probabilities must be finite and non-negative")
    out = np.empty((rows.shape[0], num_samples), np.int64)
    from ..random import drawing_from  # noqa: PLC0415
    with drawing_from(generator):       # generator=: a md.Generator of its own, as PyTorch's
        rng = _generator()
    for i, w in enumerate(rows):
        total = w.sum()
        if total <= 0:
            raise ValueError(f"multinomial: row {i} of the probabilities sums to 0")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement from "
                             f"{np.count_nonzero(w)} categories with non-zero probability (row {i})")
        out[i] = rng.choice(w.size, size=num_samples, replace=replacement, p=w / total)
    out = out.reshape(num_samples) if input.ndim == 1 else out
    return Tensor._wrap(move(out, input.device))




__all__ = ["SortResult", "TopKResult", "amax", "amin", "argsort", "bmm", "cumsum", "flip", "gather", "index_select",
           "is_tensor", "masked_fill", "mm", "multinomial", "norm", "numel", "prod", "repeat", "roll", "scatter",
           "scatter_add", "sort", "square", "t", "topk", "tril", "triu", "unbind"]


# --- Size, inference mode, hooks -------------------------------------------------------------------
class Size(tuple):
    """A tensor's shape: a tuple of ints with ``numel()``, as PyTorch's ``torch.Size``. It prints as a tuple, and
    a slice of it is a plain tuple (indexing stays as cheap as a tuple's: every op reads shapes).

    Example:
        >>> md.zeros(2, 3).shape.numel()
        6
    """

    __slots__ = ()

    def numel(self):
        """The number of elements a tensor of this shape holds."""
        n = 1
        for s in self:
            n *= s
        return n



def _shape(self):
    return Size(self.array.shape)


def _size_of(self, dim=None):
    shape = self.array.shape
    if dim is None:
        return Size(shape)
    n = builtins.max(len(shape), 1)
    if not -n <= dim < n:
        raise IndexError(f"size: dim {dim} is out of range for a tensor of shape {tuple(shape)}")
    return shape[dim] if shape else 1


class inference_mode(no_grad):  # noqa: N801 -- PyTorch's name
    """``no_grad`` under PyTorch's other name: a context manager or decorator (with or without parentheses) in
    which no graph is recorded. ``inference_mode(False)`` leaves grad mode as it is.

    Example:
        >>> with md.inference_mode():
        ...     y = model(x)          # y.requires_grad is False
    """

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):       # bare @md.inference_mode on a function
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode=True):
        self.enabled = bool(mode)

    def __enter__(self):
        if not self.enabled:
            self._token = None
            return self
        return super().__enter__()

    def __exit__(self, *exc):
        if self._token is not None:
            super().__exit__(*exc)
        return False

    def __call__(self, fn):
        enabled = self.enabled

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(enabled):
                return fn(*args, **kwargs)
        return wrapper


def is_inference_mode_enabled():
    """Whether an ``inference_mode`` block is active (here: whether grad mode is off)."""
    return not is_grad_enabled()


def register_hook(self, hook):
    """Call ``hook(grad)`` with this tensor's gradient during backward; a returned tensor replaces the gradient.
    Returns a handle whose ``remove()`` unregisters the hook.

    Example:
        >>> x = md.ones(2, requires_grad=True)
        >>> h = x.register_hook(lambda g: g * 2)
        >>> x.sum().backward(); x.grad
        tensor([2., 2.])
    """
    return _hooks.register(self, hook)


__all__ += ["Size", "inference_mode", "is_inference_mode_enabled"]
