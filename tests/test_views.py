"""Views share memory and one version counter with their base (issue 12, item 3), as in PyTorch:
an in-place change through a view is seen by the base, by every other view, and by autograd."""
import numpy as np
import pytest

import minidl as md
from minidl.nn import functional as F

VIEWS = {
    "flatten": lambda w: w.flatten(),
    "reshape": lambda w: w.reshape(-1),
    "view": lambda w: w.view(w.shape[0], -1),
    "transpose": lambda w: w.transpose(0, 1),
    "T": lambda w: w.T,
    "permute": lambda w: w.permute(3, 2, 1, 0),
    "unsqueeze": lambda w: w.unsqueeze(0),
    "squeeze": lambda w: w.unsqueeze(2).squeeze(2),
    "detach": lambda w: w.detach(),
    "slice": lambda w: w[:, 1:],
    "int_index": lambda w: w[1],
    "ellipsis": lambda w: w[..., ::2],
    "narrow": lambda w: w.narrow(1, 0, 1),
    "split": lambda w: w.split(1, 1)[1],
    "chunk": lambda w: w.chunk(3, 0)[1],
}


@pytest.mark.parametrize("form", sorted(VIEWS))
def test_inplace_change_through_a_view_of_a_saved_tensor_is_detected(form):
    # w is saved by conv2d for x's gradient; changing it through any view must not give a silently wrong x.grad
    x = md.randn(1, 2, 5, 5, requires_grad=True)
    w = md.randn(3, 2, 3, 3)
    y = F.conv2d(x, w)
    VIEWS[form](w).mul_(3)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


@pytest.mark.parametrize("form", sorted(VIEWS))
def test_inplace_change_of_the_base_is_seen_by_a_saved_view(form):
    w = md.randn(3, 2, 3, 3)
    v = VIEWS[form](w)
    s = md.ones(*v.shape, requires_grad=True)
    z = (v * s).sum()                       # Mul saves the view v for s's gradient
    w.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        z.backward()


@pytest.mark.parametrize("form", sorted(VIEWS))
def test_views_write_through_to_the_base(form):
    w = md.tensor(np.arange(54, dtype=np.float32).reshape(3, 2, 3, 3))
    before = w.numpy().copy()
    v = VIEWS[form](w)
    v.mul_(5)
    t_before = __import__("torch").tensor(before)
    expected = t_before.clone()
    tv = VIEWS[form](expected)
    tv.mul_(5)
    np.testing.assert_array_equal(w.numpy(), expected.numpy())
    assert not np.array_equal(w.numpy(), before)
    assert v._version == w._version == 1


def test_slicing_splitting_and_narrowing_modify_the_original_as_pytorch():
    w = md.ones(2, 3)
    w[:, 1:].mul_(5)
    np.testing.assert_array_equal(w.numpy(), [[1, 5, 5], [1, 5, 5]])
    a = md.zeros(6)
    a.narrow(0, 1, 2).fill_(7)
    a.split(2)[2].add_(1)
    a.chunk(3)[0][0] = -1
    np.testing.assert_array_equal(a.numpy(), [-1, 7, 7, 0, 1, 1])
    b = md.zeros(2, 2)
    b[0].copy_(md.tensor([3.0, 4.0]))
    np.testing.assert_array_equal(b.numpy(), [[3, 4], [0, 0]])


def test_advanced_indexing_still_copies():
    w = md.ones(4)
    w[md.tensor([0, 2])].mul_(5)            # a copy in PyTorch too: w is unchanged
    w[w > 0].mul_(5)
    np.testing.assert_array_equal(w.numpy(), np.ones(4))
    assert w._version == 0


def test_inplace_on_a_view_of_a_leaf_that_requires_grad_is_refused():
    w = md.ones(3, requires_grad=True)
    with md.no_grad():
        v = w[0:2]                          # a view made without recording, of a leaf that requires grad
    with pytest.raises(RuntimeError, match="view of a leaf tensor that requires grad"):
        v.mul_(2)
    with pytest.raises(RuntimeError, match="view of a leaf tensor that requires grad"):
        w[0:2].mul_(2)
    with pytest.raises(RuntimeError, match="requires grad"):
        w.detach().requires_grad_().mul_(2)
    np.testing.assert_array_equal(w.numpy(), np.ones(3))
    with md.no_grad():                      # an optimizer's update: allowed, and seen by the version counter
        v.mul_(2)
    np.testing.assert_array_equal(w.numpy(), [2, 2, 1])
    assert w._version == 1


def test_inplace_through_a_view_with_a_value_that_requires_grad_is_refused_not_silently_cut():
    x = md.ones(2, requires_grad=True)
    buf = md.zeros(4)
    for op in (lambda: buf[0:2].copy_(x), lambda: buf[0:2].add_(x), lambda: buf[0:2].mul_(x)):
        with pytest.raises(RuntimeError, match="gradient would be lost"):
            op()
    buf[0:2].copy_(x.detach())
    np.testing.assert_array_equal(buf.numpy(), [1, 1, 0, 0])


def test_setitem_with_a_value_that_requires_grad_is_recorded():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    buf = md.zeros(4)
    buf[1:3] = x * 3                        # PyTorch records this too: buf joins the graph
    assert buf.grad_fn is not None and buf.requires_grad
    (buf * md.arange(4.0)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 6.0])
    np.testing.assert_array_equal(buf.detach().numpy(), [0, 3, 6, 0])


def test_inplace_on_an_expanded_view_is_a_clear_error():
    e = md.zeros(3).expand(2, 3)
    with pytest.raises(RuntimeError, match="share one memory location"):
        e.add_(1)


def test_a_copying_reshape_gets_its_own_version_counter():
    w = md.zeros(3, 4)
    c = w.T.reshape(-1)                     # not expressible as a view: a copy
    c.add_(1)
    assert w._version == 0 and c._version == 1
    np.testing.assert_array_equal(w.numpy(), np.zeros((3, 4)))


def test_gradients_through_views_match_pytorch(torch):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 6))
    x = md.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    for xx in (x, tx):
        parts = xx.split(2, 1)
        y = (parts[0] * parts[2].T.T + xx[1:, ::2].sum() * xx.narrow(0, 1, 2).mean()).sum()
        y.backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_parameter_shares_memory_and_version_with_its_source():
    t = md.zeros(3)
    p = md.nn.Parameter(t)
    with md.no_grad():
        t.add_(1)
    np.testing.assert_array_equal(p.detach().numpy(), np.ones(3))
    assert p._version == 1 and p.is_leaf


def test_detach_shares_the_version_counter_but_allows_inplace_as_pytorch():
    w = md.ones(3, requires_grad=True)
    d = w.detach()
    d.mul_(2)                               # allowed: detach() cuts the autograd link (PyTorch does the same)
    np.testing.assert_array_equal(w.detach().numpy(), [2, 2, 2])
    y = (w * w).sum()
    w.detach().add_(1)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()
