"""``Parameter``: a Tensor that a Module registers as trainable."""
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires grad (unless told otherwise) and that ``Module`` registers on assignment.

    Shares memory with the tensor (or array) it is built from, as PyTorch's does.

    Example:
        >>> w = md.nn.Parameter(md.zeros(2, 3))
        >>> w.requires_grad
        True
    """

    __slots__ = ()

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = Tensor._wrap(__import__("numpy").empty(0, dtype="float32"))
        if not isinstance(data, Tensor):
            data = Tensor._from(data)
        p = cls._wrap(data.array)._share_memory_of(data)
        p._base = None                  # a Parameter is a leaf of its own, as in PyTorch
        p.requires_grad = requires_grad
        return p

    def __init__(self, data=None, requires_grad=True):     # all the work happens in __new__
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        return Parameter, (Tensor._wrap(self.array), self.requires_grad)


def empty_parameter(*shape, device=None, dtype=None):
    """An uninitialized Parameter (float32 unless ``dtype``), for a layer's ``reset_parameters`` to fill."""
    from ..creation import empty  # noqa: PLC0415 -- creation imports the ops; keep this module light on load
    return Parameter(empty(*shape, dtype=dtype, device=device))
