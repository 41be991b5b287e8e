"""The engine: accumulation, retain_graph, long chains, grad(), create_graph, no_grad, custom Functions."""
import numpy as np
import pytest

import minidl as md


def test_gradients_accumulate_across_backward_calls():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])


def test_shared_subexpression_sums_both_paths():
    x = md.tensor(2.0, requires_grad=True)
    y = x * x
    z = y * y + y            # dz/dx = (2y + 1) * 2x = (8 + 1) * 4
    z.backward()
    assert x.grad.item() == pytest.approx(36.0)


def test_leaf_grads_do_not_alias_each_other():
    a = md.tensor([1.0], requires_grad=True)
    b = md.tensor([1.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.zero_()
    assert b.grad.item() == 1.0


def test_retain_graph_allows_a_second_backward_and_default_frees():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_chain_of_ten_thousand_ops_backpropagates_without_recursion():
    x = md.tensor(1.0, dtype=md.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 10_000, rel=1e-9)


def test_broadcast_gradients_are_reduced_to_operand_shapes():
    a = md.ones(4, 1, 3, requires_grad=True)
    b = md.ones(5, 1, requires_grad=True)
    c = md.tensor(2.0, requires_grad=True)
    (a * b * c).sum().backward()
    assert a.grad.shape == (4, 1, 3) and np.all(a.grad.numpy() == 10.0)
    assert b.grad.shape == (5, 1) and np.all(b.grad.numpy() == 24.0)
    assert c.grad.shape == () and c.grad.item() == 60.0


def test_autograd_grad_returns_without_touching_dot_grad():
    x = md.tensor([3.0], requires_grad=True)
    (g,) = md.autograd.grad((x ** 2).sum(), x)
    assert g.item() == 6.0 and x.grad is None


def test_grad_of_unused_input_is_an_error_unless_allowed():
    x, y = md.tensor([1.0], requires_grad=True), md.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not used"):
        md.autograd.grad((x * 2).sum(), [x, y])
    gx, gy = md.autograd.grad((x * 2).sum(), [x, y], allow_unused=True)
    assert gx.item() == 2.0 and gy is None


def test_grad_with_respect_to_an_intermediate():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    (g,) = md.autograd.grad((h * h).sum(), h)
    np.testing.assert_allclose(g.numpy(), 2 * h.detach().numpy())


def test_create_graph_gives_second_derivatives():
    x = md.tensor([0.5, -1.0, 2.0], dtype=md.float64, requires_grad=True)
    y = (x.tanh() * x.exp() + x * x).sum()
    (g,) = md.autograd.grad(y, x, create_graph=True)
    (h,) = md.autograd.grad(g.sum(), x)
    t, e = np.tanh(x.numpy()), np.exp(x.numpy())
    # d2/dx2 [tanh(x) e^x + x^2] = e^x (tanh + 2 tanh' + tanh'') + 2
    d1 = (1 - t ** 2)
    d2 = -2 * t * d1
    expected = e * (t + 2 * d1 + d2) + 2
    np.testing.assert_allclose(h.numpy(), expected, rtol=1e-10)


def test_second_derivative_through_matmul_and_sigmoid():
    w = md.randn(3, 3, dtype=md.float64)
    x = md.randn(3, dtype=md.float64, requires_grad=True)
    assert md.autograd.gradcheck(lambda v: md.autograd.grad((w @ v).sigmoid().sum(), v, create_graph=True)[0], (x,))


def test_no_grad_context_and_decorator():
    x = md.ones(2, requires_grad=True)
    with md.no_grad():
        y = x * 2
        with md.enable_grad():
            z = x * 2
    assert not y.requires_grad and z.requires_grad and md.is_grad_enabled()

    @md.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad and md.is_grad_enabled()


def test_custom_function_with_saved_tensors_and_needs_input_grad():
    class Cube(md.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            ctx.save_for_backward(x)
            ctx.scale = scale
            return x.array ** 3 * scale

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, False)
            return grad * 3 * x ** 2 * ctx.scale, None

    x = md.tensor([1.0, 2.0], dtype=md.float64, requires_grad=True)
    Cube.apply(x, 2.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 24.0])
    assert md.autograd.gradcheck(lambda t: Cube.apply(t, 0.5), (md.randn(3, dtype=md.float64, requires_grad=True),))


def test_inplace_change_of_a_saved_tensor_is_detected():
    a = md.ones(3, requires_grad=True)
    b = md.ones(3)
    y = (a * b).sum()
    b.add_(1)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_inplace_on_leaf_requiring_grad_needs_no_grad():
    p = md.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        p += 1
    with md.no_grad():
        p -= 0.5              # in place, as PyTorch: the parameter object itself changes
    np.testing.assert_allclose(p.numpy(), [0.5, 0.5])
    assert p.requires_grad and p.is_leaf


def test_retain_grad_on_intermediate():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    h = (x * 2).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [4.0, 8.0])


def test_integer_outputs_never_require_grad():
    x = md.tensor([[1.0, 5.0], [3.0, 2.0]], requires_grad=True)
    values, indices = x.max(dim=1)
    assert values.requires_grad and not indices.requires_grad and indices.dtype == md.int64
    assert not (x > 1).requires_grad


def test_gradcheck_catches_a_wrong_backward_and_names_the_input():
    class Wrong(md.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a.array * b.array

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            return grad * b, grad * a * 1.5      # second gradient is wrong

    a = md.randn(2, 3, dtype=md.float64, requires_grad=True)
    b = md.randn(2, 3, dtype=md.float64, requires_grad=True)
    with pytest.raises(md.autograd.GradcheckError, match=r"input 1 \(shape \(2, 3\)\).*worst element"):
        md.autograd.gradcheck(Wrong.apply, (a, b))
    with pytest.raises(md.autograd.GradcheckError, match="input 1"):
        md.autograd.gradcheck(Wrong.apply, (a, b), fast_mode=True)


def test_gradcheck_rejects_float32_inputs():
    with pytest.raises(ValueError, match="float64"):
        md.autograd.gradcheck(lambda t: t * 2, (md.ones(2, requires_grad=True),))


def test_gradcheck_detects_nonzero_gradient_for_zero_upstream():
    class Leaky(md.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a.array * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2 + 1.0

    with pytest.raises(md.autograd.GradcheckError, match="zero grad_output"):
        md.autograd.gradcheck(Leaky.apply, (md.randn(3, dtype=md.float64, requires_grad=True),))


def test_backward_with_explicit_gradient_for_non_scalar():
    x = md.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(md.tensor([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 12.0])


def test_detach_cuts_the_graph_and_shares_data():
    x = md.ones(2, requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    y = (x * d).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_dtype_cast_gradient_comes_back_in_the_input_dtype():
    x = md.ones(3, requires_grad=True)
    (x.double() * 2).sum().backward()
    assert x.grad.dtype == md.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0] * 3)


def test_leaf_gradients_never_alias_each_other_or_saved_arrays():
    # the engine keeps (does not copy) a gradient a built-in backward made for one leaf alone; every other
    # gradient is copied, so changing one .grad in place can never change another tensor
    a = md.tensor(np.ones((2, 3)), requires_grad=True)
    b = md.tensor(np.ones((2, 3)), requires_grad=True)
    (a + b).sum().backward()                    # Add hands one array to both inputs
    a.grad.mul_(5)
    np.testing.assert_array_equal(b.grad.numpy(), np.ones((2, 3)))
    x = md.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    w = md.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    root = md.tensor(np.ones((2, 4)))
    y = x @ w
    y.backward(root)
    gx, gw = x.grad.numpy().copy(), w.grad.numpy().copy()
    for t in (x, w):
        assert not np.may_share_memory(t.grad.array, root.array)
        assert not np.may_share_memory(t.grad.array, x.array) and not np.may_share_memory(t.grad.array, w.array)
    (x @ w).backward(root)                      # accumulates in place into the kept arrays
    np.testing.assert_array_equal(x.grad.numpy(), 2 * gx)
    np.testing.assert_array_equal(w.grad.numpy(), 2 * gw)
    np.testing.assert_array_equal(root.numpy(), np.ones((2, 4)))
    c = md.tensor(np.ones(3), requires_grad=True)
    g = md.tensor(np.full(3, 2.0))
    c.reshape(3).backward(g)                    # a view op hands the root gradient straight back
    c.grad.add_(1)
    np.testing.assert_array_equal(g.numpy(), np.full(3, 2.0))
