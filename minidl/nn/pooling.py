"""Pooling layers: ``MaxPool2d`` and ``AvgPool2d``."""
import numpy as np

from ..backends.geometry import pair
from ..tensor import Tensor
from . import functional as F
from .module import Module


def _real_counts(n_in, n_out, k, stride, pad):
    """Number of input (not padding) elements in each of the ``n_out`` windows along one axis."""
    start = np.arange(n_out) * stride - pad
    return np.minimum(start + k, n_in) - np.maximum(start, 0)


def _check(layer, x):
    if x.ndim not in (3, 4):
        raise ValueError(f"{layer}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {x.shape}")


class MaxPool2d(Module):
    """Max over sliding windows; ``stride`` defaults to ``kernel_size``; NaN propagates.

    Example:
        >>> md.nn.MaxPool2d(2)(md.randn(1, 3, 8, 8)).shape
        (1, 3, 4, 4)
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        _check("MaxPool2d", x)
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over sliding windows (``count_include_pad`` counts zero padding in the divisor, as PyTorch).

    ``divisor_override`` divides every window sum by that number instead.

    Example:
        >>> md.nn.AvgPool2d(2)(md.ones(1, 1, 4, 4)).shape
        (1, 1, 2, 2)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.ceil_mode, self.count_include_pad = padding, ceil_mode, count_include_pad
        if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override < 1):
            raise ValueError(f"AvgPool2d: divisor_override must be a positive int, got {divisor_override!r}")
        self.divisor_override = divisor_override

    def forward(self, x):
        _check("AvgPool2d", x)
        if self.divisor_override is None:
            return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)
        # window sum = (average over the real, unpadded elements) * (how many there are), counted per axis
        y = F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, False)
        geometry = (pair("AvgPool2d", name, getattr(self, name)) for name in ("kernel_size", "stride", "padding"))
        counts = [_real_counts(n_in, n_out, k, st, p) for n_in, n_out, k, st, p in
                  zip(x.shape[-2:], y.shape[-2:], *geometry)]
        scale = np.outer(*counts).astype(x.dtype.np) / self.divisor_override
        return y * Tensor._wrap(x._xp.asarray(scale))

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


# --- issue 14 --------------------------------------------------------------------------------------------------
class MaxPool1d(Module):
    """Max over sliding windows of (N, C, L) or (C, L); ``stride`` defaults to ``kernel_size``.

    Example:
        >>> md.nn.MaxPool1d(2)(md.randn(1, 3, 8)).shape
        (1, 3, 4)
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


def _single(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


class AvgPool1d(Module):
    """Mean over sliding windows of (N, C, L) or (C, L), with PyTorch's ``ceil_mode``/``count_include_pad``.

    Example:
        >>> md.nn.AvgPool1d(2)(md.ones(1, 1, 4)).tolist()
        [[[1.0, 1.0]]]
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = self.kernel_size if stride is None else _single(stride)
        self.padding, self.ceil_mode, self.count_include_pad = _single(padding), ceil_mode, count_include_pad

    def forward(self, x):
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(Module):
    """Average over ``output_size`` nearly equal bins of the last dim.

    Example:
        >>> md.nn.AdaptiveAvgPool1d(4)(md.randn(2, 3, 10)).shape
        (2, 3, 4)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool1d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(Module):
    """Average over an ``output_size`` grid of nearly equal bins (an int is square; None keeps that dim).

    Example:
        >>> md.nn.AdaptiveAvgPool2d((1, 1))(md.randn(2, 8, 7, 7)).shape
        (2, 8, 1, 1)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
