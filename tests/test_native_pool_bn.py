"""The native pooling and batch-norm kernels of minidl._C against the NumPy reference (the spec).

Skipped with the build's reason when minidl._C is not importable, except under CI (see native_ext.py).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel_inputs import random_input
from native_ext import import_native

_C = import_native()

import minidl as md  # noqa: E402 -- after the skip: ops_native needs the extension
from minidl.backends import ops_native, reference  # noqa: E402
from minidl.testing import assert_gradcheck, assert_providers_agree, pool2d_geometries  # noqa: E402

DTYPES = [np.float32, np.float64]
dtypes = st.sampled_from(DTYPES)
seeds = st.integers(0, 2**32 - 1)
NATIVE = ["native"]


_x = random_input


def _grad(seed, shape, dtype):
    return np.random.default_rng(seed + 1).standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------------------------------------------------------
# max_pool2d


def _max_args(g):
    return g.kernel_size, g.stride, g.padding, g.dilation, g.ceil_mode


@settings(max_examples=300, deadline=None)
@given(g=pool2d_geometries(max_kernel=7, max_size=13), dtype=dtypes, seed=seeds, ties=st.booleans(),
       nans=st.integers(0, 3))
def test_max_pool2d_matches_reference(g, dtype, seed, ties, nans):
    x = _x(seed, g.x_shape, dtype, ties, nans)
    y, idx = ops_native.max_pool2d(x, *_max_args(g))
    assert y.shape == idx.shape == g.out_shape and idx.dtype == np.int64
    assert_providers_agree("max_pool2d", x, *_max_args(g), providers=NATIVE)
    ref_idx = reference.max_pool2d(x, *_max_args(g))[1]
    grad = _grad(seed, g.out_shape, dtype)
    assert_providers_agree("max_pool2d_backward", grad, x, ref_idx, *_max_args(g), providers=NATIVE)


def test_max_pool2d_nan_rules():
    # The last NaN in row-major window order is chosen; ties pick the first maximum; -inf windows keep their
    # first tap.
    x = np.array([[[[1, np.nan, 3], [np.nan, 2, 3], [-np.inf, -np.inf, 0]]]])
    for dtype in DTYPES:
        xd = x.astype(dtype)
        for args in [((2, 2), (1, 1), (0, 0), (1, 1), False), ((3, 3), (2, 2), (1, 1), (1, 1), True),
                     ((2, 2), (2, 2), (1, 1), (2, 2), True)]:
            y, idx = ops_native.max_pool2d(xd, *args)
            ry, ridx = reference.max_pool2d(xd, *args)
            np.testing.assert_array_equal(y, ry)
            np.testing.assert_array_equal(idx, ridx)
        y, idx = ops_native.max_pool2d(xd, (2, 2), (1, 1), (0, 0), (1, 1), False)
        assert np.isnan(y[0, 0]).tolist() == [[True, True], [True, False]] and y[0, 0, 1, 1] == 3
        assert idx[0, 0].tolist() == [[3, 1], [3, 5]]


@pytest.mark.parametrize("shape, args", [
    ((4, 16, 28, 28), ((2, 2), (2, 2), (0, 0), (1, 1), False)),
    ((2, 8, 112, 112), ((3, 3), (2, 2), (1, 1), (1, 1), False)),
    ((3, 5, 57, 61), ((3, 3), (2, 2), (1, 1), (1, 1), True)),
    ((2, 3, 40, 33), ((7, 5), (3, 1), (3, 2), (2, 1), True)),
    ((1, 2, 300, 257), ((2, 2), (1, 1), (1, 0), (1, 1), True)),
], ids=["2x2s2", "3x3s2p1", "ceil", "7x5-dilated", "big-plane"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_max_pool2d_large_shapes(shape, args, dtype):
    x = _x(sum(shape), shape, dtype, ties=True, nans=5)
    assert_providers_agree("max_pool2d", x, *args, providers=NATIVE)
    y, idx = reference.max_pool2d(x, *args)
    assert_providers_agree("max_pool2d_backward", _grad(1, y.shape, dtype), x, idx, *args, providers=NATIVE)


def test_max_pool2d_backward_drops_indices_outside_the_plane():
    # Windows with no input element carry an index outside the plane; forged ones must not write out of bounds.
    x = np.zeros((1, 2, 3, 3))
    grad = np.ones((1, 2, 2, 2))
    idx = np.array([[[[0, 9], [-1, 2**40]], [[8, 8], [-(2**62), 4]]]], dtype=np.int64)
    got = ops_native.max_pool2d_backward(grad, x, idx, (2, 2), (1, 1), (0, 0), (1, 1), False)
    want = reference.max_pool2d_backward(grad, x, idx, (2, 2), (1, 1), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(got, want)
    assert got[0, 0].reshape(-1)[0] == 1 and got[0, 1].reshape(-1)[8] == 2 and got.sum() == 4


# ---------------------------------------------------------------------------------------------------------------------
# avg_pool2d


def _avg_args(g):
    return g.kernel_size, g.stride, g.padding, g.ceil_mode, g.count_include_pad


@settings(max_examples=300, deadline=None)
@given(g=pool2d_geometries(max_kernel=7, max_size=13, max_dilation=1), dtype=dtypes, seed=seeds)
def test_avg_pool2d_matches_reference(g, dtype, seed):
    x = _x(seed, g.x_shape, dtype)
    y = ops_native.avg_pool2d(x, *_avg_args(g))
    assert y.shape == g.out_shape
    assert_providers_agree("avg_pool2d", x, *_avg_args(g), providers=NATIVE)
    assert_providers_agree("avg_pool2d_backward", _grad(seed, g.out_shape, dtype), x, *_avg_args(g),
                           providers=NATIVE)


@pytest.mark.parametrize("shape, args", [
    ((4, 16, 28, 28), ((2, 2), (2, 2), (0, 0), False, True)),
    ((2, 8, 112, 112), ((3, 3), (2, 2), (1, 1), False, True)),
    ((3, 5, 57, 61), ((3, 3), (2, 2), (1, 1), True, False)),
    ((2, 3, 40, 33), ((7, 5), (3, 4), (3, 2), True, True)),
    ((1, 2, 300, 257), ((2, 3), (1, 1), (1, 0), True, False)),
], ids=["2x2s2", "3x3s2p1", "ceil-nopad", "7x5", "big-plane"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_avg_pool2d_large_shapes(shape, args, dtype):
    x = _x(sum(shape), shape, dtype)
    y = reference.avg_pool2d(x, *args)
    assert_providers_agree("avg_pool2d", x, *args, providers=NATIVE)
    assert_providers_agree("avg_pool2d_backward", _grad(2, y.shape, dtype), x, *args, providers=NATIVE)


def test_avg_pool2d_ceil_mode_window_past_the_padding_divides_by_fewer():
    # H = 4, k = 3, s = 2, p = 1, ceil: the last window starts at 3 and is clipped to the padded end 5.
    x = np.ones((1, 1, 4, 4))
    for cip in (True, False):
        got = ops_native.avg_pool2d(x, (3, 3), (2, 2), (1, 1), True, cip)
        np.testing.assert_allclose(got, reference.avg_pool2d(x, (3, 3), (2, 2), (1, 1), True, cip), rtol=1e-15)


# ---------------------------------------------------------------------------------------------------------------------
# batch_norm

ncl_shapes = st.tuples(st.integers(0, 5), st.integers(1, 6), st.integers(0, 40))


@settings(max_examples=200, deadline=None)
@given(shape=ncl_shapes, dtype=dtypes, seed=seeds, training=st.booleans(), buffers=st.booleans(),
       momentum=st.sampled_from([0.0, 0.1, 1.0]), offset=st.sampled_from([0.0, 1e3]))
def test_batch_norm_matches_reference(shape, dtype, seed, training, buffers, momentum, offset):
    if not training and not buffers and shape[0] * shape[2] == 0:
        buffers = True
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = (rng.standard_normal(shape) * 2 + offset).astype(dtype)
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    rm = rng.standard_normal(c).astype(dtype) if buffers else None
    rv = rng.uniform(0.5, 2, c).astype(dtype) if buffers else None
    # checks the running statistics after the call too (updated in place by both)
    # float32 inputs near 1e3 carry ~6e-5 of rounding each: after (x - mean) / std (std ~2) and the weight, the
    # two providers' different summation orders differ by a few 1e-4 in absolute terms
    rtol, atol = (1e-3, 1e-3) if dtype == np.float32 and offset else (None, None)
    assert_providers_agree("batch_norm", x, w, b, rm, rv, training, momentum, 1e-5, providers=NATIVE, rtol=rtol,
                           atol=atol)
    _, mean, invstd = reference.batch_norm(x, w, b, None if rm is None else rm.copy(),
                                           None if rv is None else rv.copy(), training, momentum, 1e-5)
    grad = _grad(seed, shape, dtype)
    atol = 1e-3 if dtype == np.float32 else 1e-8
    assert_providers_agree("batch_norm_backward", grad, x, w, mean, invstd, training, providers=NATIVE,
                           rtol=1e-3 if dtype == np.float32 else 1e-7, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_batch_norm_updates_the_callers_buffers_in_place(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5)).astype(dtype)
    w, b = np.ones(3, dtype), np.zeros(3, dtype)
    rm, rv = np.zeros(3, dtype), np.ones(3, dtype)
    rm_id, rv_id = id(rm), id(rv)
    y, mean, invstd = ops_native.batch_norm(x, w, b, rm, rv, True, 0.25, 1e-5)
    n = 4 * 5
    want_mean = x.astype(np.float64).mean(axis=(0, 2))
    want_var = x.astype(np.float64).var(axis=(0, 2))
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(rm, 0.25 * want_mean, rtol=tol, atol=tol)
    np.testing.assert_allclose(rv, 0.75 + 0.25 * want_var * n / (n - 1), rtol=tol)
    assert id(rm) == rm_id and id(rv) == rv_id
    np.testing.assert_allclose(mean, want_mean, rtol=tol, atol=tol)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(want_var + 1e-5), rtol=tol)

    # A single value per channel: the unbiased variance is NaN, as PyTorch.
    rm, rv = np.zeros(3, dtype), np.ones(3, dtype)
    ops_native.batch_norm(x[:1, :, :1].copy(), w, b, rm, rv, True, 0.1, 1e-5)
    assert np.isnan(rv).all() and np.isfinite(rm).all()

    # Empty batch: y empty, buffers untouched, saved pair zeros.
    rm, rv = np.full(3, 2, dtype), np.full(3, 3, dtype)
    y, mean, invstd = ops_native.batch_norm(np.zeros((0, 3, 5), dtype), w, b, rm, rv, True, 0.1, 1e-5)
    assert y.shape == (0, 3, 5) and (rm == 2).all() and (rv == 3).all()
    assert (mean == 0).all() and (invstd == 0).all()


def test_batch_norm_buffers_the_extension_cannot_write_directly_are_still_updated():
    x = np.random.default_rng(1).standard_normal((4, 3, 5))
    w, b = np.ones(3), np.zeros(3)
    base = np.zeros((3, 2))
    rm, rv = base[:, 0], np.ones(3, np.float32)         # strided view; another dtype
    want_rm, want_rv = np.zeros(3), np.ones(3)
    reference.batch_norm(x, w, b, want_rm, want_rv, True, 0.1, 1e-5)
    ops_native.batch_norm(x, w, b, rm, rv, True, 0.1, 1e-5)
    np.testing.assert_allclose(base[:, 0], want_rm, rtol=1e-12)
    np.testing.assert_allclose(rv, want_rv, rtol=1e-6)


@pytest.mark.parametrize("shape", [(32, 64, 56 * 56), (64, 32, 28 * 28), (1000, 7, 3), (2, 3, 100003)],
                         ids=["32x64x56x56", "64x32x28x28", "wide-batch", "long-L"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_large_shapes(shape, dtype, training):
    rng = np.random.default_rng(sum(shape))
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    rm, rv = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype)
    assert_providers_agree("batch_norm", x, w, b, rm, rv, training, 0.1, 1e-5, providers=NATIVE)
    _, mean, invstd = reference.batch_norm(x, w, b, rm.copy(), rv.copy(), training, 0.1, 1e-5)
    tol = dict(rtol=1e-3, atol=1e-3) if dtype == np.float32 else {}
    assert_providers_agree("batch_norm_backward", _grad(3, shape, dtype), x, w, mean, invstd, training,
                           providers=NATIVE, **tol)


# ---------------------------------------------------------------------------------------------------------------------
# gradcheck through minidl.nn.functional with the native provider forced


def test_gradcheck_with_native_provider():
    F = md.nn.functional
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6))
    with md.backends.use("native"), md.backends.trace() as log:
        assert_gradcheck(lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True), x)
        assert_gradcheck(lambda t: F.max_pool2d(t, 2, 1, dilation=2), x)
        assert_gradcheck(lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False), x)
        assert_gradcheck(lambda t: F.avg_pool2d(t, (2, 3), (1, 2), (1, 0)), x)
        for training in (True, False):
            rm, rv = md.zeros(3, dtype=md.float64), md.ones(3, dtype=md.float64)
            assert_gradcheck(lambda t, w, b, rm=rm, rv=rv, tr=training: F.batch_norm(t, rm, rv, w, b, training=tr),
                             x, rng.standard_normal(3), rng.standard_normal(3))
        assert_gradcheck(lambda t, w, b: F.batch_norm(t, None, None, w, b, training=True),
                         rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal(3))
    assert {r.provider for r in log} == {"native"}
    assert {"max_pool2d_backward", "avg_pool2d_backward", "batch_norm_backward"} <= {r.kernel for r in log}


# ---------------------------------------------------------------------------------------------------------------------
# bad arguments: a ValueError naming the kernel, never a crash


def _f32(*shape):
    return np.ones(shape, np.float32)


GEOM = ((2, 2), (2, 2), (0, 0), (1, 1), False)


@pytest.mark.parametrize("call, message", [
    (lambda: _C.max_pool2d(_f32(2, 3, 4), *GEOM), "x must be 4-D"),
    (lambda: _C.max_pool2d(np.ones((1, 1, 4, 4), np.int32), *GEOM), "float32 or float64"),
    (lambda: _C.max_pool2d(_f32(1, 1, 4, 8)[..., ::2], *GEOM), "C-contiguous"),
    (lambda: _C.max_pool2d(_f32(1, 1, 4, 4), (2, 2, 2), (2, 2), (0, 0), (1, 1), False), "kernel_size must be a pair"),
    (lambda: _C.max_pool2d(_f32(1, 1, 4, 4), (2, 2), "ab", (0, 0), (1, 1), False), "stride must be a pair"),
    (lambda: _C.max_pool2d(_f32(1, 1, 4, 4), (2, 2), (0, 2), (0, 0), (1, 1), False), "must be >= 1"),
    (lambda: _C.max_pool2d(_f32(1, 1, 4, 4), (2, 2), (2, 2), (2, 0), (1, 1), False), "at most half"),
    (lambda: _C.max_pool2d(_f32(1, 1, 4, 4), (2, 2), (2, 2), (0, 0), (1, 1.5), False), "dilation must be a pair"),
], ids=["ndim", "dtype", "strided", "kernel-len", "stride-str", "stride-0", "padding", "dilation-float"])
def test_max_pool2d_rejects_bad_arguments(call, message):
    with pytest.raises(ValueError, match=f"^max_pool2d: .*{message}"):
        call()


@pytest.mark.parametrize("grad, indices, message", [
    (_f32(1, 1, 3, 2), np.zeros((1, 1, 2, 2), np.int64), r"grad has shape \(1, 1, 3, 2\), expected \(1, 1, 2, 2\)"),
    (np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), "dtypes differ"),
    (_f32(1, 1, 2, 2), np.zeros((1, 1, 2, 2), np.int32), "indices must be int64"),
    (_f32(1, 1, 2, 2), np.zeros((1, 1, 2, 3), np.int64), "indices has shape"),
    (_f32(1, 1, 2, 2), np.zeros((1, 1, 4, 2), np.int64)[:, :, ::2], "indices must be C-contiguous"),
], ids=["grad-shape", "grad-dtype", "index-dtype", "index-shape", "index-strided"])
def test_max_pool2d_backward_rejects_bad_arguments(grad, indices, message):
    with pytest.raises(ValueError, match=f"^max_pool2d_backward: .*{message}"):
        _C.max_pool2d_backward(grad, _f32(1, 1, 4, 4), indices, *GEOM)


def test_avg_pool2d_rejects_bad_arguments():
    with pytest.raises(ValueError, match="^avg_pool2d: x must be 4-D"):
        _C.avg_pool2d(_f32(4, 4), (2, 2), (2, 2), (0, 0), False, True)
    with pytest.raises(ValueError, match="^avg_pool2d: padding must be at most half"):
        _C.avg_pool2d(_f32(1, 1, 4, 4), (1, 1), (1, 1), (1, 1), False, True)
    with pytest.raises(ValueError, match=r"^avg_pool2d_backward: grad has shape \(1, 1, 1, 1\)"):
        _C.avg_pool2d_backward(_f32(1, 1, 1, 1), _f32(1, 1, 4, 4), (2, 2), (2, 2), (0, 0), False, True)


def _bn(x=None, w=None, b=None, rm=None, rv=None):
    x = _f32(2, 3, 4) if x is None else x
    w = _f32(3) if w is None else w
    b = _f32(3) if b is None else b
    return _C.batch_norm(x, w, b, rm, rv, True, 0.1, 1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda: _bn(x=_f32(2, 3)), "x must be 3-D"),
    (lambda: _bn(w=_f32(4)), r"weight must have shape \(3,\) for x of shape \(2, 3, 4\)"),
    (lambda: _bn(b=np.ones(3)), "dtypes differ"),
    (lambda: _bn(rm=_f32(3)), "give both running_mean and running_var"),
    (lambda: _bn(rm=_f32(3), rv=_f32(6)[::2]), "running_var must be C-contiguous"),
    (lambda: _bn(rm=_f32(2), rv=_f32(2)), "running_mean must have shape"),
    (lambda: _bn(rm=np.ones(3), rv=np.ones(3)), "dtypes differ"),
    (lambda: _bn(rm=np.broadcast_to(np.float32(0), (3,)).copy().view(), rv=_readonly(_f32(3))), "writeable"),
], ids=["ndim", "weight-shape", "bias-dtype", "one-buffer", "strided-buffer", "buffer-shape", "buffer-dtype",
        "readonly-buffer"])
def test_batch_norm_rejects_bad_arguments(call, message):
    with pytest.raises(ValueError, match=f"^batch_norm: .*{message}"):
        call()


def _readonly(a):
    a.flags.writeable = False
    return a


def test_batch_norm_backward_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"^batch_norm_backward: grad has shape \(2, 3, 5\)"):
        _C.batch_norm_backward(_f32(2, 3, 5), _f32(2, 3, 4), _f32(3), _f32(3), _f32(3), True)
    with pytest.raises(ValueError, match=r"^batch_norm_backward: save_invstd must have shape \(3,\)"):
        _C.batch_norm_backward(_f32(2, 3, 4), _f32(2, 3, 4), _f32(3), _f32(3), _f32(2), True)
