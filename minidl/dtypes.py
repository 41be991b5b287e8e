"""minidl's dtypes: thin named wrappers over NumPy dtypes (CuPy uses the same ones)."""
import numpy as np


class DType:
    """A tensor element type, e.g. ``md.float32``; compares equal to its name and NumPy dtype."""

    __slots__ = ("name", "np", "is_floating_point")

    def __init__(self, name, np_dtype):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"

    def __repr__(self):
        return f"minidl.{self.name}"

    def __eq__(self, other):
        if isinstance(other, DType):
            return self.np == other.np
        try:
            return self.np == np.dtype(other)
        except TypeError:
            return NotImplemented

    def __hash__(self):
        return hash(self.np)


float16 = DType("float16", np.float16)
float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
int64 = DType("int64", np.int64)
int32 = DType("int32", np.int32)
uint8 = DType("uint8", np.uint8)
bool_ = DType("bool", np.bool_)

_BY_NP = {d.np: d for d in (float16, float32, float64, int64, int32, uint8, bool_)}
default_float = float32


def of_array(a):
    """The DType of an array (the hot path of ``Tensor.dtype``: one dict lookup)."""
    d = _BY_NP.get(a.dtype)
    return d if d is not None else to_dtype(a.dtype)


def to_dtype(spec):
    """Turn a DType, a name ("float32"), a NumPy dtype or a Python type into a DType."""
    if isinstance(spec, DType):
        return spec
    if spec is float:           # as PyTorch: the Python type float means float64
        spec = np.float64
    elif spec is int:
        spec = np.int64
    elif spec is bool:
        spec = np.bool_
    try:
        key = np.dtype(spec)
    except TypeError:
        raise TypeError(f"dtype: {spec!r} is not a dtype") from None
    if key not in _BY_NP:
        raise TypeError(f"dtype: {key} is not supported (use one of {', '.join(d.name for d in _BY_NP.values())})")
    return _BY_NP[key]
