"""Activation layers: thin modules over ``md.nn.functional``."""
import warnings

from . import functional as F
from .module import Module


class ReLU(Module):
    """``max(x, 0)`` elementwise. ``inplace`` is accepted for PyTorch compatibility; a new tensor is returned.

    Example:
        >>> md.nn.ReLU()(md.tensor([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """``x`` where positive, ``negative_slope * x`` elsewhere.

    Example:
        >>> md.nn.LeakyReLU(0.1)(md.tensor([-1.0, 2.0])).tolist()   # [-0.1, 2.0]
    """

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``.

    Example:
        >>> md.nn.Sigmoid()(md.zeros(1)).item()
        0.5
    """

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """Hyperbolic tangent.

    Example:
        >>> md.nn.Tanh()(md.zeros(1)).item()
        0.0
    """

    def forward(self, x):
        return F.tanh(x)


class GELU(Module):
    """Gaussian error linear unit: exact erf form, or ``approximate="tanh"``.

    Example:
        >>> md.nn.GELU()(md.randn(3))
    """

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


def _softmax_dim(layer, dim, x):
    if dim is not None:
        return dim
    # NOTE: PyTorch's legacy implicit dim, kept for compatibility (and warned about, as PyTorch does)
    warnings.warn(f"{layer}: implicit dim is deprecated; pass dim=", stacklevel=3)
    return 0 if x.ndim in (0, 1, 3) else 1


class Softmax(Module):
    """Softmax along ``dim``.

    Example:
        >>> md.nn.Softmax(dim=1)(md.zeros(2, 4))     # every entry 0.25
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, dim=_softmax_dim("Softmax", self.dim, x))

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Log of the softmax along ``dim`` (computed stably).

    Example:
        >>> md.nn.LogSoftmax(dim=1)(md.zeros(2, 4))  # every entry -log(4)
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.log_softmax(x, dim=_softmax_dim("LogSoftmax", self.dim, x))

    def extra_repr(self):
        return f"dim={self.dim}"
