"""The CUDA conv2d and batch_norm kernels, run on the CPU through the emulated build of the same
source (``_C_cuda_emu``, tests/cuda_emu/build.py) and the Python glue the GPU path uses, against
the NumPy reference (MINIDL_CUDA_EMU_SANITIZE selects the sanitizer build, as in
test_cuda_emu.py). Shapes stay tiny: the emulator runs every CUDA thread as a CPU fiber.

Geometries are picked to reach the kernels' edges: sizes that are not multiples of the GEMM tiles
(64x64x16, or 16x64x16 for GEMMs of at most 16 rows) and ones spanning several tiles in M, N and
K, 1x1 and 5x5 filters, stride 2 and a stride larger than the filter (input pixels no window
reaches), asymmetric padding and dilation, groups including depthwise with a channel multiplier, and empty batches; batch_norm with and
without running buffers, training and eval, n == 1 (NaN unbiased variance), L == 1, N*L == 0,
channels longer than a block, and data far from zero (the two-pass variance).
"""
import os
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cuda_emu import build as emu_build
from minidl.backends import reference
from minidl.backends._cuda_glue import Glue
from minidl.testing import conv2d_geometries

DTYPES = [np.float32, np.float64]
# float32: the GEMM accumulates in float32 in another order than the reference's BLAS.
TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-11, atol=1e-11)}


@pytest.fixture(scope="module")
def glue():
    try:
        subprocess.run([emu_build.compiler(), "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no C++ compiler to build the emulated CUDA module: {exc}")
    return Glue(emu_build.load(os.environ.get("MINIDL_CUDA_EMU_SANITIZE") or None), np, lambda a: a.ctypes.data, 0)


def _rand(rng, shape, dtype, scale=1.0, offset=0.0):
    return (rng.standard_normal(shape) * scale + offset).astype(dtype)


# (x shape, w shape, stride, padding, dilation, groups)
CONV_CASES = [
    ((2, 3, 7, 9), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),          # odd sizes, "same" padding
    ((1, 4, 6, 5), (4, 1, 3, 3), (2, 2), (1, 0), (1, 1), 4),          # depthwise, stride 2
    ((1, 3, 6, 7), (6, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3),          # depthwise, channel multiplier 2
    ((3, 2, 5, 5), (3, 2, 1, 1), (1, 1), (0, 0), (1, 1), 1),          # 1x1
    ((1, 2, 9, 8), (2, 2, 5, 5), (2, 1), (2, 2), (1, 1), 1),          # 5x5, stride (2, 1)
    ((2, 4, 8, 7), (6, 2, 3, 2), (1, 2), (1, 0), (2, 1), 2),          # groups 2, dilation, non-square filter
    ((1, 2, 10, 9), (3, 2, 2, 2), (3, 3), (0, 1), (1, 1), 1),         # stride > filter: unreached pixels
    ((1, 1, 3, 3), (1, 1, 3, 3), (1, 1), (0, 0), (1, 1), 1),          # one output pixel
    ((1, 2, 6, 6), (2, 2, 3, 3), (1, 1), (2, 2), (2, 2), 1),          # dilation 2 with padding
    ((2, 3, 11, 13), (70, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),       # several tiles in M, N and K
    ((0, 3, 5, 5), (2, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),          # empty batch: grad_w is zeros
    ((1, 20, 5, 4), (3, 20, 3, 3), (1, 1), (1, 1), (1, 1), 1),       # grad_x with > 16 rows (64-row tiles)
    ((1, 34, 4, 3), (34, 2, 3, 3), (2, 1), (1, 1), (1, 1), 17),       # 17 groups of 2 -> 2
]


def _case_id(case):
    x, w, s, p, d, g = case
    return f"x{'x'.join(map(str, x))}-w{'x'.join(map(str, w))}-s{s[0]}{s[1]}-p{p[0]}{p[1]}-d{d[0]}{d[1]}-g{g}"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", CONV_CASES, ids=_case_id)
def test_conv2d_forward_backward(glue, case, dtype):
    xs, ws, stride, padding, dilation, groups = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    x, w = _rand(rng, xs, dtype), _rand(rng, ws, dtype)
    y = glue.conv2d(x, w, stride, padding, dilation, groups)
    y_ref = reference.conv2d(x, w, stride, padding, dilation, groups)
    assert y.shape == y_ref.shape and y.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **TOL[dtype])

    grad = _rand(rng, y_ref.shape, dtype)
    gx, gw = glue.conv2d_backward(grad, x, w, stride, padding, dilation, groups)
    gx_ref, gw_ref = reference.conv2d_backward(grad, x, w, stride, padding, dilation, groups)
    assert gx.shape == x.shape and gw.shape == w.shape and gx.dtype == gw.dtype == dtype
    np.testing.assert_allclose(gx, gx_ref, **TOL[dtype])
    np.testing.assert_allclose(gw, gw_ref, **TOL[dtype])


@settings(max_examples=40, deadline=None)
@given(geom=conv2d_geometries(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_conv2d_drawn_geometries(glue, geom, dtype, seed):
    rng = np.random.default_rng(seed)
    x, w = _rand(rng, geom.x_shape, dtype), _rand(rng, geom.w_shape, dtype)
    args = (geom.stride, geom.padding, geom.dilation, geom.groups)
    np.testing.assert_allclose(glue.conv2d(x, w, *args), reference.conv2d(x, w, *args), **TOL[dtype])
    grad = _rand(rng, geom.out_shape, dtype)
    for got, want in zip(glue.conv2d_backward(grad, x, w, *args), reference.conv2d_backward(grad, x, w, *args)):
        np.testing.assert_allclose(got, want, **TOL[dtype])


@pytest.mark.parametrize("need", [(True, False), (False, True), (False, False)], ids=str)
def test_backward_output_mask_skips_unwanted_gradients(glue, need):
    # A null output pointer skips that GEMM in the kernel; the glue returns None for it.
    rng = np.random.default_rng(3)
    x, w = _rand(rng, (2, 4, 7, 6), np.float64), _rand(rng, (6, 2, 3, 2), np.float64)
    args = ((2, 1), (1, 1), (1, 2), 2)
    grad = _rand(rng, reference.conv2d(x, w, *args).shape, np.float64)
    got = glue.conv2d_backward(grad, x, w, *args, need=need)
    a, b, g = _rand(rng, (3, 5, 4), np.float64), _rand(rng, (3, 4, 2), np.float64), _rand(rng, (3, 5, 2), np.float64)
    got_mm = glue.matmul_backward(g, a, b, need=need)
    for out, full in ((got, reference.conv2d_backward(grad, x, w, *args)), (got_mm, reference.matmul_backward(g, a, b))):
        for wanted, o, f in zip(need, out, full):
            if wanted:
                np.testing.assert_allclose(o, f, rtol=1e-10, atol=1e-12)
            else:
                assert o is None


def test_conv2d_rejects_bad_geometry(glue):
    x, w = np.zeros((1, 3, 5, 5)), np.zeros((4, 1, 3, 3))
    with pytest.raises(ValueError, match="conv2d: groups"):
        glue.conv2d(x, w, (1, 1), (0, 0), (1, 1), 2)  # 2 does not divide 3 input channels
    with pytest.raises(ValueError, match="conv2d: .*larger than the padded input"):
        glue.conv2d(np.zeros((1, 4, 2, 2)), np.zeros((4, 4, 3, 3)), (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="conv2d: .*null pointer"):
        glue.ext.conv2d(0, glue.ptr(w), 0, "float64", 1, 3, 5, 5, 3, 3, 3, 1, 1, 0, 0, 1, 1, 3, 0)
    with pytest.raises(ValueError, match="conv2d_backward: unsupported dtype"):
        glue.ext.conv2d_backward(1, 1, 1, 1, 1, "int32", 1, 3, 5, 5, 3, 3, 3, 1, 1, 0, 0, 1, 1, 3, 0)


# (N, C, L), data offset
BN_SHAPES = [
    ((4, 3, 5), 100.0),      # far from zero: a one-pass variance would lose digits
    ((1, 2, 1), 0.0),        # n == 1: unbiased running variance is NaN
    ((3, 2, 300), 0.0),      # a channel longer than a block, L not a multiple of it
    ((300, 2, 1), 5.0),      # L == 1 (BatchNorm1d on (N, C)), N larger than a block
    ((2, 5, 7), -3.0),
    ((0, 3, 4), 0.0),        # N*L == 0
    ((5, 4, 0), 0.0),        # N*L == 0 through L
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("running", [True, False], ids=["running", "no-running"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape,offset", BN_SHAPES, ids=[f"{s}" for s, _ in BN_SHAPES])
def test_batch_norm_forward_backward(glue, shape, offset, training, running, dtype):
    rng = np.random.default_rng(sum(shape) * 7 + int(training) * 2 + int(running))
    c = shape[1]
    x = _rand(rng, shape, dtype, scale=3.0, offset=offset)
    weight, bias = _rand(rng, c, dtype), _rand(rng, c, dtype)
    rm = _rand(rng, c, dtype) if running else None
    rv = (rng.random(c) + 0.5).astype(dtype) if running else None
    rm_ref, rv_ref = (None, None) if not running else (rm.copy(), rv.copy())
    rm_before = None if rm is None else rm.copy()

    y, save_mean, save_invstd = glue.batch_norm(x, weight, bias, rm, rv, training, 0.1, 1e-5)
    y_ref, mean_ref, invstd_ref = reference.batch_norm(x, weight, bias, rm_ref, rv_ref, training, 0.1, 1e-5)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert y.shape == x.shape and y.dtype == save_mean.dtype == save_invstd.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **tol)
    np.testing.assert_allclose(save_mean, mean_ref, **tol)
    np.testing.assert_allclose(save_invstd, invstd_ref, **tol)
    if running:  # updated in place exactly when the reference updates its copies
        np.testing.assert_allclose(rm, rm_ref, equal_nan=True, **tol)
        np.testing.assert_allclose(rv, rv_ref, equal_nan=True, **tol)
        if not training or shape[0] * shape[2] == 0:
            np.testing.assert_array_equal(rm, rm_before)

    grad = _rand(rng, shape, dtype)
    gx, gw, gb = glue.batch_norm_backward(grad, x, weight, save_mean, save_invstd, training)
    gx_ref, gw_ref, gb_ref = reference.batch_norm_backward(grad, x, weight, mean_ref, invstd_ref, training)
    assert gx.shape == x.shape and gw.shape == gb.shape == (c,) and gx.dtype == gw.dtype == gb.dtype == dtype
    np.testing.assert_allclose(gx, gx_ref, **tol)
    np.testing.assert_allclose(gw, gw_ref, **tol)
    np.testing.assert_allclose(gb, gb_ref, **tol)


def test_batch_norm_n1_running_var_is_nan(glue):
    x = np.array([[[2.0]], ], dtype=np.float32).reshape(1, 1, 1)
    rm, rv = np.zeros(1, np.float32), np.ones(1, np.float32)
    glue.batch_norm(x, np.ones(1, np.float32), np.zeros(1, np.float32), rm, rv, True, 0.5, 1e-5)
    assert rm[0] == 1.0 and np.isnan(rv[0])


def test_batch_norm_rejects_bad_arguments(glue):
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="batch_norm: running_mean and running_var"):
        glue.ext.batch_norm(glue.ptr(x), 1, 1, glue.ptr(x), 0, True, 0.1, 1e-5, 1, 1, 1, "float64", 2, 3, 4, 0)
    with pytest.raises(ValueError, match="batch_norm_backward: .*null pointer"):
        glue.ext.batch_norm_backward(0, 1, 1, 1, 1, True, 1, 1, 1, "float64", 2, 3, 4, 0)
    with pytest.raises(ValueError, match="batch_norm: sizes"):
        glue.ext.batch_norm(1, 1, 1, 0, 0, True, 0.1, 1e-5, 1, 1, 1, "float32", -1, 3, 4, 0)
