"""``format()`` of tensors and ``grad_fn.next_functions``, the way public programs print losses and walk graphs;
PyTorch is the oracle."""
import pytest
import torch

import minidl as md


@pytest.mark.parametrize("spec", ["", ".2f", "+.2f", ".3e", "8.4g", ">10"])
def test_a_0d_tensor_formats_like_its_number(spec):
    for value in (1.23456, -0.5):
        assert format(md.tensor(value), spec) == format(torch.tensor(value), spec)
    assert format(md.tensor(7), "d" if spec == "" else "") == format(torch.tensor(7), "d" if spec == "" else "")


def test_loss_lines_as_the_examples_print_them():
    loss, w = md.tensor(0.123456), md.tensor([0.5, -1.25])
    assert "Loss: {:.6f} after {} batches".format(loss, 3) == "Loss: 0.123456 after 3 batches"
    assert f"{loss:>10.3f}|{w}" == f"{torch.tensor(0.123456):>10.3f}|" + str(w)


def test_a_format_spec_on_a_tensor_with_dimensions_is_refused():
    with pytest.raises(TypeError, match=r"format: the spec '\.2f' applies to 0-d tensors only, got shape \(2,\)"):
        f"{md.tensor([1.0, 2.0]):.2f}"
    with pytest.raises(TypeError):          # PyTorch refuses too
        f"{torch.tensor([1.0, 2.0]):.2f}"


def _walk(fn):
    """The graph below a grad_fn as nested (kind, children); leaves as 'leaf', inputs without gradient as None."""
    if fn is None:
        return None
    if not fn.next_functions:
        return "leaf"
    return [_walk(child) for child, _ in fn.next_functions]


def test_next_functions_has_pytorchs_shape():
    def build(lib):
        w = lib.ones(3, requires_grad=True)
        b = lib.ones(3, requires_grad=True)
        c = lib.ones(3)
        return w, b, ((w * 3 + c) * b).sum(dim=0)

    w, b, y = build(md)
    tw, tb, ty = build(torch)
    assert _walk(y.grad_fn) == _walk(ty.grad_fn)
    mul = y.grad_fn.next_functions[0][0]
    assert mul.next_functions[1][0].variable is b
    assert mul.next_functions[0][0].next_functions[0][0].next_functions[0][0].variable is w
    assert all(nr == 0 for _, nr in y.grad_fn.next_functions)


class _TwoOutputs(md.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2, x * 3

    @staticmethod
    def backward(ctx, ga, gb):
        return ga * 2 + gb * 3


def test_next_functions_names_the_output_of_a_node_with_many():
    x = md.arange(3.0, requires_grad=True)
    a, b = _TwoOutputs.apply(x)
    y = a * b
    nrs = sorted(nr for _, nr in y.grad_fn.next_functions)
    assert nrs == [0, 1]
    assert {id(fn) for fn, _ in y.grad_fn.next_functions} == {id(a.grad_fn)} == {id(b.grad_fn)}
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 12.0, 24.0]     # d(6 x^2)/dx
