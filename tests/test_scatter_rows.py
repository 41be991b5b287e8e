"""Row picking's backward (embeddings, ``x[idx]`` on dim 0) through the ``scatter_add_rows`` kernel."""
import numpy as np
import pytest
import torch

import minidl as md
from minidl import backends
from minidl.backends import reference
from minidl.testing import assert_gradcheck
from native_ext import import_native

_C = import_native()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_gradient_with_repeats_and_negative_indices_matches_torch(dtype):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((50, 16)).astype(dtype)
    idx = rng.integers(-50, 50, (8, 30))                    # many repeats, negatives wrap as in PyTorch
    g = rng.standard_normal((8, 30, 16)).astype(dtype)
    mw = md.tensor(w, requires_grad=True)
    with backends.trace() as log:
        mw[md.tensor(idx)].backward(md.tensor(g))
    assert {(r.kernel, r.provider) for r in log} == {("scatter_add_rows", "native")}
    tw = torch.tensor(w, requires_grad=True)
    tw[torch.tensor(idx)].backward(torch.tensor(g))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(mw.grad.numpy(), tw.grad.numpy(), rtol=tol, atol=tol)
    with backends.use("numpy"):                             # the reference path gives the same gradient
        mw2 = md.tensor(w, requires_grad=True)
        mw2[md.tensor(idx)].backward(md.tensor(g))
    np.testing.assert_allclose(mw.grad.numpy(), mw2.grad.numpy(), rtol=tol, atol=tol)


def test_nn_embedding_and_3d_row_picking_match_torch():
    rng = np.random.default_rng(1)
    emb = md.nn.Embedding(20, 4)
    temb = torch.nn.Embedding(20, 4)
    temb.weight.array = torch.tensor(emb.weight.numpy())
    idx = rng.integers(0, 20, (5, 7))
    emb(md.tensor(idx)).sum().backward()
    temb(torch.tensor(idx)).sum().backward()
    np.testing.assert_allclose(emb.weight.grad.numpy(), temb.weight.grad.numpy(), rtol=1e-6)
    x = rng.standard_normal((6, 3, 2))
    rows = np.array([5, 0, 5, 5, -1])
    mx, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (mx[md.tensor(rows)] * 2).sum().backward()
    (tx[torch.tensor(rows)] * 2).sum().backward()
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_row_picking_gradchecks_in_float64():
    rng = np.random.default_rng(2)
    x = md.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    rows = md.tensor(np.array([4, 4, 0, -2, 1]))
    assert_gradcheck(lambda t: t[rows] ** 2, x)


def test_empty_index_gives_zero_gradient():
    x = md.tensor(np.ones((4, 3)), requires_grad=True)
    x[md.tensor(np.array([], dtype=np.int64))].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((4, 3)))


def test_kernel_refuses_rows_outside_the_output():
    g = np.ones((3, 2), np.float32)
    with pytest.raises(ValueError, match=r"scatter_add_rows: index 7 at position 1 is outside 0\.\.4"):
        _C.scatter_add_rows(g, np.array([0, 7, 1], np.int64), 5)
    with pytest.raises(ValueError, match="scatter_add_rows: index must be a C-contiguous 1-D int64"):
        _C.scatter_add_rows(g, np.array([0, 1, 1], np.int32), 5)
    np.testing.assert_array_equal(_C.scatter_add_rows(g, np.array([2, 2, 0], np.int64), 3),
                                  reference.scatter_add_rows(g, np.array([2, 2, 0]), 3))
