"""Activation layers: thin modules over ``md.nn.functional``."""
import warnings

from ..autograd.grad_mode import no_grad
from . import functional as F
from .module import Module
from .parameter import empty_parameter


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


# --- issue 14 --------------------------------------------------------------------------------------------------
def _inplace_repr(inplace):
    return "inplace=True" if inplace else ""


class ELU(Module):
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere. ``inplace`` is accepted; a new tensor is returned.

    Example:
        >>> md.nn.ELU()(md.tensor([-1.0, 2.0]))      # [-0.632, 2.0]
    """

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class _Pointwise(Module):
    """A parameter-free activation with only PyTorch's ``inplace`` flag (accepted; a new tensor is returned)."""

    _fn = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return type(self)._fn(x)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class SELU(_Pointwise):
    """Scaled ELU with the self-normalizing constants.

    Example:
        >>> md.nn.SELU()(md.tensor([1.0]))           # [1.0507]
    """

    _fn = staticmethod(F.selu)


class SiLU(_Pointwise):
    """``x * sigmoid(x)``.

    Example:
        >>> md.nn.SiLU()(md.zeros(2)).tolist()
        [0.0, 0.0]
    """

    _fn = staticmethod(F.silu)


class Mish(_Pointwise):
    """``x * tanh(softplus(x))``.

    Example:
        >>> md.nn.Mish()(md.zeros(2)).tolist()
        [0.0, 0.0]
    """

    _fn = staticmethod(F.mish)


class Hardsigmoid(_Pointwise):
    """0 below -3, 1 above 3, ``x / 6 + 1 / 2`` between.

    Example:
        >>> md.nn.Hardsigmoid()(md.zeros(1)).item()
        0.5
    """

    _fn = staticmethod(F.hardsigmoid)


class Hardswish(_Pointwise):
    """``x * hardsigmoid(x)``.

    Example:
        >>> md.nn.Hardswish()(md.tensor([4.0])).item()
        4.0
    """

    _fn = staticmethod(F.hardswish)


class Hardtanh(Module):
    """Clamp to [min_val, max_val] (``min_value``/``max_value`` are PyTorch's deprecated spellings).

    Example:
        >>> md.nn.Hardtanh()(md.tensor([-2.0, 0.5, 3.0])).tolist()
        [-1.0, 0.5, 1.0]
    """

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False, min_value=None, max_value=None):
        super().__init__()
        min_val = min_val if min_value is None else min_value
        max_val = max_val if max_value is None else max_value
        if min_val > max_val:
            raise ValueError(f"{type(self).__name__}: min_val ({min_val}) must not exceed max_val ({max_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """``min(max(x, 0), 6)``.

    Example:
        >>> md.nn.ReLU6()(md.tensor([-1.0, 7.0])).tolist()
        [0.0, 6.0]
    """

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class LogSigmoid(Module):
    """``log(sigmoid(x))``, computed stably.

    Example:
        >>> md.nn.LogSigmoid()(md.zeros(1))          # [-0.693]
    """

    def forward(self, x):
        return F.logsigmoid(x)


class Softplus(Module):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold``.

    Example:
        >>> md.nn.Softplus()(md.zeros(1))            # [0.693]
    """

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class PReLU(Module):
    """``x`` where positive, ``weight * x`` elsewhere, with a learnable ``weight`` of ``num_parameters`` entries
    (1, or one per channel of dim 1) initialised to ``init``.

    Example:
        >>> act = md.nn.PReLU(3)
        >>> act(md.randn(2, 3, 4)).shape, act.weight.shape
        ((2, 3, 4), (3,))
    """

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        if not isinstance(num_parameters, int) or num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be a positive int, got {num_parameters!r}")
        self.num_parameters, self.init = num_parameters, init
        self.weight = empty_parameter(num_parameters, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self):
        """Refill ``weight`` with ``init``."""
        with no_grad():
            self.weight.fill_(self.init)

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class GLU(Module):
    """Gated linear unit over ``dim``: first half times the sigmoid of the second half.

    Example:
        >>> md.nn.GLU()(md.randn(4, 6)).shape
        (4, 3)
    """

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.glu(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
