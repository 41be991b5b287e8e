"""More of Keras 3's ``keras.ops``: element-wise math (``log1p``, ``expm1``, ``log2``, ``log10``, ``sinh``,
``cosh``, ``arcsin``, ``arccos``, ``arctan``, ``arctan2``, ``hypot``, ``floor_divide``, ``mod``), tests
(``isfinite``, ``isinf``, ``logical_xor``) and array ops (``flip``, ``roll``, ``moveaxis``, ``triu``, ``tril``,
``eye``, ``identity``, ``linspace``, ``amax``, ``amin``, ``full_like``, ``count_nonzero``), each mapped onto the
minidl op of the same meaning, with Keras' argument names."""
from .ops import _md, _t, backend, convert_to_tensor


def _float(x):
    x = _t(x)
    return x if x.dtype.is_floating_point else x.to(_md().dtypes.float32 if backend.floatx() == "float32"
                                                     else getattr(_md().dtypes, backend.floatx()))


def _unary(name, md_name, doc):
    def op(x):
        return getattr(_md(), md_name)(_float(x))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"""{doc}

    Example:
        >>> md.keras.ops.{name}([0.5, 0.25])
    """
    return op


log1p = _unary("log1p", "log1p", "``log(1 + x)``, accurate near 0.")
expm1 = _unary("expm1", "expm1", "``exp(x) - 1``, accurate near 0.")
log2 = _unary("log2", "log2", "Base-2 logarithm.")
log10 = _unary("log10", "log10", "Base-10 logarithm.")
sinh = _unary("sinh", "sinh", "Hyperbolic sine.")
cosh = _unary("cosh", "cosh", "Hyperbolic cosine.")
arcsin = _unary("arcsin", "arcsin", "Inverse sine.")
arccos = _unary("arccos", "arccos", "Inverse cosine.")
arctan = _unary("arctan", "arctan", "Inverse tangent.")


def _pair(x1, x2):
    a, b = _t(x1), _t(x2)
    return a, b


def arctan2(x1, x2):
    """The angle of the point ``(x2, x1)``: ``atan2(x1, x2)`` element-wise.

    Example:
        >>> md.keras.ops.arctan2([1.0], [1.0])
    """
    return _md().atan2(*(_float(v) for v in (x1, x2)))


def hypot(x1, x2):
    """``sqrt(x1 ** 2 + x2 ** 2)`` element-wise.

    Example:
        >>> md.keras.ops.hypot([3.0], [4.0])
    """
    return _md().hypot(*(_float(v) for v in (x1, x2)))


def floor_divide(x1, x2):
    """``floor(x1 / x2)`` element-wise.

    Example:
        >>> md.keras.ops.floor_divide([7, -7], [2, 2])
    """
    return _md().floor_divide(*_pair(x1, x2))


def mod(x1, x2):
    """The remainder of ``x1 / x2`` with the sign of ``x2`` (Python's and NumPy's ``%``).

    Example:
        >>> md.keras.ops.mod([7, -7], [3, 3])
    """
    return _md().remainder(*_pair(x1, x2))


def isfinite(x):
    """Element-wise test for finite values (not inf, not nan).

    Example:
        >>> md.keras.ops.isfinite([1.0, float("inf")])
    """
    return _md().isfinite(_t(x))


def isinf(x):
    """Element-wise test for positive or negative infinity.

    Example:
        >>> md.keras.ops.isinf([1.0, float("-inf")])
    """
    return _md().isinf(_t(x))


def logical_xor(x1, x2):
    """Element-wise exclusive or of the truth values.

    Example:
        >>> md.keras.ops.logical_xor([True, False], [True, True])
    """
    a, b = _pair(x1, x2)
    return _md().logical_xor(a.to(_md().dtypes.bool_), b.to(_md().dtypes.bool_))


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)


def flip(x, axis=None):
    """Reverse the order of the elements along ``axis`` (all axes when ``None``).

    Example:
        >>> md.keras.ops.flip([[1, 2], [3, 4]], axis=1)
    """
    x = _t(x)
    return _md().flip(x, *_axes(axis, x.ndim))


def roll(x, shift, axis=None):
    """Shift the elements along ``axis`` by ``shift`` (of the flattened array when ``axis`` is ``None``).

    Example:
        >>> md.keras.ops.roll([1, 2, 3, 4], 1)
    """
    x = _t(x)
    if axis is None:
        return _md().roll(x.reshape(-1), shift, 0).reshape(tuple(x.shape))
    return _md().roll(x, shift, axis)


def moveaxis(x, source, destination):
    """Move the axis (or axes) ``source`` to ``destination``.

    Example:
        >>> md.keras.ops.moveaxis(md.zeros(2, 3, 4), 0, -1).shape
        (3, 4, 2)
    """
    return _md().moveaxis(_t(x), source, destination)


def triu(x, k=0):
    """The upper triangle of the last two axes (elements below the ``k``-th diagonal set to 0).

    Example:
        >>> md.keras.ops.triu([[1, 2], [3, 4]])
    """
    return _md().triu(_t(x), k)


def tril(x, k=0):
    """The lower triangle of the last two axes (elements above the ``k``-th diagonal set to 0).

    Example:
        >>> md.keras.ops.tril([[1, 2], [3, 4]])
    """
    return _md().tril(_t(x), k)


def eye(N, M=None, k=0, dtype=None):
    """A ``N x M`` matrix with ones on the ``k``-th diagonal (floatx by default).

    Example:
        >>> md.keras.ops.eye(2)
    """
    import numpy as np  # noqa: PLC0415
    return convert_to_tensor(np.eye(N, M, k, dtype=dtype or backend.floatx()))


def identity(n, dtype=None):
    """The ``n x n`` identity matrix (floatx by default).

    Example:
        >>> md.keras.ops.identity(2)
    """
    return eye(n, dtype=dtype)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced numbers from ``start`` to ``stop`` (``stop`` excluded when ``endpoint=False``);
    with ``retstep=True`` also the step.

    Example:
        >>> md.keras.ops.linspace(0.0, 1.0, 5)
    """
    import numpy as np  # noqa: PLC0415
    values, step = np.linspace(np.asarray(start), np.asarray(stop), num, endpoint=endpoint, retstep=True, axis=axis)
    out = convert_to_tensor(values.astype(dtype or backend.floatx()))
    return (out, step) if retstep else out


def amax(x, axis=None, keepdims=False):
    """The maximum along ``axis`` (all axes when ``None``).

    Example:
        >>> md.keras.ops.amax([[1, 5], [3, 2]], axis=0)
    """
    x = _t(x)
    return _md().amax(x, _axes(axis, x.ndim), keepdims)


def amin(x, axis=None, keepdims=False):
    """The minimum along ``axis`` (all axes when ``None``).

    Example:
        >>> md.keras.ops.amin([[1, 5], [3, 2]], axis=0)
    """
    x = _t(x)
    return _md().amin(x, _axes(axis, x.ndim), keepdims)


def full_like(x, fill_value, dtype=None):
    """An array shaped like ``x`` filled with ``fill_value`` (``x``'s dtype unless ``dtype`` is given).

    Example:
        >>> md.keras.ops.full_like(md.zeros(2), 7.0)
    """
    x = _t(x)
    out = _md().full_like(x, fill_value)
    return out if dtype is None else convert_to_tensor(out, dtype)


def count_nonzero(x, axis=None):
    """The number of non-zero elements along ``axis`` (all axes when ``None``).

    Example:
        >>> md.keras.ops.count_nonzero([[0, 1], [2, 0]])
    """
    x = _t(x)
    counts = (x != 0).to(_md().dtypes.int64)
    for a in sorted((a % max(x.ndim, 1) for a in _axes(axis, x.ndim)), reverse=True):
        counts = counts.sum(a)
    return counts


__all__ = ["amax", "amin", "arccos", "arcsin", "arctan", "arctan2", "cosh", "count_nonzero", "expm1", "eye", "flip",
           "floor_divide", "full_like", "hypot", "identity", "isfinite", "isinf", "linspace", "log10", "log1p", "log2",
           "logical_xor", "mod", "moveaxis", "roll", "sinh", "tril", "triu"]
