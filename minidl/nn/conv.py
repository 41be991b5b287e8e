"""Convolution layers: ``Conv2d`` and ``ConvTranspose2d`` (PyTorch's arguments, layouts and initialization)."""

from ..backends.geometry import pair as _pair
from . import functional as F
from . import init
from .module import Module
from .parameter import empty_parameter


def _mode_pads(padding, kernel_size, dilation):
    """F.pad's list (last dim first) for a non-zeros ``padding_mode``: symmetric numeric padding, or "same" split
    with the extra element on the right, as PyTorch splits it."""
    pads = []
    for i in reversed(range(len(kernel_size))):
        if padding == "same":
            total = dilation[i] * (kernel_size[i] - 1)
            pads += [total // 2, total - total // 2]
        else:
            pads += [padding[i], padding[i]]
    return tuple(pads)


class _ConvNd(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, transposed, output_padding,
                 groups, bias, padding_mode, device, dtype):
        super().__init__()
        name = type(self).__name__
        if not isinstance(groups, int) or groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got "
                             f"{padding_mode!r}")
        if padding_mode != "zeros" and transposed:
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, as in PyTorch, got {padding_mode!r}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be 'same', 'valid', an int or a pair, got {padding!r}")
            if padding == "same" and _pair(name, "stride", stride) != (1, 1):
                raise ValueError(f"{name}: padding='same' needs stride 1, got stride {stride}")
        else:
            padding = _pair(name, "padding", padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(name, "kernel_size", kernel_size)
        self.stride, self.dilation = _pair(name, "stride", stride), _pair(name, "dilation", dilation)
        self.padding, self.output_padding = padding, _pair(name, "output_padding", output_padding)
        self.transposed, self.groups, self.padding_mode = transposed, groups, padding_mode
        shape = (in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups)
        self.weight = empty_parameter(*shape, *self.kernel_size, device=device, dtype=dtype)
        if bias:
            self.bias = empty_parameter(out_channels, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.layer_default_(self.weight, self.bias)     # fan_in = weight.shape[1] * KH * KW, as PyTorch

    def _check_input(self, x):
        if x.ndim not in (3, 4):
            raise ValueError(f"{type(self).__name__}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                             f"{x.shape}")
        if x.shape[-3] != self.in_channels:
            raise ValueError(f"{type(self).__name__}({self.in_channels}, {self.out_channels}): input of shape "
                             f"{x.shape} has {x.shape[-3]} channels, expected {self.in_channels}")

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"        # unquoted for "same"/"valid" too, as PyTorch prints it
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W); weight (out_channels, in_channels // groups, KH, KW).

    Args:
        in_channels, out_channels, kernel_size: as PyTorch.
        stride, dilation: int or pair. padding: int, pair, "valid" or "same" (stride 1).
        groups: independent channel groups. bias: learn a bias (default True).

    Example:
        >>> md.nn.Conv2d(3, 8, 3, padding="same")(md.randn(2, 3, 16, 16)).shape
        (2, 8, 16, 16)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups, bias,
                         padding_mode, device, dtype)

    def forward(self, x):
        self._check_input(x)
        padding = self.padding
        if self.padding_mode != "zeros" and padding not in ((0, 0), "valid"):
            x, padding = F.pad(x, _mode_pads(padding, self.kernel_size, self.dilation), mode=self.padding_mode), 0
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (upsampling by ``stride``); weight (in_channels, out_channels // groups, KH, KW).

    Output size: (H - 1) * stride - 2 * padding + dilation * (KH - 1) + output_padding + 1; ``forward`` may take
    ``output_size`` to pick output_padding.

    Example:
        >>> md.nn.ConvTranspose2d(8, 3, 2, stride=2)(md.randn(1, 8, 7, 7)).shape
        (1, 3, 14, 14)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or a pair, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, True, output_padding,
                         groups, bias, padding_mode, device, dtype)
        if any(o >= max(s, d) for o, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be smaller than either "
                             f"stride {self.stride} or dilation {self.dilation}")

    def forward(self, x, output_size=None):
        self._check_input(x)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation, output_size=output_size)


# --- issue 14 --------------------------------------------------------------------------------------------------
def _single(name, v):
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ValueError(f"Conv1d: {name} must be an int or a 1-tuple, got {v!r}")
        v = v[0]
    return (int(v),)


class Conv1d(Module):
    """1-D convolution over (N, C, L) or (C, L); weight (out_channels, in_channels // groups, K), initialized and
    named as PyTorch's (so state dicts load either way).

    Example:
        >>> md.nn.Conv1d(3, 8, 5, padding=2)(md.randn(2, 3, 20)).shape
        (2, 8, 20)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        if not isinstance(groups, int) or groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv1d: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"Conv1d: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got "
                             f"{padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = _single("kernel_size", kernel_size), _single("stride", stride)
        self.dilation = _single("dilation", dilation)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv1d: padding must be 'same', 'valid' or an int, got {padding!r}")
            if padding == "same" and self.stride != (1,):
                raise ValueError(f"Conv1d: padding='same' needs stride 1, got stride {stride}")
            self.padding = padding
        else:
            self.padding = _single("padding", padding)
        self.padding_mode = padding_mode
        self.weight = empty_parameter(out_channels, in_channels // groups, *self.kernel_size, device=device,
                                      dtype=dtype)
        if bias:
            self.bias = empty_parameter(out_channels, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.layer_default_(self.weight, self.bias)

    def forward(self, x):
        if x.ndim not in (2, 3) or x.shape[-2] != self.in_channels:
            raise ValueError(f"Conv1d({self.in_channels}, {self.out_channels}): expected input (N, "
                             f"{self.in_channels}, L) or ({self.in_channels}, L), got shape {x.shape}")
        padding = self.padding
        if self.padding_mode != "zeros" and padding not in ((0,), "valid"):
            x, padding = F.pad(x, _mode_pads(padding, self.kernel_size, self.dilation), mode=self.padding_mode), 0
        return F.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,):
            s += f", padding={self.padding}"
        if self.dilation != (1,):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
