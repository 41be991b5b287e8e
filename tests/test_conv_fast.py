"""The fast conv2d paths: Winograd F(4x4, 3x3), the measured choice between it and im2col, the fused bias (+ ReLU)
forward, and conv2d_backward's output mask -- each against the float64 reference, gradchecked, and against PyTorch.

Skipped with the build's reason when minidl._C is not importable, except under CI (see native_ext.py).
"""
import contextlib
import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native_ext import import_native

_C = import_native()

import minidl as md  # noqa: E402 -- after the skip: ops_native needs the extension
import minidl.nn.functional as F  # noqa: E402
from minidl import backends  # noqa: E402
from minidl.backends import ops_native, reference  # noqa: E402
from minidl.testing import assert_gradcheck  # noqa: E402

DTYPES = (np.float32, np.float64)
seeds = st.integers(0, 2**32 - 1)


@contextlib.contextmanager
def algorithm(mode):
    """Force the 3x3 algorithm inside the block ("auto" re-measures), restoring the previous mode after."""
    previous = _C.conv2d_algorithm(mode)
    try:
        yield
    finally:
        _C.conv2d_algorithm(previous)


@st.composite
def winograd_geometries(draw, max_batch=3, max_channels=9, max_size=13):
    """(x shape, w shape, padding, groups) of a 3x3 stride-1 convolution: odd sizes, N = 1, C = 1, groups."""
    groups = draw(st.sampled_from((1, 1, 1, 2, 3)))
    cg = draw(st.integers(1, max(1, max_channels // groups)))
    og = draw(st.integers(1, max(1, max_channels // groups)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h = draw(st.integers(max(1, 3 - 2 * padding[0]), max_size))
    w = draw(st.integers(max(1, 3 - 2 * padding[1]), max_size))
    n = draw(st.integers(1, max_batch))
    return (n, cg * groups, h, w), (og * groups, cg, 3, 3), padding, groups


def _inputs(seed, dtype, x_shape, w_shape, padding):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, x_shape).astype(dtype)
    w = rng.uniform(-1, 1, w_shape).astype(dtype)
    b = rng.uniform(-1, 1, w_shape[0]).astype(dtype)
    oh, ow = x_shape[2] + 2 * padding[0] - 2, x_shape[3] + 2 * padding[1] - 2
    grad = rng.uniform(-1, 1, (x_shape[0], w_shape[0], oh, ow)).astype(dtype)
    return x, w, b, grad


def _winograd_bound(dtype, terms, *scales):
    """The error bound asserted for F(4x4, 3x3): 64 * eps * terms * the product of the operands' max |.|.

    The transforms amplify rounding by at most (sum |B^T row|)^2 (sum |G row|)^2 (sum |A^T row|)^2 = 100 * 0.25 * 361
    per term in the worst case; in practice (hypothesis draws, uniform inputs) the error stays below 2 eps * terms,
    so 64 eps * terms leaves room while staying below 0.2% of the operands' scale for every drawn shape (eps 1.2e-7,
    terms <= 81 * 9): a wrong transform coefficient (an error of the order of the output itself) fails it.
    """
    return 64 * np.finfo(dtype).eps * terms * float(np.prod([np.abs(s).max(initial=0) for s in scales]))


def _check_winograd(x, w, b, grad, padding, groups):
    dtype = x.dtype.type
    geom = ((1, 1), padding, (1, 1), groups)
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, grad))
    cg, og = w.shape[1], w.shape[0] // groups
    want_y = reference.conv2d(x64, w64, *geom) + b.astype(np.float64)[None, :, None, None]
    want_gx, want_gw, want_gb = reference.conv2d_backward(g64, x64, w64, *geom, need=(True, True, True))
    with algorithm("winograd"):
        y = _C.conv2d_bias(x, w, b, *geom)
        y_relu = _C.conv2d_bias(x, w, b, *geom, relu=True)
        gx, gw, gb = _C.conv2d_backward(grad, x, w, *geom, need=(True, True, True))
    bound_y = _winograd_bound(dtype, 9 * cg, x, w) + 4 * np.finfo(dtype).eps * np.abs(b).max()
    assert bound_y < 2e-3 * 9 * cg * np.abs(x).max() * np.abs(w).max()
    for name, got, want, bound in (
            ("y", y, want_y, bound_y),
            ("relu(y)", y_relu, np.maximum(want_y, 0), bound_y),
            ("grad_x", gx, want_gx, _winograd_bound(dtype, 9 * og, grad, w)),
            ("grad_w", gw, want_gw, _winograd_bound(dtype, grad[:, 0].size, grad, x)),
            ("grad_b", gb, want_gb, 4 * np.finfo(dtype).eps * grad[:, 0].size * np.abs(grad).max())):
        assert got.dtype == dtype and got.shape == want.shape and got.flags.c_contiguous, name
        err = np.abs(got - want).max(initial=0)
        assert err <= bound, f"{name}: error {err} above the bound {bound} (x {x.shape}, w {w.shape}, {geom})"


@settings(max_examples=40, deadline=None)
@given(geom=winograd_geometries(), dtype=st.sampled_from(DTYPES), seed=seeds)
def test_winograd_matches_the_float64_reference_within_its_bound(geom, dtype, seed):
    x_shape, w_shape, padding, groups = geom
    _check_winograd(*_inputs(seed, dtype, x_shape, w_shape, padding), padding, groups)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [
    ((1, 1, 3, 3), (1, 1, 3, 3), (0, 0), 1),        # one output pixel
    ((1, 1, 1, 1), (2, 1, 3, 3), (1, 1), 1),        # a 1x1 plane, all taps but one in the padding
    ((2, 3, 7, 9), (4, 3, 3, 3), (2, 1), 1),        # partial tiles on both edges, padding 2
    ((3, 32, 14, 14), (64, 32, 3, 3), (1, 1), 1),   # MNIST conv2, several chunks of tiles
    ((2, 6, 17, 5), (6, 2, 3, 3), (1, 0), 3),       # groups
    ((5, 1, 28, 28), (8, 1, 3, 3), (1, 1), 1),      # C = 1 (the first layer)
])
def test_winograd_edge_cases(case, dtype):
    x_shape, w_shape, padding, groups = case
    _check_winograd(*_inputs(7, dtype, x_shape, w_shape, padding), padding, groups)


def test_winograd_error_grows_with_tile_size_but_stays_small():
    # float32 Winograd is less exact than im2col (its transforms amplify rounding) but far below 1e-4 relative.
    x, w, b, grad = _inputs(3, np.float32, (4, 64, 14, 14), (64, 64, 3, 3), (1, 1))
    geom = ((1, 1), (1, 1), (1, 1), 1)
    want = reference.conv2d(x.astype(np.float64), w.astype(np.float64), *geom)
    errs = {}
    for mode in ("im2col", "winograd"):
        with algorithm(mode):
            errs[mode] = np.abs(_C.conv2d(x, w, *geom) - want).max() / np.abs(want).max()
    assert errs["im2col"] <= errs["winograd"] < 1e-4, errs


# ---------------------------------------------------------------------------------------------------------------------
# the measured choice

def test_auto_mode_measures_once_per_geometry_and_results_repeat_bitwise():
    x, w, b, grad = _inputs(1, np.float32, (4, 8, 12, 12), (16, 8, 3, 3), (1, 1))
    geom = ((1, 1), (1, 1), (1, 1), 1)
    with algorithm("auto"):
        assert _C.conv2d_algorithm_choices() == []
        first = _C.conv2d_bias(x, w, b, *geom), _C.conv2d_backward(grad, x, w, *geom)
        choices = _C.conv2d_algorithm_choices()
        assert {c["pass"] for c in choices} == {"forward", "backward"}
        for c in choices:
            assert c["x"] == x.shape and c["chosen"] in ("im2col", "winograd")
            assert c["im2col_s"] > 0 and c["winograd_s"] > 0
        for _ in range(2):
            again = _C.conv2d_bias(x, w, b, *geom), _C.conv2d_backward(grad, x, w, *geom)
            np.testing.assert_array_equal(again[0], first[0])
            for a, c in zip(again[1], first[1]):
                np.testing.assert_array_equal(a, c)
        assert len(_C.conv2d_algorithm_choices()) == 2      # no new measurement
        # a 5x5 kernel or a stride is never a Winograd candidate: nothing measured
        _C.conv2d(x, np.ones((2, 8, 5, 5), np.float32), (1, 1), (2, 2), (1, 1), 1)
        _C.conv2d(x, w, (2, 2), (1, 1), (1, 1), 1)
        assert len(_C.conv2d_algorithm_choices()) == 2


def test_setting_a_mode_forgets_the_choices_and_bad_modes_are_rejected():
    x, w, _, _ = _inputs(1, np.float64, (2, 3, 6, 6), (4, 3, 3, 3), (1, 1))
    with algorithm("auto"):
        _C.conv2d(x, w, (1, 1), (1, 1), (1, 1), 1)
        assert len(_C.conv2d_algorithm_choices()) == 1
        assert _C.conv2d_algorithm("auto") == "auto"
        assert _C.conv2d_algorithm_choices() == []
    with pytest.raises(ValueError, match="conv2d_algorithm: mode must be"):
        _C.conv2d_algorithm("fft")


# ---------------------------------------------------------------------------------------------------------------------
# the fused bias (+ ReLU) forward

@settings(max_examples=30, deadline=None)
@given(geom=winograd_geometries(), dtype=st.sampled_from(DTYPES), seed=seeds,
       mode=st.sampled_from(("im2col", "winograd")), relu=st.booleans())
def test_conv2d_bias_is_conv2d_plus_bias(geom, dtype, seed, mode, relu):
    x_shape, w_shape, padding, groups = geom
    x, w, b, _ = _inputs(seed, dtype, x_shape, w_shape, padding)
    args = ((1, 1), padding, (1, 1), groups)
    with algorithm(mode):
        plain = _C.conv2d(x, w, *args)
        fused = ops_native.conv2d_bias(x, w, b, *args, relu=relu)
    want = plain + b[None, :, None, None]
    np.testing.assert_array_equal(fused, np.maximum(want, 0) if relu else want)


@pytest.mark.parametrize("stride, padding, dilation, groups", [
    ((2, 1), (0, 2), (1, 1), 1), ((1, 1), (1, 1), (2, 1), 2), ((1, 1), (0, 0), (1, 1), 1)])
def test_conv2d_bias_other_geometries_against_the_reference(stride, padding, dilation, groups):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 9, 8))
    w = rng.standard_normal((6, 4 // groups, 3, 1))
    b = rng.standard_normal(6)
    got = _C.conv2d_bias(x, w, b, stride, padding, dilation, groups, relu=True)
    want = np.maximum(reference.conv2d(x, w, stride, padding, dilation, groups) + b[None, :, None, None], 0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_conv2d_bias_rejects_a_bias_of_the_wrong_size_or_dtype():
    x, w = np.ones((1, 2, 4, 4)), np.ones((3, 2, 3, 3))
    with pytest.raises(ValueError, match="conv2d_bias: b must be"):
        _C.conv2d_bias(x, w, np.ones(2), (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="conv2d_bias"):
        _C.conv2d_bias(x, w, np.ones(3, np.float32), (1, 1), (0, 0), (1, 1), 1)


# ---------------------------------------------------------------------------------------------------------------------
# the output mask

def _providers():
    names = ["numpy", "native"]
    if importlib.util.find_spec("numba") is not None and backends.available()["numba"] is None:
        names.append("numba")
    return names


@pytest.mark.parametrize("provider", _providers())
@pytest.mark.parametrize("need", [(True, True), (True, False), (False, True), (False, False), (True, True, True),
                                  (False, True, True), (True, False, False), (False, False, True)])
def test_conv2d_backward_honours_the_mask(provider, need):
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((3, 4, 7, 6)), rng.standard_normal((6, 2, 3, 2))
    geom = ((2, 1), (1, 0), (1, 2), 2)
    grad = rng.standard_normal((3, 6) + (4, 4))
    full = reference.conv2d_backward(grad, x, w, *geom, need=(True, True, True))
    got = backends.provider_kernel(provider, "conv2d_backward")(grad, x, w, *geom, need=need)
    assert len(got) == len(need)
    for g, want, n in zip(got, full, need):
        if n:
            np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-10)
        else:
            assert g is None


def test_the_op_asks_only_for_the_gradients_that_are_needed(monkeypatch):
    asked = []
    real = ops_native.conv2d_backward

    def spy(*args, need=(True, True)):
        asked.append(tuple(need))
        return real(*args, need=need)

    monkeypatch.setattr(ops_native, "conv2d_backward", spy)
    rng = np.random.default_rng(0)
    x = md.from_numpy(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))        # data: no gradient wanted
    w = md.from_numpy(rng.standard_normal((4, 3, 3, 3)).astype(np.float32)).requires_grad_()
    b = md.from_numpy(rng.standard_normal(4).astype(np.float32)).requires_grad_()
    F.conv2d(x, w, b, padding=1).sum().backward()
    F.conv2d(x.requires_grad_(), w.detach(), None, padding=1).sum().backward()  # frozen weights, no bias
    assert asked == [(False, True, True), (True, False)]
    xt = md.from_numpy(rng.standard_normal((1, 4, 5, 5)).astype(np.float32)).requires_grad_()
    F.conv_transpose2d(xt, w.detach(), stride=2).sum().backward()               # forward: grad_x only
    F.conv_transpose2d(xt.detach(), w, stride=2).sum().backward()               # backward: grad_w only
    assert asked[2:] == [(True, False), (True, False), (False, True)]


# ---------------------------------------------------------------------------------------------------------------------
# through F.conv2d: gradcheck, providers without the fused kernel, PyTorch

@pytest.mark.parametrize("mode", ["im2col", "winograd", "auto"])
@pytest.mark.parametrize("kwargs, x_shape, w_shape", [
    (dict(padding=1), (2, 3, 7, 6), (4, 3, 3, 3)),
    (dict(padding=(2, 0), groups=2), (1, 4, 6, 5), (4, 2, 3, 3)),
    (dict(padding=0), (2, 1, 5, 9), (2, 1, 3, 3)),
    (dict(stride=2, padding=1), (2, 2, 7, 7), (3, 2, 3, 3)),
])
def test_gradcheck_conv2d_with_bias(mode, kwargs, x_shape, w_shape):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(x_shape + (2,))[..., 0]                                 # non-contiguous
    w, b = rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    with algorithm(mode), backends.use("native"):
        assert_gradcheck(lambda x_, w_, b_: F.conv2d(x_, w_, b_, **kwargs), x, w, b)


@pytest.mark.parametrize("provider", ["numpy", "numba"])
def test_providers_without_the_fused_kernel_use_the_composed_path(provider):
    if backends.available()[provider] is not None:
        pytest.skip(backends.available()[provider])
    rng = np.random.default_rng(6)
    x = md.from_numpy(rng.standard_normal((2, 3, 6, 6))).requires_grad_()
    w = md.from_numpy(rng.standard_normal((4, 3, 3, 3))).requires_grad_()
    b = md.from_numpy(rng.standard_normal(4)).requires_grad_()
    with backends.use(provider), backends.trace() as log:
        assert not backends.supports("conv2d_bias")
        y = F.conv2d(x, w, b, padding=1)
        y.backward(md.ones_like(y))
    assert {rec.kernel for rec in log} == {"conv2d", "conv2d_backward"}
    want = reference.conv2d(x.array, w.array, (1, 1), (1, 1), (1, 1), 1) + b.array[None, :, None, None]
    np.testing.assert_allclose(y.array, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.grad.array, np.full(4, 36.0 * 2))


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("mode", ["im2col", "winograd", "auto"])
@pytest.mark.parametrize("x_shape, out, padding", [((8, 1, 28, 28), 32, 1), ((8, 32, 14, 14), 64, 1),
                                                    ((2, 16, 15, 11), 8, 2), ((1, 5, 4, 4), 3, 0)])
def test_against_pytorch(mode, x_shape, out, padding):
    rng = np.random.default_rng(8)
    xn = rng.standard_normal(x_shape).astype(np.float32)
    wn = (rng.standard_normal((out, x_shape[1], 3, 3)) / np.sqrt(9 * x_shape[1])).astype(np.float32)
    bn = rng.standard_normal(out).astype(np.float32)
    gn = rng.standard_normal((x_shape[0], out, x_shape[2] + 2 * padding - 2, x_shape[3] + 2 * padding - 2))
    x, w, b = (md.from_numpy(a).requires_grad_() for a in (xn, wn, bn))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (xn, wn, bn))
    with algorithm(mode):
        y = F.conv2d(x, w, b, padding=padding)
        y.backward(md.from_numpy(gn.astype(np.float32)))
    ty = torch.nn.functional.conv2d(tx, tw, tb, padding=padding)
    ty.backward(torch.tensor(gn.astype(np.float32)))
    for got, want in ((y, ty), (x.grad, tx.grad), (w.grad, tw.grad), (b.grad, tb.grad)):
        want = want.detach().numpy()
        np.testing.assert_allclose(got.array, want, rtol=1e-4, atol=2e-4 * np.abs(want).max())
