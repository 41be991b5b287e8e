"""``PixelShuffle`` and ``PixelUnshuffle``: trade channels for spatial resolution and back."""
from . import functional as F
from .module import Module


class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r), the sub-pixel convolution's upsampling step.

    Example:
        >>> md.nn.PixelShuffle(2)(md.zeros(1, 8, 2, 3)).shape
        (1, 2, 4, 6)
    """

    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x):
        return F.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of ``PixelShuffle``.

    Example:
        >>> md.nn.PixelUnshuffle(2)(md.zeros(1, 2, 4, 6)).shape
        (1, 8, 2, 3)
    """

    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x):
        return F.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"
