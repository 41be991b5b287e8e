"""Tensor.data as PyTorch's: a detached Tensor sharing memory, whose in-place changes autograd neither records nor
checks; Tensor.array is the raw NumPy array. Used the way public programs use them."""
import numpy as np
import pytest

import minidl as md


def test_manual_sgd_through_data_as_the_regression_example_writes_it():
    md.manual_seed(0)
    fc = md.nn.Linear(4, 1)
    x = md.randn(32, 4)
    y = x @ md.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.5
    first = None
    for _ in range(200):
        fc.zero_grad()
        loss = md.nn.functional.smooth_l1_loss(fc(x), y)
        first = loss.item() if first is None else first
        loss.backward()
        for param in fc.parameters():
            param.data.add_(-0.1 * param.grad)
    assert loss.item() < first / 20 and fc.weight.requires_grad and fc.weight.grad is not None


def test_data_shares_memory_and_is_detached():
    w = md.ones(3, requires_grad=True)
    d = w.data
    assert isinstance(d, md.Tensor) and not d.requires_grad and d.grad is None
    assert np.shares_memory(d.array, w.array) and d.array is w.array
    d.mul_(2)
    np.testing.assert_array_equal(w.numpy(), [2.0, 2.0, 2.0])
    values, indices = md.max(md.tensor([[1.0, 5.0], [7.0, 2.0]]).data, 1)     # torch.max(outputs.data, 1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]


def test_changes_through_data_are_not_seen_by_autograd():
    # .detach() shares the version counter (a later backward refuses); .data does not (PyTorch's escape hatch)
    w = md.ones(2, requires_grad=True)
    y = (w * w).sum()
    w.data.add_(1.0)
    y.backward()                                   # no "modified by an inplace operation" error
    np.testing.assert_array_equal(w.grad.numpy(), [4.0, 4.0])   # 2 * w, read from the changed memory
    v = md.ones(2, requires_grad=True)
    z = (v * v).sum()
    v.detach().add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place after it was saved"):
        z.backward()


def test_setting_data_swaps_the_memory():
    p = md.nn.Parameter(md.zeros(2, 2))
    p.data = md.ones(3)                            # any shape, as PyTorch
    assert p.shape == (3,) and p.requires_grad and p.tolist() == [1.0, 1.0, 1.0]
    p.data = np.full(3, 2.0, np.float32)
    assert p.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(RuntimeError, match="floating"):
        p.data = md.tensor([1, 2])
    with pytest.raises(TypeError, match="expected a Tensor or an array"):
        p.data = [1.0, 2.0]


def test_array_is_the_raw_array():
    t = md.arange(6).reshape(2, 3)
    assert type(t.array) is np.ndarray and t.array.shape == (2, 3)
    t.array[0, 0] = 9
    assert t[0, 0].item() == 9
