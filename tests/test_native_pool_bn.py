"""The native pooling and batch-norm kernels of minidl._C on large shapes (threaded, border and interior columns),
in-place buffer updates, and argument checks. Values on drawn geometries and edge cases, and gradchecks, for every
provider: tests/test_kernels.py.

Skipped with the build's reason when minidl._C is not importable, except under CI (see native_ext.py).
"""

import numpy as np
import pytest
from kernel_inputs import random_input
from native_ext import import_native

_C = import_native()

from minidl.backends import ops_native, reference  # noqa: E402
from minidl.testing import assert_providers_agree  # noqa: E402

DTYPES = [np.float32, np.float64]
NATIVE = ["native"]


_x = random_input


def _grad(seed, shape, dtype):
    return np.random.default_rng(seed + 1).standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------------------------------------------------------
# max_pool2d


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


# ---------------------------------------------------------------------------------------------------------------------
# avg_pool2d


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


# ---------------------------------------------------------------------------------------------------------------------
# batch_norm


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
