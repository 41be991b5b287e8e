"""The reference kernels (minidl/backends/reference.py) against PyTorch, and proven without it.

Two independent oracles:
- PyTorch (CPU): every kernel forward and backward, float32 and float64, on geometries drawn by
  ``minidl.testing.geometry`` (skipped with a reason when torch is missing);
- finite differences (float64, no torch): each ``*_backward`` is the adjoint of its forward, checked through a
  central-difference directional derivative, ``<g, (f(x + eps v) - f(x - eps v)) / 2 eps>  ==  <backward(g), v>``.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.backends import reference as R
from minidl.testing.geometry import Conv2dGeometry, Pool2dGeometry, conv2d_geometries, pool2d_geometries

DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**32 - 1)
FEW = settings(deadline=None, max_examples=40)
SOME = settings(deadline=None, max_examples=80)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="comparison against PyTorch needs torch installed")


# ---------------------------------------------------------------------------------------------------------------------
# helpers

def _randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _check(out, ref, dtype, *inputs, scale_tol=True, scale=1.0):
    """out has ref's shape, the dtype, is C-contiguous and fresh, and matches ref to the dtype's tolerance
    (absolute tolerance relative to the largest finite |ref|, or to ``scale`` when an intermediate is larger)."""
    ref = np.asarray(ref)
    assert out.shape == ref.shape, f"shape {out.shape} != {ref.shape}"
    assert out.dtype == dtype, f"dtype {out.dtype} != {np.dtype(dtype)}"
    assert out.flags.c_contiguous
    for a in inputs:
        assert not np.shares_memory(out, a), "output is a view of an input"
    rtol, atol = (1e-4, 1e-5) if dtype == np.float32 else (1e-10, 1e-12)
    if scale_tol:
        atol *= max(1.0, scale, float(np.abs(ref[np.isfinite(ref)]).max(initial=0)))
    np.testing.assert_allclose(out, ref, rtol=rtol, atol=atol, equal_nan=True)


def _t(torch, a, grad=False):
    return torch.tensor(a, requires_grad=grad)


def _directional(f, inputs, grads, g, rng, eps=1e-6):
    """Assert backward grads are the adjoint of f at inputs along a random direction, one input at a time."""
    for i, (x, gx) in enumerate(zip(inputs, grads)):
        assert gx.shape == x.shape and gx.dtype == np.float64
        v = rng.standard_normal(x.shape)
        shifted = [[a + s * eps * v if j == i else a for j, a in enumerate(inputs)] for s in (1, -1)]
        fd = (np.vdot(g, f(*shifted[0])) - np.vdot(g, f(*shifted[1]))) / (2 * eps)
        an = np.vdot(gx, v)
        tol = 1e-6 * (1 + abs(an) + np.abs(g).sum() * np.abs(f(*inputs)).max(initial=0))
        assert abs(fd - an) <= tol, f"input {i}: finite difference {fd!r} vs backward {an!r}"


def _matmul_shapes():
    dims = st.integers(0, 5)
    return st.tuples(st.one_of(st.none(), st.integers(0, 3)), dims, dims, dims)


def _distinct(rng, shape):
    """float64 values pairwise >= 0.01 apart: the argmax of a window cannot switch under an eps perturbation."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.01 + rng.uniform(0, 1e-3, size)).reshape(shape)


def _pool_values(rng, shape, dtype, mode):
    """Pool input: plain normal, small integers (ties), or integers with NaN/-inf/+inf sprinkled in."""
    if mode == "normal":
        return _randn(rng, shape, dtype)
    x = rng.integers(-2, 3, shape).astype(dtype)
    if mode == "special":
        x[rng.random(shape) < 0.08] = np.nan
        x[rng.random(shape) < 0.08] = -np.inf
        x[rng.random(shape) < 0.04] = np.inf
    return x


# ---------------------------------------------------------------------------------------------------------------------
# matmul

@SOME
@given(shapes=_matmul_shapes(), dtype=DTYPES, seed=SEEDS)
def test_matmul_vs_torch(torch, shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    batch, m, k, n = shapes
    lead = () if batch is None else (batch,)
    a, b = _randn(rng, lead + (m, k), dtype), _randn(rng, lead + (k, n), dtype)
    c = R.matmul(a, b)
    at, bt = _t(torch, a, True), _t(torch, b, True)
    ct = torch.matmul(at, bt)
    _check(c, ct.detach().numpy(), dtype, a, b)
    g = _randn(rng, c.shape, dtype)
    ct.backward(_t(torch, g))
    ga, gb = R.matmul_backward(g, a, b)
    _check(ga, at.grad.numpy(), dtype, a, b, g)
    _check(gb, bt.grad.numpy(), dtype, a, b, g)


@FEW
@given(shapes=_matmul_shapes(), seed=SEEDS)
def test_matmul_backward_finite_difference(shapes, seed):
    rng = np.random.default_rng(seed)
    batch, m, k, n = shapes
    lead = () if batch is None else (batch,)
    a, b = rng.standard_normal(lead + (m, k)), rng.standard_normal(lead + (k, n))
    g = rng.standard_normal(lead + (m, n))
    _directional(R.matmul, [a, b], R.matmul_backward(g, a, b), g, rng)


# ---------------------------------------------------------------------------------------------------------------------
# conv2d

@SOME
@given(geo=conv2d_geometries(), dtype=DTYPES, seed=SEEDS)
def test_conv2d_vs_torch(torch, geo, dtype, seed):
    rng = np.random.default_rng(seed)
    x, w = _randn(rng, geo.x_shape, dtype), _randn(rng, geo.w_shape, dtype)
    args = (geo.stride, geo.padding, geo.dilation, geo.groups)
    y = R.conv2d(x, w, *args)
    xt, wt = _t(torch, x, True), _t(torch, w, True)
    yt = torch.nn.functional.conv2d(xt, wt, None, *args)
    assert y.shape == geo.out_shape
    _check(y, yt.detach().numpy(), dtype, x, w)
    g = _randn(rng, y.shape, dtype)
    yt.backward(_t(torch, g))
    gx, gw = R.conv2d_backward(g, x, w, *args)
    _check(gx, xt.grad.numpy(), dtype, x, w, g)
    _check(gw, wt.grad.numpy(), dtype, x, w, g)


@FEW
@given(geo=conv2d_geometries(), seed=SEEDS)
def test_conv2d_backward_finite_difference(geo, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(geo.x_shape), rng.standard_normal(geo.w_shape)
    args = (geo.stride, geo.padding, geo.dilation, geo.groups)
    g = rng.standard_normal(geo.out_shape)
    _directional(lambda x, w: R.conv2d(x, w, *args), [x, w], R.conv2d_backward(g, x, w, *args), g, rng)


@pytest.mark.parametrize("geo", [
    Conv2dGeometry((1, 1, 3, 3), (1, 1, 1, 1), (1, 1), (0, 0), (1, 1), 1),     # 1x1 kernel, the identity geometry
    Conv2dGeometry((2, 3, 5, 4), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3),     # depthwise, "same" padding
    Conv2dGeometry((1, 2, 7, 7), (2, 2, 2, 2), (3, 3), (0, 0), (1, 1), 1),     # stride > kernel: pixels unused
    Conv2dGeometry((1, 2, 5, 5), (2, 1, 3, 3), (2, 1), (3, 2), (2, 2), 2),     # padding > kernel // 2, dilation
], ids=["1x1", "depthwise", "stride>kernel", "pad+dilation"])
def test_conv2d_known_geometries(geo):
    # Direct definition with explicit loops (tiny sizes): independent of both the strided view and torch.
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(geo.x_shape), rng.standard_normal(geo.w_shape)
    (sh, sw), (ph, pw), (dh, dw), groups = geo.stride, geo.padding, geo.dilation, geo.groups
    n, o, oh, ow = geo.out_shape
    cg, kh, kw = geo.w_shape[1:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ref, ref_gw = np.zeros(geo.out_shape), np.zeros(geo.w_shape)      # ref_gw: gradient of y.sum() w.r.t. w
    for b, oc, i, j in np.ndindex(n, o, oh, ow):
        g = oc // (o // groups)
        patch = xp[b, g * cg:(g + 1) * cg, i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw]
        ref[b, oc, i, j] = (patch * w[oc]).sum()
        ref_gw[oc] += patch
    _check(R.conv2d(x, w, geo.stride, geo.padding, geo.dilation, groups), ref, np.float64, x, w)
    gx, gw = R.conv2d_backward(np.ones_like(ref), x, w, geo.stride, geo.padding, geo.dilation, groups)
    _check(gw, ref_gw, np.float64, x, w)
    if geo.stride == (3, 3):                       # rows/cols 2 and 5 of the 7x7 input are never read
        assert not gx[:, :, [2, 5], :].any() and not gx[:, :, :, [2, 5]].any()


# ---------------------------------------------------------------------------------------------------------------------
# max_pool2d

@SOME
@given(geo=pool2d_geometries(), dtype=DTYPES, seed=SEEDS, mode=st.sampled_from(["normal", "ties", "special"]))
def test_max_pool2d_vs_torch(torch, geo, dtype, seed, mode):
    rng = np.random.default_rng(seed)
    x = _pool_values(rng, geo.x_shape, dtype, mode)
    args = (geo.kernel_size, geo.stride, geo.padding, geo.dilation, geo.ceil_mode)
    y, idx = R.max_pool2d(x, *args)
    xt = _t(torch, x, True)
    yt, it = torch.nn.functional.max_pool2d(xt, *args, return_indices=True)
    assert y.shape == geo.out_shape
    _check(y, yt.detach().numpy(), dtype, x)
    assert idx.dtype == np.int64 and idx.flags.c_contiguous
    np.testing.assert_array_equal(idx, it.numpy())
    g = _randn(rng, y.shape, dtype)
    yt.backward(_t(torch, g))
    _check(R.max_pool2d_backward(g, x, idx, *args), xt.grad.numpy(), dtype, x, g)


@FEW
@given(geo=pool2d_geometries(), seed=SEEDS)
def test_max_pool2d_backward_finite_difference(geo, seed):
    rng = np.random.default_rng(seed)
    x = _distinct(rng, geo.x_shape)
    args = (geo.kernel_size, geo.stride, geo.padding, geo.dilation, geo.ceil_mode)
    y, idx = R.max_pool2d(x, *args)
    g = rng.standard_normal(y.shape)
    _directional(lambda x: R.max_pool2d(x, *args)[0], [x], [R.max_pool2d_backward(g, x, idx, *args)], g, rng)


def test_max_pool2d_nan_ties_and_padding():
    nan, inf = np.nan, np.inf
    x = np.array([[[[1, nan, 3, nan], [-inf, -inf, -inf, nan]]]])
    y, idx = R.max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert np.isnan(y).all()
    np.testing.assert_array_equal(idx, [[[[1, 7]]]])           # a NaN wins; the last NaN in window order is kept
    y, idx = R.max_pool2d(np.full((1, 1, 2, 3), 5.0), (2, 2), (1, 1), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(idx, [[[[0, 1]]]])           # ties: the first maximum
    y, idx = R.max_pool2d(np.full((1, 1, 2, 2), -inf), (2, 2), (1, 1), (1, 1), (1, 1), False)
    assert (y == -inf).all()                                   # padding is never chosen, even over -inf
    np.testing.assert_array_equal(idx, [[[[0, 0, 1], [0, 0, 1], [2, 2, 3]]]])
    gx = R.max_pool2d_backward(np.ones((1, 1, 3, 3)), x[:, :, :2, :2], idx, (2, 2), (1, 1), (1, 1), (1, 1), False)
    np.testing.assert_array_equal(gx, [[[[4, 2], [2, 1]]]])   # scatter-ADD: overlapping windows accumulate


def test_max_pool2d_window_without_input():
    # dilation 3 over a 2x2 input padded by 1: the single window's taps (-1, 2) miss the input in both axes.
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    y, idx = R.max_pool2d(x, (2, 2), (1, 1), (1, 1), (3, 3), False)
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == -np.inf
    assert idx[0, 0, 0, 0] == 2 * 2 + 2                        # PyTorch's index of the first tap >= 0
    gx = R.max_pool2d_backward(np.ones_like(y), x, idx, (2, 2), (1, 1), (1, 1), (3, 3), False)
    assert gx.shape == x.shape and not gx.any()                # out-of-plane index dropped, no IndexError


# ---------------------------------------------------------------------------------------------------------------------
# avg_pool2d

@SOME
@given(geo=pool2d_geometries(max_dilation=1), dtype=DTYPES, seed=SEEDS)
def test_avg_pool2d_vs_torch(torch, geo, dtype, seed):
    rng = np.random.default_rng(seed)
    x = _randn(rng, geo.x_shape, dtype)
    args = (geo.kernel_size, geo.stride, geo.padding, geo.ceil_mode, geo.count_include_pad)
    y = R.avg_pool2d(x, *args)
    xt = _t(torch, x, True)
    yt = torch.nn.functional.avg_pool2d(xt, *args)
    assert y.shape == geo.out_shape
    _check(y, yt.detach().numpy(), dtype, x)
    g = _randn(rng, y.shape, dtype)
    yt.backward(_t(torch, g))
    _check(R.avg_pool2d_backward(g, x, *args), xt.grad.numpy(), dtype, x, g)


@FEW
@given(geo=pool2d_geometries(max_dilation=1), seed=SEEDS)
def test_avg_pool2d_backward_finite_difference(geo, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(geo.x_shape)
    args = (geo.kernel_size, geo.stride, geo.padding, geo.ceil_mode, geo.count_include_pad)
    g = rng.standard_normal(geo.out_shape)
    _directional(lambda x: R.avg_pool2d(x, *args), [x], [R.avg_pool2d_backward(g, x, *args)], g, rng)


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_ceil_mode_divisor(count_include_pad):
    # 4x4 ones, kernel 3, stride 2, padding 1, ceil_mode: windows start at -1, 1, 3 per axis. The last one, [3, 6),
    # hangs past the padded edge (5) and is clipped to [3, 5): divisor 2 (with pad) or 1 (input only) per axis.
    x = np.ones((1, 1, 4, 4))
    y = R.avg_pool2d(x, (3, 3), (2, 2), (1, 1), True, count_include_pad)
    per_axis = np.array([2 / 3, 1, 1 / 2]) if count_include_pad else np.ones(3)
    np.testing.assert_allclose(y[0, 0], np.outer(per_axis, per_axis), rtol=1e-15)
    gx = R.avg_pool2d_backward(np.ones_like(y), x, (3, 3), (2, 2), (1, 1), True, count_include_pad)
    # Input row r collects 1/divisor from each window covering it (rows 1 and 3 are covered twice).
    col = np.array([1 / 3, 2 / 3, 1 / 3, 5 / 6]) if count_include_pad else np.array([1 / 2, 5 / 6, 1 / 3, 4 / 3])
    np.testing.assert_allclose(gx[0, 0], np.outer(col, col), rtol=1e-15)


# ---------------------------------------------------------------------------------------------------------------------
# batch_norm

@st.composite
def _bn_cases(draw):
    return (draw(st.integers(0, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 5)),
            draw(st.sampled_from([0.1, 0.5, 1.0, 0.0])), draw(st.sampled_from([1e-5, 1e-3])))


@SOME
@given(case=_bn_cases(), dtype=DTYPES, seed=SEEDS, training=st.booleans())
def test_batch_norm_vs_torch(torch, case, dtype, seed, training):
    n, c, length, momentum, eps = case
    rng = np.random.default_rng(seed)
    x = (_randn(rng, (n, c, length), dtype) * 3 + 2).astype(dtype)
    weight, bias = _randn(rng, (c,), dtype), _randn(rng, (c,), dtype)
    rm, rv = _randn(rng, (c,), dtype), rng.uniform(0.5, 2, c).astype(dtype)
    rm_t, rv_t = _t(torch, rm), _t(torch, rv)
    rm0, rv0 = rm.copy(), rv.copy()
    y, save_mean, save_invstd = R.batch_norm(x, weight, bias, rm, rv, training, momentum, eps)
    if n * length == 0:
        assert y.shape == x.shape and y.dtype == dtype
        np.testing.assert_array_equal(rm, rm0)
        np.testing.assert_array_equal(rv, rv0)
        return
    yt, mt, it = torch.native_batch_norm(_t(torch, x), _t(torch, weight), _t(torch, bias), rm_t, rv_t, training,
                                         momentum, eps)
    # torch folds the affine into x * a + b, which cancels when invstd is large: scale by |(x - mean) * a|.
    scale = float(np.abs(x * (save_invstd * weight)[:, None]).max())
    _check(y, yt.numpy(), dtype, x, weight, bias, rm, rv, scale=scale)
    if training:
        _check(save_mean, mt.numpy(), dtype, rm, rv)
        _check(save_invstd, it.numpy(), dtype, rm, rv)
    else:                                                       # torch saves nothing in eval; the contract does
        _check(save_mean, rm0, dtype, rm, rv)
        _check(save_invstd, 1 / np.sqrt(rv0.astype(np.float64) + eps), dtype, rm, rv)
    # The buffers the caller passed were written in place (torch did the same to its own copies).
    _check(rm, rm_t.numpy(), dtype, scale_tol=False)
    _check(rv, rv_t.numpy(), dtype, scale_tol=False)
    if not training:
        np.testing.assert_array_equal(rm, rm0)


@SOME
@given(case=_bn_cases(), dtype=DTYPES, seed=SEEDS, training=st.booleans())
def test_batch_norm_backward_vs_torch(torch, case, dtype, seed, training):
    n, c, length, momentum, eps = case
    rng = np.random.default_rng(seed)
    if training and n * length == 1:
        n, length = 2, 1                                        # torch refuses a single value per channel
    x = _randn(rng, (n, c, length), dtype)
    weight, bias = _randn(rng, (c,), dtype), _randn(rng, (c,), dtype)
    rm, rv = _randn(rng, (c,), dtype), rng.uniform(0.5, 2, c).astype(dtype)
    y, save_mean, save_invstd = R.batch_norm(x, weight, bias, rm.copy(), rv.copy(), training, momentum, eps)
    xt, wt, bt = _t(torch, x, True), _t(torch, weight, True), _t(torch, bias, True)
    yt = torch.nn.functional.batch_norm(xt, _t(torch, rm), _t(torch, rv), wt, bt, training, momentum, eps)
    g = _randn(rng, y.shape, dtype)
    yt.backward(_t(torch, g))
    gx, gw, gb = R.batch_norm_backward(g, x, weight, save_mean, save_invstd, training)
    _check(gx, xt.grad.numpy(), dtype, x, g)
    _check(gw, wt.grad.numpy(), dtype, weight, g)
    _check(gb, bt.grad.numpy(), dtype, g)


@FEW
@given(case=_bn_cases(), seed=SEEDS, training=st.booleans())
def test_batch_norm_backward_finite_difference(case, seed, training):
    n, c, length, _, eps = case
    rng = np.random.default_rng(seed)
    x, weight, bias = rng.standard_normal((n, c, length)), rng.standard_normal(c), rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    # Training FD passes no running buffers so the repeated forwards do not write anything.
    buffers = (None, None) if training else (rm, rv)

    def f(x, weight, bias):
        return R.batch_norm(x, weight, bias, *buffers, training, 0.1, eps)[0]

    _, save_mean, save_invstd = R.batch_norm(x, weight, bias, *buffers, training, 0.1, eps)
    g = rng.standard_normal(x.shape)
    grads = R.batch_norm_backward(g, x, weight, save_mean, save_invstd, training)
    _directional(f, [x, weight, bias], grads, g, rng)


def test_batch_norm_running_update_and_stability():
    # A large offset breaks the one-pass E[x^2] - E[x]^2 variance; the two-pass statistics stay exact.
    x = (1e8 + np.array([-1.0, 1.0, -1.0, 1.0])).reshape(2, 1, 2)
    rm, rv = np.zeros(1), np.ones(1)
    y, mean, invstd = R.batch_norm(x, np.ones(1), np.zeros(1), rm, rv, True, 0.25, 0.0)
    np.testing.assert_allclose(mean, [1e8])
    np.testing.assert_allclose(invstd, [1.0], rtol=1e-12)
    np.testing.assert_allclose(y.ravel(), [-1, 1, -1, 1], rtol=1e-12)
    np.testing.assert_allclose(rm, [0.25e8])                   # in place: (1 - m) * 0 + m * mean
    np.testing.assert_allclose(rv, [0.75 + 0.25 * 4 / 3])      # unbiased batch variance n / (n - 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_empty_batch(dtype):
    x = np.zeros((0, 3, 5), dtype)
    rm, rv = np.full(3, 0.5, dtype), np.full(3, 2.0, dtype)
    y, mean, invstd = R.batch_norm(x, np.ones(3, dtype), np.zeros(3, dtype), rm, rv, True, 0.1, 1e-5)
    assert y.shape == (0, 3, 5) and y.dtype == dtype and mean.shape == invstd.shape == (3,)
    assert (rm == 0.5).all() and (rv == 2.0).all()
    gx, gw, gb = R.batch_norm_backward(np.zeros_like(x), x, np.ones(3, dtype), mean, invstd, True)
    assert gx.shape == x.shape and gw.shape == gb.shape == (3,) and not gw.any() and not gb.any()
    assert gx.dtype == gw.dtype == gb.dtype == dtype


# ---------------------------------------------------------------------------------------------------------------------
# contract common to every kernel: dtype kept, fresh C-contiguous outputs, size-0 batches

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [0, 2])
def test_outputs_keep_dtype_and_shape(dtype, batch):
    rng = np.random.default_rng(1)
    x = _randn(rng, (batch, 4, 6, 5), dtype)
    w = _randn(rng, (4, 2, 3, 3), dtype)
    conv = ((2, 1), (1, 1), (1, 2), 2)
    pool = Pool2dGeometry(x.shape, (3, 2), (2, 2), (1, 1), (1, 1), True, False)
    y = R.conv2d(x, w, *conv)
    outs = [y, *R.conv2d_backward(y, x, w, *conv)]
    m, idx = R.max_pool2d(x, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode)
    outs += [m, R.max_pool2d_backward(m, x, idx, pool.kernel_size, pool.stride, pool.padding, pool.dilation, True)]
    a = R.avg_pool2d(x, pool.kernel_size, pool.stride, pool.padding, True, False)
    outs += [a, R.avg_pool2d_backward(a, x, pool.kernel_size, pool.stride, pool.padding, True, False)]
    assert y.shape == (batch, 4, 3, 3) and m.shape == a.shape == pool.out_shape == (batch, 4, 4, 3)
    assert idx.dtype == np.int64
    for out in outs:
        assert out.dtype == dtype and out.flags.c_contiguous and not np.shares_memory(out, x)
    assert outs[1].shape == x.shape and outs[2].shape == w.shape
