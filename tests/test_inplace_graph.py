"""In-place ops on tensors that are part of a graph, recorded by autograd as PyTorch records them (``out += x`` in a
residual block, ``h.relu_()``, ``outputs[:, t] = h``), and PyTorch's in-place twins of the elementwise and shape
methods. PyTorch is the oracle for values and gradients."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md

torch = pytest.importorskip("torch")


def _pair(a, requires_grad=True):
    return md.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


def _close(mine, theirs, tol=1e-10):
    np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)


def _residual_step(lib, x, params):
    """A ResNet basic block as torchvision writes it: conv-bn-relu, conv-bn, ``out += identity``, relu."""
    F = lib.nn.functional
    w1, w2, g, b = params
    out = F.conv2d(x, w1, padding=1)
    out = F.batch_norm(out, None, None, g, b, training=True)
    out.relu_()
    out = F.conv2d(out, w2, padding=1)
    out += x
    out.relu_()
    return (out * out).mean()


def test_a_residual_block_with_inplace_add_and_relu_matches_pytorch():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((4, 3, 3, 3)) * 0.3, rng.standard_normal((3, 4, 3, 3)) * 0.3,
              rng.standard_normal(4) + 1, rng.standard_normal(4)]
    x = rng.standard_normal((2, 3, 6, 6))
    mine = [md.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    lm = _residual_step(md, md.tensor(x), mine)
    lt = _residual_step(torch, torch.tensor(x), theirs)
    lm.backward()
    lt.backward()
    _close(lm, lt)
    for m, t in zip(mine, theirs):
        _close(m.grad, t.grad, 1e-9)


UNARY = ["abs_", "neg_", "exp_", "sin_", "cos_", "tanh_", "sigmoid_", "relu_", "square_", "erf_", "sign_"]
POSITIVE = ["sqrt_", "log_"]


@settings(max_examples=25, deadline=None)
@given(op=st.sampled_from(UNARY + POSITIVE), shape=st.lists(st.integers(1, 4), min_size=0, max_size=3),
       seed=st.integers(0, 2**16))
def test_unary_inplace_on_a_graph_tensor_matches_pytorch(op, shape, seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.2, 2.0, shape) if op in POSITIVE else rng.standard_normal(shape)
    xm, xt = _pair(a)
    ym, yt = xm * 1.5, xt * 1.5
    assert getattr(ym, op)() is ym
    getattr(yt, op)()
    wm = md.tensor(np.linspace(-1, 1, ym.numel()).reshape(shape))
    (ym * wm).sum().backward()
    (yt * torch.tensor(wm.numpy())).sum().backward()
    _close(ym, yt)
    _close(xm.grad, xt.grad, 1e-9)


@pytest.mark.parametrize("op", ["eq_", "ne_", "lt_", "le_", "gt_", "ge_", "pow_", "divide_", "true_divide_"])
def test_binary_inplace_methods_match_pytorch(op):
    a, b = np.array([[1.0, -2.0, 3.0], [0.5, 2.0, -1.0]]), np.array([1.0, 2.0, 2.5])
    xm, xt = _pair(a, requires_grad=False)
    assert getattr(xm, op)(md.tensor(b)) is xm
    getattr(xt, op)(torch.tensor(b))
    _close(xm, xt)
    assert xm.dtype == md.float64 and xm._version == 1


def test_a_result_that_cannot_cast_to_the_tensor_is_refused_as_in_pytorch():
    with pytest.raises(RuntimeError, match=r"sqrt_: result type float32 can't be cast to the tensor's dtype int64"):
        md.tensor([4, 9]).sqrt_()
    with pytest.raises(RuntimeError):
        torch.tensor([4, 9]).sqrt_()
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        md.ones(2, requires_grad=True).exp_()


def test_an_op_that_kept_the_old_values_still_gets_the_right_gradient():
    x = md.tensor([0.5, 1.0], dtype=md.float64, requires_grad=True)
    y = x.exp()                     # exp keeps its output for backward
    y.exp_()
    y.sum().backward()
    a = np.array([0.5, 1.0])
    np.testing.assert_allclose(x.grad.numpy(), np.exp(np.exp(a)) * np.exp(a), rtol=1e-12)


def test_changing_a_tensor_a_backward_saved_is_a_clear_error_as_in_pytorch():
    def build(lib):
        x = lib.tensor([0.5, 1.0], requires_grad=True)
        y = x * 2
        z = y * y                   # saves y itself
        y.add_(1)
        return z.sum()
    with pytest.raises(RuntimeError, match="modified in place"):
        build(md).backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        build(torch).backward()


def test_collecting_rnn_outputs_into_a_buffer_matches_pytorch():
    rng = np.random.default_rng(1)
    w, x = rng.standard_normal((3, 3)) * 0.5, rng.standard_normal((4, 2, 3))

    def run(lib, w):
        xs = lib.tensor(x)
        h = lib.zeros(2, 3, dtype=lib.float64)
        outputs = lib.zeros(4, 2, 3, dtype=lib.float64)
        for t in range(4):
            h = lib.tanh(xs[t] + h @ w)
            outputs[t] = h
        outputs.masked_fill_(outputs < -0.5, 0.0)
        outputs.clamp_(max=0.8)
        loss = (outputs ** 2).sum()
        loss.backward()
        return loss
    wm, wt = _pair(w)
    _close(run(md, wm), run(torch, wt))
    _close(wm.grad, wt.grad, 1e-9)


def test_shape_methods_in_place_keep_the_graph():
    def run(lib, x):
        y = x * 2
        y.unsqueeze_(0)
        y.transpose_(1, 2)
        y.squeeze_(0)
        y.t_()
        assert tuple(y.shape) == (2, 3)
        (y * lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=lib.float64)).sum().backward()
        return y
    a = np.arange(6.0).reshape(2, 3)
    xm, xt = _pair(a)
    _close(run(md, xm), run(torch, xt))
    _close(xm.grad, xt.grad)


def test_detach_in_place_cuts_the_graph():
    x = md.ones(2, requires_grad=True)
    y = (x * 3).detach_()
    assert y.grad_fn is None and not y.requires_grad and y.is_leaf
    np.testing.assert_array_equal(y.numpy(), [3.0, 3.0])


def test_scatter_and_fill_in_place_on_a_graph_tensor_match_pytorch():
    def run(lib, x):
        y = x * 1.0
        y.scatter_(1, lib.tensor([[0], [2]]), x[:, 1:2] * 5)
        z = x + 0.0
        z.fill_(2.0)
        (y.sum() * 2 + (y * y).sum() + (z * x).sum()).backward()
        return y
    a = np.arange(6.0).reshape(2, 3)
    xm, xt = _pair(a)
    _close(run(md, xm), run(torch, xt))
    _close(xm.grad, xt.grad)
