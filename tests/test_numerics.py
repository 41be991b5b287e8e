"""Numerical edge cases where a composed formula loses to PyTorch's (issue 12, items 4 and 5): softmax and
cross-entropy with huge logits, std of constant or huge values, losses whose every target is ignored."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.nn import functional as F

BIG = [1e5, 1e7, 2e7, 1e30, 3e38]


@pytest.mark.parametrize("v", BIG)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_log_softmax_cross_entropy_with_huge_logits_match_torch(v, dtype, torch):
    a = np.array([[v, v, 0.0], [0.0, -v, v]], dtype=dtype)
    x, tx = md.tensor(a), torch.tensor(a)
    np.testing.assert_allclose(x.softmax(1).numpy(), torch.softmax(tx, 1).numpy(), rtol=1e-6, atol=0)
    np.testing.assert_allclose(x.log_softmax(1).numpy(), torch.log_softmax(tx, 1).numpy(), rtol=1e-6, atol=0)
    target = [0, 2]
    ce = F.cross_entropy(x, md.tensor(target)).item()
    tce = torch.nn.functional.cross_entropy(tx, torch.tensor(target)).item()
    assert ce == pytest.approx(tce, rel=1e-6, abs=1e-7)
    np.testing.assert_allclose(x.softmax(1).numpy().sum(1), 1.0, rtol=1e-6)


@given(st.integers(-2**23, 2**23), st.integers(1, 6), st.integers(0, 12))
def test_softmax_is_shift_invariant_at_any_offset(offset, n, step):
    # softmax(x + c) == softmax(x) (integers below 2^24 are exact in float32, so x + c is exact too); a composed
    # x - logsumexp(x) loses digits as |c| grows
    base = np.arange(n, dtype=np.float32) * step
    p0 = md.tensor(base).softmax(0).numpy()
    p1 = md.tensor(base + np.float32(offset)).softmax(0).numpy()
    np.testing.assert_allclose(p1, p0, rtol=1e-5, atol=1e-7)


def test_softmax_grads_with_huge_logits_match_torch(torch):
    a = np.array([[1e7, 1e7, 0.0, -3.0]], dtype=np.float32)
    g = np.array([[0.3, -1.0, 2.0, 0.5]], dtype=np.float32)
    for name in ("softmax", "log_softmax"):
        x, tx = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        getattr(x, name)(1).backward(md.tensor(g))
        getattr(torch, name)(tx, 1).backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_softmax_of_rows_of_minus_inf_is_nan_as_torch(torch):
    a = np.array([[-np.inf, -np.inf], [0.0, -np.inf]], dtype=np.float32)
    for name in ("softmax", "log_softmax"):
        np.testing.assert_array_equal(getattr(md.tensor(a), name)(1).numpy(),
                                      getattr(torch, name)(torch.tensor(a), 1).numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", [{}, {"dim": 1}, {"dim": 0, "correction": 0}])
def test_std_of_a_constant_has_zero_gradient_as_torch(dtype, kw, torch):
    a = np.full((3, 4), 2.5, dtype=dtype)
    a[:, 0] = [1.0, 2.0, 3.0]                  # dim 0 of column 0 varies; the rest is constant
    x, tx = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    x.std(**kw).sum().backward()
    tx.std(**kw).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_std_of_huge_values_does_not_overflow_in_float32(torch):
    a = np.array([3e38, -3e38, 0, 1], dtype=np.float32)
    s = md.tensor(a).std().item()
    assert np.isfinite(s)
    assert s == pytest.approx(torch.tensor(a).std().item(), rel=1e-5)
    b = np.array([[1e-30, 3e-30, 2e-30]], dtype=np.float32)       # tiny values keep their precision too
    assert md.tensor(b).std(1).item() == pytest.approx(torch.tensor(b).std(1).item(), rel=1e-5)


def test_std_double_backward_matches_torch(torch):
    a = np.random.default_rng(1).standard_normal((3, 5))
    x, tx = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (g,) = md.autograd.grad(x.std(1).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad(tx.std(1).sum(), tx, create_graph=True)
    c = np.random.default_rng(2).standard_normal((3, 5))
    (g * g * md.tensor(c)).sum().backward()
    (tg * tg * torch.tensor(c)).sum().backward()
    assert np.abs(x.grad.numpy()).max() > 1e-3
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_with_every_target_ignored_has_zero_gradient(smoothing, weighted, torch):
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    w = np.array([1.0, 2.0, 0.5, 1.0], dtype=np.float32)
    x, tx = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    kw = {"ignore_index": 1, "label_smoothing": smoothing}
    loss = F.cross_entropy(x, md.tensor([1, 1, 1]), weight=md.tensor(w) if weighted else None, **kw)
    tloss = torch.nn.functional.cross_entropy(tx, torch.tensor([1, 1, 1]),
                                              weight=torch.tensor(w) if weighted else None, **kw)
    loss.backward()
    tloss.backward()
    assert np.isnan(loss.item()) and np.isnan(tloss.item())
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4)))


def test_nll_loss_with_every_target_ignored_has_zero_gradient():
    x = md.tensor(np.log(np.full((2, 3), 1 / 3)), requires_grad=True)
    F.nll_loss(x, md.tensor([-100, -100])).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pow_gradient_of_the_exponent_is_zero_at_a_zero_base_as_torch(dtype, torch):
    # d/db a**b = a**b log a, defined as 0 where a == 0 (0 * log 0 would be nan); the op table never draws a == 0
    a = np.array([0.0, 0.0, 2.0, 0.5], dtype=dtype)
    b = np.array([2.0, 0.5, 3.0, 1.5], dtype=dtype)
    x, y = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (x ** y).sum().backward()
    (tx ** ty).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    assert y.grad.numpy()[0] == 0 and y.grad.numpy()[1] == 0
