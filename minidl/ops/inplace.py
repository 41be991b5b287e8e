"""PyTorch's in-place tensor methods (``x.relu_()``, ``x.exp_()``, ``x.eq_(y)``, ``x.unsqueeze_(0)``, ...) and the
out-of-place ``setitem`` that records ``t[key] = value`` in a graph.

Each method is its out-of-place op written back into the tensor. Outside a graph that is a plain write (the result
must cast to the tensor's dtype, PyTorch's rule: ``int_tensor.sqrt_()`` raises); inside one, ``Tensor._inplace``
says so and ``Tensor._record_inplace`` records the op so gradients flow as in PyTorch.
"""
from .. import dtypes
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor
from .elementwise import add  # noqa: F401  (Tensor.add_ records through it)
from .extra import _Scatter
from .movement import normalize_index


def setitem(input, key, value):  # noqa: A002
    """A copy of ``input`` with ``value`` written at ``input[key]``; differentiable in both (what
    ``t[key] = value`` records when autograd must see it).

    Example:
        >>> x = md.zeros(3, requires_grad=True)
        >>> y = x * 2
        >>> y[1] = 5.0
        >>> y
        tensor([0., 5., 0.], grad_fn=<_ScatterBackward>)
    """
    key = normalize_index(key, input)
    if isinstance(value, Tensor):
        value = value.to(input.device).astype(input.dtype)
    else:
        value = Tensor._wrap(input._xp.asarray(value, dtype=input.dtype.np))
    return _Scatter.apply(input, value, key, False)


def _write_back(self, name, out):
    """Write an out-of-place result into ``self`` under PyTorch's casting rule."""
    if out.dtype != self.dtype and not dtypes.can_cast(out.dtype, self.dtype):
        raise RuntimeError(f"{name}: result type {out.dtype.name} can't be cast to the tensor's dtype "
                           f"{self.dtype.name} (shape {self.shape}); convert it first, e.g. with .float()")
    if out.shape != self.shape:
        raise RuntimeError(f"{name}: the result's shape {out.shape} does not match the tensor's shape {self.shape}")
    self.array[...] = out.array
    return self


def _elementwise(name, fn):
    """``t.name(*args)``: ``fn(t, *args)`` written into ``t``."""
    def method(self, *args, **kwargs):
        other = next((a for a in args if isinstance(a, Tensor)), None)
        if self._inplace(name, other):
            return self._record_inplace(lambda old: fn(old, *args, **kwargs))
        return _write_back(self, name, fn(self.detach(), *args, **kwargs))
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place ``{name[:-1]}``: the result is written into this tensor, which keeps its dtype."
    return method


def _reshaping(name, fn):
    """``t.name(*args)``: ``t`` becomes the view ``fn(t, *args)`` (same memory, new shape or strides)."""
    def method(self, *args):
        if is_grad_enabled() and self._rg and self._node is None:
            raise RuntimeError(f"{name}: in-place change of a leaf tensor that requires grad (shape {self.shape}); "
                               f"use the out-of-place {name[:-1]}")
        out = fn(self, *args)
        self.array, self._node, self._nr = out.array, out._node, out._nr
        return self
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place ``{name[:-1]}``: this tensor becomes a view of its own memory with the new shape."
    return method


def detach_(self):
    """Cut this tensor from the graph in place: it becomes a leaf that does not require grad."""
    self._node, self._nr, self._rg = None, 0, False
    return self


_ELEMENTWISE = ("abs", "absolute", "neg", "negative", "exp", "exp2", "expm1", "log", "log1p", "log2", "log10",
                "sqrt", "rsqrt", "reciprocal", "sin", "cos", "tan", "sinh", "cosh", "asin", "acos", "atan", "atan2",
                "arctan2", "tanh", "sigmoid", "relu", "sign", "sgn", "erf", "erfc", "erfinv", "square", "pow",
                "float_power", "floor", "ceil", "round", "trunc", "frac", "eq", "ne", "lt", "le", "gt", "ge",
                "logical_not", "logical_and", "logical_or", "logical_xor", "cumsum", "tril", "triu", "divide",
                "true_divide", "lerp", "addcmul", "addcdiv", "fmax", "fmin", "nan_to_num", "hypot", "xlogy", "logit",
                "digamma", "lgamma", "copysign", "clamp_min", "clamp_max", "index_fill", "masked_scatter",
                "index_add", "index_copy", "put", "baddbmm", "addmm", "addmv", "addbmm", "addr", "renorm")
_RESHAPING = ("unsqueeze", "squeeze", "t", "transpose", "swapaxes", "swapdims", "as_strided")


def install():
    """Add every in-place method whose out-of-place op ``Tensor`` has (and that is not defined already)."""
    for base in _ELEMENTWISE:
        fn = getattr(Tensor, base, None)
        if fn is not None and not hasattr(Tensor, base + "_"):
            setattr(Tensor, base + "_", _elementwise(base + "_", fn))
    for base in _RESHAPING:
        fn = getattr(Tensor, base, None)
        if fn is not None and not hasattr(Tensor, base + "_"):
            setattr(Tensor, base + "_", _reshaping(base + "_", fn))
    Tensor.detach_ = detach_
