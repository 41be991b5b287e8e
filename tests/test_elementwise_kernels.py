"""The elementwise, sum, softmax and fused cross-entropy kernels: native vs the NumPy reference on hypothesis-drawn
shapes (float32/float64, size 0, non-contiguous, broadcast pairs), one thread and all threads; the ops built on them
against PyTorch; gradchecks in float64, double backward included."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minidl as md
from minidl import backends
from minidl.backends import reference as ref

torch = pytest.importorskip("torch")
native = pytest.importorskip("minidl.backends.ops_native") if backends.available()["native"] is None else None
needs_native = pytest.mark.skipif(native is None, reason="minidl._C is not usable here")
F = md.nn.functional
SETTINGS = settings(max_examples=20, deadline=None)
DTYPES = (np.float32, np.float64)
# one thread / every thread in the extension, whatever the measured cut-overs say
MODES = ((0, math.inf), (0, 0))


def _tol(dtype):
    return dict(rtol=2e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


def _close(got, want, dtype, **kw):
    want = np.asarray(want)     # the reference may hand back a NumPy scalar for 0-d input
    got = np.asarray(got) if np.ndim(got) == 0 else got
    assert type(got) is np.ndarray and got.shape == want.shape and got.dtype == want.dtype, \
        (type(got), got.shape, want.shape, got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, equal_nan=True, **{**_tol(dtype), **kw})


def _array(draw, shape, dtype, low=-5.0, high=5.0, contiguous=None):
    """A float array of ``shape``; non-contiguous (a strided view of a bigger array) when drawn so."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if contiguous is None:
        contiguous = draw(st.booleans())
    if contiguous or not shape:
        return np.asarray(rng.uniform(low, high, shape), dtype=dtype)
    big = rng.uniform(low, high, shape[:-1] + (2 * shape[-1],)).astype(dtype)
    return big[..., ::2]


shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=9)


def _each_mode(fn):
    """fn() under each forced cut-over of the native provider."""
    for mode in MODES:
        with native.forced_cutovers(*mode):
            fn()


# --- provider vs reference ---------------------------------------------------------------------------------------
@needs_native
@SETTINGS
@given(data=st.data(), shape=shapes, dtype=st.sampled_from(DTYPES), op=st.sampled_from(ref.UNARY_OPS))
def test_unary_and_backward_match_the_reference(data, shape, dtype, op):
    positive = op in ("log", "sqrt")
    x = _array(data.draw, shape, dtype, 0.1 if positive else -30.0, 30.0)
    g = _array(data.draw, shape, dtype)
    y_ref = ref.unary(x, op)
    saved = x if op in ("log", "gelu", "gelu_tanh") else y_ref
    gx_ref = ref.unary_backward(g, saved, op)

    def check():
        _close(native.unary(x, op), y_ref, dtype)
        _close(native.unary_backward(g, saved, op), gx_ref, dtype)
    _each_mode(check)


@needs_native
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["exp", "tanh", "sigmoid", "relu"])
def test_unary_special_values_match_the_reference(dtype, op):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 88.7, 88.8, -87.4, -103.0, -104.5, 1e-30, -1e-30, 20.0, -20.0]
                 * 3, dtype=dtype)
    with np.errstate(all="ignore"):
        want = ref.unary(x, op)
        for mode in MODES:
            with native.forced_cutovers(*mode):
                got = native.unary(x, op)
    np.testing.assert_allclose(got, want, rtol=2e-6 if dtype == np.float32 else 1e-13, atol=0, equal_nan=True)


@needs_native
@pytest.mark.parametrize("dtype", DTYPES)
def test_vectorized_exp_and_tanh_are_accurate_over_the_whole_range(dtype):
    x = np.linspace(-103, 88.7, 400_003).astype(dtype)
    with native.forced_cutovers(0, 0):
        e, t = native.unary(x, "exp"), native.unary(x[::7] / 8, "tanh")
    want_e = np.exp(x.astype(np.float64))
    normal = want_e > np.finfo(dtype).tiny
    assert np.max(np.abs(e[normal] - want_e[normal]) / want_e[normal]) < 2 * np.finfo(dtype).eps
    assert np.max(np.abs(e[~normal] - want_e[~normal]), initial=0) <= 2 * np.finfo(dtype).smallest_subnormal
    want_t = np.tanh((x[::7] / 8).astype(np.float64))
    assert np.max(np.abs(t - want_t) / np.maximum(np.abs(want_t), np.finfo(dtype).tiny)) < 3 * np.finfo(dtype).eps


@needs_native
@SETTINGS
@given(data=st.data(), pair=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0,
                                                              max_side=7),
       dtype=st.sampled_from(DTYPES), op=st.sampled_from(ref.BINARY_OPS))
def test_binary_with_broadcasting_matches_the_reference(data, pair, dtype, op):
    a, b = (_array(data.draw, s, dtype, 0.5, 3.0) for s in pair.input_shapes)
    want = ref.binary(a, b, op)
    _each_mode(lambda: _close(native.binary(a, b, op), want, dtype))
    _each_mode(lambda: _close(native.binary(b, a, op), ref.binary(b, a, op), dtype))


@needs_native
@SETTINGS
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=8),
       dtype=st.sampled_from(DTYPES))
def test_reduce_sum_over_any_axes_matches_the_reference(data, shape, dtype):
    dims = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    x = _array(data.draw, shape, dtype)
    want = ref.reduce_sum(x, dims)
    _each_mode(lambda: _close(native.reduce_sum(x, dims), want, dtype, atol=1e-5 if dtype == np.float32 else 1e-12))


@needs_native
@pytest.mark.parametrize("dtype", DTYPES)
def test_reduce_sum_of_many_elements_keeps_float64_like_accuracy(dtype):
    x = np.full((3, 300_001), 0.1, dtype=dtype)
    with native.forced_cutovers(0, 0):
        for dims in ((1,), (0, 1), (0,)):
            got = native.reduce_sum(x, dims)
            want = x.astype(np.float64).sum(axis=dims, keepdims=True)
            np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-13)


@needs_native
@SETTINGS
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=9),
       dtype=st.sampled_from(DTYPES), log=st.booleans())
def test_softmax_forward_and_backward_match_the_reference(data, shape, dtype, log):
    dim = data.draw(st.integers(0, len(shape) - 1))
    x = _array(data.draw, shape, dtype, -20.0, 20.0)
    g = _array(data.draw, shape, dtype)
    fwd, bwd = (ref.log_softmax, ref.log_softmax_backward) if log else (ref.softmax, ref.softmax_backward)
    y = fwd(x, dim)
    gx = bwd(g, y, dim)
    nfwd, nbwd = (native.log_softmax, native.log_softmax_backward) if log else (native.softmax,
                                                                               native.softmax_backward)

    def check():
        _close(nfwd(x, dim), y, dtype)
        _close(nbwd(g, y, dim), gx, dtype, atol=1e-5 if dtype == np.float32 else 1e-12)
    _each_mode(check)


@needs_native
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_rows_of_infinities_and_nan_match_the_reference(dtype):
    x = np.array([[-np.inf, -np.inf, -np.inf], [np.inf, 0, 1], [np.nan, 0, 1], [1e5, 1e5, 0]], dtype=dtype)
    for dim in (0, 1):
        for fwd in ("softmax", "log_softmax"):
            with np.errstate(all="ignore"):
                want = getattr(ref, fwd)(x, dim)
                _each_mode(lambda f=fwd, d=dim, w=want: _close(getattr(native, f)(np.ascontiguousarray(x), d), w, dtype))


@needs_native
@SETTINGS
@given(data=st.data(), n=st.integers(0, 40), c=st.integers(1, 12), dtype=st.sampled_from(DTYPES),
       weighted=st.booleans(), smoothing=st.sampled_from([0.0, 0.1, 1.0]), ignore=st.sampled_from([-100, 0]))
def test_cross_entropy_forward_and_backward_match_the_reference(data, n, c, dtype, weighted, smoothing, ignore):
    x = _array(data.draw, (n, c), dtype, -10.0, 10.0, contiguous=True)
    rng = np.random.default_rng(n * 31 + c)
    t = rng.integers(0, c, n).astype(np.int64)
    t[rng.random(n) < 0.2] = ignore
    w = rng.uniform(0.2, 2.0, c).astype(dtype) if weighted else None
    g = rng.standard_normal(n).astype(dtype)
    loss, stats = ref.cross_entropy(x, t, w, ignore, smoothing)
    gx = ref.cross_entropy_backward(g, x, stats, t, w, ignore, smoothing)

    def check():
        got_loss, got_stats = native.cross_entropy(x, t, w, ignore, smoothing)
        _close(got_loss, loss, dtype, atol=1e-5 if dtype == np.float32 else 1e-12)
        _close(got_stats, stats, dtype)
        _close(native.cross_entropy_backward(g, x, stats, t, w, ignore, smoothing), gx, dtype)
    _each_mode(check)


@needs_native
def test_extension_rejects_what_would_read_out_of_bounds():
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="cross_entropy: target 4 out of range"):
        md._C.cross_entropy(x, np.array([0, 1, 4]), None, -100, 0.0, 1)
    with pytest.raises(ValueError, match="reduce_sum: view"):
        md._C.reduce_sum(x, 2, 2, 2, 2, 1)
    with pytest.raises(ValueError, match="binary: shapes"):
        md._C.binary(x, np.zeros(3, np.float32), "add", 1)
    with pytest.raises(ValueError, match="unary: unknown op"):
        md._C.unary(x, "cube", 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        md._C.unary(x.T, "exp", 1)


@needs_native
def test_cut_overs_are_measured_once_and_can_be_set():
    native._cut_table.pop(("unary", "exp", "f"), None)
    native.unary(np.ones(10, np.float32), "exp")
    native_min, parallel_min = native.cutovers()[("unary", "exp", "float32")]
    assert native_min in native._SIZES + (0, math.inf) and parallel_min in native._SIZES + (0, math.inf)


@needs_native
def test_bad_cut_over_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("MINIDL_ELEMENTWISE_CUTOVER", "lots")
    with pytest.raises(ValueError, match="MINIDL_ELEMENTWISE_CUTOVER"):
        native._env_cutover()
    monkeypatch.setenv("MINIDL_ELEMENTWISE_CUTOVER", "0,0")
    monkeypatch.setattr(native, "_cut_env", native._env_cutover())
    assert native._cut(("unary", "exp", "f"), None) == (0, 0)
    np.testing.assert_allclose(native.unary(np.ones(3, np.float32), "exp"), np.full(3, np.e, np.float32))


# --- the ops on top, against PyTorch ------------------------------------------------------------------------------
UNARY_TORCH = {"relu": (md.relu, torch.relu), "sigmoid": (md.sigmoid, torch.sigmoid), "tanh": (md.tanh, torch.tanh),
               "exp": (md.exp, torch.exp), "log": (md.log, torch.log), "sqrt": (md.sqrt, torch.sqrt),
               "gelu": (F.gelu, torch.nn.functional.gelu),
               "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                             lambda x: torch.nn.functional.gelu(x, approximate="tanh"))}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", sorted(UNARY_TORCH))
@pytest.mark.parametrize("shape", [(7,), (64, 300), (3, 0)])
def test_unary_ops_match_torch_forward_and_backward(op, dtype, shape):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.05, 6, shape) if op in ("log", "sqrt") else rng.uniform(-6, 6, shape)
    x, g = x.astype(dtype), rng.standard_normal(shape).astype(dtype)
    ours, theirs = UNARY_TORCH[op]
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = ours(xm), theirs(xt)
    ym.backward(md.tensor(g))
    yt.backward(torch.tensor(g))
    # float32 gelu derivatives cancel near -6 (0.5 (1 + tanh) against the second term): 1e-5 absolute there
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), **tol)
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", [((128, 512), (512,)), ((64, 32, 5, 5), (32, 1, 1)), ((4, 1, 3), (5, 1)),
                                    ((6,), ())])
def test_broadcast_arithmetic_matches_torch_with_reduced_gradients(shapes, dtype):
    rng = np.random.default_rng(1)
    a, b = (rng.uniform(0.5, 2, s).astype(dtype) for s in shapes)
    for op in ("add", "sub", "mul", "div"):
        am, bm = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
        at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        getattr(md, op)(am, bm).sum().backward()
        getattr(torch, op)(at, bt).sum().backward()
        tol = dict(rtol=1e-5) if dtype == np.float32 else dict(rtol=1e-12)
        np.testing.assert_allclose(am.grad.numpy(), at.grad.numpy(), **tol)
        np.testing.assert_allclose(bm.grad.numpy(), bt.grad.numpy(), **tol)


@pytest.mark.parametrize("dims", [None, 0, 1, (0, 2, 3), (1, 3), -1])
def test_sum_and_mean_match_torch(dims):
    x = np.random.default_rng(2).standard_normal((6, 5, 4, 3)).astype(np.float32)
    t = torch.tensor(x)
    for keep in (False, True):
        got = md.tensor(x).sum(dim=dims, keepdim=keep) if dims is not None else md.tensor(x).sum()
        want = t.sum(dim=dims, keepdim=keep) if dims is not None else t.sum()
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
        got = md.tensor(x).mean(dim=dims, keepdim=keep) if dims is not None else md.tensor(x).mean()
        want = t.mean(dim=dims, keepdim=keep) if dims is not None else t.mean()
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape,dim", [((128, 10), 1), ((4, 6, 5), 1), ((3, 7), 0)])
def test_softmax_ops_match_torch(log, shape, dim):
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32) * 10
    g = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym = (md.log_softmax if log else md.softmax)(xm, dim=dim)
    yt = (torch.log_softmax if log else torch.softmax)(xt, dim=dim)
    ym.backward(md.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)


CE_CASES = [dict(), dict(reduction="sum"), dict(reduction="none"), dict(label_smoothing=0.2),
            dict(weight=True), dict(weight=True, label_smoothing=0.3, reduction="mean"), dict(ignore_index=2),
            dict(weight=True, ignore_index=1, reduction="none", label_smoothing=0.1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(CE_CASES)))
@pytest.mark.parametrize("shape", [(128, 10), (4, 5, 3, 2), (5,)])
def test_cross_entropy_matches_torch(case, shape, dtype):
    kw = dict(CE_CASES[case])
    rng = np.random.default_rng(case)
    c = shape[1] if len(shape) > 1 else shape[0]
    x = rng.standard_normal(shape).astype(dtype) * 3
    t = rng.integers(0, c, (shape[0],) + shape[2:] if len(shape) > 1 else ())
    w = rng.uniform(0.5, 2, c).astype(dtype)
    kw_m, kw_t = dict(kw), dict(kw)
    if kw.pop("weight", False):
        kw_m["weight"], kw_t["weight"] = md.tensor(w), torch.tensor(w)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lm = F.cross_entropy(xm, md.tensor(t), **kw_m)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), **kw_t)
    g = rng.standard_normal(lt.shape).astype(dtype)
    lm.backward(md.tensor(g))
    lt.backward(torch.tensor(g))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    assert lm.shape == tuple(lt.shape)
    np.testing.assert_allclose(lm.numpy(), lt.detach().numpy(), **tol)
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("v", [1e7, 1e30])
def test_cross_entropy_with_huge_logits_matches_torch_forward_and_backward(v, dtype):
    a = np.array([[v, v, 0.0], [0.0, -v, v], [v, v / 2, v]], dtype=dtype)
    t = np.array([0, 2, 1])
    xm, xt = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    lm = F.cross_entropy(xm, md.tensor(t), label_smoothing=0.1)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), label_smoothing=0.1)
    lm.backward()
    lt.backward()
    np.testing.assert_allclose(lm.numpy(), lt.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_cross_entropy_with_every_target_ignored_is_nan_with_zero_gradient_as_torch():
    x = md.tensor(np.ones((3, 4)), requires_grad=True)
    loss = F.cross_entropy(x, md.tensor([-100, -100, -100]))
    loss.backward()
    assert math.isnan(loss.item()) and not x.grad.numpy().any()


@pytest.mark.parametrize("kw", [dict(), dict(label_smoothing=0.25, reduction="sum"), dict(reduction="none"),
                                dict(ignore_index=0, label_smoothing=0.1)])
def test_fused_cross_entropy_gradchecks_in_float64(kw):
    rng = np.random.default_rng(5)
    x = md.tensor(rng.standard_normal((6, 4)), requires_grad=True)
    t = md.tensor(rng.integers(0, 4, 6))
    w = md.tensor(rng.uniform(0.5, 2, 4))
    assert md.autograd.gradcheck(lambda x: F.cross_entropy(x, t, **kw), (x,))
    assert md.autograd.gradcheck(lambda x: F.cross_entropy(x, t, weight=w, **kw), (x,))


@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "sigmoid", "tanh", "gelu", "exp", "relu"])
def test_unary_and_softmax_ops_gradcheck_in_float64(fn):
    x = md.tensor(np.random.default_rng(6).uniform(-2, 2, (5, 4)) + 0.01, requires_grad=True)
    f = getattr(F, fn) if fn in ("gelu", "softmax", "log_softmax") else getattr(md, fn)
    assert md.autograd.gradcheck(lambda x: f(x, dim=1) if "softmax" in fn else f(x), (x,))


@pytest.mark.parametrize("kw", [dict(), dict(label_smoothing=0.2, weight=True), dict(reduction="none")])
def test_cross_entropy_double_backward_matches_torch(kw):
    """create_graph keeps the composed, differentiable backward: a Hessian-vector product as PyTorch's."""
    rng = np.random.default_rng(7)
    x, v = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    t, w = rng.integers(0, 3, 5), rng.uniform(0.5, 2, 3)
    kw_m, kw_t = dict(kw), dict(kw)
    if kw.get("weight"):
        kw_m["weight"], kw_t["weight"] = md.tensor(w), torch.tensor(w)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lm = F.cross_entropy(xm, md.tensor(t), **kw_m).sum()
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), **kw_t).sum()
    (gm,) = md.autograd.grad(lm, [xm], create_graph=True)
    (gt,) = torch.autograd.grad(lt, [xt], create_graph=True)
    (hm,) = md.autograd.grad((gm * md.tensor(v)).sum(), [xm])
    (ht,) = torch.autograd.grad((gt * torch.tensor(v)).sum(), [xt])
    np.testing.assert_allclose(gm.numpy(), gt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hm.numpy(), ht.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "sigmoid", "tanh", "gelu"])
def test_double_backward_of_unary_and_softmax_matches_torch(op):
    rng = np.random.default_rng(8)
    x, v = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    ours = {"softmax": lambda a: md.softmax(a, dim=1), "log_softmax": lambda a: md.log_softmax(a, dim=1),
            "sigmoid": md.sigmoid, "tanh": md.tanh, "gelu": F.gelu}[op]
    theirs = {"softmax": lambda a: torch.softmax(a, 1), "log_softmax": lambda a: torch.log_softmax(a, 1),
              "sigmoid": torch.sigmoid, "tanh": torch.tanh, "gelu": torch.nn.functional.gelu}[op]
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (gm,) = md.autograd.grad((ours(xm) ** 3).sum(), [xm], create_graph=True)
    (gt,) = torch.autograd.grad((theirs(xt) ** 3).sum(), [xt], create_graph=True)
    (hm,) = md.autograd.grad((gm * md.tensor(v)).sum(), [xm])
    (ht,) = torch.autograd.grad((gt * torch.tensor(v)).sum(), [xt])
    np.testing.assert_allclose(hm.numpy(), ht.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("provider", ["numpy", "numba"])
def test_a_forced_provider_without_these_kernels_still_runs_the_ops(provider):
    if backends.available()[provider] is not None:
        pytest.skip(f"{provider} is not usable here")
    x = md.tensor(np.linspace(-2, 2, 12).reshape(3, 4), requires_grad=True)
    with backends.use(provider):
        loss = F.cross_entropy(md.relu(x) * 2 + 1, md.tensor([0, 1, 3]))
        loss.backward()
    xt = torch.tensor(np.linspace(-2, 2, 12).reshape(3, 4), requires_grad=True)
    torch.nn.functional.cross_entropy(torch.relu(xt) * 2 + 1, torch.tensor([0, 1, 3])).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
