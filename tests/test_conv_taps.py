"""The tap-table im2col/col2im of the native conv2d: small output planes whose taps are not one affine run
(stride > 1, dilation, OW != W) gather through a per-call table of input offsets, with masked loads for the
padding. Checked against the float64 NumPy reference on hypothesis-drawn geometries, for values that must not leak
out of the padding (inf and NaN in the pixel the masked loads fall back to), for the sign of zero, against
PyTorch, and by gradcheck of conv2d and conv_transpose2d.

Skipped with the build's reason when minidl._C is not importable, except under CI (see native_ext.py).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native_ext import import_native

_C = import_native()

import minidl as md  # noqa: E402 -- after the skip: ops_native needs the extension
import minidl.nn.functional as F  # noqa: E402
from minidl.backends import reference  # noqa: E402
from minidl.testing import assert_gradcheck  # noqa: E402

DTYPES = (np.float32, np.float64)


@st.composite
def strided_geometries(draw):
    """(x shape, w shape, stride, padding, dilation, groups) with output rows narrower than 32: the table path."""
    groups = draw(st.sampled_from((1, 1, 2)))
    cg, og = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(2, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    h = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]), 20))
    w = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 20))
    n = draw(st.integers(1, 5))
    return (n, cg * groups, h, w), (og * groups, cg, kh, kw), stride, padding, dilation, groups


def _out_hw(x_shape, w_shape, stride, padding, dilation):
    return tuple((x_shape[2 + i] + 2 * padding[i] - dilation[i] * (w_shape[2 + i] - 1) - 1) // stride[i] + 1
                 for i in range(2))


@settings(max_examples=60, deadline=None)
@given(geom=strided_geometries(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_strided_conv_matches_the_reference(geom, dtype, seed):
    x_shape, w_shape, stride, padding, dilation, groups = geom
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, x_shape).astype(dtype)
    w = rng.uniform(-1, 1, w_shape).astype(dtype)
    grad = rng.uniform(-1, 1, (x_shape[0], w_shape[0]) + _out_hw(x_shape, w_shape, stride, padding,
                                                                     dilation)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_C.conv2d(x, w, stride, padding, dilation, groups),
                               reference.conv2d(x, w, stride, padding, dilation, groups), **tol)
    gx, gw = _C.conv2d_backward(grad, x, w, stride, padding, dilation, groups)
    rx, rw = reference.conv2d_backward(grad, x, w, stride, padding, dilation, groups)
    np.testing.assert_allclose(gx, rx, **tol)
    np.testing.assert_allclose(gw, rw, **tol)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the reference's inf * 0
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_padding_taps_read_nothing(dtype, bad):
    # The masked loads of a padding tap fall back to pixel 0 of the plane: a non-finite value there must reach
    # only the outputs whose real taps cover it, exactly as in the reference.
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 3, 9, 9)).astype(dtype)
    x[:, :, 0, 0] = bad
    w = rng.uniform(-1, 1, (4, 3, 3, 3)).astype(dtype)
    got = _C.conv2d(x, w, (2, 2), (1, 1), (1, 1), 1)
    want = reference.conv2d(x, w, (2, 2), (1, 1), (1, 1), 1)
    assert np.isfinite(got[:, :, 1:, :]).all() and np.isfinite(got[:, :, :, 1:]).all()
    np.testing.assert_allclose(got, want, rtol=1e-5, equal_nan=True)
    grad = rng.uniform(-1, 1, got.shape).astype(dtype)
    grad[:, :, 0, 0] = bad
    gx, _ = _C.conv2d_backward(grad, x, w, (2, 2), (1, 1), (1, 1), 1)
    rx, _ = reference.conv2d_backward(grad, x, w, (2, 2), (1, 1), (1, 1), 1)
    np.testing.assert_allclose(gx, rx, rtol=1e-5, equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_col2im_keeps_negative_zero(dtype):
    # col2im adds -0 for padding taps into pixel 0: -0 + -0 stays -0 and x + -0 is x, so a pixel the real taps
    # leave at -0 (or any value) is unchanged, bit for bit, compared with the row-by-row loops.
    x = np.zeros((1, 1, 6, 6), dtype)
    w = -np.ones((1, 1, 3, 3), dtype)
    grad = np.zeros((1, 1, 3, 3), dtype)
    gx, _ = _C.conv2d_backward(grad, x, w, (2, 2), (1, 1), (1, 1), 1)
    rx, _ = reference.conv2d_backward(grad, x, w, (2, 2), (1, 1), (1, 1), 1)
    np.testing.assert_array_equal(np.signbit(gx), np.signbit(rx))
    np.testing.assert_array_equal(gx, rx)


@pytest.mark.parametrize("kwargs", [dict(stride=2, padding=1), dict(stride=(2, 3), padding=(0, 2), dilation=2)])
def test_gradcheck_strided_conv(kwargs):
    rng = np.random.default_rng(1)
    x = md.tensor(rng.standard_normal((2, 2, 7, 8)), requires_grad=True)
    w = md.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = md.tensor(rng.standard_normal(3), requires_grad=True)
    assert_gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kwargs), x, w, b)


def test_gradcheck_transposed_conv_like_the_autoencoder():
    rng = np.random.default_rng(2)
    x = md.tensor(rng.standard_normal((2, 3, 4, 4)), requires_grad=True)
    w = md.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = md.tensor(rng.standard_normal(2), requires_grad=True)
    assert_gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1), x, w, b)


def test_autoencoder_convolutions_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 16, 14, 14)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32) * 0.1
    wt = rng.standard_normal((32, 16, 3, 3)).astype(np.float32) * 0.1
    mx, mw, mwt = (md.tensor(a, requires_grad=True) for a in (x, w, wt))
    tx, tw, twt = (torch.tensor(a, requires_grad=True) for a in (x, w, wt))
    my = F.conv_transpose2d(F.conv2d(mx, mw, stride=2, padding=1), mwt, stride=2, padding=1, output_padding=1)
    ty = torch.nn.functional.conv_transpose2d(torch.nn.functional.conv2d(tx, tw, stride=2, padding=1), twt,
                                              stride=2, padding=1, output_padding=1)
    np.testing.assert_allclose(my.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    g = rng.standard_normal(my.shape).astype(np.float32)
    my.backward(md.tensor(g))
    ty.backward(torch.tensor(g))
    for m, t in ((mx, tx), (mw, tw), (mwt, twt)):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-4)
