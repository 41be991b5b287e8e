"""More of PyTorch's Tensor methods: aliases (``multiply``, ``greater``, ``ndimension``...), shape helpers
(``repeat_interleave``, ``tile``, ``unflatten``, ``unfold``, ``tensor_split``, ``select``), index updates
(``index_add``, ``index_copy``, ``index_fill``, ``index_put``, ``masked_scatter``), running reductions
(``cumprod``, ``cummax``, ``cummin``, ``logcumsumexp``), ``logaddexp``, ``quantile``, ``mode``, ``aminmax``,
bitwise ops and in-place random fills.

Differentiable ones are compositions of differentiable ops or ``Function``s with forward beside backward.
"""
import math
from collections import namedtuple

import numpy as np

from .. import dtypes
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from ..device import move
from ..random import generator as _generator
from ..tensor import Tensor
from ..ops.elementwise import _compare, exp, log, maximum, where
from ..ops.extra import Flip, _Scatter, amax, amin, cumsum, gather, index_select, sort
from .functions_more import movedim
from ..ops.inplace import setitem
from ..ops.linalg import matmul
from ..ops.movement import expand, getitem, reshape, split
from ..ops.reduce import sum

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])
MinMax = namedtuple("MinMax", ["min", "max"])


def _dim(op, x, dim):
    n = max(x.ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of shape {x.shape}")
    return dim % n


# --- shapes ------------------------------------------------------------------------------------------------------
def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):  # noqa: A002
    """Each element repeated ``repeats`` times (an int, or one count per element) along ``dim`` (flattened when
    None); ``repeat_interleave(counts)`` with only an integer tensor gives ``arange(len(counts))`` repeated.

    Example:
        >>> md.tensor([1, 2]).repeat_interleave(2)
        tensor([1, 1, 2, 2])
    """
    if repeats is None:
        if input.dtype.is_floating_point or input.ndim != 1:
            raise TypeError("repeat_interleave: without repeats, the input must be a 1-d integer tensor of counts")
        input, repeats = Tensor._wrap(input._xp.arange(input.shape[0])), input  # noqa: A001
    x = reshape(input, -1) if dim is None else input
    d = 0 if dim is None else _dim("repeat_interleave", x, dim)
    counts = repeats.numpy() if isinstance(repeats, Tensor) else np.asarray(repeats)
    if counts.ndim and counts.size not in (1, x.shape[d]):
        raise ValueError(f"repeat_interleave: {counts.size} repeats for dim {d} of size {x.shape[d]}")
    if (counts < 0).any():
        raise ValueError("repeat_interleave: repeats must be non-negative")
    index = np.repeat(np.arange(x.shape[d]), counts.reshape(-1) if counts.size > 1 else int(counts.reshape(-1)[0]))
    return getitem(x, (slice(None),) * d + (index,))


def tile(input, dims):  # noqa: A002
    """``repeat`` with ``dims`` padded with ones in front to the input's number of dims (NumPy's ``tile``)."""
    dims = tuple(dims)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return input.repeat(*dims)


def unflatten(input, dim, sizes):  # noqa: A002
    """Split dim ``dim`` into ``sizes`` (one may be -1).

    Example:
        >>> md.zeros(2, 12).unflatten(1, (3, -1)).shape
        (2, 3, 4)
    """
    d = _dim("unflatten", input, dim)
    return reshape(input, *input.shape[:d], *sizes, *input.shape[d + 1:])


def unfold(input, dimension, size, step):  # noqa: A002
    """Every slice of ``size`` elements along ``dimension``, ``step`` apart, as a new last dim (a copy here;
    a view in PyTorch).

    Example:
        >>> md.arange(5.0).unfold(0, 2, 2)
        tensor([[0., 1.],
                [2., 3.]])
    """
    d = _dim("unfold", input, dimension)
    n = input.shape[d] if input.ndim else 1
    if size > n or step <= 0:
        raise ValueError(f"unfold: size {size} and step {step} do not fit dim {d} of size {n}")
    count = (n - size) // step + 1
    index = (np.arange(count) * step)[:, None] + np.arange(size)[None, :]   # (count, size)
    out = getitem(input, (slice(None),) * d + (index,))                      # dims: ..., count, size, ...
    return movedim(out, d + 1, -1)


def tensor_split(input, indices_or_sections, dim=0):  # noqa: A002
    """Split into ``n`` nearly equal parts (the first ones one longer) or at the given indices."""
    d = _dim("tensor_split", input, dim)
    n = input.shape[d]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        if k <= 0:
            raise ValueError(f"tensor_split: the number of sections must be positive, got {k}")
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    else:
        bounds = [0] + [min(max(int(i), 0), n) for i in indices_or_sections] + [n]
        sizes = [max(b - a, 0) for a, b in zip(bounds[:-1], bounds[1:])]
        starts = bounds[:-1]
        return tuple(getitem(input, (slice(None),) * d + (slice(s, s + z),)) for s, z in zip(starts, sizes))
    return tuple(split(input, sizes, d))


def hsplit(input, sections):  # noqa: A002
    """``tensor_split`` along dim 1 (dim 0 for 1-d tensors)."""
    return tensor_split(input, sections, 1 if input.ndim > 1 else 0)


def vsplit(input, sections):  # noqa: A002
    """``tensor_split`` along dim 0."""
    return tensor_split(input, sections, 0)


def dsplit(input, sections):  # noqa: A002
    """``tensor_split`` along dim 2."""
    return tensor_split(input, sections, 2)


def select(input, dim, index):  # noqa: A002
    """The slice at ``index`` of dim ``dim`` (that dim removed)."""
    d = _dim("select", input, dim)
    return getitem(input, (slice(None),) * d + (index,))


def ravel(input):  # noqa: A002
    """The elements as a 1-d tensor."""
    return reshape(input, -1)


def fliplr(input):  # noqa: A002
    """Reverse dim 1."""
    return input.flip(1)


def flipud(input):  # noqa: A002
    """Reverse dim 0."""
    return input.flip(0)


def sum_to_size(input, *size):  # noqa: A002
    """Sum ``input`` down to ``size``, a shape it broadcasts from."""
    size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    lead = input.ndim - len(size)
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(size) if s == 1 and input.shape[lead + i] != 1)
    out = sum(input, dim=dims, keepdim=True) if dims else input
    return reshape(out, *size)


# --- index updates -----------------------------------------------------------------------------------------------
def _index_key(op, input, dim, index):
    d = _dim(op, input, dim)
    idx = index.array if isinstance(index, Tensor) else np.asarray(index)
    if idx.ndim > 1:
        raise ValueError(f"{op}: index must be 1-d, got shape {tuple(idx.shape)}")
    return d, (slice(None),) * d + (move(idx, input.device),)


def index_add(input, dim, index, source, *, alpha=1):  # noqa: A002
    """A copy of ``input`` with ``alpha * source`` slices added at ``index`` along ``dim`` (repeats add up)."""
    _, key = _index_key("index_add", input, dim, index)
    src = source if alpha == 1 else source * alpha
    return _Scatter.apply(input, src.astype(input.dtype), key, True)


def index_copy(input, dim, index, source):  # noqa: A002
    """A copy of ``input`` with ``source``'s slices written at ``index`` along ``dim``."""
    _, key = _index_key("index_copy", input, dim, index)
    return _Scatter.apply(input, source.astype(input.dtype), key, False)


def index_fill(input, dim, index, value):  # noqa: A002
    """A copy of ``input`` with the slices at ``index`` along ``dim`` set to ``value``."""
    _, key = _index_key("index_fill", input, dim, index)
    return setitem(input, key, value)


def index_put(input, indices, values, accumulate=False):  # noqa: A002
    """A copy of ``input`` with ``values`` written (or added, ``accumulate``) at ``input[indices]``."""
    from ..ops.movement import normalize_index  # noqa: PLC0415
    key = normalize_index(tuple(indices), input)
    if not isinstance(values, Tensor):
        values = Tensor._wrap(input._xp.asarray(values, dtype=input.dtype.np))
    return _Scatter.apply(input, values.astype(input.dtype), key, accumulate)


def masked_scatter(input, mask, source):  # noqa: A002
    """A copy of ``input`` where the True positions of ``mask`` take consecutive elements of ``source``."""
    shape = np.broadcast_shapes(input.shape, mask.shape)
    m = expand(mask, *shape).array
    x = expand(input, *shape) if tuple(input.shape) != shape else input
    count = int(m.sum())
    if source.numel() < count:
        raise ValueError(f"masked_scatter: the mask selects {count} elements but source has {source.numel()}")
    return setitem(x, m, getitem(reshape(source, -1), slice(0, count)))


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):  # noqa: A002
    """Scatter ``src`` into ``input`` along ``dim`` at ``index``, combining with ``reduce``: "sum", "prod",
    "mean", "amax" or "amin" (values only; gradients for "sum" and "mean")."""
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise ValueError(f"scatter_reduce: reduce must be 'sum', 'prod', 'mean', 'amax' or 'amin', got {reduce!r}")
    if reduce == "sum":
        base = input if include_self else input.scatter(dim, index, 0.0)
        return base.scatter_add(dim, index, src)
    if reduce == "mean":
        ones = Tensor._wrap(input._xp.ones(index.shape, dtype=input.dtype.np))
        count = (input * 0 + (1.0 if include_self else 0.0)).scatter_add(dim, index, ones)
        base = input if include_self else input.scatter(dim, index, 0.0)
        total = base.scatter_add(dim, index, src)
        out = total / where(count == 0, count * 0 + 1, count)
        return out if input.dtype.is_floating_point else out.floor().astype(input.dtype)
    if input.requires_grad or src.requires_grad:
        raise NotImplementedError(f"scatter_reduce: gradients for reduce={reduce!r} are not supported "
                                  "(only 'sum' and 'mean')")
    ufunc = {"prod": np.multiply, "amax": np.maximum, "amin": np.minimum}[reduce]
    out = input.numpy().copy()
    d = _dim("scatter_reduce", input, dim)
    idx, s = index.numpy(), src.numpy()[tuple(slice(0, n) for n in index.shape)]
    grid = list(np.indices(idx.shape, sparse=True))
    grid[d] = idx
    key = tuple(np.broadcast_arrays(*grid))
    if not include_self:
        first = {"prod": 1, "amax": -np.inf, "amin": np.inf}[reduce]
        out[key] = np.asarray(first).astype(out.dtype) if out.dtype.kind == "f" else \
            (1 if reduce == "prod" else np.iinfo(out.dtype).min if reduce == "amax" else np.iinfo(out.dtype).max)
    ufunc.at(out, key, s)
    return Tensor._wrap(move(out, input.device))


# --- running reductions ------------------------------------------------------------------------------------------
class _Cumprod(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        ctx.save_for_backward(x)
        out = x._xp.cumprod(x.array, axis=dim)
        ctx.out = out
        return out

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        d = ctx.dim
        if not bool((x.array == 0).any()):
            # each x_i feeds every later output: sum_{j >= i} g_j out_j / x_i
            rev = Flip.apply(cumsum(Flip.apply(grad * Tensor._wrap(ctx.out), (d,)), d), (d,))
            return rev / x
        # with zeros: d out_j / d x_i = prod_{k <= j, k != i} x_k, summed exactly (O(n^2) along dim)
        xp = x._xp
        a, g = xp.moveaxis(x.array, d, -1), xp.moveaxis(grad.array, d, -1)
        n = a.shape[-1]
        out = xp.zeros_like(a)
        for i in range(n):
            others = a.copy()
            others[..., i] = 1
            partial = xp.cumprod(others, axis=-1)[..., i:]
            out[..., i] = (g[..., i:] * partial).sum(-1)
        return Tensor._wrap(xp.moveaxis(out, -1, d))


def cumprod(input, dim, *, dtype=None):  # noqa: A002
    """Running products along ``dim`` (gradients right where entries are zero).

    Example:
        >>> md.tensor([1.0, 2.0, 3.0]).cumprod(0)
        tensor([1., 2., 6.])
    """
    d = _dim("cumprod", input, dim)
    if dtype is not None:
        input = input.astype(dtype)  # noqa: A001
    elif not input.dtype.is_floating_point:
        input = input.astype(dtypes.int64)  # noqa: A001
    if input.ndim == 0:
        return input.clone()
    if not input.dtype.is_floating_point:
        return Tensor._wrap(input._xp.cumprod(input.array, axis=d))
    return _Cumprod.apply(input, d)


def _running_extremum(op, input, dim, better):
    d = _dim(op, input, dim)
    xp = input._xp
    a = xp.moveaxis(input.array, d, -1)
    n = a.shape[-1]
    idx = xp.zeros(a.shape, dtype=np.int64)
    best = a[..., 0].copy()
    at = xp.zeros(a.shape[:-1], dtype=np.int64)
    for i in range(n):
        take = better(a[..., i], best) | (a[..., i] == best) | xp.isnan(a[..., i]) if i else xp.ones_like(best, bool)
        best = xp.where(take, a[..., i], best)
        at = xp.where(take, i, at)
        idx[..., i] = at
    indices = Tensor._wrap(xp.moveaxis(idx, -1, d))
    return ValuesIndices(gather(input, d, indices), indices)


def cummax(input, dim):  # noqa: A002
    """Running maximum along ``dim`` and where it was reached (the last index among ties, as PyTorch)."""
    return _running_extremum("cummax", input, dim, lambda new, best: new > best)


def cummin(input, dim):  # noqa: A002
    """Running minimum along ``dim`` and where it was reached."""
    return _running_extremum("cummin", input, dim, lambda new, best: new < best)


def logcumsumexp(input, dim):  # noqa: A002
    """``log(cumsum(exp(x)))`` along ``dim``, computed stably."""
    d = _dim("logcumsumexp", input, dim)
    m = amax(input, dim=d, keepdim=True).detach()
    m = where(m == float("-inf"), m * 0, m)
    return log(cumsum(exp(input - m), d)) + m


def logaddexp(input, other):  # noqa: A002
    """``log(exp(a) + exp(b))``, computed stably."""
    m = maximum(input, other).detach()
    return m + log(exp(input - m) + exp(other - m))


def logaddexp2(input, other):  # noqa: A002
    """``log2(2**a + 2**b)``."""
    return logaddexp(input * math.log(2), other * math.log(2)) / math.log(2)


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):  # noqa: A002
    """The ``q``-quantiles (a number or a 1-d tensor in [0, 1]) along ``dim`` (all elements when None);
    ``interpolation`` "linear", "lower", "higher", "nearest" or "midpoint", as PyTorch's."""
    if interpolation not in ("linear", "lower", "higher", "nearest", "midpoint"):
        raise ValueError(f"quantile: unknown interpolation {interpolation!r}")
    x = reshape(input, -1) if dim is None else input
    d = 0 if dim is None else _dim("quantile", x, dim)
    qs = q.numpy() if isinstance(q, Tensor) else np.asarray(q, dtype=np.float64)
    if qs.ndim > 1 or (qs < 0).any() or (qs > 1).any():
        raise ValueError("quantile: q must be a number or a 1-d tensor of values in [0, 1]")
    values = sort(x, dim=d).values
    n = x.shape[d]
    pos = qs.reshape(-1) * (n - 1)
    lo, hi = np.floor(pos).astype(np.int64), np.ceil(pos).astype(np.int64)
    frac = pos - lo

    def take(i):
        return index_select(values, d, Tensor._wrap(move(i, x.device)))
    if interpolation == "lower":
        out = take(lo)
    elif interpolation == "higher":
        out = take(hi)
    elif interpolation == "nearest":
        out = take(np.round(pos).astype(np.int64))          # half to even, as PyTorch
    else:
        w = 0.5 * np.ones_like(frac) if interpolation == "midpoint" else frac
        shape = [1] * x.ndim
        shape[d] = -1
        wt = Tensor._wrap(move(w.astype(x.dtype.np).reshape(shape), x.device))
        out = take(lo) + (take(hi) - take(lo)) * wt
    out = movedim(out, d, 0)                    # the quantiles first, as PyTorch
    if keepdim:
        out = reshape(out, -1, *([1] * input.ndim)) if dim is None else out.unsqueeze(d + 1)
    return out[0] if qs.ndim == 0 else out


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):  # noqa: A002
    """``quantile`` ignoring NaN (only without ``dim``)."""
    if dim is not None:
        raise NotImplementedError("nanquantile: dim= is not supported")
    flat = reshape(input, -1)
    return quantile(getitem(flat, ~input._xp.isnan(flat.array)), q, interpolation=interpolation)


def mode(input, dim=-1, keepdim=False):  # noqa: A002
    """The most frequent value along ``dim`` (the smallest among ties) and an index where it occurs."""
    d = _dim("mode", input, dim)
    a = np.moveaxis(input.numpy(), d, -1)
    flat = a.reshape(-1, a.shape[-1])
    vals, idxs = [], []
    for row in flat:
        u, counts = np.unique(row, return_counts=True)
        v = u[np.argmax(counts)]
        vals.append(v)
        idxs.append(np.nonzero(row == v)[0][-1])
    shape = a.shape[:-1]
    idx = np.asarray(idxs, dtype=np.int64).reshape(shape)
    indices = Tensor._wrap(move(idx, input.device))
    values = gather(input, d, indices.unsqueeze(d)).squeeze(d)
    if keepdim:
        return ValuesIndices(values.unsqueeze(d), indices.unsqueeze(d))
    return ValuesIndices(values, indices)


def aminmax(input, *, dim=None, keepdim=False):  # noqa: A002
    """``(amin, amax)`` over ``dim`` (all elements when None)."""
    dims = () if dim is None else dim
    return MinMax(amin(input, dim=dims, keepdim=keepdim), amax(input, dim=dims, keepdim=keepdim))


# --- products and distances --------------------------------------------------------------------------------------
def dot(input, other):  # noqa: A002
    """The inner product of two 1-d tensors."""
    if input.ndim != 1 or other.ndim != 1 or input.shape != other.shape:
        raise ValueError(f"dot: expected two 1-d tensors of one size, got shapes {input.shape} and {other.shape}")
    return sum(input * other)


def vdot(input, other):  # noqa: A002
    """``dot`` (no complex numbers here)."""
    return dot(input, other)


def mv(input, vec):  # noqa: A002
    """Matrix times vector."""
    if input.ndim != 2 or vec.ndim != 1:
        raise ValueError(f"mv: expected a matrix and a vector, got shapes {input.shape} and {vec.shape}")
    return matmul(input, vec)


def inner(input, other):  # noqa: A002
    """Sum over the last dims of both: ``tensordot(input, other, ([-1], [-1]))``."""
    from .functions_more import tensordot  # noqa: PLC0415
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    return tensordot(input, other, ([-1], [-1]))


def dist(input, other, p=2):  # noqa: A002
    """The ``p``-norm of ``input - other``."""
    return (input - other).norm(p)


# --- elementwise -------------------------------------------------------------------------------------------------
def deg2rad(input):  # noqa: A002
    """Degrees to radians."""
    return input * (math.pi / 180)


def rad2deg(input):  # noqa: A002
    """Radians to degrees."""
    return input * (180 / math.pi)


def sinc(input):  # noqa: A002
    """``sin(pi x) / (pi x)``, 1 at 0."""
    px = input * math.pi
    zero = input == 0
    safe = where(zero, px * 0 + 1, px)
    return where(zero, px * 0 + 1, safe.sin() / safe)


def heaviside(input, values):  # noqa: A002
    """0 below zero, 1 above, ``values`` at zero."""
    return where(input == 0, values.astype(input.dtype) if isinstance(values, Tensor) else values,
                 (input > 0).astype(input.dtype))


def signbit(input):  # noqa: A002
    """Where the sign bit is set (negative numbers and -0.0)."""
    return Tensor._wrap(input._xp.signbit(input.array))


def copysign(input, other):  # noqa: A002
    """``|input|`` with the sign of ``other``."""
    o = other.array if isinstance(other, Tensor) else other
    sign = Tensor._wrap(input._xp.where(input._xp.signbit(input._xp.asarray(o)), -1.0, 1.0).astype(
        input.dtype.np if input.dtype.is_floating_point else np.float32))
    return input.abs() * sign


def _bitwise(name, ufunc):
    # the comparisons' binary ufunc path (promotion, device, broadcast check), for integer and bool operands only
    apply = _compare(ufunc, name)

    def op(input, other):  # noqa: A002
        if input.dtype.is_floating_point or (isinstance(other, Tensor) and other.dtype.is_floating_point):
            raise TypeError(f"{name}: only integer and bool tensors, got {input.dtype.name}")
        return apply(input, other)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``{ufunc}`` of integer or bool tensors."
    return op


bitwise_and = _bitwise("bitwise_and", "bitwise_and")
bitwise_or = _bitwise("bitwise_or", "bitwise_or")
bitwise_xor = _bitwise("bitwise_xor", "bitwise_xor")
bitwise_left_shift = _bitwise("bitwise_left_shift", "left_shift")
bitwise_right_shift = _bitwise("bitwise_right_shift", "right_shift")
gcd = _bitwise("gcd", "gcd")
lcm = _bitwise("lcm", "lcm")


def bitwise_not(input):  # noqa: A002
    """Elementwise NOT of an integer or bool tensor."""
    if input.dtype.is_floating_point:
        raise TypeError(f"bitwise_not: only integer and bool tensors, got {input.dtype.name}")
    return Tensor._wrap(input._xp.invert(input.array))


# --- predicates and metadata -------------------------------------------------------------------------------------
def is_nonzero(input):  # noqa: A002
    """Whether a one-element tensor is non-zero."""
    if input.numel() != 1:
        raise RuntimeError(f"is_nonzero: expected a one-element tensor, got shape {input.shape}")
    return bool(input.item())


def is_same_size(input, other):  # noqa: A002
    """Whether both have the same shape."""
    return tuple(input.shape) == tuple(other.shape)


def is_signed(input):  # noqa: A002
    """Whether the dtype holds negative numbers."""
    return input.dtype.np.kind in "fi"


def stride(input, dim=None):  # noqa: A002
    """The step in elements between neighbours along each dim (or ``dim``)."""
    size = input.array.itemsize
    s = tuple(st // size for st in input.array.strides)
    return s if dim is None else s[_dim("stride", input, dim)]


def storage_offset(input):  # noqa: A002
    """How many elements into its base's memory this tensor starts."""
    base = input._base
    if base is None:
        return 0
    return (input.data_ptr() - base.data_ptr()) // input.array.itemsize


def get_device(input):  # noqa: A002
    """The CUDA device index, or -1 on the CPU."""
    return -1 if input.device.type == "cpu" else (input.device.index or 0)


def reshape_as(input, other):  # noqa: A002
    """``reshape`` to ``other``'s shape."""
    return reshape(input, *other.shape)


# --- in-place random fills and resizing --------------------------------------------------------------------------
def _fill(self, values):
    with no_grad():
        return self.copy_(Tensor._wrap(move(np.asarray(values).astype(self.array.dtype), self.device)))


def random_(self, from_=0, to=None, *, generator=None):
    """Fill with integers drawn uniformly from ``[from_, to)`` (``random_(to)`` for ``[0, to)``)."""
    if to is None:
        from_, to = 0, from_ if from_ else (2 ** 24 if self.dtype.is_floating_point else np.iinfo(self.dtype.np).max)
    return _fill(self, _generator().integers(from_, to, self.shape))


def exponential_(self, lambd=1.0, *, generator=None):
    """Fill with draws from the exponential distribution of rate ``lambd``."""
    return _fill(self, _generator().exponential(1.0 / lambd, self.shape))


def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    """Fill with draws whose logarithm is N(mean, std**2)."""
    return _fill(self, _generator().lognormal(mean, std, self.shape))


def geometric_(self, p, *, generator=None):
    """Fill with the number of Bernoulli(p) trials up to the first success."""
    return _fill(self, _generator().geometric(p, self.shape))


def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    """Fill with Cauchy draws."""
    return _fill(self, median + sigma * _generator().standard_cauchy(self.shape))


def fill_diagonal_(self, fill_value, wrap=False):
    """Set the main diagonal (of a 2-d, or all-equal-dims, tensor) to ``fill_value``."""
    if self.ndim < 2 or (self.ndim > 2 and len(set(self.shape)) != 1):
        raise ValueError(f"fill_diagonal_: expected a 2-d tensor or one with all dims equal, got shape {self.shape}")
    n = min(self.shape)
    if self.ndim == 2 and wrap and self.shape[0] > self.shape[1] + 1:
        rows = np.arange(self.shape[0])
        rows = rows[rows % (self.shape[1] + 1) != self.shape[1]]
        idx = (rows, (rows - rows // (self.shape[1] + 1)) % self.shape[1])
    else:
        idx = (np.arange(n),) * self.ndim
    self[idx] = fill_value
    return self


def resize_(self, *sizes):
    """Give the tensor a new shape with the same elements first (new elements are zero)."""
    shape = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else tuple(sizes)
    if self._rg:
        raise RuntimeError("resize_: cannot resize a tensor that requires grad")
    n = int(np.prod(shape))
    flat = self.array.reshape(-1)
    new = self._xp.zeros(n, dtype=self.array.dtype)
    new[:min(n, flat.size)] = flat[:min(n, flat.size)]
    self.array = new.reshape(shape)
    self._version += 1
    return self


def resize_as_(self, other):
    """``resize_`` to ``other``'s shape."""
    return resize_(self, other.shape)


def new(self, *args):
    """PyTorch's legacy ``x.new(...)``: an empty tensor of this dtype and device of the given size, or a copy
    of the data given."""
    if len(args) == 1 and not isinstance(args[0], int):
        return Tensor._from(args[0], self.dtype, self.device)
    return Tensor._wrap(self._xp.zeros(tuple(args), dtype=self.array.dtype))


def apply_(self, callable):  # noqa: A002
    """Replace each element with ``callable(element)`` (CPU only, slow: a Python call per element)."""
    if self.device.type != "cpu":
        raise RuntimeError("apply_: only CPU tensors")
    vec = np.vectorize(callable, otypes=[self.array.dtype])
    self.array[...] = vec(self.array)
    self._version += 1
    return self


def map_(self, tensor, callable):  # noqa: A002
    """Replace each element with ``callable(element, other_element)`` (``tensor`` broadcast; CPU only)."""
    vec = np.vectorize(callable, otypes=[self.array.dtype])
    self.array[...] = vec(self.array, np.broadcast_to(tensor.numpy(), self.shape))
    self._version += 1
    return self


def pin_memory(self, device=None):
    """This tensor (there is no page-locked memory on this build's CPU path; PyTorch copies)."""
    return self


def is_pinned(self, device=None):
    """False: minidl does not page-lock memory."""
    return False


FUNCTIONS = ["repeat_interleave", "tile", "unflatten", "tensor_split", "hsplit", "vsplit", "dsplit", "select",
             "ravel", "fliplr", "flipud", "index_add", "index_copy", "index_fill", "index_put", "masked_scatter",
             "scatter_reduce", "cumprod", "cummax", "cummin", "logcumsumexp", "logaddexp", "logaddexp2", "quantile",
             "nanquantile", "mode", "aminmax", "dot", "vdot", "mv", "inner", "dist", "deg2rad", "rad2deg", "sinc",
             "heaviside", "signbit", "copysign", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
             "bitwise_left_shift", "bitwise_right_shift", "gcd", "lcm", "is_nonzero", "is_same_size", "is_signed",
             "multiply", "subtract", "greater", "greater_equal", "less", "less_equal", "not_equal", "positive",
             "fix"]
__all__ = list(FUNCTIONS)

multiply, subtract = (lambda input, other: input * other), (lambda input, other, *, alpha=1: input - alpha * other)
greater, greater_equal = (lambda input, other: input > other), (lambda input, other: input >= other)
less, less_equal = (lambda input, other: input < other), (lambda input, other: input <= other)
not_equal = lambda input, other: input != other  # noqa: E731
positive = lambda input: input  # noqa: E731


def fix(input):  # noqa: A002
    """``trunc``: round towards zero."""
    return input.trunc()


_METHODS_ONLY = {"unfold": unfold, "sum_to_size": sum_to_size, "stride": stride, "storage_offset": storage_offset,
                 "get_device": get_device, "reshape_as": reshape_as, "random_": random_,
                 "exponential_": exponential_, "log_normal_": log_normal_, "geometric_": geometric_,
                 "cauchy_": cauchy_, "fill_diagonal_": fill_diagonal_, "resize_": resize_,
                 "resize_as_": resize_as_, "new": new, "apply_": apply_, "map_": map_, "pin_memory": pin_memory,
                 "is_pinned": is_pinned, "ndimension": lambda self: self.ndim, "nelement": lambda self: self.numel(),
                 "index_add_": None, "index_copy_": None, "index_fill_": None, "index_put_": None,
                 "masked_scatter_": None, "scatter_reduce_": None, "cumprod_": None}


def _inplace_twin(fn, name):
    from ..ops.inplace import _elementwise  # noqa: PLC0415
    return _elementwise(name, fn)


def install():
    """Each function as a Tensor method too, with PyTorch's in-place twins of the index updates."""
    g = globals()
    for name in FUNCTIONS:
        if not hasattr(Tensor, name):
            setattr(Tensor, name, g[name])
    for name, fn in _METHODS_ONLY.items():
        if hasattr(Tensor, name):
            continue
        setattr(Tensor, name, fn if fn is not None else _inplace_twin(g[name[:-1]], name))
