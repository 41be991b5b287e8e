"""``md.keras.ops``: Keras 3's backend-agnostic operations, each a thin mapping onto a minidl op.

Custom layers written for Keras 3 compute with ``keras.ops``; here every op runs on minidl Tensors and autograd, so
gradients flow through them when a model trains. Arguments follow Keras (``axis=``, ``keepdims=``, dtype names such
as ``"float32"``); inputs may be Tensors, ``md.keras.Variable``s, NumPy arrays or Python numbers.

Example:
    >>> from minidl.keras import ops
    >>> ops.sum(ops.square([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    tensor([ 5., 25.])
"""
import builtins
import math

import numpy as np

from .. import dtypes
from ..nn import functional as F
from ..tensor import Tensor
from . import backend
from .variables import Variable

_DTYPES = {d.name: d for d in (dtypes.float16, dtypes.float32, dtypes.float64, dtypes.int32, dtypes.int64,
                               dtypes.uint8, dtypes.bool_)}
_DTYPES["bool"] = dtypes.bool_


def _md():
    import minidl  # noqa: PLC0415 -- md.keras is imported while minidl initialises
    return minidl


def _dtype(dtype):
    if dtype is None:
        return None
    name = dtype.name if isinstance(dtype, dtypes.DType) else getattr(dtype, "__name__", dtype)
    name = np.dtype(name).name if not isinstance(name, str) else name
    if name not in _DTYPES:
        raise ValueError(f"keras.ops: unknown dtype {dtype!r} (known: {', '.join(sorted(_DTYPES))})")
    return _DTYPES[name]


def convert_to_tensor(x, dtype=None, sparse=None):
    """``x`` as a minidl Tensor (a Variable gives its tensor; Python floats become floatx, ints int32, as Keras).

    Example:
        >>> ops.convert_to_tensor([1.0, 2.0]).dtype   # minidl.float32
    """
    if isinstance(x, Variable):
        x = x.value
    if not isinstance(x, Tensor):
        a = np.asarray(x)
        if not isinstance(x, (np.ndarray, np.generic)):         # Python numbers and lists
            a = a.astype(backend.floatx() if a.dtype.kind == "f" else "int32" if a.dtype.kind in "iu" else a.dtype)
        x = Tensor._wrap(np.array(a, order="C"))
    want = _dtype(dtype)
    return x if want is None or x.dtype == want else x.to(want)


_t = convert_to_tensor


def convert_to_numpy(x):
    """A NumPy copy of ``x``.

    Example:
        >>> ops.convert_to_numpy(ops.ones(2))   # array([1., 1.], dtype=float32)
    """
    if isinstance(x, Variable):
        return x.numpy()
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _pair(x1, x2):
    """Two operands as Tensors, a Python number kept as a number (so it takes the tensor's dtype, as Keras)."""
    a = x1 if isinstance(x1, (int, float)) and not isinstance(x1, bool) else _t(x1)
    b = x2 if isinstance(x2, (int, float)) and not isinstance(x2, bool) else _t(x2)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = _t(a)
    return a, b


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


# --- arithmetic -----------------------------------------------------------------------------------------------------
def add(x1, x2):
    """Elementwise ``x1 + x2`` with broadcasting.

    Example:
        >>> ops.add([1.0, 2.0], 1.0)   # [2., 3.]
    """
    a, b = _pair(x1, x2)
    return a + b


def subtract(x1, x2):
    """Elementwise ``x1 - x2`` with broadcasting.

    Example:
        >>> ops.subtract([3.0, 2.0], [1.0, 1.0])   # [2., 1.]
    """
    a, b = _pair(x1, x2)
    return a - b


def multiply(x1, x2):
    """Elementwise ``x1 * x2`` with broadcasting.

    Example:
        >>> ops.multiply([1.0, 2.0], 3.0)   # [3., 6.]
    """
    a, b = _pair(x1, x2)
    return a * b


def divide(x1, x2):
    """Elementwise true division ``x1 / x2``.

    Example:
        >>> ops.divide([1.0, 3.0], 2.0)   # [0.5, 1.5]
    """
    a, b = _pair(x1, x2)
    return a / b


def power(x1, x2):
    """Elementwise ``x1 ** x2``.

    Example:
        >>> ops.power([2.0, 3.0], 2)   # [4., 9.]
    """
    a, b = _pair(x1, x2)
    return a ** b


def negative(x):
    """Elementwise ``-x``.

    Example:
        >>> ops.negative([1.0, -2.0])   # [-1., 2.]
    """
    return -_t(x)


def matmul(x1, x2):
    """Matrix product with NumPy's broadcasting rules (``x1 @ x2``).

    Example:
        >>> ops.matmul(np.ones((2, 3)), np.ones((3, 4))).shape   # (2, 4)
    """
    return _md().matmul(_t(x1), _t(x2))


def dot(x1, x2):
    """``np.dot``: a product with a scalar, an inner/matrix product for 1-D and 2-D operands, and for N-D operands a
    sum over the last axis of ``x1`` and the second-to-last of ``x2``.

    Example:
        >>> ops.dot([1.0, 2.0], [3.0, 4.0])   # 11.
    """
    a, b = _t(x1), _t(x2)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim <= 2 and b.ndim <= 2:
        return _md().matmul(a, b)
    return _md().tensordot(a, b, dims=([a.ndim - 1], [builtins.max(b.ndim - 2, 0)]))


def maximum(x1, x2):
    """Elementwise maximum of two tensors (broadcast).

    Example:
        >>> ops.maximum([1.0, 5.0], 3.0)   # [3., 5.]
    """
    a, b = _t(x1), _t(x2)
    return _md().maximum(a, b.to(a.dtype) if b.dtype != a.dtype else b)


def minimum(x1, x2):
    """Elementwise minimum of two tensors (broadcast).

    Example:
        >>> ops.minimum([1.0, 5.0], 3.0)   # [1., 3.]
    """
    a, b = _t(x1), _t(x2)
    return _md().minimum(a, b.to(a.dtype) if b.dtype != a.dtype else b)


def clip(x, x_min, x_max):
    """``x`` limited to ``[x_min, x_max]``.

    Example:
        >>> ops.clip([-2.0, 0.5, 2.0], -1.0, 1.0)   # [-1., 0.5, 1.]
    """
    return _md().clamp(_t(x), x_min, x_max)


def where(condition, x1=None, x2=None):
    """``x1`` where ``condition`` holds, else ``x2``; with only ``condition``, the indices where it holds.

    Example:
        >>> ops.where(np.array([True, False]), 1.0, 0.0)   # [1., 0.]
    """
    cond = _t(condition)
    if x1 is None and x2 is None:
        return tuple(Tensor._wrap(i) for i in np.nonzero(convert_to_numpy(cond)))
    a, b = _t(x1), _t(x2)
    if b.dtype != a.dtype:
        b = b.to(a.dtype)
    return _md().where(cond.to(dtypes.bool_) if cond.dtype != dtypes.bool_ else cond, a, b)


# --- elementwise ----------------------------------------------------------------------------------------------------
def sqrt(x):
    """Elementwise square root.

    Example:
        >>> ops.sqrt([4.0, 9.0])   # [2., 3.]
    """
    return _md().sqrt(_t(x))


def square(x):
    """Elementwise ``x * x``.

    Example:
        >>> ops.square([2.0, -3.0])   # [4., 9.]
    """
    x = _t(x)
    return x * x


def exp(x):
    """Elementwise ``e ** x``.

    Example:
        >>> ops.exp([0.0])   # [1.]
    """
    return _md().exp(_t(x))


def log(x):
    """Elementwise natural logarithm.

    Example:
        >>> ops.log([1.0])   # [0.]
    """
    return _md().log(_t(x))


def abs(x):  # noqa: A001 -- Keras' name
    """Elementwise absolute value (``ops.absolute`` too).

    Example:
        >>> ops.abs([-1.0, 2.0])   # [1., 2.]
    """
    return _md().abs(_t(x))


absolute = abs


def sign(x):
    """Elementwise sign: -1, 0 or 1.

    Example:
        >>> ops.sign([-3.0, 0.0, 2.0])   # [-1., 0., 1.]
    """
    return _md().sign(_t(x))


def erf(x):
    """The error function, elementwise.

    Example:
        >>> ops.erf([0.0])   # [0.]
    """
    return _md().erf(_t(x))


def tanh(x):
    """Elementwise hyperbolic tangent.

    Example:
        >>> ops.tanh([0.0])   # [0.]
    """
    return _md().tanh(_t(x))


def sigmoid(x):
    """Elementwise ``1 / (1 + exp(-x))``.

    Example:
        >>> ops.sigmoid([0.0])   # [0.5]
    """
    return _md().sigmoid(_t(x))


def relu(x):
    """Elementwise ``max(x, 0)``.

    Example:
        >>> ops.relu([-1.0, 2.0])   # [0., 2.]
    """
    return _md().relu(_t(x))


def gelu(x, approximate=True):
    """GELU; Keras' default is the tanh approximation (``approximate=True``).

    Example:
        >>> ops.gelu([0.0, 1.0])   # [0., 0.8412]
    """
    return F.gelu(_t(x), approximate="tanh" if approximate else "none")


def silu(x):
    """SiLU (swish): ``x * sigmoid(x)`` (``ops.swish`` too).

    Example:
        >>> ops.silu([0.0])   # [0.]
    """
    return F.silu(_t(x))


swish = silu


def softmax(x, axis=-1):
    """Softmax along ``axis``.

    Example:
        >>> ops.softmax([[1.0, 1.0]])   # [[0.5, 0.5]]
    """
    return F.softmax(_t(x), dim=axis)


def log_softmax(x, axis=-1):
    """Log of the softmax along ``axis``, computed stably.

    Example:
        >>> ops.log_softmax([[0.0, 0.0]])   # [[-0.693, -0.693]]
    """
    return F.log_softmax(_t(x), dim=axis)


# --- reductions -----------------------------------------------------------------------------------------------------
def sum(x, axis=None, keepdims=False):  # noqa: A001 -- Keras' name
    """Sum over ``axis`` (an int, a tuple, or None for all), keeping reduced axes with ``keepdims``.

    Example:
        >>> ops.sum([[1.0, 2.0], [3.0, 4.0]], axis=1)   # [3., 7.]
    """
    return _md().sum(_t(x), dim=_axis(axis), keepdim=keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis``.

    Example:
        >>> ops.mean([[1.0, 2.0], [3.0, 4.0]], axis=0)   # [2., 3.]
    """
    return _md().mean(_t(x), dim=_axis(axis), keepdim=keepdims)


def var(x, axis=None, keepdims=False):
    """Population variance (divides by N, as Keras and NumPy).

    Example:
        >>> ops.var([1.0, 3.0])   # 1.
    """
    return _md().var(_t(x), dim=_axis(axis), correction=0, keepdim=keepdims)


def std(x, axis=None, keepdims=False):
    """Population standard deviation (divides by N) over ``axis``.

    Example:
        >>> ops.std([1.0, 3.0])   # 1.
    """
    return _md().std(_t(x), dim=_axis(axis), correction=0, keepdim=keepdims)


def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001 -- Keras' name
    """Largest value over ``axis`` (``initial`` is a lower floor, as NumPy's).

    Example:
        >>> ops.max([[1.0, 5.0], [3.0, 4.0]], axis=0)   # [3., 5.]
    """
    out = _md().amax(_t(x), dim=() if axis is None else _axis(axis), keepdim=keepdims)
    return out if initial is None else _md().clamp(out, min=initial)


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001 -- Keras' name
    """Smallest value over ``axis`` (``initial`` is an upper ceiling, as NumPy's).

    Example:
        >>> ops.min([[1.0, 5.0], [3.0, 4.0]], axis=1)   # [1., 3.]
    """
    out = _md().amin(_t(x), dim=() if axis is None else _axis(axis), keepdim=keepdims)
    return out if initial is None else _md().clamp(out, max=initial)


def prod(x, axis=None, keepdims=False, dtype=None):
    """Product over ``axis`` (all values when None).

    Example:
        >>> ops.prod([2.0, 3.0])   # 6.
    """
    x = _t(x, dtype)
    if axis is None:
        return _md().prod(x.reshape(-1))
    return _md().prod(x, dim=axis, keepdim=keepdims)


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, computed stably.

    Example:
        >>> ops.logsumexp([0.0, 0.0])   # 0.693
    """
    x = _t(x)
    return _md().logsumexp(x, dim=tuple(range(x.ndim)) if axis is None else _axis(axis), keepdim=keepdims)


def argmax(x, axis=None, keepdims=False):
    """Index of the largest value along ``axis`` (of the flattened tensor when None).

    Example:
        >>> ops.argmax([[1.0, 5.0], [3.0, 4.0]], axis=1)   # [1, 1]
    """
    return _md().argmax(_t(x), dim=axis, keepdim=keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index of the smallest value along ``axis`` (of the flattened tensor when None).

    Example:
        >>> ops.argmin([3.0, 1.0, 2.0])   # 1
    """
    return _md().argmin(_t(x), dim=axis, keepdim=keepdims)


def cumsum(x, axis=None, dtype=None):
    """Running sum along ``axis`` (over the flattened tensor when ``axis`` is None).

    Example:
        >>> ops.cumsum([1.0, 2.0, 3.0])   # [1., 3., 6.]
    """
    x = _t(x, dtype)
    return _md().cumsum(x.reshape(-1) if axis is None else x, 0 if axis is None else axis)


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 -- Keras' name
    """Vector norms (``ord`` None/2, 1, inf, -inf or any number) over an axis, or the Frobenius norm (``ord`` None or
    ``"fro"``) over two axes or the whole tensor, as ``np.linalg.norm``.

    Example:
        >>> ops.norm([3.0, 4.0])   # 5.
    """
    x = _t(x)
    if x.dtype.is_floating_point is False:
        x = x.to(backend.floatx())
    axes = tuple(range(x.ndim)) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
    if len(axes) == 2 or axis is None:
        if ord not in (None, "fro") and not (axis is None and x.ndim == 1):
            raise ValueError(f"keras.ops.norm: ord={ord!r} over two axes is not supported by md.keras (use 'fro')")
        if ord in (None, "fro", 2):
            return _md().sqrt(_md().sum(x * x, dim=axes, keepdim=keepdims))
    if ord is None or ord == 2:
        return _md().sqrt(_md().sum(x * x, dim=axes, keepdim=keepdims))
    if ord == math.inf:
        return _md().amax(_md().abs(x), dim=axes, keepdim=keepdims)
    if ord == -math.inf:
        return _md().amin(_md().abs(x), dim=axes, keepdim=keepdims)
    if ord == 0:
        return _md().sum((x != 0).to(x.dtype), dim=axes, keepdim=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"keras.ops.norm: ord={ord!r} is a matrix norm; pass two axes")
    return _md().sum(_md().abs(x) ** ord, dim=axes, keepdim=keepdims) ** (1.0 / ord)


# --- shapes ---------------------------------------------------------------------------------------------------------
def shape(x):
    """The shape as a tuple of ints.

    Example:
        >>> ops.shape(np.zeros((2, 3)))   # (2, 3)
    """
    return tuple(int(d) for d in (x.shape if hasattr(x, "shape") else np.shape(x)))


def reshape(x, newshape):
    """``x`` with shape ``newshape`` (one size may be -1).

    Example:
        >>> ops.reshape(np.arange(6.0), (2, -1)).shape   # (2, 3)
    """
    newshape = (newshape,) if isinstance(newshape, int) else tuple(newshape)
    return _md().reshape(_t(x), *newshape)


def transpose(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None).

    Example:
        >>> ops.transpose(np.zeros((2, 3))).shape   # (3, 2)
    """
    x = _t(x)
    return _md().permute(x, *(reversed(range(x.ndim)) if axes is None else axes))


def expand_dims(x, axis):
    """``x`` with a new axis of size 1 at ``axis``.

    Example:
        >>> ops.expand_dims(np.zeros((2, 3)), -1).shape   # (2, 3, 1)
    """
    return _md().unsqueeze(_t(x), axis)


def squeeze(x, axis=None):
    """``x`` without its size-1 axes (only ``axis``, which must have size 1, when given).

    Example:
        >>> ops.squeeze(np.zeros((1, 3, 1)), axis=0).shape   # (3, 1)
    """
    x = _t(x)
    if axis is None:
        return _md().squeeze(x)
    for a in sorted((axis,) if isinstance(axis, int) else axis, key=lambda a: a % x.ndim, reverse=True):
        if x.shape[a] != 1:
            raise ValueError(f"keras.ops.squeeze: axis {a} of shape {tuple(x.shape)} has size {x.shape[a]}, not 1")
        x = _md().squeeze(x, a % x.ndim)
    return x


def concatenate(xs, axis=0):
    """Join tensors along an existing ``axis``.

    Example:
        >>> ops.concatenate([np.zeros((2, 1)), np.ones((2, 2))], axis=1).shape   # (2, 3)
    """
    return _md().cat([_t(x) for x in xs], dim=axis)


def stack(x, axis=0):
    """Join tensors along a new ``axis``.

    Example:
        >>> ops.stack([np.zeros(3), np.ones(3)], axis=1).shape   # (3, 2)
    """
    return _md().stack([_t(t) for t in x], dim=axis)


def cast(x, dtype):
    """``x`` converted to ``dtype`` (a name such as ``"int32"`` or an ``md`` dtype).

    Example:
        >>> ops.cast([1.7, 2.2], "int32")   # [1, 2]
    """
    return _t(x).to(_dtype(dtype))


def flatten(x):
    """``x`` as one axis.

    Example:
        >>> ops.flatten(np.zeros((2, 3))).shape   # (6,)
    """
    return _t(x).reshape(-1)


# --- creation -------------------------------------------------------------------------------------------------------
def _shape_arg(shape):
    return (shape,) if isinstance(shape, int) else tuple(shape)


def zeros(shape, dtype=None):
    """A tensor of zeros of ``shape`` (floatx unless ``dtype``).

    Example:
        >>> ops.zeros((2, 3)).shape   # (2, 3)
    """
    return _md().zeros(*_shape_arg(shape), dtype=_dtype(dtype or backend.floatx()))


def ones(shape, dtype=None):
    """A tensor of ones of ``shape`` (floatx unless ``dtype``).

    Example:
        >>> ops.ones(3)   # [1., 1., 1.]
    """
    return _md().ones(*_shape_arg(shape), dtype=_dtype(dtype or backend.floatx()))


def full(shape, fill_value, dtype=None):
    """A tensor of ``shape`` filled with ``fill_value``.

    Example:
        >>> ops.full((2,), 7.0)   # [7., 7.]
    """
    return _md().full(_shape_arg(shape), fill_value, dtype=_dtype(dtype or backend.floatx()))


def zeros_like(x, dtype=None):
    """Zeros of ``x``'s shape (and dtype unless ``dtype``).

    Example:
        >>> ops.zeros_like(np.ones((2, 2), "float32"))
    """
    x = _t(x)
    return _md().zeros(*x.shape, dtype=_dtype(dtype) or x.dtype)


def ones_like(x, dtype=None):
    """Ones of ``x``'s shape (and dtype unless ``dtype``).

    Example:
        >>> ops.ones_like(np.zeros(3, "float32"))   # [1., 1., 1.]
    """
    x = _t(x)
    return _md().ones(*x.shape, dtype=_dtype(dtype) or x.dtype)


def arange(start, stop=None, step=1, dtype=None):
    """``start, start + step, ...`` below ``stop`` (ints give int32 and floats floatx unless ``dtype``, as Keras).

    Example:
        >>> ops.arange(0, 6, 2)   # [0, 2, 4]
    """
    values = (start, stop, step)
    if dtype is None:
        dtype = backend.floatx() if builtins.any(isinstance(v, float) for v in values) else "int32"
    return _md().arange(start, stop, step, dtype=_dtype(dtype))


def one_hot(x, num_classes, axis=-1, dtype=None):
    """One-hot encode integer ``x`` into a new axis ``axis`` (float32 unless ``dtype``, as Keras); negative or
    out-of-range indices give all-zero rows.

    Example:
        >>> ops.one_hot([0, 2], 3)   # [[1., 0., 0.], [0., 0., 1.]]
    """
    idx = convert_to_numpy(x).astype(np.int64)
    out = (idx[..., None] == np.arange(num_classes)).astype(_dtype(dtype or backend.floatx()).name)
    if axis != -1:
        out = np.moveaxis(out, -1, axis)
    return Tensor._wrap(np.array(out, order="C"))


# --- comparisons, logic, more math, indexing and losses (Keras 3 names) ----------------------------------------------
def _compare(name, keras_name, doc, example):
    def op(x1, x2):
        return getattr(_md(), name)(_t(x1), _t(x2))
    op.__name__ = op.__qualname__ = keras_name
    op.__doc__ = f"""Elementwise ``{doc}`` as a bool tensor (not differentiable).

    Example:
        >>> {example}
    """
    return op


equal = _compare("eq", "equal", "x1 == x2", "ops.equal([1, 2], 2)   # [False, True]")
not_equal = _compare("ne", "not_equal", "x1 != x2", "ops.not_equal([1, 2], 2)   # [True, False]")
greater = _compare("gt", "greater", "x1 > x2", "ops.greater([1, 3], 2)   # [False, True]")
greater_equal = _compare("ge", "greater_equal", "x1 >= x2", "ops.greater_equal([1, 2], 2)   # [False, True]")
less = _compare("lt", "less", "x1 < x2", "ops.less([1, 3], 2)   # [True, False]")
less_equal = _compare("le", "less_equal", "x1 <= x2", "ops.less_equal([2, 3], 2)   # [True, False]")


def _bool(x):
    x = _t(x)
    return x if x.dtype == dtypes.bool_ else x.to(dtypes.bool_)


def logical_and(x1, x2):
    """Elementwise ``x1 and x2`` (nonzero is true).

    Example:
        >>> ops.logical_and([True, True], [True, False])   # [True, False]
    """
    return _md().logical_and(_bool(x1), _bool(x2))


def logical_or(x1, x2):
    """Elementwise ``x1 or x2`` (nonzero is true).

    Example:
        >>> ops.logical_or([False, True], [False, False])   # [False, True]
    """
    return _md().logical_or(_bool(x1), _bool(x2))


def logical_not(x):
    """Elementwise ``not x`` (nonzero is true).

    Example:
        >>> ops.logical_not([True, False])   # [False, True]
    """
    return _md().logical_not(_bool(x))


def isnan(x):
    """Where ``x`` is NaN.

    Example:
        >>> ops.isnan([1.0, float("nan")])   # [False, True]
    """
    return _md().isnan(_t(x))


def any(x, axis=None, keepdims=False):  # noqa: A001 -- Keras' name
    """Whether any value is true over ``axis`` (all axes when None).

    Example:
        >>> ops.any([[0, 1], [0, 0]], axis=1)   # [True, False]
    """
    x = _bool(x)
    if axis is None:
        out = _md().any(x.reshape(-1))
        return out.reshape((1,) * x.ndim) if keepdims else out
    return _md().any(x, dim=axis, keepdim=keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001 -- Keras' name
    """Whether every value is true over ``axis`` (all axes when None).

    Example:
        >>> ops.all([[1, 1], [0, 1]], axis=1)   # [True, False]
    """
    x = _bool(x)
    if axis is None:
        out = _md().all(x.reshape(-1))
        return out.reshape((1,) * x.ndim) if keepdims else out
    return _md().all(x, dim=axis, keepdim=keepdims)


def sin(x):
    """Elementwise sine.

    Example:
        >>> ops.sin([0.0])   # [0.]
    """
    return _md().sin(_t(x))


def cos(x):
    """Elementwise cosine.

    Example:
        >>> ops.cos([0.0])   # [1.]
    """
    return _md().cos(_t(x))


def floor(x):
    """Elementwise floor.

    Example:
        >>> ops.floor([1.5, -1.5])   # [1., -2.]
    """
    return _md().floor(_t(x))


def ceil(x):
    """Elementwise ceiling.

    Example:
        >>> ops.ceil([1.5, -1.5])   # [2., -1.]
    """
    return _md().ceil(_t(x))


def round(x, decimals=0):  # noqa: A001 -- Keras' name
    """Round half to even, to ``decimals`` places, as NumPy.

    Example:
        >>> ops.round([0.5, 1.5, 2.567], decimals=0)   # [0., 2., 3.]
    """
    return _md().round(_t(x), decimals=decimals)


def rsqrt(x):
    """Elementwise ``1 / sqrt(x)``.

    Example:
        >>> ops.rsqrt([4.0])   # [0.5]
    """
    return _md().rsqrt(_t(x))


def reciprocal(x):
    """Elementwise ``1 / x``.

    Example:
        >>> ops.reciprocal([4.0])   # [0.25]
    """
    return _md().reciprocal(_t(x))


def softplus(x):
    """Elementwise ``log(1 + exp(x))``.

    Example:
        >>> ops.softplus([0.0])   # [0.6931]
    """
    return F.softplus(_t(x))


def leaky_relu(x, negative_slope=0.2):
    """``x`` where positive, ``negative_slope * x`` elsewhere (Keras' default slope is 0.2).

    Example:
        >>> ops.leaky_relu([-1.0, 2.0])   # [-0.2, 2.]
    """
    return F.leaky_relu(_t(x), negative_slope)


def elu(x, alpha=1.0):
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere.

    Example:
        >>> ops.elu([-1.0, 2.0])   # [-0.6321, 2.]
    """
    return F.elu(_t(x), alpha)


def selu(x):
    """Scaled ELU with the self-normalising constants.

    Example:
        >>> ops.selu([0.0])   # [0.]
    """
    return F.selu(_t(x))


def softsign(x):
    """Elementwise ``x / (1 + |x|)``.

    Example:
        >>> ops.softsign([1.0])   # [0.5]
    """
    return F.softsign(_t(x))


def relu6(x):
    """Elementwise ``min(max(x, 0), 6)``.

    Example:
        >>> ops.relu6([-1.0, 7.0])   # [0., 6.]
    """
    return F.relu6(_t(x))


def hard_sigmoid(x):
    """Elementwise ``relu6(x + 3) / 6``.

    Example:
        >>> ops.hard_sigmoid([0.0])   # [0.5]
    """
    return F.hardsigmoid(_t(x))


def tile(x, repeats):
    """``x`` repeated ``repeats`` times along each axis (``np.tile``).

    Example:
        >>> ops.tile([1, 2], 2)   # [1, 2, 1, 2]
    """
    return _md().tile(_t(x), (repeats,) if isinstance(repeats, int) else tuple(repeats))


def repeat(x, repeats, axis=None):
    """Each entry repeated ``repeats`` times along ``axis`` (of the flattened tensor when None), as ``np.repeat``.

    Example:
        >>> ops.repeat([1, 2], 2)   # [1, 1, 2, 2]
    """
    x = _t(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    return _md().repeat_interleave(x, repeats, dim=axis)


def take(x, indices, axis=None):
    """Entries at ``indices`` along ``axis`` (of the flattened tensor when None), as ``np.take``; differentiable
    in ``x``.

    Example:
        >>> ops.take([[1, 2], [3, 4]], [1, 0], axis=0)   # [[3, 4], [1, 2]]
    """
    x = _t(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = axis % x.ndim
    idx = convert_to_numpy(indices).astype(np.int64)
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    out = _md().index_select(x, axis, Tensor._wrap(np.array(idx.reshape(-1), order="C")))
    return out.reshape(*x.shape[:axis], *idx.shape, *x.shape[axis + 1:])


def take_along_axis(x, indices, axis=None):
    """Entries picked by ``indices`` along ``axis``, as ``np.take_along_axis``.

    Example:
        >>> ops.take_along_axis([[1, 2], [3, 4]], np.array([[1], [0]]), axis=1)   # [[2], [3]]
    """
    idx = _t(np.asarray(convert_to_numpy(indices), dtype=np.int64))
    return _md().take_along_dim(_t(x), idx, dim=axis)


def einsum(subscripts, *operands):
    """Einstein summation, as ``np.einsum``.

    Example:
        >>> ops.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((3, 4))).shape   # (2, 4)
    """
    return _md().einsum(subscripts, *[_t(o) for o in operands])


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape``.

    Example:
        >>> ops.broadcast_to([1.0, 2.0], (3, 2)).shape   # (3, 2)
    """
    return _md().broadcast_to(_t(x), tuple(shape))


def split(x, indices_or_sections, axis=0):
    """``np.split``: an int cuts ``axis`` into that many equal parts, a list gives the indices to cut at.

    Example:
        >>> [p.shape for p in ops.split(np.zeros((6, 2)), [1, 4])]   # [(1, 2), (3, 2), (2, 2)]
    """
    x = _t(x)
    size = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0 or size % indices_or_sections:
            raise ValueError(f"keras.ops.split: axis {axis} of size {size} cannot be split into "
                             f"{indices_or_sections} equal sections")
        sizes = [size // indices_or_sections] * indices_or_sections
    else:
        cuts = [0, *(builtins.min(builtins.max(int(i), 0), size) for i in indices_or_sections), size]
        sizes = [builtins.max(b - a, 0) for a, b in zip(cuts, cuts[1:])]
    return list(_md().split(x, sizes, dim=axis))


def sort(x, axis=-1):
    """``x`` sorted ascending along ``axis``.

    Example:
        >>> ops.sort([3.0, 1.0, 2.0])   # [1., 2., 3.]
    """
    out = _md().sort(_t(x), dim=axis)
    return out[0] if isinstance(out, tuple) else out.values


def argsort(x, axis=-1):
    """The indices that sort ``x`` along ``axis``.

    Example:
        >>> ops.argsort([3.0, 1.0, 2.0])   # [1, 2, 0]
    """
    return _md().argsort(_t(x), dim=axis)


def top_k(x, k, sorted=True):  # noqa: A002 -- Keras' name
    """The ``k`` largest values along the last axis and their indices.

    Example:
        >>> values, indices = ops.top_k([1.0, 3.0, 2.0], 2)   # [3., 2.], [1, 2]
    """
    out = _md().topk(_t(x), k, dim=-1, largest=True, sorted=sorted)
    return tuple(out)


_EPSILON = 1e-7


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary cross-entropy (not reduced); probabilities are clipped to ``[1e-7, 1 - 1e-7]`` as Keras.

    Example:
        >>> ops.binary_crossentropy([1.0, 0.0], [0.9, 0.2])   # [0.1054, 0.2231]
    """
    t, o = _t(target), _t(output)
    t = t if t.dtype == o.dtype else t.to(o.dtype)
    if from_logits:
        return _md().relu(o) - o * t + _md().log(1 + _md().exp(-_md().abs(o)))
    o = _md().clamp(o, _EPSILON, 1 - _EPSILON)
    return -(t * _md().log(o) + (1 - t) * _md().log(1 - o))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Cross-entropy of one-hot (or soft) ``target`` against ``output`` along ``axis`` (not reduced over the
    batch); probabilities are renormalised and clipped as Keras.

    Example:
        >>> ops.categorical_crossentropy([[0.0, 1.0]], [[0.2, 0.8]])   # [0.2231]
    """
    t, o = _t(target), _t(output)
    t = t if t.dtype == o.dtype else t.to(o.dtype)
    if from_logits:
        return -_md().sum(t * F.log_softmax(o, dim=axis), dim=axis)
    o = o / _md().sum(o, dim=axis, keepdim=True)
    return -_md().sum(t * _md().log(_md().clamp(o, _EPSILON, 1 - _EPSILON)), dim=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Cross-entropy of integer class ``target`` against ``output`` along ``axis`` (not reduced).

    Example:
        >>> ops.sparse_categorical_crossentropy([1], [[0.2, 0.8]])   # [0.2231]
    """
    o = _t(output)
    labels = convert_to_numpy(target).astype(np.int64)
    if labels.ndim == o.ndim and labels.shape[axis] == 1:
        labels = np.squeeze(labels, axis)
    onehot = one_hot(labels, o.shape[axis], axis=axis, dtype=o.dtype.name)
    return categorical_crossentropy(onehot, o, from_logits=from_logits, axis=axis)


__all__ = ["abs", "absolute", "add", "arange", "argmax", "argmin", "cast", "clip", "concatenate",
           "convert_to_numpy", "convert_to_tensor", "cumsum", "divide", "dot", "erf", "exp", "expand_dims", "flatten",
           "full", "gelu", "log", "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum",
           "multiply", "negative", "norm", "one_hot", "ones", "ones_like", "power", "prod", "relu", "reshape",
           "shape", "sigmoid", "sign", "silu", "softmax", "sqrt", "square", "squeeze", "stack", "std", "subtract",
           "sum", "swish", "tanh", "transpose", "var", "where", "zeros", "zeros_like",
           "all", "any", "argsort", "binary_crossentropy", "broadcast_to", "categorical_crossentropy", "ceil", "cos",
           "einsum", "elu", "equal", "floor", "greater", "greater_equal", "hard_sigmoid", "isnan", "leaky_relu",
           "less", "less_equal", "logical_and", "logical_not", "logical_or", "not_equal", "reciprocal", "relu6",
           "repeat", "round", "rsqrt", "selu", "sin", "softplus", "softsign", "sort", "sparse_categorical_crossentropy",
           "split", "take", "take_along_axis", "tile", "top_k"]

# --- issue 15 campaign: more of keras.ops (ops_more) ---
from . import ops_more as _more  # noqa: E402

for _name in _more.__all__:
    globals()[_name] = getattr(_more, _name)
__all__ += _more.__all__
