"""The fused layer-norm kernels (layer_norm / layer_norm_backward) and F.layer_norm built on them.

Native provider vs the NumPy reference on hypothesis-drawn row counts and widths (with and without weight and bias,
both dtypes, one thread and all threads); F.layer_norm vs PyTorch (values, input/weight/bias gradients, several
trailing dims); float64 gradcheck; double backward through the composed fallback; the raw binding refuses bad
arrays with a Python exception."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl import backends
from minidl.backends import reference

native = None if backends.available()["native"] is not None else backends._load("native")
needs_native = pytest.mark.skipif(native is None, reason=f"native provider: {backends.available()['native']}")
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-12)}


def _operands(rng, m, n, dtype, affine):
    x = (rng.standard_normal((m, n)) * 3 + 1).astype(dtype)
    w, b = ((rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)) if affine else (None, None))
    return x, w, b


@needs_native
@pytest.mark.parametrize("threads", [(0, 0), (0, float("inf"))], ids=["all-threads", "one-thread"])
@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 70), n=st.integers(1, 300), dtype=st.sampled_from([np.float32, np.float64]),
       affine=st.sampled_from(["both", "weight", "none"]), seed=st.integers(0, 2**16))
def test_native_matches_reference(threads, m, n, dtype, affine, seed):
    rng = np.random.default_rng(seed)
    x, w, b = _operands(rng, m, n, dtype, affine != "none")
    if affine == "weight":
        b = None
    g = rng.standard_normal((m, n)).astype(dtype)
    with native.forced_cutovers(*threads):
        got = native.layer_norm(x, w, b, 1e-5)
        want = reference.layer_norm(x, w, b, 1e-5)
        for a, r in zip(got, want):
            assert a.dtype == dtype
            np.testing.assert_allclose(a, r, **TOL[dtype])
        need = (True, w is not None, b is not None)
        got_b = native.layer_norm_backward(g, x, w, want[1], want[2], need)
        want_b = reference.layer_norm_backward(g, x, w, want[1], want[2], need)
        for a, r, n_ in zip(got_b, want_b, need):
            assert (a is None) == (not n_)
            if a is not None:
                np.testing.assert_allclose(a, r, rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 100)
        only_w = native.layer_norm_backward(g, x, w, want[1], want[2], (False, w is not None, False))
        assert only_w[0] is None and only_w[2] is None


@pytest.mark.parametrize("shape, norm", [((4, 7), (7,)), ((2, 3, 5, 6), (5, 6)), ((3, 1), (1,)), ((2, 4, 9), (9,))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_functional_layer_norm_matches_torch(shape, norm, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    w, b, g = rng.standard_normal(norm).astype(dtype), rng.standard_normal(norm).astype(dtype), \
        rng.standard_normal(shape).astype(dtype)
    tt = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    mt = [md.tensor(a, requires_grad=True) for a in (x, w, b)]
    want = torch.nn.functional.layer_norm(tt[0], norm, tt[1], tt[2], 1e-5)
    got = md.nn.functional.layer_norm(mt[0], norm, mt[1], mt[2], 1e-5)
    want.backward(torch.tensor(g))
    got.backward(md.tensor(g))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), **tol)
    for m, t in zip(mt, tt):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), **tol)


def test_fused_op_is_used_and_gradchecks():
    x = md.randn(3, 4, 5, dtype=md.float64, requires_grad=True)
    w = md.randn(5, dtype=md.float64, requires_grad=True)
    b = md.randn(5, dtype=md.float64, requires_grad=True)
    with backends.trace() as log:
        md.nn.functional.layer_norm(x, (5,), w, b).sum().backward()
    assert [r.kernel for r in log if "layer_norm" in r.kernel] == ["layer_norm", "layer_norm_backward"]
    assert md.autograd.gradcheck(lambda a, c, d: md.nn.functional.layer_norm(a, (5,), c, d), (x, w, b))
    assert md.autograd.gradcheck(lambda a: md.nn.functional.layer_norm(a, (4, 5)), (x,))


def test_double_backward_matches_the_composition():
    rng = np.random.default_rng(1)
    x0, w0 = rng.standard_normal((3, 6)), rng.standard_normal(6)
    grads = []
    for fused in (True, False):
        x, w = md.tensor(x0, requires_grad=True), md.tensor(w0, requires_grad=True)
        if fused:
            y = md.nn.functional.layer_norm(x, (6,), w)
        else:
            mu = x.mean(1, keepdim=True)
            y = (x - mu) / ((x - mu).pow(2).mean(1, keepdim=True) + 1e-5).sqrt() * w
        (gx,) = md.autograd.grad(y.pow(3).sum(), x, create_graph=True)
        gx.pow(2).sum().backward()
        grads.append((gx.numpy(), x.grad.numpy(), w.grad.numpy()))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


def test_layer_norm_module_and_errors():
    ln = md.nn.LayerNorm(8)
    assert ln(md.randn(2, 3, 8)).shape == (2, 3, 8)
    with pytest.raises(ValueError, match="layer_norm"):
        md.nn.functional.layer_norm(md.randn(2, 8), (7,))
    with pytest.raises(ValueError, match="weight must have shape"):
        md.nn.functional.layer_norm(md.randn(2, 8), (8,), md.ones(7))


@needs_native
def test_raw_binding_refuses_bad_arrays():
    c = native._C
    x = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="layer_norm"):
        c.layer_norm(x, np.ones(5, np.float32), None, 1e-5, 1)
    with pytest.raises(ValueError, match="layer_norm"):
        c.layer_norm(x, np.ones(4, np.float64), None, 1e-5, 1)
    with pytest.raises(ValueError, match="layer_norm"):
        c.layer_norm(np.ones((0, 4), np.float32), None, None, 1e-5, 1)
    with pytest.raises(ValueError, match="layer_norm_backward"):
        c.layer_norm_backward(x, x, None, np.zeros(2, np.float32), np.ones(3, np.float32), True, False, False, 1)
