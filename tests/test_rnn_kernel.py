"""The whole-sequence recurrent kernels (rnn_forward / rnn_backward) and the op built on them.

Native provider vs the NumPy reference on hypothesis-drawn sizes (T = 1 and B = 1 included, both dtypes, both
directions, with and without biases, strided inputs); float64 gradchecks of ``rnn_layer`` for every mode; the
output mask; double backward (create_graph) through the composed fallback; md.nn layers vs torch.nn at a size
where the GEMMs use several threads."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nn_helpers import close, load_from_torch

import minidl as md
from minidl import backends
from minidl.backends import reference
from minidl.ops.rnn import MODES, rnn_layer

native = pytest.importorskip("minidl.backends.ops_native") if backends.available()["native"] is None else None
needs_native = pytest.mark.skipif(native is None, reason=f"native provider: {backends.available()['native']}")

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _operands(rng, mode, steps, batch, n_in, hidden, dtype, bias=True, strided=False):
    gates = MODES[mode] * hidden

    def arr(*shape):
        a = (rng.standard_normal(shape) * 0.5).astype(dtype)
        if strided:         # the same values seen through a non-contiguous view
            a = np.repeat(a[..., None], 2, axis=-1)[..., 0]
        return a

    x, h0 = arr(steps, batch, n_in), arr(batch, hidden)
    c0 = arr(batch, hidden) if mode == "lstm" else None
    w_ih, w_hh = arr(gates, n_in), arr(gates, hidden)
    b_ih, b_hh = (arr(gates), arr(gates)) if bias else (None, None)
    return x, h0, c0, w_ih, w_hh, b_ih, b_hh


def _allclose(got, want, dtype, what):
    assert (got is None) == (want is None), what
    if want is not None:
        assert got.shape == want.shape and got.dtype == want.dtype, (what, got.shape, want.shape, got.dtype)
        tol = dict(TOL[dtype])
        tol["atol"] *= max(1.0, float(np.abs(want).max(initial=0)))   # sums of many terms: scale-relative
        np.testing.assert_allclose(got, want, err_msg=what, **tol)


@needs_native
@settings(max_examples=25, deadline=None)
@given(mode=st.sampled_from(list(MODES)), steps=st.integers(1, 6), batch=st.integers(1, 5),
       n_in=st.integers(1, 9), hidden=st.integers(1, 11), dtype=st.sampled_from([np.float32, np.float64]),
       reverse=st.booleans(), bias=st.booleans(), strided=st.booleans(), seed=st.integers(0, 2**16))
def test_native_matches_reference(mode, steps, batch, n_in, hidden, dtype, reverse, bias, strided, seed):
    rng = np.random.default_rng(seed)
    ops = _operands(rng, mode, steps, batch, n_in, hidden, dtype, bias, strided)
    want = reference.rnn_forward(mode, *ops, reverse)
    got = native.rnn_forward(mode, *ops, reverse)
    for name, g, w in zip(("y", "h_n", "c_n", "workspace"), got, want):
        _allclose(g, w, dtype, name)
    gy, ghn = rng.standard_normal(want[0].shape).astype(dtype), rng.standard_normal(want[1].shape).astype(dtype)
    gcn = rng.standard_normal(want[1].shape).astype(dtype) if mode == "lstm" else None
    mask = [bool(m) for m in rng.integers(0, 2, 7)] if seed % 2 else [True] * 7
    args = (mode, gy, ghn, gcn, *ops, want[0], want[3], reverse, mask)
    names = ("grad_x", "grad_h0", "grad_c0", "grad_w_ih", "grad_w_hh", "grad_b_ih", "grad_b_hh")
    for name, g, w in zip(names, native.rnn_backward(*args), reference.rnn_backward(*args)):
        _allclose(g, w, dtype, name)


@needs_native
@pytest.mark.parametrize("mode", list(MODES))
def test_native_long_sequence_wide_batch(mode):
    """Sizes where the gate passes and GEMMs run on several threads."""
    rng = np.random.default_rng(1)
    ops = _operands(rng, mode, 7, 33, 20, 70, np.float32)
    want, got = reference.rnn_forward(mode, *ops, True), native.rnn_forward(mode, *ops, True)
    for name, g, w in zip(("y", "h_n", "c_n", "workspace"), got, want):
        _allclose(g, w, np.float32, name)
    gy = rng.standard_normal(want[0].shape).astype(np.float32)
    zero = np.zeros_like(want[1])
    args = (mode, gy, zero, zero if mode == "lstm" else None, *ops, want[0], want[3], True, [True] * 7)
    for g, w in zip(native.rnn_backward(*args), reference.rnn_backward(*args)):
        _allclose(g, w, np.float32, mode)


@needs_native
def test_native_saturated_gates_stay_finite():
    """Pre-activations far outside the range of exp: the gates saturate to 0/1 without inf or nan."""
    rng = np.random.default_rng(2)
    for mode in MODES:
        x, h0, c0, w_ih, w_hh, b_ih, b_hh = _operands(rng, mode, 3, 2, 4, 5, np.float32)
        ops = (x * 1e4, h0, c0, w_ih * 100, w_hh, b_ih, b_hh)
        got, want = native.rnn_forward(mode, *ops, False), reference.rnn_forward(mode, *ops, False)
        if mode == "rnn_relu":
            continue            # unbounded: only the saturating activations are checked here
        assert np.isfinite(got[0]).all()
        np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-5)


@needs_native
def test_native_rejects_unsafe_arguments():
    rng = np.random.default_rng(3)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _operands(rng, "lstm", 3, 2, 4, 5, np.float32)
    with pytest.raises(ValueError, match="rnn_forward: w_hh"):
        native.rnn_forward("lstm", x, h0, c0, w_ih, w_hh[:-1], b_ih, b_hh, False)
    with pytest.raises(ValueError, match="c0 must be given"):
        native.rnn_forward("lstm", x, h0, None, w_ih, w_hh, b_ih, b_hh, False)
    with pytest.raises(ValueError, match="mode must be"):
        native.rnn_forward("lstmx", x, h0, c0, w_ih, w_hh, b_ih, b_hh, False)
    with pytest.raises(ValueError, match="dtypes differ"):
        native.rnn_forward("lstm", x, h0.astype(np.float64), c0, w_ih, w_hh, b_ih, b_hh, False)


def _tensors(mode, steps, batch, n_in, hidden, bias=True, seed=0):
    ops = _operands(np.random.default_rng(seed), mode, steps, batch, n_in, hidden, np.float64, bias)
    return [None if a is None else md.tensor(a, requires_grad=True) for a in ops]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mode", list(MODES))
def test_gradcheck_rnn_layer(mode, reverse):
    ts = _tensors(mode, 4, 3, 2, 3)

    def fn(*args):
        y, h, c = rnn_layer(mode, *args, reverse=reverse)
        return (y, h) if c is None else (y, h, c)
    assert md.autograd.gradcheck(fn, [t for t in ts])


@pytest.mark.parametrize("mode", list(MODES))
def test_gradcheck_without_bias_and_through_reference_provider(mode):
    ts = _tensors(mode, 3, 2, 3, 2, bias=False, seed=4)
    with backends.use("numpy"):
        assert md.autograd.gradcheck(lambda *a: rnn_layer(mode, *a)[0], ts)


def test_only_requested_gradients_are_computed():
    """Frozen weights and an input without grad get no gradient (the kernel's output mask)."""
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _tensors("lstm", 3, 2, 3, 4)
    x.requires_grad_(False)
    h0.requires_grad_(False)
    w_ih.requires_grad_(False)
    y, h, c = rnn_layer("lstm", x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    with backends.trace() as log:
        (y.sum() + c.sum()).backward()
    assert [r.kernel for r in log if r.kernel.startswith("rnn")] == ["rnn_backward"]
    assert x.grad is None and h0.grad is None and w_ih.grad is None
    assert all(t.grad is not None for t in (c0, w_hh, b_ih, b_hh))


@pytest.mark.parametrize("mode", list(MODES))
def test_double_backward_matches_the_composed_path(mode):
    """create_graph=True goes through the differentiable composed backward: second derivatives as if every step
    were composed from basic ops (the forced provider without the kernel uses that composed path end to end)."""
    def second(force):
        ts = _tensors(mode, 3, 2, 2, 3, seed=5)
        with backends.use(force):
            y, h, _ = rnn_layer(mode, *ts)
            loss = (y * y).sum() + (h * h).sum()
            gw = md.autograd.grad(loss, [ts[4]], create_graph=True)[0]
            (gw * gw).sum().backward()
        return [t.grad.numpy() for t in ts if t is not None]
    fast = second("native" if native is not None else "numpy")
    composed = second("numba") if backends.available()["numba"] is None else None
    if composed is None:
        pytest.skip("numba provider (which lacks the rnn kernels) is not available")
    for a, b in zip(fast, composed):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_gradgradcheck_lstm():
    """Second derivatives of the LSTM layer by finite differences of its (create_graph) gradient."""
    ts = _tensors("lstm", 2, 2, 2, 2, seed=6)
    gy = md.tensor(np.random.default_rng(0).standard_normal((2, 2, 2)))

    def grad_of(x, w_hh):
        args = list(ts)
        args[0], args[4] = x, w_hh
        y = rnn_layer("lstm", *args)[0]
        return md.autograd.grad((y * gy).sum(), [x, w_hh], create_graph=True)
    assert md.autograd.gradcheck(grad_of, [ts[0], ts[4]])


def test_errors_name_the_op_and_shapes():
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _tensors("gru", 3, 2, 3, 4)
    with pytest.raises(ValueError, match=r"rnn_layer\(gru\): w_ih must have shape \(12, 3\)"):
        rnn_layer("gru", x, h0, None, w_hh, w_hh, b_ih, b_hh)
    with pytest.raises(ValueError, match="c0 is only for mode 'lstm'"):
        rnn_layer("gru", x, h0, h0, w_ih, w_hh, b_ih, b_hh)
    with pytest.raises(ValueError, match="mode must be one of"):
        rnn_layer("elman", x, h0, None, w_ih, w_hh, b_ih, b_hh)
    with pytest.raises(TypeError, match="dtype"):
        rnn_layer("gru", x, h0.astype(md.float32), None, w_ih, w_hh, b_ih, b_hh)


@pytest.mark.parametrize("cls,kw", [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("RNN", {"nonlinearity": "relu"})])
def test_nn_layers_match_torch_at_threaded_sizes(torch, cls, kw):
    """Two layers, bidirectional, batch_first, float32, sizes where the kernels run on several threads."""
    torch.manual_seed(0)
    tm = getattr(torch.nn, cls)(24, 40, num_layers=2, batch_first=True, bidirectional=True, **kw)
    mm = getattr(md.nn, cls)(24, 40, num_layers=2, batch_first=True, bidirectional=True, **kw)
    load_from_torch(mm, tm)
    x = np.random.default_rng(8).standard_normal((17, 9, 24)).astype(np.float32)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (om, _), (ot, _) = mm(xm), tm(xt)
    close(om, ot, 1e-4, 1e-5, "output")
    (om * om).sum().backward()
    (ot * ot).sum().backward()
    close(xm.grad, xt.grad, 1e-3, 1e-4, "input grad")
    tparams = dict(tm.named_parameters())
    for n, p in mm.named_parameters():
        close(p.grad, tparams[n].grad, 1e-3, 1e-4, f"grad of {n}")


def test_nn_lstm_one_node_per_layer_and_direction():
    lstm = md.nn.LSTM(4, 5, num_layers=2, bidirectional=True)
    with backends.trace() as log:
        out, _ = lstm(md.randn(6, 3, 4))
        out.sum().backward()
    kernels = [r.kernel for r in log if r.kernel.startswith("rnn")]
    assert kernels.count("rnn_forward") == 4 and kernels.count("rnn_backward") == 4
