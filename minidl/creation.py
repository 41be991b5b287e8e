"""Functions that make tensors: from data, filled, random, ranges."""
import numpy as np

from . import dtypes
from .device import Device, move
from .random import generator
from .tensor import Tensor


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if not all(isinstance(s, (int, np.integer)) and s >= 0 for s in size):
        raise ValueError(f"size must be non-negative integers, got {size}")
    return tuple(int(s) for s in size)


def _make(arr, device, requires_grad):
    if device is not None and Device(device).type != "cpu":
        arr = move(arr, device)
    return Tensor._wrap(arr).requires_grad_(requires_grad)


def _float(dtype):
    return (dtypes.default_float if dtype is None else dtypes.to_dtype(dtype)).np


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (nested lists, scalars, arrays, tensors).

    Python floats become float32, Python ints int64; NumPy arrays keep their dtype.

    Example:
        >>> md.tensor([[1., 2.], [3., 4.]], requires_grad=True).shape
        (2, 2)
    """
    return Tensor._from(data, dtype, device, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor``, but returns ``data`` itself when it is already a matching Tensor."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtypes.to_dtype(dtype)) \
            and (device is None or data.device == Device(device)):
        return data
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A CPU tensor that *shares memory* with the NumPy ``array`` (no copy): writes show in both.

    Example:
        >>> a = np.zeros(3); t = md.from_numpy(a); a[0] = 1.0; t[0].item()
        1.0
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    dtypes.to_dtype(array.dtype)
    return Tensor._wrap(array)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    """Tensor of zeros: ``md.zeros(2, 3)`` or ``md.zeros((2, 3))``."""
    return _make(np.zeros(_shape(size), _float(dtype)), device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    """Tensor of ones: ``md.ones(2, 3)`` or ``md.ones((2, 3))``."""
    return _make(np.ones(_shape(size), _float(dtype)), device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    """Uninitialized tensor (its values are whatever the memory held)."""
    return _make(np.empty(_shape(size), _float(dtype)), device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """Tensor of ``size`` filled with ``fill_value`` (dtype inferred from the value as PyTorch does)."""
    if dtype is None:
        dtype = dtypes.bool_ if isinstance(fill_value, bool) else \
            dtypes.int64 if isinstance(fill_value, int) else dtypes.default_float
    return _make(np.full(_shape((size,)), fill_value,
                         dtypes.to_dtype(dtype).np), device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1) from minidl's seeded generator (``md.manual_seed``)."""
    return _make(generator().random(_shape(size)).astype(_float(dtype)), device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal samples from minidl's seeded generator (``md.manual_seed``)."""
    return _make(generator().standard_normal(_shape(size)).astype(_float(dtype)), device, requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None):
    """Integers uniform in [low, high) (``randint(high, size=...)`` means low = 0).

    >>> randint(10, (3,)).shape   # PyTorch's randint(high, size) overload
    (3,)
    """
    if isinstance(high, (tuple, list)):     # randint(high, size): the second positional is the size
        low, high, size = 0, low, high
    low, high = (0, low) if high is None else (low, high)
    dt = dtypes.int64 if dtype is None else dtypes.to_dtype(dtype)
    return _make(generator().integers(low, high, size=_shape((size,)))
                 .astype(dt.np), device, False)


def randperm(n, device=None):
    """A random permutation of ``0..n-1`` (int64)."""
    return _make(generator().permutation(int(n)).astype(np.int64), device, False)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """``md.arange(10)``, ``md.arange(1, 2, 0.25)``: int64 for integer arguments, else float32."""
    start, end = (0, start) if end is None else (start, end)
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = dtypes.int64 if ints else dtypes.default_float
    return _make(np.arange(start, end, step).astype(dtypes.to_dtype(dtype).np), device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    return _make(np.linspace(start, end, steps).astype(_float(dtype)), device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """Identity matrix of shape (n, m or n)."""
    return _make(np.eye(n, m, dtype=_float(dtype)), device, requires_grad)


def _like(fn, t, dtype, device, requires_grad, *args):
    return fn(*args, t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return _like(zeros, t, dtype, device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return _like(ones, t, dtype, device, requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False):
    return _like(rand, t, dtype, device, requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False):
    return _like(randn, t, dtype, device, requires_grad)


__all__ = ["tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "rand", "randn", "randint",
           "randperm", "arange", "linspace", "eye", "zeros_like", "ones_like", "full_like", "rand_like",
           "randn_like"]


# --- issue 14: programs (vis): PyTorch's generator= keyword on the random creation functions ---
def _taking_generator(fn):
    import functools  # noqa: PLC0415

    from .random import drawing_from  # noqa: PLC0415

    @functools.wraps(fn)
    def with_generator(*args, generator=None, **kwargs):
        with drawing_from(generator):
            return fn(*args, **kwargs)
    with_generator.__doc__ = (fn.__doc__ or "") + "\n\n    ``generator=``: a ``md.Generator`` to draw from instead."
    return with_generator


rand, randn, randint, randperm = (_taking_generator(f) for f in (rand, randn, randint, randperm))
# --- issue 14, programs (basic): PyTorch's size= keyword (``md.empty(size=(3, 4))``) -------------------------------
def _size_keyword(fn):
    """``fn(*size)`` also taking the size as the keyword ``size=``, as PyTorch's factories do."""
    def factory(*size, **kwargs):
        if "size" in kwargs:
            if size:
                raise TypeError(f"{fn.__name__}: got the size both positionally {size} and as size=")
            size = kwargs.pop("size")
            size = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
        return fn(*size, **kwargs)
    factory.__name__, factory.__doc__ = fn.__name__, fn.__doc__
    return factory


zeros, ones, empty, rand, randn = (_size_keyword(f) for f in (zeros, ones, empty, rand, randn))
