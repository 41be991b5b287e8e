"""PyTorch's pre-1.0 spellings, kept so old programs run: ``autograd.Variable`` and the
``add``/``sub(Number alpha, Tensor other)`` overloads (each with PyTorch's deprecation warning).

Outside the core (ARCHITECTURE B5.12): ``install()`` attaches them when minidl is imported.
"""
import functools
import warnings

import numpy as np

from ..tensor import Tensor

__all__ = ["Variable"]


class _VariableMeta(type):
    # Since PyTorch 0.4 every tensor is a Variable: isinstance answers for any Tensor.
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableMeta):
    """``Variable(data, requires_grad=False)``: a tensor sharing ``data``'s memory, detached from its graph.

    As in PyTorch since 0.4 there is no separate Variable type: the call returns a Tensor (a new leaf,
    ``requires_grad`` as asked) and ``isinstance(t, Variable)`` is True for every tensor. ``volatile``
    is accepted with PyTorch's warning and has no effect (use ``md.no_grad()``).

    Example:
        >>> from minidl.autograd import Variable
        >>> v = Variable(md.ones(2), requires_grad=True)
        >>> v.requires_grad, v.is_leaf, isinstance(v, Variable)
        (True, True, True)
    """

    def __new__(cls, data=None, requires_grad=False, volatile=False):
        from ..creation import empty  # noqa: PLC0415
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
                          UserWarning, stacklevel=2)
        if data is None:
            return empty(0, requires_grad=requires_grad)
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        return data.detach().requires_grad_(requires_grad)


def _alpha_first_overload(fn, name):
    """Accept ``fn(x, alpha, other)`` (a number, then a tensor), as PyTorch still does with a deprecation warning:
    pre-1.0 tutorials write ``p.data.add_(-lr, p.grad.data)``."""
    @functools.wraps(fn)
    def wrapper(x, *args, **kwargs):
        if len(args) == 2 and "alpha" not in kwargs and isinstance(args[0], (int, float, np.number)) \
                and isinstance(args[1], Tensor):
            warnings.warn(f"This overload of {name} is deprecated: {name}(Number alpha, Tensor other); use "
                          f"{name}(Tensor other, *, Number alpha=1)", UserWarning, stacklevel=2)
            return fn(x, args[1], alpha=args[0])
        return fn(x, *args, **kwargs)
    return wrapper


def install(package):
    """``package.autograd.Variable``, and the old ``add``/``sub`` overloads on ``package`` and on Tensor."""
    package.autograd.Variable = Variable
    package.autograd.__all__.append("Variable")
    for name in ("add", "sub"):
        setattr(package, name, _alpha_first_overload(getattr(package, name), name))
    for name in ("add", "sub", "add_", "sub_"):
        setattr(Tensor, name, _alpha_first_overload(getattr(Tensor, name), name))
