"""RNN, LSTM and GRU against PyTorch: two layers, both directions, both batch_first settings, with and without
an initial state, unbatched input; outputs, final states and the gradients of input, initial state and every
parameter. Plus a float64 gradcheck of one LSTM and one GRU step, and shape/state errors."""
import itertools

import numpy as np
import pytest
from nn_helpers import PRECISIONS, close, load_from_torch

import minidl as md
from minidl.testing import assert_gradcheck

CELLS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]
IDS = ["RNN-tanh", "RNN-relu", "LSTM", "GRU"]


def _run(torch, cls, kw, dtype, rtol, atol, batch_first, bidirectional, with_state, unbatched=False, bias=True):
    rng = np.random.default_rng(7)
    torch.manual_seed(0)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    tm = getattr(torch.nn, cls)(3, 4, num_layers=2, bias=bias, batch_first=batch_first,
                                bidirectional=bidirectional, **kw).to(tdt)
    mm = getattr(md.nn, cls)(3, 4, num_layers=2, bias=bias, batch_first=batch_first, bidirectional=bidirectional,
                             **kw).to(md.float64 if dtype == np.float64 else md.float32)
    load_from_torch(mm, tm)
    steps, batch, d = 5, 2, 2 if bidirectional else 1
    shape = (steps, 3) if unbatched else ((batch, steps, 3) if batch_first else (steps, batch, 3))
    x = rng.standard_normal(shape).astype(dtype)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    states_m, states_t, args_m, args_t = [], [], [], []
    if with_state:
        sshape = (2 * d, 4) if unbatched else (2 * d, batch, 4)
        for _ in range(2 if cls == "LSTM" else 1):
            s = rng.standard_normal(sshape).astype(dtype)
            states_m.append(md.tensor(s, requires_grad=True))
            states_t.append(torch.tensor(s, requires_grad=True))
        args_m = [tuple(states_m)] if cls == "LSTM" else states_m
        args_t = [tuple(states_t)] if cls == "LSTM" else states_t
    om, hm = mm(xm, *args_m)
    ot, ht = tm(xt, *args_t)
    hm, ht = (list(hm), list(ht)) if cls == "LSTM" else ([hm], [ht])
    close(om, ot, rtol, atol, "output")
    for i, (a, b) in enumerate(zip(hm, ht)):
        close(a, b, rtol, atol, f"final state {i}")
    # a loss that uses every output, with distinct weights so that mixing them up would show
    gs = [rng.standard_normal(tuple(t.shape)).astype(dtype) for t in [ot, *ht]]
    sum((a * md.tensor(g)).sum() for a, g in zip([om, *hm], gs)).backward()
    sum((a * torch.tensor(g)).sum() for a, g in zip([ot, *ht], gs)).backward()
    close(xm.grad, xt.grad, rtol, atol, "input grad")
    for i, (a, b) in enumerate(zip(states_m, states_t)):
        close(a.grad, b.grad, rtol, atol, f"initial state {i} grad")
    tparams = dict(tm.named_parameters())
    assert [n for n, _ in mm.named_parameters()] == list(tparams)
    for n, p in mm.named_parameters():
        close(p.grad, tparams[n].grad, rtol, atol, f"grad of {n}")


@pytest.mark.parametrize("cls,kw", CELLS, ids=IDS)
@pytest.mark.parametrize("batch_first,bidirectional,with_state", list(itertools.product([False, True], repeat=3)))
def test_matches_torch_float64(torch, cls, kw, batch_first, bidirectional, with_state):
    _run(torch, cls, kw, *PRECISIONS[0], batch_first, bidirectional, with_state)


@pytest.mark.parametrize("cls,kw", CELLS, ids=IDS)
def test_matches_torch_float32(torch, cls, kw):
    _run(torch, cls, kw, *PRECISIONS[1], batch_first=True, bidirectional=True, with_state=True)


@pytest.mark.parametrize("cls,kw", CELLS, ids=IDS)
@pytest.mark.parametrize("with_state", [False, True])
def test_unbatched_and_no_bias(torch, cls, kw, with_state):
    _run(torch, cls, kw, *PRECISIONS[0], False, True, with_state, unbatched=True, bias=False)


def test_parameter_names_and_shapes_match_torch(torch):
    for cls in ("RNN", "LSTM", "GRU"):
        mm = getattr(md.nn, cls)(3, 5, num_layers=3, bidirectional=True)
        tm = getattr(torch.nn, cls)(3, 5, num_layers=3, bidirectional=True)
        assert [(n, p.shape) for n, p in mm.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in tm.named_parameters()]


def test_init_bounds():
    md.manual_seed(0)
    lstm = md.nn.LSTM(10, 16, num_layers=2)
    bound = 1 / 4
    for name, p in lstm.named_parameters():
        v = p.numpy()
        assert v.min() >= -bound and v.max() <= bound, name
        assert v.max() > 0.8 * bound and v.min() < -0.8 * bound, f"{name} should fill U(-1/sqrt(H), 1/sqrt(H))"


def test_dropout_between_layers_only_in_training():
    gru = md.nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = md.randn(6, 2, 3)
    gru.eval()
    a, b = gru(x)[0].numpy(), gru(x)[0].numpy()
    np.testing.assert_array_equal(a, b)
    gru.train()
    md.manual_seed(0)
    c = gru(x)[0].numpy()
    md.manual_seed(1)
    d = gru(x)[0].numpy()
    assert not np.allclose(c, d), "with dropout between layers, training outputs depend on the random mask"
    single = md.nn.GRU(3, 4, num_layers=1, dropout=0.5).train()   # no layer to drop after: deterministic
    np.testing.assert_array_equal(single(x)[0].numpy(), single(x)[0].numpy())


def test_lstm_step_gradcheck():
    lstm = md.nn.LSTM(2, 3).double()
    params = [p.detach() for p in lstm.parameters()]

    def fn(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        for name, v in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), (w_ih, w_hh, b_ih, b_hh)):
            lstm._parameters[name] = v
        out, (h, c) = lstm(x, (h0, c0))
        return out, h, c

    rng = np.random.default_rng(0)
    assert_gradcheck(fn, rng.standard_normal((2, 2, 2)), rng.standard_normal((1, 2, 3)),
                     rng.standard_normal((1, 2, 3)), *[p.numpy() for p in params])


def test_gru_step_gradcheck():
    gru = md.nn.GRU(2, 3, bidirectional=True).double()
    names = [n for n, _ in gru.named_parameters()]
    values = [p.numpy().copy() for p in gru.parameters()]

    def fn(x, h0, *ps):
        for n, v in zip(names, ps):
            gru._parameters[n] = v
        return gru(x, h0)

    rng = np.random.default_rng(1)
    assert_gradcheck(fn, rng.standard_normal((2, 1, 2)), rng.standard_normal((2, 1, 3)), *values)


def test_errors_name_layer_and_shapes():
    lstm = md.nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM\(input_size=3\): input of shape \(5, 2, 2\)"):
        lstm(md.randn(5, 2, 2))
    with pytest.raises(ValueError, match=r"LSTM: expected a 2-D .* got shape \(5,\)"):
        lstm(md.randn(5))
    with pytest.raises(ValueError, match=r"LSTM: h_0 must have shape \(2, 2, 4\) .* got \(1, 2, 4\)"):
        lstm(md.randn(5, 2, 3), (md.zeros(1, 2, 4), md.zeros(2, 2, 4)))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple"):
        lstm(md.randn(5, 2, 3), md.zeros(2, 2, 4))
    with pytest.raises(ValueError, match=r"GRU: hx must have shape \(2, 3, 4\)"):
        md.nn.GRU(3, 4, bidirectional=True, batch_first=True)(md.randn(3, 5, 3), md.zeros(2, 5, 4))
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        md.nn.RNN(3, 4, nonlinearity="sigmoid")


def test_long_sequence_backward():
    """A 300-step sequence back-propagates (iterative engine, one unbind per layer) and gives finite grads."""
    rnn = md.nn.LSTM(4, 8)
    x = md.randn(300, 2, 4, requires_grad=True)
    out, _ = rnn(x)
    out.sum().backward()
    assert x.grad.shape == (300, 2, 4) and np.isfinite(x.grad.numpy()).all()
