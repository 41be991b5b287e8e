"""``md.autograd.Variable``: PyTorch's deprecated wrapper, kept so programs written before 0.4 run."""
import warnings

__all__ = ["Variable"]


class _VariableMeta(type):
    # Since PyTorch 0.4 every tensor is a Variable: isinstance answers for any Tensor.
    def __instancecheck__(cls, obj):
        from ..tensor import Tensor
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
        from ..creation import empty
        from ..tensor import Tensor
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
                          UserWarning, stacklevel=2)
        if data is None:
            return empty(0, requires_grad=requires_grad)
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        return data.detach().requires_grad_(requires_grad)
