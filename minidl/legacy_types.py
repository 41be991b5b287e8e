"""PyTorch's legacy tensor types (``md.FloatTensor``, ``md.LongTensor``, ...) as old programs use them.

Each is a constructor and an ``isinstance`` test, not a Tensor subclass: ``md.LongTensor([1, 2])`` builds an int64
tensor from data, ``md.FloatTensor(2, 3)`` one of that shape (filled with zeros, where PyTorch leaves memory
uninitialized), ``isinstance(t, md.FloatTensor)`` asks for a float32 CPU tensor, and ``t.type(md.FloatTensor)``
converts.
"""
from . import dtypes
from .tensor import Tensor

__all__ = ["BoolTensor", "ByteTensor", "CharTensor", "DoubleTensor", "FloatTensor", "HalfTensor", "IntTensor",
           "LongTensor", "ShortTensor"]


class LegacyType(type):
    """The metaclass: calling the type builds a tensor of its dtype; ``isinstance`` checks the dtype."""

    def __call__(cls, *args, device=None):
        from .creation import zeros  # noqa: PLC0415 -- creation imports the ops, which import this package
        if len(args) == 1 and not isinstance(args[0], int) and type(args[0]).__name__ != "Size":
            return Tensor._from(args[0], cls.dtype, device)        # from data (a copy, as PyTorch)
        shape = tuple(args[0]) if len(args) == 1 and not isinstance(args[0], int) else args
        if not all(isinstance(n, int) and n >= 0 for n in shape):
            raise TypeError(f"{cls.__name__}: expected data or non-negative sizes, got {args!r}")
        return zeros(*shape, dtype=cls.dtype, device=device) if shape else zeros(0, dtype=cls.dtype, device=device)

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype and obj.device.type == "cpu"

    def __repr__(cls):
        return f"<class 'minidl.{cls.__name__}'>"


def _legacy(dtype):
    return LegacyType(dtype._legacy, (), {"dtype": dtype, "__doc__": f"A {dtype.name} tensor type, e.g. "
                                          f"``md.{dtype._legacy}([1, 2])`` or ``t.type(md.{dtype._legacy})``."})


FloatTensor = _legacy(dtypes.float32)
DoubleTensor = _legacy(dtypes.float64)
HalfTensor = _legacy(dtypes.float16)
LongTensor = _legacy(dtypes.int64)
IntTensor = _legacy(dtypes.int32)
ShortTensor = _legacy(dtypes.int16)
CharTensor = _legacy(dtypes.int8)
ByteTensor = _legacy(dtypes.uint8)
BoolTensor = _legacy(dtypes.bool_)
