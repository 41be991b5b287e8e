"""Padding layers as PyTorch's: ``ZeroPad``, ``ConstantPad``, ``ReflectionPad``, ``ReplicationPad`` and
``CircularPad`` in 1-d, 2-d and 3-d, over ``F.pad``.

``padding`` is an int (every side) or a tuple of (left, right[, top, bottom[, front, back]]) amounts.
"""
from . import functional as F
from .module import Module


class _Pad(Module):
    _mode = "constant"
    _dims = 1

    def __init__(self, padding, value=0.0):
        super().__init__()
        n = 2 * self._dims
        self.padding = (padding,) * n if isinstance(padding, int) else tuple(padding)
        if len(self.padding) != n:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {n} ints, got {padding!r}")
        self.value = value

    def forward(self, input):  # noqa: A002
        if input.ndim not in (self._dims + 1, self._dims + 2):
            raise ValueError(f"{type(self).__name__}: expected a {self._dims + 1}-d or {self._dims + 2}-d input, "
                             f"got shape {input.shape}")
        if self._mode == "constant":
            return F.pad(input, self.padding, "constant", self.value)
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}" if self._mode == "constant" else f"{self.padding}"


def _pad_class(name, mode, dims, doc):
    return type(name, (_Pad,), {"_mode": mode, "_dims": dims, "__doc__": doc, "__module__": __name__})


ConstantPad1d = _pad_class("ConstantPad1d", "constant", 1, "Pad the last dim with ``value``.\n\n"
                           "    Example:\n        >>> md.nn.ConstantPad1d(2, 3.5)(md.zeros(1, 2, 3)).shape\n"
                           "        (1, 2, 7)")
ConstantPad2d = _pad_class("ConstantPad2d", "constant", 2, "Pad the last two dims with ``value``.")
ConstantPad3d = _pad_class("ConstantPad3d", "constant", 3, "Pad the last three dims with ``value``.")
ReflectionPad1d = _pad_class("ReflectionPad1d", "reflect", 1, "Pad the last dim with its mirror image (edge not "
                             "repeated).")
ReflectionPad2d = _pad_class("ReflectionPad2d", "reflect", 2, "Pad the last two dims with their mirror image.\n\n"
                             "    Example:\n        >>> md.nn.ReflectionPad2d(1)(md.zeros(1, 3, 4, 4)).shape\n"
                             "        (1, 3, 6, 6)")
ReflectionPad3d = _pad_class("ReflectionPad3d", "reflect", 3, "Pad the last three dims with their mirror image.")
ReplicationPad1d = _pad_class("ReplicationPad1d", "replicate", 1, "Pad the last dim by repeating its edge.")
ReplicationPad2d = _pad_class("ReplicationPad2d", "replicate", 2, "Pad the last two dims by repeating their edges.")
ReplicationPad3d = _pad_class("ReplicationPad3d", "replicate", 3, "Pad the last three dims by repeating their edges.")
CircularPad1d = _pad_class("CircularPad1d", "circular", 1, "Pad the last dim by wrapping around.")
CircularPad2d = _pad_class("CircularPad2d", "circular", 2, "Pad the last two dims by wrapping around.")
CircularPad3d = _pad_class("CircularPad3d", "circular", 3, "Pad the last three dims by wrapping around.")


class _ZeroPad(_Pad):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


ZeroPad1d = type("ZeroPad1d", (_ZeroPad,), {"_dims": 1, "__doc__": "Pad the last dim with zeros.",
                                            "__module__": __name__})
_ZERO2D_DOC = """Pad the last two dims with zeros.

    Example:
        >>> md.nn.ZeroPad2d((1, 0, 2, 0))(md.ones(1, 1, 2, 2)).shape
        (1, 1, 4, 3)
    """
ZeroPad2d = type("ZeroPad2d", (_ZeroPad,), {"_dims": 2, "__doc__": _ZERO2D_DOC, "__module__": __name__})
ZeroPad3d = type("ZeroPad3d", (_ZeroPad,), {"_dims": 3, "__doc__": "Pad the last three dims with zeros.",
                                            "__module__": __name__})

__all__ = ["ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d",
           "CircularPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d"]
