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
