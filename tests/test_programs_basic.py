"""What the basics/tutorials/graph/RL programs of issue 14 needed, used the way they use it, against PyTorch:
``torch.diag`` (GCN/GAT degree matrices), ``randint(high, size)``, ``torch.distributions.Categorical``
(REINFORCE, actor-critic)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.testing import assert_gradcheck

SETTINGS = settings(max_examples=25, deadline=None)


# --- diag ----------------------------------------------------------------------------------------------------
@SETTINGS
@given(n=st.integers(1, 5), m=st.integers(1, 5), k=st.integers(-6, 6), vector=st.booleans())
def test_diag_matches_torch_values_and_gradients(n, m, k, vector):
    rng = np.random.default_rng(n * 100 + m * 10 + k)
    a = rng.standard_normal((n,) if vector else (n, m))
    x, tx = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, tout = md.diag(x, k), torch.diag(tx, k)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy())
    up = rng.standard_normal(tuple(tout.shape))
    (out * md.tensor(up)).sum().backward()
    (tout * torch.tensor(up)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("shape,k", [((4,), 0), ((3,), -1), ((3, 4), 1), ((4, 3), -2)])
def test_diag_gradcheck_float64(shape, k):
    x = md.tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True)
    assert_gradcheck(lambda t: md.diag(t, k), x)
    assert_gradcheck(lambda t: x.diag(k).sum() * t.diag(k).square().sum(), x)   # twice through, as a method


def test_diag_of_the_inverse_degrees_as_gcn_builds_it():
    a = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]], np.float32)
    deg = md.sqrt(1 / md.sum(md.tensor(a), dim=1))
    tdeg = torch.sqrt(1 / torch.sum(torch.tensor(a), dim=1))
    got = md.diag(deg) @ md.tensor(a) @ md.diag(deg)
    want = torch.diag(tdeg) @ torch.tensor(a) @ torch.diag(tdeg)
    assert got.dtype == md.float32
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_diag_refuses_other_ranks_and_non_int_diagonal():
    with pytest.raises(ValueError, match=r"diag: expected a 1-d or 2-d tensor, got shape \(2, 2, 2\)"):
        md.diag(md.ones(2, 2, 2))
    with pytest.raises(TypeError, match="diag: diagonal must be an int"):
        md.diag(md.ones(2), 1.5)
    with pytest.raises(TypeError, match="diag: expected input to be a Tensor"):
        md.diag([1.0, 2.0])


# --- randint(high, size) --------------------------------------------------------------------------------------
def test_randint_high_size_overload_as_torch():
    md.manual_seed(0)
    y = md.randint(10, (500,))
    assert y.shape == tuple(torch.randint(10, (500,)).shape) == (500,)
    assert y.dtype == md.int64 and int(y.min()) >= 0 and int(y.max()) <= 9
    assert set(np.unique(y.numpy())) == set(range(10))
    z = md.randint(3, 5, (4, 2))                               # the (low, high, size) form is unchanged
    assert z.shape == (4, 2) and ((z.numpy() >= 3) & (z.numpy() < 5)).all()
    assert md.randint(4, size=[3]).shape == (3,)


# --- distributions.Categorical ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_categorical_log_prob_entropy_and_gradients_match_torch(kind):
    rng = np.random.default_rng(3)
    raw = rng.random((4, 3)) + 0.1 if kind == "probs" else rng.standard_normal((4, 3))
    x, tx = md.tensor(raw, requires_grad=True), torch.tensor(raw, requires_grad=True)
    m, t = md.distributions.Categorical(**{kind: x}), torch.distributions.Categorical(**{kind: tx})
    np.testing.assert_allclose(m.probs.detach().numpy(), t.probs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.logits.detach().numpy(), t.logits.detach().numpy(), rtol=1e-12)
    assert m.batch_shape == tuple(t.batch_shape) and m.param_shape == tuple(t.param_shape)
    value = np.array([0, 2, 1, 2])
    lp, tlp = m.log_prob(md.tensor(value)), t.log_prob(torch.tensor(value))
    np.testing.assert_allclose(lp.detach().numpy(), tlp.detach().numpy(), rtol=1e-12)
    ent, tent = m.entropy(), t.entropy()
    np.testing.assert_allclose(ent.detach().numpy(), tent.detach().numpy(), rtol=1e-12)
    (lp.sum() * 2 + ent.sum()).backward()
    (tlp.sum() * 2 + tent.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_categorical_gradcheck_float64(kind):
    rng = np.random.default_rng(4)
    raw = rng.random((2, 3)) + 0.2 if kind == "probs" else rng.standard_normal((2, 3))
    value = md.tensor([2, 0])
    x = md.tensor(raw, requires_grad=True)
    assert_gradcheck(lambda t: md.distributions.Categorical(**{kind: t}).log_prob(value), x)
    assert_gradcheck(lambda t: md.distributions.Categorical(**{kind: t}).entropy(), x)


def test_categorical_as_reinforce_uses_it():
    """softmax probs of one state (batch 1), sample, log_prob of the sample, -log_prob * R backpropagated."""
    md.manual_seed(0)
    lin = md.nn.Linear(4, 2)
    probs = md.nn.functional.softmax(lin(md.ones(1, 4)), dim=1)
    m = md.distributions.Categorical(probs)
    action = m.sample()
    assert action.shape == (1,) and action.dtype == md.int64
    lp = m.log_prob(action)
    np.testing.assert_allclose(lp.detach().numpy(), np.log(probs.detach().numpy()[0, action.item()]), rtol=1e-6)
    loss = md.cat([-lp * 1.5]).sum()
    loss.backward()
    assert lin.weight.grad is not None and np.abs(lin.weight.grad.numpy()).sum() > 0


def test_categorical_sample_shapes_and_frequencies():
    md.manual_seed(1)
    m = md.distributions.Categorical(md.tensor([0.1, 0.6, 0.3]))
    assert m.sample().shape == () and m.sample((5,)).shape == (5,) and m.sample([2, 3]).shape == (2, 3)
    draws = m.sample((4000,)).numpy()
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 4000, [0.1, 0.6, 0.3], atol=0.03)
    batched = md.distributions.Categorical(logits=md.zeros(5, 4))
    assert batched.sample().shape == (5,) and batched.sample((2,)).shape == (2, 5)
    assert np.isnan(batched.mean.numpy()).all() and batched.mean.shape == (5,)


def test_categorical_refuses_bad_parameters_and_values():
    with pytest.raises(ValueError, match="either probs or logits"):
        md.distributions.Categorical()
    with pytest.raises(ValueError, match="either probs or logits"):
        md.distributions.Categorical(md.ones(2), logits=md.ones(2))
    with pytest.raises(ValueError, match="finite and non-negative"):
        md.distributions.Categorical(md.tensor([0.5, -0.1]))
    with pytest.raises(ValueError, match=r"values must lie in \[0, 2\)"):
        md.distributions.Categorical(md.tensor([0.5, 0.5])).log_prob(md.tensor(2))
    with pytest.raises(TypeError, match="must be a Tensor"):
        md.distributions.Categorical([0.5, 0.5])
    with pytest.raises(AttributeError, match="minidl does not offer torch.distributions.Normal"):
        getattr(md.distributions, "Normal")  # noqa: B009 -- the attribute access is the test
