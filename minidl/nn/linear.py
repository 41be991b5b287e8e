"""``Linear``, ``Bilinear`` and ``Identity``."""
import math

from . import functional as F
from . import init
from .module import Module
from .parameter import empty_parameter


class Identity(Module):
    """Returns its input; accepts and ignores any constructor arguments (a placeholder layer).

    Example:
        >>> md.nn.Identity()(md.ones(2)).tolist()
        [1.0, 1.0]
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Linear(Module):
    """``y = x @ weight.T + bias`` with weight (out_features, in_features), initialized as PyTorch.

    Args:
        in_features, out_features: sizes of each input and output sample.
        bias: learn an additive bias (default True).

    Example:
        >>> md.nn.Linear(20, 30)(md.randn(128, 20)).shape
        (128, 30)
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = empty_parameter(out_features, in_features, device=device, dtype=dtype)
        if bias:
            self.bias = empty_parameter(out_features, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.layer_default_(self.weight, self.bias)

    def forward(self, x):
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear(in_features={self.in_features}): input of shape {x.shape} must end in "
                             f"{self.in_features}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """``y_k = x1^T W_k x2 + b_k``: weight (out_features, in1_features, in2_features), initialized as PyTorch's
    (U(-1/sqrt(in1), 1/sqrt(in1)) for weight and bias).

    Example:
        >>> md.nn.Bilinear(20, 30, 40)(md.randn(128, 20), md.randn(128, 30)).shape
        (128, 40)
    """

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        if min(in1_features, in2_features, out_features) < 1:
            raise ValueError(f"Bilinear: feature sizes must be positive, got {in1_features}, {in2_features}, "
                             f"{out_features}")
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = empty_parameter(out_features, in1_features, in2_features, device=device, dtype=dtype)
        if bias:
            self.bias = empty_parameter(out_features, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.in1_features)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
