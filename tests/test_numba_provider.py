"""Provider "numba" (JIT loops on the CPU) against the NumPy reference, on hypothesis-drawn geometries.

Skipped as a whole when numba is not installed. The first call of each kernel compiles it (cache=True keeps the
machine code for the next process); the ci hypothesis profile has no deadline, so compile time fails nothing.
"""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("numba", reason="numba is not installed: the numba provider is not tested")

import minidl as md  # noqa: E402
from minidl.backends import reference  # noqa: E402
from minidl.cli import main  # noqa: E402
from minidl.testing import (assert_gradcheck, assert_providers_agree, conv2d_geometries,  # noqa: E402
                            pool2d_geometries)

from kernel_inputs import random_input  # noqa: E402

NUMBA = ["numba"]
DTYPES = [np.float32, np.float64]
dtypes = st.sampled_from(DTYPES)
seeds = st.integers(0, 2**32 - 1)


_x = random_input


def _tol(dtype):
    # float32 sums of up to a few hundred products in another order than the reference's BLAS
    return dict(rtol=1e-3, atol=1e-4) if dtype == np.float32 else {}


def test_provider_is_usable():
    assert md.backends.available()["numba"] is None


# ---------------------------------------------------------------------------------------------------------------------
# matmul

dims = st.integers(1, 70)


@given(m=dims, k=st.integers(0, 70), n=dims, batch=st.sampled_from([None, 0, 1, 3]), dtype=dtypes, seed=seeds)
def test_matmul_matches_reference(m, k, n, batch, dtype, seed):
    lead = () if batch is None else (batch,)
    a, b, g = (_x(seed + i, lead + s, dtype) for i, s in enumerate([(m, k), (k, n), (m, n)]))
    assert_providers_agree("matmul", a, b, providers=NUMBA, **_tol(dtype))
    assert_providers_agree("matmul_backward", g, a, b, providers=NUMBA, **_tol(dtype))


# ---------------------------------------------------------------------------------------------------------------------
# conv2d (odd sizes, 1x1 to 5x5 kernels, stride, padding, dilation, groups incl. depthwise, batch 0/1)

@given(g=conv2d_geometries(max_batch=3, max_channels=6, max_size=11, max_kernel=5), dtype=dtypes, seed=seeds,
       batch=st.sampled_from([None, 0, 1]))
def test_conv2d_matches_reference(g, dtype, seed, batch):
    x_shape = g.x_shape if batch is None else (batch,) + g.x_shape[1:]
    out_shape = (x_shape[0],) + g.out_shape[1:]
    x, w, grad = _x(seed, x_shape, dtype), _x(seed + 1, g.w_shape, dtype), _x(seed + 2, out_shape, dtype)
    args = (g.stride, g.padding, g.dilation, g.groups)
    assert_providers_agree("conv2d", x, w, *args, providers=NUMBA, **_tol(dtype))
    assert_providers_agree("conv2d_backward", grad, x, w, *args, providers=NUMBA, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_conv2d_depthwise_and_strided(dtype):
    x = _x(0, (2, 6, 13, 11), dtype)
    for w_shape, args in [((6, 1, 3, 3), ((2, 2), (1, 1), (1, 1), 6)),           # depthwise, stride 2
                          ((12, 3, 5, 5), ((1, 2), (2, 2), (2, 1), 2)),          # 5x5, dilation, groups
                          ((4, 6, 1, 1), ((3, 3), (0, 0), (1, 1), 1))]:          # 1x1, stride past the kernel
        w = _x(1, w_shape, dtype)
        y = reference.conv2d(x, w, *args)
        assert_providers_agree("conv2d", x, w, *args, providers=NUMBA, **_tol(dtype))
        assert_providers_agree("conv2d_backward", _x(2, y.shape, dtype), x, w, *args, providers=NUMBA,
                               **_tol(dtype))


def test_conv2d_propagates_nan():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    assert_providers_agree("conv2d", x, np.ones((1, 1, 3, 3)), (1, 1), (1, 1), (1, 1), 1, providers=NUMBA)


# ---------------------------------------------------------------------------------------------------------------------
# pooling

def _max_args(g):
    return g.kernel_size, g.stride, g.padding, g.dilation, g.ceil_mode


@given(g=pool2d_geometries(max_kernel=5, max_size=11), dtype=dtypes, seed=seeds, ties=st.booleans(),
       nans=st.integers(0, 3))
def test_max_pool2d_matches_reference(g, dtype, seed, ties, nans):
    x = _x(seed, g.x_shape, dtype, ties, nans)
    assert_providers_agree("max_pool2d", x, *_max_args(g), providers=NUMBA)
    idx = reference.max_pool2d(x, *_max_args(g))[1]
    assert_providers_agree("max_pool2d_backward", _x(seed + 1, g.out_shape, dtype), x, idx, *_max_args(g),
                           providers=NUMBA)


def test_max_pool2d_nan_ties_and_empty_windows():
    x = np.array([[[[1, np.nan, 3], [np.nan, 2, 3], [-np.inf, -np.inf, 0]]]])
    for dtype in DTYPES:
        for args in [((2, 2), (1, 1), (0, 0), (1, 1), False), ((3, 3), (2, 2), (1, 1), (1, 1), True),
                     ((2, 2), (2, 2), (1, 1), (2, 2), True)]:
            assert_providers_agree("max_pool2d", x.astype(dtype), *args, providers=NUMBA)
    # forged indices outside the plane are dropped, never written
    idx = np.array([[[[0, 9], [-1, 2**40]]]], dtype=np.int64)
    assert_providers_agree("max_pool2d_backward", np.ones((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)), idx, (2, 2),
                           (1, 1), (0, 0), (1, 1), False, providers=NUMBA)


def _avg_args(g):
    return g.kernel_size, g.stride, g.padding, g.ceil_mode, g.count_include_pad


@given(g=pool2d_geometries(max_kernel=5, max_size=11, max_dilation=1), dtype=dtypes, seed=seeds)
def test_avg_pool2d_matches_reference(g, dtype, seed):
    x = _x(seed, g.x_shape, dtype)
    assert_providers_agree("avg_pool2d", x, *_avg_args(g), providers=NUMBA)
    assert_providers_agree("avg_pool2d_backward", _x(seed + 1, g.out_shape, dtype), x, *_avg_args(g),
                           providers=NUMBA)


@pytest.mark.parametrize("cip", [True, False])
def test_avg_pool2d_ceil_mode_window_past_the_padding(cip):
    x = _x(3, (1, 2, 4, 5), np.float64)
    for args in [((3, 3), (2, 2), (1, 1), True, cip), ((2, 3), (2, 3), (1, 1), True, cip)]:
        assert_providers_agree("avg_pool2d", x, *args, providers=NUMBA)
        y = reference.avg_pool2d(x, *args)
        assert_providers_agree("avg_pool2d_backward", _x(4, y.shape, np.float64), x, *args, providers=NUMBA)


# ---------------------------------------------------------------------------------------------------------------------
# batch_norm

@given(shape=st.tuples(st.integers(0, 5), st.integers(1, 6), st.integers(0, 30)), dtype=dtypes, seed=seeds,
       training=st.booleans(), buffers=st.booleans(), momentum=st.sampled_from([0.0, 0.1, 1.0]))
def test_batch_norm_matches_reference(shape, dtype, seed, training, buffers, momentum):
    if not training and not buffers and shape[0] * shape[2] == 0:
        buffers = True
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    rm = rng.standard_normal(c).astype(dtype) if buffers else None
    rv = rng.uniform(0.5, 2, c).astype(dtype) if buffers else None
    # the running statistics (updated in place, NaN variance for one value per channel) are compared too
    assert_providers_agree("batch_norm", x, w, b, rm, rv, training, momentum, 1e-5, providers=NUMBA)
    _, mean, invstd = reference.batch_norm(x, w, b, None if rm is None else rm.copy(),
                                           None if rv is None else rv.copy(), training, momentum, 1e-5)
    tol = dict(rtol=1e-3, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-7, atol=1e-8)
    assert_providers_agree("batch_norm_backward", _x(seed + 1, shape, dtype), x, w, mean, invstd, training,
                           providers=NUMBA, **tol)


def test_batch_norm_updates_strided_and_other_dtype_buffers_in_place():
    x = _x(1, (4, 3, 5), np.float64)
    w, b = np.ones(3), np.zeros(3)
    base = np.zeros((3, 2))
    rm, rv = base[:, 0], np.ones(3, np.float32)
    want_rm, want_rv = np.zeros(3), np.ones(3)
    reference.batch_norm(x, w, b, want_rm, want_rv, True, 0.1, 1e-5)
    md.backends.provider_kernel("numba", "batch_norm")(x, w, b, rm, rv, True, 0.1, 1e-5)
    np.testing.assert_allclose(base[:, 0], want_rm, rtol=1e-12)
    np.testing.assert_allclose(rv, want_rv, rtol=1e-6)


# ---------------------------------------------------------------------------------------------------------------------
# through minidl.nn.functional, and a training run

def test_gradcheck_conv2d_and_pools_with_numba_provider():
    F = md.nn.functional
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 7, 6))
    with md.backends.use("numba"), md.backends.trace() as log:
        assert_gradcheck(lambda t, w: F.conv2d(t, w, stride=2, padding=1), x, rng.standard_normal((3, 4, 3, 3)))
        assert_gradcheck(lambda t, w: F.conv2d(t, w, padding=(1, 0), dilation=(1, 2), groups=2), x,
                         rng.standard_normal((4, 2, 2, 3)))
        assert_gradcheck(lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True), x)
        assert_gradcheck(lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False), x)
    assert {r.provider for r in log} == {"numba"}
    assert {"conv2d_backward", "max_pool2d_backward", "avg_pool2d_backward"} <= {r.kernel for r in log}


def test_cnn_trains_with_numba_backend(capsys):
    assert main(["train", "cnn", "--backend", "numba", "--epochs", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    accuracy = float(re.findall(r"test accuracy: ([0-9.]+)", out)[-1])
    assert accuracy >= 0.9, out
