"""What the basics/tutorials/graph/RL programs of issue 14 needed, used the way they use it, against PyTorch:
``randint(high, size)``, the size= keyword, ``torch.Tensor(d0, d1)``, sparse COO matrices (GCN, GAT)
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.testing import assert_gradcheck

SETTINGS = settings(max_examples=25, deadline=None)


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


# --- size= keyword and md.Tensor(*sizes) (GCN: nn.Parameter(torch.Tensor(in, out)); GAT: torch.empty(size=...)) ----
def test_factories_take_size_keyword_as_torch():
    for name in ("zeros", "ones", "empty", "rand", "randn"):
        got = getattr(md, name)(size=(3, 4))
        want = getattr(torch, name)(size=(3, 4))
        assert got.shape == tuple(want.shape) and got.dtype == md.float32
    assert md.zeros(size=[2]).shape == (2,) and md.ones(size=5, dtype=md.float64).dtype == md.float64
    with pytest.raises(TypeError, match=r"zeros: got the size both positionally \(2,\) and as size="):
        md.zeros(2, size=(3,))


def test_legacy_tensor_constructor_with_sizes_as_gcn_uses_it():
    w = md.nn.Parameter(md.Tensor(5, 3))
    assert w.shape == tuple(torch.Tensor(5, 3).shape) == (5, 3) and w.dtype == md.float32 and w.requires_grad
    md.nn.init.xavier_normal_(w)
    assert float(w.std()) > 0
    assert md.Tensor(2, 3, 4).shape == (2, 3, 4)
    # data: a copy in the default float dtype, as torch.Tensor(data); dtype/device/requires_grad by keyword
    assert md.Tensor([1.0, 2.0], dtype=md.float64, device="cpu", requires_grad=True).requires_grad
    assert md.Tensor([0]).dtype == md.float32 == md.Tensor(np.arange(2)).dtype
    assert md.Tensor(3).shape == tuple(torch.Tensor(3).shape) == (3,) and md.Tensor().shape == (0,)
    assert md.Tensor(md.tensor([1, 2])).dtype == md.int64
    assert md.Tensor(np.ones(2), dtype=md.float32).dtype == md.float32
    with pytest.raises(ValueError, match=r"sizes must be non-negative, got \(2, -1\)"):
        md.Tensor(2, -1)


# --- sparse COO matrices, as GCN/GAT build and use them -----------------------------------------------------------
def _graph(rng, n=6, e=9):
    edges = rng.integers(0, n, size=(e, 2)).astype(np.int32)
    return edges, n


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_sparse_adjacency_pipeline_of_gcn_matches_torch():
    """sparse_coo_tensor (int64, duplicates) + eye, degree scaling with diag(...).to_sparse() on both sides,
    features scaled by a sparse diagonal, everything turned sparse again."""
    rng = np.random.default_rng(0)
    edges, n = _graph(rng)
    feats = (rng.random((n, 4)) < 0.5).astype(np.float32)

    def pipeline(lib):
        adj = lib.sparse_coo_tensor(edges.T, lib.ones(len(edges)), (n, n), dtype=lib.int64)
        adj = lib.eye(n) + adj
        deg = lib.sqrt(1 / lib.sum(adj, dim=1))
        dmat = _diag(lib, deg).to_sparse()
        adj = dmat @ adj @ dmat
        f = lib.tensor(feats)
        scale = _diag(lib, 1 / (lib.sum(f, dim=1) + 1)).to_sparse()
        f = scale @ f
        return adj, f, adj.to_sparse(), f.to_sparse()

    adj, f, sadj, sf = pipeline(md)
    tadj, tf, tsadj, tsf = pipeline(torch)
    assert adj.dtype == md.float32 and not adj.is_sparse and sadj.is_sparse and tsadj.is_sparse
    np.testing.assert_allclose(adj.numpy(), tadj.numpy(), rtol=1e-6)
    np.testing.assert_allclose(f.numpy(), tf.numpy(), rtol=1e-6)
    np.testing.assert_allclose(sadj.to_dense().numpy(), tsadj.to_dense().numpy(), rtol=1e-6)
    assert sadj.shape == tuple(tsadj.shape) and sadj._nnz() == tsadj._nnz()
    np.testing.assert_array_equal(sadj.coalesce().indices().numpy(), tsadj.coalesce().indices().numpy())


def _diag(lib, v):
    # a diagonal matrix without md.diag (which the lead's branch provides): v * eye
    return lib.eye(v.shape[0]) * v.unsqueeze(0)


@pytest.mark.parametrize("how", ["mm", "spmm", "matmul", "operator", "dense_left"])
def test_sparse_dense_products_values_and_gradients_match_torch(how):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 4)) * (rng.random((5, 4)) < 0.4)
    d = rng.standard_normal((4, 3)) if how != "dense_left" else rng.standard_normal((3, 5))
    s, ts = md.tensor(a).to_sparse(), torch.tensor(a).to_sparse()
    x, tx = md.tensor(d, requires_grad=True), torch.tensor(d, requires_grad=True)
    ops = {"mm": lambda lib, s, x: lib.mm(s, x), "spmm": lambda lib, s, x: lib.spmm(s, x),
           "matmul": lambda lib, s, x: lib.matmul(s, x), "operator": lambda lib, s, x: s @ x,
           "dense_left": lambda lib, s, x: x @ s}
    out, tout = ops[how](md, s, x), ops[how](torch, ts, tx)
    assert not out.is_sparse and out.shape == tuple(tout.shape) and out.dtype == md.float64
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12)
    up = rng.standard_normal(tuple(tout.shape))
    (out * md.tensor(up)).sum().backward()
    (tout * torch.tensor(up)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 5), m=st.integers(1, 5), p=st.integers(1, 4), seed=st.integers(0, 99))
def test_sparse_times_dense_gradcheck_float64(n, m, p, seed):
    rng = np.random.default_rng(seed)
    s = md.tensor(rng.standard_normal((n, m)) * (rng.random((n, m)) < 0.5)).to_sparse()
    x = md.tensor(rng.standard_normal((m, p)), requires_grad=True)
    assert_gradcheck(lambda t: md.spmm(s, t), x)
    assert_gradcheck(lambda t: (md.spmm(s, t) ** 2).sum(), x)          # through backward's own spmm twice
    y = md.tensor(rng.standard_normal((p, n)), requires_grad=True)
    assert_gradcheck(lambda t: t @ s, y)


def test_gcn_layer_trains_through_sparse_products():
    """GraphConv's forward: support = mm(sparse features, W); out = spmm(sparse adj, support); Adam steps."""
    md.manual_seed(0)
    rng = np.random.default_rng(2)
    feats = md.tensor((rng.random((8, 5)) < 0.4).astype(np.float32)).to_sparse()
    adj = (md.eye(8) + md.tensor(rng.random((8, 8)).astype(np.float32) < 0.3).float()).to_sparse()
    labels = md.tensor(rng.integers(0, 3, 8))
    w = md.nn.Parameter(md.Tensor(5, 3))
    md.nn.init.xavier_normal_(w)
    opt = md.optim.Adam([w], lr=0.1)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        out = md.spmm(adj, md.mm(feats, w))
        loss = md.nn.functional.cross_entropy(out, labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.8


def test_sparse_refusals_name_the_feature():
    s = md.eye(3).to_sparse()
    with pytest.raises(NotImplementedError, match="a sparse @ sparse product is not supported"):
        s @ s
    with pytest.raises(NotImplementedError, match="requires_grad=True"):
        md.sparse_coo_tensor([[0], [0]], [1.0], (1, 1), requires_grad=True)
    with pytest.raises(NotImplementedError, match="3-d sparse tensors"):
        md.sparse_coo_tensor([[0], [0], [0]], [1.0], (1, 1, 1))
    with pytest.raises(NotImplementedError, match="to_sparse of a 3-d tensor"):
        md.ones(2, 2, 2).to_sparse()
    with pytest.raises(ValueError, match=r"spmm: shapes \(3, 3\) and \(2, 1\) cannot be multiplied"):
        md.spmm(s, md.ones(2, 1))
    with pytest.raises(ValueError, match=r"indices out of bounds for size \(2, 2\)"):
        md.sparse_coo_tensor([[0, 2], [0, 0]], [1.0, 1.0], (2, 2))
    with pytest.raises(ValueError, match="values must be 1-d with one entry per index column"):
        md.sparse_coo_tensor([[0, 1], [0, 0]], [1.0], (2, 2))


def test_sparse_plus_sparse_stays_sparse_and_sums_duplicates():
    a = md.sparse_coo_tensor([[0, 1], [1, 0]], md.ones(2), (2, 2))
    ta = torch.sparse_coo_tensor([[0, 1], [1, 0]], torch.ones(2), (2, 2))
    b, tb = a + a, ta + ta
    assert b.is_sparse
    np.testing.assert_allclose(b.to_dense().numpy(), tb.to_dense().numpy())
    np.testing.assert_allclose(b.coalesce().values().numpy(), tb.coalesce().values().numpy())
    assert md.sparse_coo_tensor([[0, 2], [1, 0]], [1.0, 5.0]).shape == (3, 2)       # size from the indices
