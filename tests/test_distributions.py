"""md.distributions against torch.distributions, used as REINFORCE / actor-critic (Categorical: sample, log_prob,
entropy) and VAEs (Normal: rsample, log_prob, kl_divergence) use them: values and gradients equal to PyTorch's on the
same parameters and the same sampled values, sample statistics within tolerance with a fixed seed, PyTorch's
argument checks."""
import math

import numpy as np
import pytest
import torch
import torch.distributions as TD
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
import minidl.distributions as D
from minidl.testing import assert_gradcheck

SETTINGS = settings(max_examples=25, deadline=None)


def _pair(a):
    """The same float64 values as a minidl and a torch leaf that require grad."""
    return md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _close(a, b, atol=1e-10):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=atol, rtol=1e-7)


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# --- Categorical: REINFORCE / actor-critic ----------------------------------------------------------------------------

@pytest.mark.parametrize("param", ["logits", "probs"])
def test_reinforce_gradient_matches_torch_on_the_same_actions(param):
    raw = _rand((6, 4), 1)
    if param == "probs":
        raw = np.exp(raw)                      # positive, unnormalized: both libraries normalize
    m, t = _pair(raw)
    md.manual_seed(0)
    dm, dt = D.Categorical(**{param: m}), TD.Categorical(**{param: t})
    actions = dm.sample()
    assert actions.dtype == md.int64 and actions.shape == (6,)
    reward = np.linspace(-1, 2, 6)
    loss_m = -(dm.log_prob(actions) * md.tensor(reward)).sum() - 0.01 * dm.entropy().sum()
    loss_t = -(dt.log_prob(torch.tensor(actions.numpy())) * torch.tensor(reward)).sum() - 0.01 * dt.entropy().sum()
    _close(loss_m, loss_t)
    loss_m.backward()
    loss_t.backward()
    _close(m.grad, t.grad)


def test_categorical_parameters_are_normalized_as_torch():
    raw = np.abs(_rand((3, 5), 2))
    _close(D.Categorical(probs=md.tensor(raw)).probs, TD.Categorical(probs=torch.tensor(raw)).probs)
    _close(D.Categorical(probs=md.tensor(raw)).logits, TD.Categorical(probs=torch.tensor(raw)).logits)
    _close(D.Categorical(logits=md.tensor(raw)).logits, TD.Categorical(logits=torch.tensor(raw)).logits)
    _close(D.Categorical(logits=md.tensor(raw)).probs, TD.Categorical(logits=torch.tensor(raw)).probs)


def test_categorical_log_prob_broadcasts_sample_shape_and_entropy_with_zero_probability():
    p = np.array([[0.5, 0.5, 0.0], [0.1, 0.2, 0.7]])
    dm, dt = D.Categorical(probs=md.tensor(p)), TD.Categorical(probs=torch.tensor(p))
    v = np.array([[0, 1], [1, 2], [0, 0]])
    _close(dm.log_prob(md.tensor(v)), dt.log_prob(torch.tensor(v)))
    _close(dm.entropy(), dt.entropy())
    m, t = _pair(np.log(np.array([[0.5, 0.5, 1e-9], [0.1, 0.2, 0.7]])))
    D.Categorical(logits=m).entropy().sum().backward()
    TD.Categorical(logits=t).entropy().sum().backward()
    _close(m.grad, t.grad)
    assert dm.batch_shape == (2,) and dm.event_shape == ()
    assert dm.mode.tolist() == [0, 2]
    assert dm.enumerate_support().tolist() == dt.enumerate_support().tolist()


def test_categorical_sample_frequencies_and_seed_repeats():
    probs = md.tensor([[0.1, 0.2, 0.3, 0.4], [0.7, 0.0, 0.0, 0.3]])
    d = D.Categorical(probs=probs)
    md.manual_seed(3)
    s = d.sample((20000,))
    assert s.shape == (20000, 2)
    freq = np.stack([(s.numpy() == k).mean(0) for k in range(4)], -1)
    np.testing.assert_allclose(freq, probs.numpy(), atol=0.015)
    assert freq[1, 1] == 0 and freq[1, 2] == 0          # zero-probability classes never drawn
    md.manual_seed(3)
    assert (d.sample((20000,)).numpy() == s.numpy()).all()


@SETTINGS
@given(batch=st.lists(st.integers(1, 3), max_size=2).map(tuple), k=st.integers(1, 5), seed=st.integers(0, 9999))
def test_categorical_log_prob_entropy_gradients_match_torch_on_drawn_shapes(batch, k, seed):
    m, t = _pair(_rand(batch + (k,), seed))
    dm, dt = D.Categorical(logits=m), TD.Categorical(logits=t)
    md.manual_seed(seed)
    a = dm.sample((2,))
    assert a.shape == (2,) + batch
    lm = dm.log_prob(a).sum() + dm.entropy().sum()
    lt = dt.log_prob(torch.tensor(a.numpy())).sum() + dt.entropy().sum()
    _close(lm, lt)
    lm.backward()
    lt.backward()
    _close(m.grad, t.grad)


# --- Normal: VAE ---------------------------------------------------------------------------------------------------

def test_vae_loss_rsample_log_prob_and_kl_match_torch():
    mu_m, mu_t = _pair(_rand((4, 3), 4))
    lv_m, lv_t = _pair(0.3 * _rand((4, 3), 5))
    md.manual_seed(1)
    qm = D.Normal(mu_m, (0.5 * lv_m).exp())
    z = qm.rsample()
    # the noise the sample used, to give PyTorch the same z as loc + eps * scale
    eps = (z.detach().numpy() - mu_m.detach().numpy()) / np.exp(0.5 * lv_m.detach().numpy())
    qt = TD.Normal(mu_t, (0.5 * lv_t).exp())
    zt = qt.loc + torch.tensor(eps) * qt.scale
    _close(z, zt)
    pm, pt = D.Normal(md.zeros(4, 3, dtype=md.float64), 1.0), TD.Normal(torch.zeros(4, 3, dtype=torch.float64), 1.0)
    loss_m = -(pm.log_prob(z) - qm.log_prob(z)).sum() + D.kl_divergence(qm, pm).sum() + (z ** 2).sum()
    loss_t = -(pt.log_prob(zt) - qt.log_prob(zt)).sum() + TD.kl_divergence(qt, pt).sum() + (zt ** 2).sum()
    _close(loss_m, loss_t)
    loss_m.backward()
    loss_t.backward()
    _close(mu_m.grad, mu_t.grad)
    _close(lv_m.grad, lv_t.grad)
    assert D.kl.kl_divergence is D.kl_divergence


def test_normal_rsample_is_differentiable_in_loc_and_scale_and_sample_is_not():
    loc, scale = md.tensor([1.0, -2.0], requires_grad=True), md.tensor([0.5, 2.0], requires_grad=True)
    d = D.Normal(loc, scale)
    md.manual_seed(0)
    z = d.rsample((5,))
    z.sum().backward()
    eps = (z.detach().numpy() - loc.detach().numpy()) / scale.detach().numpy()
    np.testing.assert_allclose(loc.grad.numpy(), [5.0, 5.0])
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0), rtol=1e-5)
    assert not d.sample().requires_grad
    md.manual_seed(0)
    np.testing.assert_array_equal(d.sample((5,)).numpy(), z.detach().numpy())


def test_normal_sample_statistics_and_moments():
    d = D.Normal(md.tensor([0.0, 3.0]), md.tensor([1.0, 0.5]))
    md.manual_seed(7)
    s = d.sample((40000,)).numpy()
    np.testing.assert_allclose(s.mean(0), [0.0, 3.0], atol=0.02)
    np.testing.assert_allclose(s.std(0), [1.0, 0.5], atol=0.02)
    t = TD.Normal(torch.tensor([0.0, 3.0]), torch.tensor([1.0, 0.5]))
    for name in ("mean", "stddev", "variance", "mode"):
        _close(getattr(d, name), getattr(t, name))
    _close(d.entropy(), t.entropy(), atol=1e-6)
    v = md.tensor([0.3, 2.0])
    _close(d.cdf(v), t.cdf(torch.tensor([0.3, 2.0])), atol=1e-6)
    assert D.Normal(0.0, 1.0).batch_shape == () and D.Normal(0.0, 1.0).sample((3,)).dtype == md.float32


def test_normal_log_prob_gradcheck():
    assert_gradcheck(lambda loc, scale, x: D.Normal(loc, scale).log_prob(x), _rand((2, 3), 8),
                     np.exp(_rand((2, 3), 9)), _rand((3,), 10))
    assert_gradcheck(lambda loc, scale: D.kl_divergence(D.Normal(loc, scale), D.Normal(0.5, 2.0)), _rand((3,), 11),
                     np.exp(_rand((3,), 12)))


# --- Bernoulli, Uniform, OneHotCategorical, MultivariateNormal ----------------------------------------------------------

@pytest.mark.parametrize("param", ["probs", "logits"])
def test_bernoulli_matches_torch(param):
    raw = _rand((5,), 13)
    if param == "probs":
        raw = 1 / (1 + np.exp(-raw))
    m, t = _pair(raw)
    dm, dt = D.Bernoulli(**{param: m}), TD.Bernoulli(**{param: t})
    v = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    lm = dm.log_prob(md.tensor(v)).sum() + dm.entropy().sum() + dm.mean.sum() + dm.variance.sum()
    lt = dt.log_prob(torch.tensor(v)).sum() + dt.entropy().sum() + dt.mean.sum() + dt.variance.sum()
    _close(lm, lt)
    lm.backward()
    lt.backward()
    _close(m.grad, t.grad)
    _close(dm.probs, dt.probs)
    _close(dm.logits, dt.logits)


def test_bernoulli_sample_frequencies():
    d = D.Bernoulli(probs=md.tensor([0.1, 0.5, 0.9]))
    md.manual_seed(5)
    s = d.sample((20000,))
    assert s.dtype == md.float32 and set(np.unique(s.numpy())) <= {0.0, 1.0}
    np.testing.assert_allclose(s.numpy().mean(0), [0.1, 0.5, 0.9], atol=0.015)


def test_uniform_matches_torch():
    lo_m, lo_t = _pair(np.array([0.0, -1.0]))
    hi_m, hi_t = _pair(np.array([2.0, 3.0]))
    dm, dt = D.Uniform(lo_m, hi_m), TD.Uniform(lo_t, hi_t)
    v = np.array([1.0, 2.5])
    lm = dm.log_prob(md.tensor(v)).sum() + dm.entropy().sum() + dm.mean.sum() + dm.stddev.sum()
    lt = dt.log_prob(torch.tensor(v)).sum() + dt.entropy().sum() + dt.mean.sum() + dt.stddev.sum()
    _close(lm, lt)
    lm.backward()
    lt.backward()
    _close(lo_m.grad, lo_t.grad)
    _close(hi_m.grad, hi_t.grad)
    out = D.Uniform(0.0, 1.0, validate_args=False).log_prob(md.tensor([2.0]))
    assert out.item() == -math.inf
    md.manual_seed(2)
    s = D.Uniform(-1.0, 3.0).sample((20000,)).numpy()
    assert s.min() >= -1 and s.max() < 3 and abs(s.mean() - 1.0) < 0.03


def test_one_hot_categorical_matches_torch():
    m, t = _pair(_rand((2, 3), 14))
    dm, dt = D.OneHotCategorical(logits=m), TD.OneHotCategorical(logits=t)
    md.manual_seed(0)
    s = dm.sample((4,))
    assert s.shape == (4, 2, 3) and (s.numpy().sum(-1) == 1).all()
    assert dm.event_shape == (3,) and dm.batch_shape == (2,)
    lm, lt = dm.log_prob(s).sum() + dm.entropy().sum(), dt.log_prob(torch.tensor(s.numpy())).sum() + dt.entropy().sum()
    _close(lm, lt)
    lm.backward()
    lt.backward()
    _close(m.grad, t.grad)


@pytest.mark.parametrize("kind", ["covariance_matrix", "scale_tril", "precision_matrix"])
def test_multivariate_normal_matches_torch(kind):
    L = np.tril(_rand((3, 3), 15)) + 3 * np.eye(3)
    mat = {"covariance_matrix": L @ L.T, "scale_tril": L, "precision_matrix": np.linalg.inv(L @ L.T)}[kind]
    loc_m, loc_t = _pair(_rand((2, 3), 16))
    mat_m, mat_t = _pair(mat)
    dm = D.MultivariateNormal(loc_m, **{kind: mat_m})
    dt = TD.MultivariateNormal(loc_t, **{kind: mat_t})
    assert dm.batch_shape == (2,) and dm.event_shape == (3,)
    v = _rand((4, 2, 3), 17)
    lm = dm.log_prob(md.tensor(v)).sum() + dm.entropy().sum() + dm.variance.sum()
    lt = dt.log_prob(torch.tensor(v)).sum() + dt.entropy().sum() + dt.variance.sum()
    _close(lm, lt, atol=1e-9)
    lm.backward()
    lt.backward()
    _close(loc_m.grad, loc_t.grad, atol=1e-9)
    g_t = mat_t.grad.numpy()
    # PyTorch's Cholesky gradient is symmetric-equivalent: compare the symmetric parts for full matrices
    if kind != "scale_tril":
        g_t = (g_t + g_t.T) / 2
    g_m = mat_m.grad.numpy() if kind == "scale_tril" else (mat_m.grad.numpy() + mat_m.grad.numpy().T) / 2
    np.testing.assert_allclose(g_m, g_t, atol=1e-9)


def test_multivariate_normal_sample_covariance():
    cov = np.array([[2.0, 0.8], [0.8, 1.0]])
    d = D.MultivariateNormal(md.tensor([1.0, -1.0]), covariance_matrix=md.tensor(cov, dtype=md.float32))
    md.manual_seed(4)
    s = d.sample((40000,)).numpy()
    np.testing.assert_allclose(s.mean(0), [1.0, -1.0], atol=0.03)
    np.testing.assert_allclose(np.cov(s.T), cov, atol=0.05)


# --- KL divergences -------------------------------------------------------------------------------------------------

def _kl_case(make_m, make_t, *arrays):
    pairs = [_pair(a) for a in arrays]
    km = D.kl_divergence(*make_m(*[p[0] for p in pairs]))
    kt = TD.kl_divergence(*make_t(*[p[1] for p in pairs]))
    _close(km, kt)
    km.sum().backward()
    kt.sum().backward()
    for a, b in pairs:
        _close(a.grad, b.grad)


def test_kl_divergences_match_torch():
    _kl_case(lambda a, b, c, d: (D.Normal(a, b.exp()), D.Normal(c, d.exp())),
             lambda a, b, c, d: (TD.Normal(a, b.exp()), TD.Normal(c, d.exp())), *[_rand((3,), s) for s in range(4)])
    _kl_case(lambda a, b: (D.Categorical(logits=a), D.Categorical(logits=b)),
             lambda a, b: (TD.Categorical(logits=a), TD.Categorical(logits=b)), _rand((2, 4), 5), _rand((2, 4), 6))
    _kl_case(lambda a, b: (D.Bernoulli(logits=a), D.Bernoulli(logits=b)),
             lambda a, b: (TD.Bernoulli(logits=a), TD.Bernoulli(logits=b)), _rand((5,), 7), _rand((5,), 8))
    _kl_case(lambda a, b: (D.OneHotCategorical(logits=a), D.OneHotCategorical(logits=b)),
             lambda a, b: (TD.OneHotCategorical(logits=a), TD.OneHotCategorical(logits=b)), _rand((4,), 9),
             _rand((4,), 10))
    L1, L2 = np.tril(_rand((3, 3), 11)) + 3 * np.eye(3), np.tril(_rand((3, 3), 12)) + 2 * np.eye(3)
    _kl_case(lambda a, b, c, d: (D.MultivariateNormal(a, scale_tril=b), D.MultivariateNormal(c, scale_tril=d)),
             lambda a, b, c, d: (TD.MultivariateNormal(a, scale_tril=b), TD.MultivariateNormal(c, scale_tril=d)),
             _rand((3,), 13), L1, _rand((3,), 14), L2)


def test_kl_edge_cases_and_unregistered_pairs():
    p = D.Categorical(probs=md.tensor([0.5, 0.5, 0.0]))
    q = D.Categorical(probs=md.tensor([0.5, 0.0, 0.5]))
    assert D.kl_divergence(p, q).item() == math.inf
    assert abs(D.kl_divergence(q, D.Categorical(probs=md.tensor([0.5, 0.25, 0.25]))).item() - 0.5 * math.log(2)) < 1e-6
    u1, u2 = D.Uniform(0.0, 1.0), D.Uniform(-1.0, 3.0)
    assert abs(D.kl_divergence(u1, u2).item() - math.log(4)) < 1e-6 and D.kl_divergence(u2, u1).item() == math.inf
    with pytest.raises(NotImplementedError, match="kl_divergence.*Normal.*Bernoulli"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Bernoulli(probs=md.tensor(0.5)))


def test_register_kl_extends_kl_divergence():
    class MyNormal(D.Normal):
        pass

    assert abs(D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(1.0, 1.0)).item() - 0.5) < 1e-6   # inherited pair

    @D.register_kl(MyNormal, MyNormal)
    def _kl(p, q):
        return (p.loc - q.loc).abs()
    assert D.kl_divergence(MyNormal(0.0, 1.0), MyNormal(3.0, 1.0)).item() == 3.0


# --- argument checks --------------------------------------------------------------------------------------------------

def test_invalid_arguments_are_refused_as_torch():
    with pytest.raises(ValueError, match="Expected parameter scale .* GreaterThan"):
        D.Normal(md.zeros(2), md.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        D.Categorical()
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        D.Bernoulli(probs=md.tensor(0.5), logits=md.tensor(0.0))
    with pytest.raises(ValueError, match="Expected parameter probs"):
        D.Bernoulli(probs=md.tensor([1.5]))
    with pytest.raises(ValueError, match="Expected parameter probs"):
        D.Categorical(probs=md.tensor([0.5, -0.1]))
    with pytest.raises(ValueError, match="at least one-dimensional"):
        D.Categorical(logits=md.tensor(1.0))
    with pytest.raises(ValueError, match="support"):
        D.Categorical(logits=md.zeros(3)).log_prob(md.tensor(3))
    with pytest.raises(ValueError, match="support"):
        D.Bernoulli(probs=md.tensor(0.3)).log_prob(md.tensor(0.5))
    with pytest.raises(ValueError, match="Expected parameter low"):
        D.Uniform(1.0, 0.0)
    D.Normal(0.0, -1.0, validate_args=False)              # checks off: accepted, as PyTorch
    with pytest.raises(NotImplementedError, match="Categorical has no reparameterized sample"):
        D.Categorical(logits=md.zeros(3)).rsample()
    with pytest.raises(ValueError, match="Exactly one of"):
        D.MultivariateNormal(md.zeros(2))


def test_namespace_as_programs_import_it():
    import minidl.distributions.categorical as cat_mod
    import minidl.distributions.kl as kl_mod
    import minidl.distributions.normal as normal_mod
    assert cat_mod.Categorical is md.distributions.Categorical and normal_mod.Normal is D.Normal
    assert kl_mod.kl_divergence is D.kl_divergence
    assert set(D.__all__) <= set(dir(D))
    assert D.Normal.has_rsample and not D.Categorical.has_rsample


def test_independent_matches_torch_as_a_diagonal_gaussian():
    mu_m, mu_t = _pair(_rand((4, 3), 30))
    dm = D.Independent(D.Normal(mu_m, 0.5), 1)
    dt = TD.Independent(TD.Normal(mu_t, 0.5), 1)
    assert dm.batch_shape == tuple(dt.batch_shape) == (4,) and dm.event_shape == tuple(dt.event_shape) == (3,)
    v = _rand((2, 4, 3), 31)
    qm = D.Independent(D.Normal(md.zeros(4, 3, dtype=md.float64), 1.0), 1)
    qt = TD.Independent(TD.Normal(torch.zeros(4, 3, dtype=torch.float64), 1.0), 1)
    lm = dm.log_prob(md.tensor(v)).sum() + dm.entropy().sum() + D.kl_divergence(dm, qm).sum()
    lt = dt.log_prob(torch.tensor(v)).sum() + dt.entropy().sum() + TD.kl_divergence(dt, qt).sum()
    _close(lm, lt)
    lm.backward()
    lt.backward()
    _close(mu_m.grad, mu_t.grad)
    assert dm.rsample((5,)).shape == (5, 4, 3) and dm.has_rsample


def test_expand_broadcasts_parameters_as_torch():
    d = D.Normal(md.tensor([0.0, 1.0]), 1.0).expand([3, 2])
    assert d.batch_shape == (3, 2) and d.sample().shape == (3, 2) and d.loc.shape == (3, 2)
    c = D.Categorical(logits=md.zeros(3)).expand((4,))
    assert c.batch_shape == (4,) and c.sample((2,)).shape == (2, 4) and c.log_prob(md.tensor([0, 1, 2, 0])).shape == (4,)
    o = D.OneHotCategorical(probs=md.tensor([0.5, 0.5])).expand((3,))
    assert o.batch_shape == (3,) and o.sample().shape == (3, 2)
    i = D.Independent(D.Normal(md.zeros(3), 1.0), 1).expand((5,))
    assert i.batch_shape == (5,) and i.event_shape == (3,) and i.log_prob(md.zeros(5, 3)).shape == (5,)


def test_names_minidl_lacks_are_refused_naming_torchs():
    with pytest.raises(AttributeError, match="minidl does not offer torch.distributions.Dirichlet"):
        D.Dirichlet  # noqa: B018
    with pytest.raises(AttributeError, match="minidl does not offer torch.linalg.eig"):
        md.linalg.eig  # noqa: B018


@SETTINGS
@given(loc_shape=st.lists(st.integers(1, 3), max_size=2).map(tuple),
       scale_shape=st.lists(st.integers(1, 3), max_size=2).map(tuple), seed=st.integers(0, 9999))
def test_normal_and_bernoulli_broadcast_parameters_as_torch(loc_shape, scale_shape, seed):
    try:
        shape = np.broadcast_shapes(loc_shape, scale_shape)
    except ValueError:
        with pytest.raises(ValueError, match="shapes .* do not broadcast"):
            D.Normal(md.zeros(*loc_shape), md.ones(*scale_shape))
        return
    loc_m, loc_t = _pair(_rand(loc_shape, seed))
    sc_m, sc_t = _pair(np.exp(_rand(scale_shape, seed + 1)))
    dm, dt = D.Normal(loc_m, sc_m), TD.Normal(loc_t, sc_t)
    assert dm.batch_shape == tuple(dt.batch_shape) == shape
    md.manual_seed(seed)
    assert dm.sample((2,)).shape == (2,) + shape
    v = _rand(shape, seed + 2)
    bm, bt = D.Bernoulli(logits=loc_m), TD.Bernoulli(logits=loc_t)
    b = (_rand(loc_shape, seed + 3) > 0).astype(np.float64)
    lm = dm.log_prob(md.tensor(v)).sum() + dm.entropy().sum() + bm.log_prob(md.tensor(b)).sum() + bm.entropy().sum()
    lt = dt.log_prob(torch.tensor(v)).sum() + dt.entropy().sum() + bt.log_prob(torch.tensor(b)).sum() + bt.entropy().sum()
    _close(lm, lt)
    lm.backward()
    lt.backward()
    _close(loc_m.grad, loc_t.grad)
    _close(sc_m.grad, sc_t.grad)


@pytest.mark.parametrize("name", ["Exponential", "Laplace", "LogNormal"])
def test_more_distributions_match_torch(name):
    a_m, a_t = _pair(_rand((3,), 50))
    b_m, b_t = _pair(np.exp(_rand((3,), 51)))
    make = {"Exponential": lambda lib, a, b: lib.Exponential(b),
            "Laplace": lambda lib, a, b: lib.Laplace(a, b),
            "LogNormal": lambda lib, a, b: lib.LogNormal(a, b)}[name]
    dm, dt = make(D, a_m, b_m), make(TD, a_t, b_t)
    v = np.exp(_rand((2, 3), 52))                          # positive: inside every support here
    lm = dm.log_prob(md.tensor(v)).sum() + dm.entropy().sum() + dm.mean.sum() + dm.variance.sum() + \
        dm.cdf(md.tensor(v)).sum()
    lt = dt.log_prob(torch.tensor(v)).sum() + dt.entropy().sum() + dt.mean.sum() + dt.variance.sum() + \
        dt.cdf(torch.tensor(v)).sum()
    _close(lm, lt)
    lm.backward()
    lt.backward()
    _close(b_m.grad, b_t.grad)
    if name != "Exponential":
        _close(a_m.grad, a_t.grad)
    _close(dm.stddev, dt.stddev)
    _close(dm.mode, dt.mode)
    # sample statistics with a fixed seed, and the rsample gradient exists
    md.manual_seed(6)
    d = make(D, md.tensor([0.5]), md.tensor([0.7]))
    s = d.sample((40000,)).numpy()
    ref = make(TD, torch.tensor([0.5]), torch.tensor([0.7]))
    np.testing.assert_allclose(s.mean(), ref.mean.item(), rtol=0.03)
    np.testing.assert_allclose(s.var(), ref.variance.item(), rtol=0.08)
    z = make(D, a_m, b_m).rsample((4,))
    assert z.shape == (4, 3) and z.requires_grad


def test_exponential_kl_and_support_check():
    _kl_case(lambda a, b: (D.Exponential(a.exp()), D.Exponential(b.exp())),
             lambda a, b: (TD.Exponential(a.exp()), TD.Exponential(b.exp())), _rand((3,), 53), _rand((3,), 54))
    with pytest.raises(ValueError, match="support"):
        D.Exponential(1.0).log_prob(md.tensor(-1.0))
    with pytest.raises(ValueError, match="support"):
        D.LogNormal(0.0, 1.0).log_prob(md.tensor(0.0))
