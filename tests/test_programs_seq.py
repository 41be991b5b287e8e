"""Issue 14, sequence/NLP programs (helper seq): the PyTorch behaviour they rely on, compared with torch."""
import warnings

import numpy as np
import pytest

import minidl as md
import minidl.nn.functional as F
from minidl.autograd import Variable

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(14)


# --- F.dropout2d / nn.Dropout2d on 2-D and 3-D input (mnist_rnn applies Dropout2d to (N, 64) features) -------------
@pytest.mark.parametrize("shape", [(64, 32), (20, 8, 6), (6, 5, 3, 3), (4, 3, 2, 2, 2)])
def test_dropout2d_masks_dims_0_and_1_like_torch(shape):
    md.manual_seed(0)
    x = md.tensor(RNG.standard_normal(shape).astype(np.float32) + 3.0, requires_grad=True)
    with pytest.warns(UserWarning, match="dropout2d: Received a") if len(shape) != 4 else _no_warning():
        y = F.dropout2d(x, 0.4, training=True)
    tw = torch.tensor(x.numpy())
    with _quiet():
        ty = torch.nn.functional.dropout2d(tw, 0.4, training=True)
    for out in (y.numpy(), ty.numpy()):                 # the same structure: one keep/drop per (dim 0, dim 1) slice
        ratio = (out / x.numpy()).reshape(shape[:2] + (-1,))
        np.testing.assert_allclose(ratio.min(-1), ratio.max(-1), rtol=1e-6)
        assert np.all((ratio == 0) | np.isclose(ratio, 1 / 0.6, rtol=1e-5))
    y.sum().backward()                                  # the gradient is the mask times 1/(1-p)
    np.testing.assert_allclose(x.grad.numpy(), y.numpy() / x.numpy(), rtol=1e-5)
    np.testing.assert_array_equal(F.dropout2d(x, 0.4, training=False).numpy(), x.numpy())


def test_dropout2d_2d_drop_rate_and_errors():
    md.manual_seed(1)
    layer = md.nn.Dropout2d(0.25)
    with pytest.warns(UserWarning, match="2-D input to dropout2d"):
        y = layer(md.ones(400, 50)).numpy()
    assert 0.22 < (y == 0).mean() < 0.28                # elementwise over (N, C), as PyTorch's feature_dropout
    assert np.all(layer.eval()(md.ones(400, 50)).numpy() == 1)
    with pytest.raises(ValueError, match=r"dropout2d: expected an input with at least 2 dims .* shape \(5,\)"):
        F.dropout2d(md.ones(5))


def _quiet():
    # torch's C++ deprecation warnings are given once per process: not something to assert on
    return warnings.catch_warnings(action="ignore")


def _no_warning():
    return warnings.catch_warnings(action="error")


# --- torch.autograd.Variable (sequence_models_tutorial, word_embeddings_tutorial) ----------------------------------
def test_variable_is_a_detached_tensor_as_in_torch():
    a = md.ones(3, requires_grad=True)
    b = a * 2
    ta = torch.ones(3, requires_grad=True)
    tb = ta * 2
    for var, t, lib in ((Variable, b, md), (torch.autograd.Variable, tb, torch)):
        v = var(t)
        assert isinstance(v, lib.Tensor) and isinstance(t, var) and type(v) is lib.Tensor
        assert not v.requires_grad and v.grad_fn is None and v.data_ptr() == t.data_ptr()
        w = var(t, requires_grad=True)
        assert w.requires_grad and w.is_leaf
        (w * w).sum().backward()
        np.testing.assert_array_equal(w.grad.numpy(), np.full(3, 4.0))
    assert Variable().shape == torch.autograd.Variable().shape == (0,)
    assert isinstance(md.zeros(2, dtype=md.long), Variable) and not isinstance(np.zeros(2), Variable)
    with pytest.warns(UserWarning, match="volatile was removed"):
        Variable(md.ones(2), volatile=True)
    with pytest.raises(TypeError, match="Variable data has to be a tensor, but got list"):
        Variable([1, 2])
    with pytest.raises(RuntimeError, match="only floating point"):
        Variable(md.ones(2, dtype=md.long), requires_grad=True)


def test_variable_in_an_lstm_tagger_step():
    # the tutorial's pattern: Variable-wrapped LongTensor indices and hidden state into Embedding + LSTM
    md.manual_seed(0)
    emb, lstm = md.nn.Embedding(5, 4), md.nn.LSTM(4, 3)
    idx = Variable(md.LongTensor([0, 3, 1]))
    hidden = (Variable(md.zeros(1, 1, 3)), Variable(md.zeros(1, 1, 3)))
    out, _ = lstm(emb(idx).view(3, 1, -1), hidden)
    out.sum().backward()
    assert out.shape == (3, 1, 3) and emb.weight.grad is not None


# --- the deprecated add/sub(Number alpha, Tensor other) overloads (p.data.add_(-lr, p.grad.data)) -------------------
@pytest.mark.parametrize("name", ["add", "sub"])
def test_alpha_first_overloads_match_torch(name):
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    ma, mb = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    with pytest.warns(UserWarning, match=f"overload of {name} is deprecated"):
        m_fn = getattr(md, name)(ma, -0.5, mb)
    with _quiet():
        t_fn = getattr(torch, name)(ta, -0.5, tb)
    with pytest.warns(UserWarning, match=f"overload of {name} is deprecated"):
        m_meth = getattr(ma, name)(2.0, mb)
    with _quiet():
        t_meth = getattr(ta, name)(2.0, tb)
    np.testing.assert_allclose(m_fn.numpy(), t_fn.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(m_meth.numpy(), t_meth.detach().numpy(), rtol=1e-12)
    (m_fn * m_meth).sum().backward()
    (t_fn * t_meth).sum().backward()
    np.testing.assert_allclose(ma.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(mb.grad.numpy(), tb.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["add_", "sub_"])
def test_alpha_first_inplace_sgd_step_matches_torch(name):
    p, g = RNG.standard_normal(5).astype(np.float32), RNG.standard_normal(5).astype(np.float32)
    mp, tp = md.tensor(p), torch.tensor(p)
    with pytest.warns(UserWarning, match=f"overload of {name} is deprecated"):
        out = getattr(mp, name)(-0.005, md.tensor(g))
    with _quiet():
        getattr(tp, name)(-0.005, torch.tensor(g))
    assert out is mp
    np.testing.assert_allclose(mp.numpy(), tp.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(md.tensor(p).add_(md.tensor(g), alpha=2).numpy(),
                                  torch.tensor(p).add_(torch.tensor(g), alpha=2).numpy())


def test_flatten_parameters_leaves_the_lstm_as_it_was():
    md.manual_seed(0)
    lstm = md.nn.LSTM(3, 4, 2)
    x = md.randn(5, 2, 3)
    before = lstm(x)[0].numpy()
    names = [n for n, _ in lstm.named_parameters()]
    assert lstm.flatten_parameters() is None and torch.nn.LSTM(3, 4, 2).flatten_parameters() is None
    np.testing.assert_array_equal(lstm(x)[0].numpy(), before)
    assert [n for n, _ in lstm.named_parameters()] == names


# --- packed sequences: nn.utils.rnn and RNN/LSTM/GRU taking a PackedSequence ----------------------------------------
from minidl.nn.utils.rnn import (PackedSequence, pack_padded_sequence, pack_sequence,  # noqa: E402
                                 pad_packed_sequence)
from minidl.testing import assert_gradcheck  # noqa: E402


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_pack_and_pad_match_torch(batch_first, enforce_sorted):
    tr = torch.nn.utils.rnn
    lens = [5, 3, 3, 1] if enforce_sorted else [2, 5, 1, 3]
    x = RNG.standard_normal((4, 5, 2) if batch_first else (5, 4, 2))
    p = pack_padded_sequence(md.tensor(x), lens, batch_first, enforce_sorted)
    tp = tr.pack_padded_sequence(torch.tensor(x), torch.tensor(lens), batch_first, enforce_sorted)
    np.testing.assert_array_equal(p.data.numpy(), tp.data.numpy())
    assert p.batch_sizes.tolist() == tp.batch_sizes.tolist() and p.batch_sizes.dtype == md.int64
    for mine, theirs in ((p.sorted_indices, tp.sorted_indices), (p.unsorted_indices, tp.unsorted_indices)):
        assert (mine is None and theirs is None) or mine.tolist() == theirs.tolist()
    out, lengths = pad_packed_sequence(p, batch_first, -1.0, total_length=7)
    tout, tlengths = tr.pad_packed_sequence(tp, batch_first, -1.0, total_length=7)
    np.testing.assert_array_equal(out.numpy(), tout.numpy())
    assert lengths.tolist() == tlengths.tolist() and lengths.dtype == md.int64
    seqs = [RNG.standard_normal((n, 3)) for n in lens]
    q, tq = pack_sequence([md.tensor(s) for s in seqs], enforce_sorted), \
        tr.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted)
    np.testing.assert_array_equal(q.data.numpy(), tq.data.numpy())
    assert isinstance(q, PackedSequence) and isinstance(q, tuple) and q.batch_sizes.tolist() == tq.batch_sizes.tolist()


def test_pack_then_pad_gradcheck():
    lens = [1, 4, 2]

    def round_trip(x):
        return pad_packed_sequence(pack_padded_sequence(x, lens, enforce_sorted=False), padding_value=0.5)[0]
    assert_gradcheck(round_trip, RNG.standard_normal((4, 3, 2)))


def test_pack_errors():
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order when `enforce_sorted` is True"):
        pack_padded_sequence(md.zeros(3, 2), [1, 3])
    with pytest.raises(RuntimeError, match="greater than 0"):
        pack_padded_sequence(md.zeros(3, 2), [3, 0])
    with pytest.raises(ValueError, match=r"does not hold 3 sequences"):
        pack_padded_sequence(md.zeros(3, 2), [3, 2, 1])
    with pytest.raises(ValueError, match="exceeds the 3 time steps"):
        pack_padded_sequence(md.zeros(3, 2), [4, 2])
    with pytest.raises(ValueError, match="total_length=2 and max sequence length being 3"):
        pad_packed_sequence(pack_padded_sequence(md.zeros(3, 2), [3, 2]), total_length=2)
    with pytest.raises(TypeError, match="expected a PackedSequence, got Tensor"):
        pad_packed_sequence(md.zeros(3, 2))
    with pytest.raises(ValueError, match=r"LSTM\(input_size=3\): packed data of shape \(5, 2\)"):
        md.nn.LSTM(3, 2)(pack_padded_sequence(md.zeros(3, 2, 2), [3, 2]))


def _pair(cls, **kw):
    tm = getattr(torch.nn, cls)(3, 4, **kw).double()
    mm = getattr(md.nn, cls)(3, 4, **kw).double()
    mm.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return mm, tm


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("with_hx", [False, True])
def test_recurrent_layers_take_packed_input_like_torch(cls, with_hx):
    tr = torch.nn.utils.rnn
    mm, tm = _pair(cls, num_layers=2, bidirectional=True, batch_first=True)
    lens = [2, 6, 3, 3, 1]
    x = RNG.standard_normal((5, 6, 3))
    mx, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    states = [RNG.standard_normal((4, 5, 4)) for _ in range(2 if cls == "LSTM" else 1)]
    mhx = [md.tensor(s, requires_grad=True) for s in states]
    thx = [torch.tensor(s, requires_grad=True) for s in states]
    args_m = (tuple(mhx) if cls == "LSTM" else mhx[0],) if with_hx else ()
    args_t = (tuple(thx) if cls == "LSTM" else thx[0],) if with_hx else ()
    mo, mh = mm(pack_padded_sequence(mx, lens, batch_first=True, enforce_sorted=False), *args_m)
    to, th = tm(tr.pack_padded_sequence(tx, lens, batch_first=True, enforce_sorted=False), *args_t)
    assert isinstance(mo, PackedSequence) and mo.batch_sizes.tolist() == to.batch_sizes.tolist()
    np.testing.assert_allclose(mo.data.numpy(), to.data.detach().numpy(), rtol=1e-10, atol=1e-12)
    mh, th = (list(mh), list(th)) if cls == "LSTM" else ([mh], [th])
    for a, b in zip(mh, th):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = RNG.standard_normal(mo.data.shape)
    loss_m = (mo.data * md.tensor(weights)).sum() + sum((h * h).sum() for h in mh)
    loss_t = (to.data * torch.tensor(weights)).sum() + sum((h * h).sum() for h in th)
    loss_m.backward()
    loss_t.backward()
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(getattr(mm, name).grad.numpy(), p.grad.numpy(), rtol=1e-9, atol=1e-11)
    if with_hx:
        for a, b in zip(mhx, thx):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_packed_encoder_as_in_the_chatbot_tutorial():
    # embedding -> pack (sorted lengths) -> bidirectional GRU -> unpack -> sum the two directions
    md.manual_seed(0)
    emb, gru = md.nn.Embedding(10, 4), md.nn.GRU(4, 4, 2, bidirectional=True)
    seqs = md.tensor([[1, 2, 3], [4, 5, 0], [6, 0, 0]]).t()          # (T, B) padded with 0
    packed = md.nn.utils.rnn.pack_padded_sequence(emb(seqs), md.tensor([3, 2, 1]))
    out, hidden = gru(packed)
    out, lengths = md.nn.utils.rnn.pad_packed_sequence(out)
    out = out[:, :, :4] + out[:, :, 4:]
    assert out.shape == (3, 3, 4) and hidden.shape == (4, 3, 4) and lengths.tolist() == [3, 2, 1]
    assert np.all(out.numpy()[2, 1:] == 0) and np.all(out.numpy()[1, 2] == 0)  # zero past each end
    out.sum().backward()
    assert np.all(emb.weight.grad.numpy()[[7, 8, 9]] == 0) and np.any(emb.weight.grad.numpy()[1] != 0)


def test_unpack_and_unpad_match_torch():
    tr = torch.nn.utils.rnn
    seqs = [RNG.standard_normal((n, 2)) for n in (2, 4, 1)]
    mine = md.nn.utils.rnn.unpack_sequence(pack_sequence([md.tensor(s) for s in seqs], enforce_sorted=False))
    theirs = tr.unpack_sequence(tr.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False))
    for a, b, s in zip(mine, theirs, seqs):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a.numpy(), s)
    for batch_first in (False, True):
        padded = md.nn.utils.rnn.pad_sequence([md.tensor(s) for s in seqs], batch_first)
        parts = md.nn.utils.rnn.unpad_sequence(padded, md.tensor([2, 4, 1]), batch_first)
        assert [p.shape for p in parts] == [(2, 2), (4, 2), (1, 2)]
        np.testing.assert_array_equal(parts[1].numpy(), seqs[1])
    with pytest.raises(ValueError, match=r"unpad_sequence: lengths \[5, 1, 1\] do not fit"):
        md.nn.utils.rnn.unpad_sequence(padded, [5, 1, 1], batch_first=True)
