"""Bad input: clear Python exceptions naming the op and the shapes, never a crash or a silent wrong result."""
import numpy as np
import pytest

import minidl as md
from minidl.nn import functional as F


@pytest.mark.parametrize("fn, exc, pattern", [
    (lambda: md.ones(2, 3) + md.ones(4, 3), ValueError, r"add: shapes \(2, 3\) and \(4, 3\)"),
    (lambda: md.ones(2, 3) * md.ones(3, 2), ValueError, r"mul: shapes \(2, 3\) and \(3, 2\)"),
    (lambda: md.ones(2, 3) @ md.ones(4, 5), ValueError, r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned"),
    (lambda: md.ones(2, 3) @ md.ones(3, 2, dtype=md.float64), TypeError, r"matmul: .*same dtype.*\(2, 3\)"),
    (lambda: md.ones(5, 2, 3) @ md.ones(4, 3, 2), ValueError, r"matmul: batch dims of shapes \(5, 2, 3\)"),
    (lambda: md.tensor(1.0) @ md.ones(1), ValueError, r"matmul: .*at least 1 dim"),
    (lambda: md.ones(2, 3).reshape(4, 2), ValueError, r"reshape: cannot reshape tensor of shape \(2, 3\)"),
    (lambda: md.ones(2, 3).sum(dim=2), IndexError, r"sum: dim 2 is out of range for a tensor of shape \(2, 3\)"),
    (lambda: md.ones(2, 3).permute(0, 0), ValueError, r"permute: .*shape \(2, 3\)"),
    (lambda: md.ones(2, 3).expand(4, 3), ValueError, r"expand: cannot expand shape \(2, 3\) to \(4, 3\)"),
    (lambda: md.cat([md.ones(2, 3), md.ones(2, 4)]), ValueError, r"cat: shapes \(2, 3\) and \(2, 4\)"),
    (lambda: md.stack([md.ones(2), md.ones(3)]), ValueError, r"stack: .*\(2,\) and \(3,\)"),
    (lambda: md.ones(2, 3)[5], IndexError, r"index: .*\(2, 3\)"),
    (lambda: md.ones(3)[md.tensor([0.5])], IndexError, r"index: .*integer or bool"),
    (lambda: md.ones(4).split([1, 2]), ValueError, r"split: sections \[1, 2\] do not add up"),
    (lambda: md.where(md.ones(3) > 0, md.ones(2), md.ones(2)), ValueError, r"where: .*\(3,\)"),
    (lambda: md.ones(3).item(), ValueError, r"item: .*\(3,\)"),
    (lambda: md.ones(2, 5).narrow(-1, 3, 3), ValueError, r"narrow: start \(3\) \+ length \(3\) exceeds dim -1 of size 5"),
    (lambda: md.ones(2, 5).narrow(0, 3, 1), IndexError, r"narrow: start 3 is out of range .*\(2, 5\)"),
    (lambda: md.ones(2, 5).narrow(2, 0, 1), IndexError, r"narrow: dim 2 is out of range .*\(2, 5\)"),
    (lambda: md.ones(0).max(), RuntimeError, r"max: .*empty tensor.*\(0,\)"),
    (lambda: md.tensor([1, 2]).mean(), TypeError, r"mean: needs a floating tensor.*\(2,\)"),
    (lambda: md.tensor([[1, 2], [3]]), (TypeError, ValueError), r"."),
    (lambda: md.tensor(np.zeros(2, np.complex64)), TypeError, r"complex64 is not supported"),
    (lambda: F.conv2d(md.ones(1, 3, 5, 5), md.ones(2, 4, 3, 3)), ValueError, r"conv2d: .*\(1, 3, 5, 5\).*\(2, 4, 3, 3\)"),
    (lambda: F.conv2d(md.ones(1, 1, 2, 2), md.ones(1, 1, 3, 3)), ValueError, r"conv2d: .*\(1, 1, 2, 2\)"),
    (lambda: F.max_pool2d(md.ones(1, 1, 4, 4), 2, padding=2), ValueError, r"max_pool2d: padding \(2, 2\)"),
    (lambda: F.batch_norm(md.ones(1, 3), md.zeros(3), md.ones(3), training=True), ValueError,
     r"batch_norm: expected more than 1 value per channel.*\(1, 3\)"),
    (lambda: F.batch_norm(md.ones(4, 3), md.zeros(2), md.ones(2)), ValueError, r"batch_norm: running_mean .*\(2,\)"),
    (lambda: F.cross_entropy(md.ones(4, 3), md.tensor([0, 1, 2])), ValueError,
     r"cross_entropy: target of shape \(3,\) does not match input of shape \(4, 3\)"),
    (lambda: F.cross_entropy(md.ones(2, 3), md.tensor([0, 3])), IndexError, r"cross_entropy: target values must be in \[0, 3\).*\(2, 3\)"),
    (lambda: F.mse_loss(md.ones(4, 1), md.ones(4)), ValueError, r"mse_loss: input of shape \(4, 1\) and target of shape \(4,\)"),
    (lambda: F.linear(md.ones(2, 3), md.ones(4, 5)), ValueError, r"linear: input of shape \(2, 3\).*\(4, 5\)"),
])
def test_bad_input_raises_clearly(fn, exc, pattern):
    with pytest.raises(exc, match=pattern):
        fn()


def test_backward_on_non_scalar_says_so_with_the_shape():
    with pytest.raises(RuntimeError, match=r"scalar outputs; output 0 has shape \(2, 2\)"):
        (md.ones(2, 2, requires_grad=True) * 2).backward()


def test_backward_without_graph_says_why():
    with pytest.raises(RuntimeError, match="does not require grad"):
        md.ones(2).sum().backward()


def test_backward_twice_without_retain_graph():
    y = (md.ones(2, requires_grad=True) * 3).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_gradient_shape_mismatch_in_backward():
    y = md.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"gradient of shape \(3, 2\) does not match output 0 of shape \(2, 3\)"):
        y.backward(md.ones(3, 2))


def test_double_backward_through_a_raw_kernel_is_refused():
    x = md.randn(1, 1, 4, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="not differentiable itself"):
        md.autograd.grad((F.conv2d(x, md.ones(1, 1, 2, 2, requires_grad=True)) ** 2).sum(), x, create_graph=True)


def test_backward_of_user_function_returning_wrong_shape_is_named():
    class Bad(md.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a.array * 2

        @staticmethod
        def backward(ctx, grad):
            return md.ones(7)

    with pytest.raises(RuntimeError, match=r"Bad.backward returned a gradient of shape \(7,\) for an input of shape \(2, 3\)"):
        Bad.apply(md.ones(2, 3, requires_grad=True)).sum().backward()


def test_native_kernel_validates_as_a_last_defense():
    _C = pytest.importorskip("minidl._C", reason="native extension not built")
    with pytest.raises(ValueError):
        _C.matmul(np.ones((2, 3), np.float32), np.ones((4, 5), np.float32))
    with pytest.raises((ValueError, TypeError)):
        _C.matmul(np.ones((2, 3), np.float32), np.ones((3, 5), np.float64))
