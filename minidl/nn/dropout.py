"""``Dropout``."""
from . import functional as F
from .module import Module


class Dropout(Module):
    """In training, zero each element with probability ``p`` and scale the rest by 1/(1-p); identity in eval.

    ``inplace`` is accepted for PyTorch compatibility (and shown in repr); a new tensor is always returned.

    Example:
        >>> drop = md.nn.Dropout(0.5)
        >>> drop.eval()(md.ones(4)).tolist()
        [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class _DropoutNd(Dropout):
    _fn = None

    def __init__(self, p=0.5, inplace=False):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        super().__init__(p, inplace)

    def forward(self, x):
        return type(self)._fn(x, self.p, self.training)


class Dropout1d(_DropoutNd):
    """In training, zero whole channels of (N, C, L) or (C, L) with probability ``p`` (scaling the rest by
    1/(1-p)); identity in eval.

    Example:
        >>> md.nn.Dropout1d(0.5).eval()(md.ones(2, 3, 4)).shape
        (2, 3, 4)
    """

    _fn = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """In training, zero whole channels of (N, C, H, W) with probability ``p`` (scaling the rest by 1/(1-p));
    identity in eval. Other ranks follow PyTorch: 3-D is read as (N, C, L), 2-D as (N, C) (see ``F.dropout2d``).

    Example:
        >>> md.nn.Dropout2d(0.25).eval()(md.ones(2, 3, 4, 4)).shape
        (2, 3, 4, 4)
    """

    _fn = staticmethod(F.dropout2d)
