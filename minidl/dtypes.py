"""minidl's dtypes: thin named wrappers over NumPy dtypes (CuPy uses the same ones), and PyTorch's type promotion.

Promotion follows PyTorch, not NumPy (SPEC section 10): a float32 tensor times an int64 tensor stays float32, and
a Python scalar or a 0-d tensor only changes the result's dtype when it is of a higher category
(bool < integer < floating) than the dimensioned tensors. See ``result_type``.
"""
import builtins

import numpy as np


class DType:
    """A tensor element type, e.g. ``md.float32``; compares equal to its name and NumPy dtype.

    Example:
        >>> md.float32.is_floating_point, md.int64.itemsize, md.float is md.float32
        (True, 8, True)
    """

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_category", "_legacy")

    is_complex = False              # minidl has no complex dtypes

    def __init__(self, name, np_dtype, legacy):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "fi"
        self.itemsize = self.np.itemsize
        self._category = {"b": 0, "u": 1, "i": 1, "f": 2}[self.np.kind]
        self._legacy = legacy       # PyTorch's legacy tensor type name: "FloatTensor" (see Tensor.type)

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

    def __reduce__(self):           # pickles (and deep-copies) as the one shared instance
        return (to_dtype, (self.name,))


float16 = DType("float16", np.float16, "HalfTensor")
float32 = DType("float32", np.float32, "FloatTensor")
float64 = DType("float64", np.float64, "DoubleTensor")
int64 = DType("int64", np.int64, "LongTensor")
int32 = DType("int32", np.int32, "IntTensor")
int16 = DType("int16", np.int16, "ShortTensor")
int8 = DType("int8", np.int8, "CharTensor")
uint8 = DType("uint8", np.uint8, "ByteTensor")
bool_ = DType("bool", np.bool_, "BoolTensor")

_ALL = (float16, float32, float64, int64, int32, int16, int8, uint8, bool_)
_BY_NP = {d.np: d for d in _ALL}
_BY_LEGACY = {d._legacy: d for d in _ALL}
default_float = float32             # read at call time (``dtypes.default_float``): set_default_dtype changes it


def of_array(a):
    """The DType of an array (the hot path of ``Tensor.dtype``: one dict lookup)."""
    d = _BY_NP.get(a.dtype)
    return d if d is not None else to_dtype(a.dtype)


def to_dtype(spec):
    """Turn a DType, a name ("float32"), a NumPy dtype or a Python type into a DType."""
    if isinstance(spec, DType):
        return spec
    if spec is builtins.float:      # as PyTorch: the Python type float means float64
        spec = np.float64
    elif spec is builtins.int:
        spec = np.int64
    elif spec is builtins.bool:
        spec = np.bool_
    elif isinstance(spec, str) and spec.startswith(("torch.", "minidl.")):
        spec = spec.split(".", 1)[1]            # "torch.float32" as programs print it
    try:
        key = np.dtype(spec)
    except TypeError:
        raise TypeError(f"dtype: {spec!r} is not a dtype") from None
    if key not in _BY_NP:
        raise TypeError(f"dtype: {key} is not supported (use one of {', '.join(d.name for d in _ALL)}; "
                        "minidl has no complex or bfloat16 dtypes)")
    return _BY_NP[key]


# --- the default floating dtype ---------------------------------------------------------------
def get_default_dtype():
    """The dtype of tensors built from Python floats, and of integer tensors' true division (float32 at start).

    Example:
        >>> md.get_default_dtype()
        minidl.float32
    """
    return default_float


def set_default_dtype(d):
    """Make ``d`` (a floating dtype) the default for float data, ``md.zeros`` and friends, and promotion.

    Example:
        >>> md.set_default_dtype(md.float64); md.tensor([1.5]).dtype
        minidl.float64
    """
    global default_float
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating dtypes can be the default, got {d!r}")
    default_float = d


def is_floating_point(t):
    """Whether tensor ``t`` has a floating dtype (float16, float32 or float64).

    Example:
        >>> md.is_floating_point(md.ones(2)), md.is_floating_point(md.arange(2))
        (True, False)
    """
    dt = getattr(t, "dtype", None)
    if not isinstance(dt, DType):
        raise TypeError(f"is_floating_point: expected a Tensor, got {type(t).__name__}")
    return dt.is_floating_point


# --- PyTorch's type promotion -----------------------------------------------------------------
def promote_types(d1, d2):
    """The smallest dtype both ``d1`` and ``d2`` convert to without leaving their category (PyTorch's table).

    Unlike NumPy, an integer with a floating dtype gives that floating dtype (int64 with float16 is float16).

    Example:
        >>> md.promote_types(md.int64, md.float32), md.promote_types(md.uint8, md.int8)
        (minidl.float32, minidl.int16)
    """
    d1, d2 = to_dtype(d1), to_dtype(d2)
    if d1 is d2:
        return d1
    if d1._category != d2._category:
        return d1 if d1._category > d2._category else d2     # bool < integer < floating: the higher one
    return _BY_NP[np.promote_types(d1.np, d2.np)]         # same category: NumPy's table agrees with PyTorch's


def _combine(higher, lower):
    """PyTorch's rule between two priority groups (dimensioned > 0-d > scalar): the higher-priority group's
    dtype wins unless the lower group has a higher category; None stands for an empty group."""
    if higher is None or (lower is not None and lower._category > higher._category):
        return lower
    return higher


def _scalar_dtype(value):
    """The dtype a Python (or NumPy) scalar stands for in promotion, or None for a non-scalar."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return bool_
    if isinstance(value, (builtins.int, np.integer)):
        return int64
    if isinstance(value, (builtins.float, np.floating)):
        return default_float
    if isinstance(value, (complex, np.complexfloating)):
        raise TypeError(f"result_type: complex scalars ({value!r}) are not supported (minidl has no complex dtypes)")
    return None


def result_type(*operands):
    """The dtype PyTorch's arithmetic gives for these operands (Tensors, NumPy arrays, Python scalars).

    Within one category (bool < integer < floating) a dimensioned tensor beats a 0-d tensor, which beats a Python
    scalar; an operand of a higher category always decides, a Python float giving the default float dtype.

    Example:
        >>> md.result_type(md.ones(2), md.arange(2)), md.result_type(md.arange(2), 2.5)
        (minidl.float32, minidl.float32)
        >>> md.result_type(md.tensor([1, 2], dtype=md.int32), md.tensor(5))
        minidl.int32
    """
    if not operands:
        raise TypeError("result_type: expected at least one operand")
    groups = [None, None, None]       # dimensioned tensors, 0-d tensors, scalars
    for x in operands:
        d = _scalar_dtype(x)
        if d is not None:
            g = 2
        elif hasattr(x, "dtype") and hasattr(x, "ndim"):
            d, g = to_dtype(x.dtype), (0 if x.ndim else 1)
        else:
            raise TypeError(f"result_type: expected Tensors or numbers, got {type(x).__name__}")
        groups[g] = d if groups[g] is None else promote_types(groups[g], d)
    return _combine(groups[0], _combine(groups[1], groups[2]))


def can_cast(from_, to):
    """Whether PyTorch's in-place ops may store a ``from_`` result in a ``to`` tensor (never to a lower category).

    Example:
        >>> md.can_cast(md.float64, md.float16), md.can_cast(md.float32, md.int64)
        (True, False)
    """
    return to_dtype(from_)._category <= to_dtype(to)._category


def inplace_dtype(op, target, other, true_division=False):
    """The dtype an in-place op computes in (``target op= other``), refusing one ``target`` cannot hold, as PyTorch
    does: ``int_tensor += 1.5`` raises, ``float16_tensor += float64_tensor`` rounds."""
    rt = result_type(target, other)
    if true_division and not rt.is_floating_point:
        rt = default_float
    if not can_cast(rt, target.dtype):
        raise RuntimeError(f"{op}: result type {rt.name} can't be cast to the desired output type "
                           f"{target.dtype.name} (an in-place op keeps the tensor's dtype, shape {target.shape}); "
                           f"convert it first, e.g. t = t.to({rt!r})")
    return rt


# PyTorch dtype names minidl does not have, for ``md.<name>``'s error (module ``__getattr__``)
UNSUPPORTED = {name: "minidl has no complex dtypes" for name in
               ("cfloat", "cdouble", "chalf", "complex32", "complex64", "complex128")}
UNSUPPORTED.update(bfloat16="minidl has no bfloat16 (NumPy lacks it); use float16 or float32",
                   uint16="minidl's only unsigned dtype is uint8", uint32="minidl's only unsigned dtype is uint8",
                   uint64="minidl's only unsigned dtype is uint8")


# --- dtype limits (torch.finfo / torch.iinfo) ---------------------------------------------------
class finfo:  # noqa: N801 -- PyTorch's name
    """Limits of a floating dtype: ``bits eps max min tiny smallest_normal resolution``.

    Example:
        >>> md.finfo(md.float32).eps
        1.1920928955078125e-07
    """

    def __init__(self, dtype=None):
        d = default_float if dtype is None else to_dtype(dtype)
        if not d.is_floating_point:
            raise TypeError(f"finfo: {d!r} is not a floating dtype; use md.iinfo")
        fi = np.finfo(d.np)
        self.dtype, self.bits = d.name, fi.bits
        self.eps, self.max, self.min = builtins.float(fi.eps), builtins.float(fi.max), builtins.float(fi.min)
        self.tiny = self.smallest_normal = builtins.float(fi.smallest_normal)
        self.resolution = builtins.float(fi.resolution)

    def __repr__(self):
        return f"finfo(resolution={self.resolution}, min={self.min}, max={self.max}, eps={self.eps}, " \
               f"smallest_normal={self.smallest_normal}, tiny={self.tiny}, dtype={self.dtype})"


class iinfo:  # noqa: N801 -- PyTorch's name
    """Limits of an integer (or bool) dtype: ``bits max min``.

    Example:
        >>> md.iinfo(md.uint8).max
        255
    """

    def __init__(self, dtype):
        d = to_dtype(dtype)
        if d.is_floating_point:
            raise TypeError(f"iinfo: {d!r} is not an integer dtype; use md.finfo")
        if d is bool_:
            self.bits, self.min, self.max = 8, 0, 1
        else:
            ii = np.iinfo(d.np)
            self.bits, self.min, self.max = ii.bits, builtins.int(ii.min), builtins.int(ii.max)
        self.dtype = d.name

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


# --- PyTorch's legacy tensor type names (Tensor.type) -----------------------------------------
def type_name(dtype, on_cuda=False):
    """``Tensor.type()``'s answer: PyTorch's legacy name with minidl's prefix, e.g. ``"minidl.FloatTensor"``."""
    return f"minidl.{'cuda.' if on_cuda else ''}{dtype._legacy}"


def parse_type_name(name):
    """(dtype, wants_cuda) from ``"torch.FloatTensor"``, ``"minidl.cuda.LongTensor"`` or ``"FloatTensor"``."""
    parts = name.split(".")
    prefix, legacy = parts[:-1], parts[-1]
    if prefix and prefix[0] in ("torch", "minidl"):
        prefix = prefix[1:]
    if legacy not in _BY_LEGACY or prefix not in ([], ["cuda"]):
        raise ValueError(f"type: invalid type {name!r} (expected a name like 'torch.FloatTensor' or "
                         f"'minidl.cuda.LongTensor', one of {', '.join(sorted(_BY_LEGACY))})")
    return _BY_LEGACY[legacy], prefix == ["cuda"]
