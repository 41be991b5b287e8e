"""Hypothesis strategies for convolution and pooling geometries.

Every drawn geometry is valid for PyTorch and minidl alike (output size >= 1, pool padding <= kernel / 2), and
small enough that hundreds of examples run in seconds. The draws cover the edge cases kernels get wrong: batch 0
and 1, odd sizes, 1x1 kernels, stride larger than the kernel, padding of half the kernel or more (convolution),
dilation, depthwise groups, ceil_mode windows hanging past the padded edge.
"""

from typing import NamedTuple

from hypothesis import strategies as st

from ..backends.geometry import output_hw

__all__ = ["Conv2dGeometry", "Pool2dGeometry", "conv2d_geometries", "pool2d_geometries"]

Pair = tuple[int, int]


class Conv2dGeometry(NamedTuple):
    """Arguments of one conv2d call: shapes of x (N, C, H, W) and w (O, C // groups, KH, KW), and the geometry."""

    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    stride: Pair
    padding: Pair
    dilation: Pair
    groups: int

    @property
    def out_shape(self):
        """(N, O, OH, OW) of the output."""
        (n, _, h, w), (o, _, kh, kw) = self.x_shape, self.w_shape
        return n, o, *output_hw((h, w), (kh, kw), self.stride, self.padding, self.dilation)


class Pool2dGeometry(NamedTuple):
    """Arguments of one pooling call: shape of x (N, C, H, W) and the geometry (avg_pool2d ignores dilation;
    max_pool2d ignores count_include_pad)."""

    x_shape: tuple[int, int, int, int]
    kernel_size: Pair
    stride: Pair
    padding: Pair
    dilation: Pair
    ceil_mode: bool
    count_include_pad: bool

    @property
    def out_shape(self):
        """(N, C, OH, OW) of the output, with PyTorch's ceil_mode rule."""
        n, c, h, w = self.x_shape
        return n, c, *output_hw((h, w), self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)


def _divisors(n):
    return [g for g in range(1, n + 1) if n % g == 0]


@st.composite
def _conv_axis(draw, max_size, max_kernel, max_stride, max_dilation):
    """(size, kernel, stride, padding, dilation) of one spatial axis with output length >= 1."""
    k = draw(st.integers(1, min(max_kernel, max_size)))
    d = draw(st.integers(1, max_dilation)) if k > 1 else 1
    p = draw(st.integers(0, k // 2 + 1))
    extent = d * (k - 1) + 1
    if extent > max_size + 2 * p:       # the dilated kernel does not fit even with padding: drop the dilation
        d, extent = 1, k
    size = draw(st.integers(max(1, extent - 2 * p), max_size))
    s = draw(st.integers(1, max_stride))
    return size, k, s, p, d


@st.composite
def conv2d_geometries(draw, max_batch=3, max_channels=4, max_size=9, max_kernel=None, max_stride=3, max_dilation=2):
    """Draw a valid ``Conv2dGeometry``.

    Args:
        max_batch: largest N (N = 0 and 1 are drawn too).
        max_channels: largest C and O.
        max_size: largest H and W.
        max_kernel: largest KH and KW; default 7 when ``max_size >= 7`` else 5 (capped by max_size).
        max_stride: largest stride (so stride > kernel happens with small kernels).
        max_dilation: largest dilation.

    Returns:
        A strategy of ``Conv2dGeometry(x_shape, w_shape, stride, padding, dilation, groups)``. Padding goes up to
        ``kernel // 2 + 1``; groups is any divisor of C whose O fits, including depthwise (groups == C).

    Example:
        >>> from hypothesis import given
        >>> @given(conv2d_geometries(max_batch=2))
        ... def test_conv_shape(g):
        ...     assert all(s >= 1 for s in g.out_shape[2:])
        >>> test_conv_shape()
    """
    if max_kernel is None:
        max_kernel = 7 if max_size >= 7 else 5
    n = draw(st.integers(0, max_batch))
    groups = draw(st.sampled_from(_divisors(max_channels)))
    cg = draw(st.integers(1, max_channels // groups))
    og = draw(st.integers(1, max_channels // groups))
    h, kh, sh, ph, dh = draw(_conv_axis(max_size, max_kernel, max_stride, max_dilation))
    w, kw, sw, pw, dw = draw(_conv_axis(max_size, max_kernel, max_stride, max_dilation))
    return Conv2dGeometry((n, groups * cg, h, w), (groups * og, cg, kh, kw), (sh, sw), (ph, pw), (dh, dw), groups)


@st.composite
def _pool_axis(draw, max_size, max_kernel, max_stride, max_dilation):
    """(size, kernel, stride, padding, dilation) of one axis: padding <= kernel // 2, output >= 1, and every
    window holds at least one input element (size >= dilation; an all-padding window is degenerate in PyTorch)."""
    k = draw(st.integers(1, min(max_kernel, max_size)))
    d = draw(st.integers(1, max_dilation)) if k > 1 else 1
    p = draw(st.integers(0, k // 2))
    extent = d * (k - 1) + 1
    if extent > max_size + 2 * p:
        d, extent = 1, k
    size = draw(st.integers(max(1, d, extent - 2 * p), max_size))
    s = draw(st.integers(1, max_stride))
    return size, k, s, p, d


@st.composite
def pool2d_geometries(draw, max_batch=3, max_channels=4, max_size=9, max_kernel=4, max_stride=4, max_dilation=2):
    """Draw a valid ``Pool2dGeometry`` (for max_pool2d; pass ``max_dilation=1`` for avg_pool2d).

    Args:
        max_batch: largest N (N = 0 and 1 are drawn too).
        max_channels: largest C.
        max_size: largest H and W.
        max_kernel: largest KH and KW.
        max_stride: largest stride (stride > kernel happens).
        max_dilation: largest dilation; 1 gives geometries for avg_pool2d, which has none.

    Returns:
        A strategy of ``Pool2dGeometry(x_shape, kernel_size, stride, padding, dilation, ceil_mode,
        count_include_pad)`` with padding <= kernel // 2 as PyTorch requires and an output size >= 1.

    Example:
        >>> from hypothesis import given
        >>> @given(pool2d_geometries(max_dilation=1))
        ... def test_pool_shape(g):
        ...     assert g.dilation == (1, 1) and all(s >= 1 for s in g.out_shape[2:])
        >>> test_pool_shape()
    """
    n = draw(st.integers(0, max_batch))
    c = draw(st.integers(1, max_channels))
    h, kh, sh, ph, dh = draw(_pool_axis(max_size, max_kernel, max_stride, max_dilation))
    w, kw, sw, pw, dw = draw(_pool_axis(max_size, max_kernel, max_stride, max_dilation))
    ceil_mode, count_include_pad = draw(st.booleans()), draw(st.booleans())
    return Pool2dGeometry((n, c, h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil_mode, count_include_pad)
