"""More of PyTorch's tensor functions: values (and gradients, for the differentiable ones) against PyTorch, float64
gradchecks on hypothesis-drawn shapes, methods as programs call them, and the errors for bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.testing import assert_gradcheck

torch = pytest.importorskip("torch")


def _same(mine, theirs, tol=1e-12):
    if isinstance(theirs, (tuple, list)):
        assert len(mine) == len(theirs)
        for m, t in zip(mine, theirs):
            _same(m, t, tol)
        return
    if isinstance(theirs, torch.Tensor):
        assert isinstance(mine, md.Tensor), type(mine)
        assert str(mine.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)
    else:
        assert mine == theirs


def _both(fn_name, *args, **kw):
    m_args = [md.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    t_args = [torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    return getattr(md, fn_name)(*m_args, **kw), getattr(torch, fn_name)(*t_args, **kw)


R = np.random.default_rng(0)
M = R.standard_normal((3, 4))
V = np.array([3, 1, 3, 2, 0, 1])


@pytest.mark.parametrize("name,args,kw", [
    ("isclose", (M, M + 1e-9), {}), ("allclose", (M, M + 1e-3), {}), ("allclose", (M, M + 1e-9), {}),
    ("equal", (M, M.copy()), {}), ("isinf", (np.array([1.0, np.inf, -np.inf]),), {}),
    ("nonzero", (np.array([[0, 3], [5, 0]]),), {}), ("nonzero", (np.array([0, 3, 5]),), {"as_tuple": True}),
    ("argwhere", (np.array([[0, 3], [5, 0]]),), {}), ("count_nonzero", (np.array([[0, 3], [5, 0]]),), {"dim": 1}),
    ("unique", (V,), {"return_inverse": True, "return_counts": True}), ("bincount", (V,), {"minlength": 6}),
    ("bincount", (V,), {"weights": None}), ("searchsorted", (np.array([1.0, 3.0, 5.0]), np.array([0.0, 3.0, 6.0])),
                                            {"right": True}),
    ("bucketize", (np.array([0.5, 3.0, 9.0]), np.array([1.0, 3.0, 5.0])), {}),
    ("histc", (np.array([0.1, 0.2, 0.9, 0.5]),), {"bins": 4, "min": 0, "max": 1}),
    ("diagonal", (M,), {"offset": 1}), ("diagonal", (R.standard_normal((2, 3, 4)),), {"dim1": 1, "dim2": 2}),
    ("diag", (np.array([1.0, 2.0]),), {"diagonal": -1}), ("diag", (M,), {}), ("trace", (M,), {}),
    ("outer", (np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])), {}),
    ("tensordot", (R.standard_normal((2, 3, 4)), R.standard_normal((3, 4, 5))), {"dims": 2}),
    ("tensordot", (R.standard_normal((2, 3)), R.standard_normal((3, 2))), {"dims": ([1, 0], [0, 1])}),
    ("kron", (R.standard_normal((2, 3)), R.standard_normal((2, 2))), {}),
    ("cross", (R.standard_normal((2, 3)), R.standard_normal((2, 3))), {"dim": 1}),
    ("cdist", (R.standard_normal((4, 3)), R.standard_normal((5, 3))), {}),
    ("cdist", (R.standard_normal((2, 4, 3)), R.standard_normal((2, 5, 3))), {"p": 1.0}),
    ("cdist", (R.standard_normal((4, 3)), R.standard_normal((5, 3))), {"p": float("inf")}),
    ("cdist", (R.standard_normal((4, 3)), R.standard_normal((5, 3))), {"p": 3.0}),
    ("vstack", ([np.ones(3), np.zeros(3)],), {}), ("hstack", ([np.ones(3), np.zeros(2)],), {}),
    ("column_stack", ([np.ones(3), np.zeros((3, 2))],), {}), ("dstack", ([np.ones((2, 3)), np.zeros((2, 3))],), {}),
    ("movedim", (R.standard_normal((2, 3, 4)), 0, -1), {}), ("movedim", (R.standard_normal((2, 3, 4)), (0, 1), (2, 0)), {}),
    ("rot90", (M,), {"k": 1}), ("rot90", (M,), {"k": -1}), ("rot90", (M,), {"k": 2, "dims": (1, 0)}),
    ("take", (M, np.array([[0, 5], [11, 2]])), {}),
    ("take_along_dim", (M, np.argsort(M, axis=1)), {"dim": 1}),
    ("masked_select", (M, M > 0), {}), ("diff", (M,), {"n": 2, "dim": 1}), ("diff", (M,), {"dim": 0}),
    ("median", (M,), {}), ("median", (M,), {"dim": 1}), ("kthvalue", (M, 2), {"dim": 0, "keepdim": True}),
    ("nansum", (np.array([1.0, np.nan, 2.0]),), {}), ("nanmean", (np.array([[1.0, np.nan], [2.0, 4.0]]),), {"dim": 1}),
    ("var_mean", (M,), {"dim": 1}), ("std_mean", (M,), {"dim": 0, "correction": 0}),
    ("broadcast_tensors", (np.ones((3, 1)), np.ones(4)), {}),
])
def test_values_match_pytorch(name, args, kw):
    m_args = [[md.tensor(a) for a in x] if isinstance(x, list) else md.tensor(x) if isinstance(x, np.ndarray)
              else x for x in args]
    t_args = [[torch.tensor(a) for a in x] if isinstance(x, list) else torch.tensor(x) if isinstance(x, np.ndarray)
              else x for x in args]
    _same(getattr(md, name)(*m_args, **kw), getattr(torch, name)(*t_args, **kw), 1e-10)


def test_meshgrid_and_cartesian_prod_match_pytorch():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0])
    for indexing in ("ij", "xy"):
        _same(md.meshgrid(md.tensor(a), md.tensor(b), indexing=indexing),
              torch.meshgrid(torch.tensor(a), torch.tensor(b), indexing=indexing))
    _same(md.cartesian_prod(md.tensor(a), md.tensor(b)), torch.cartesian_prod(torch.tensor(a), torch.tensor(b)))


DIFFERENTIABLE = {
    "diagonal": lambda x: md.diagonal(x, 1), "diag": lambda x: md.diag(md.diagonal(x)), "trace": md.trace,
    "outer": lambda x: md.outer(x[0], x[1]), "kron": lambda x: md.kron(x, x[:1]),
    "cdist": lambda x: md.cdist(x, x[:1] * 2 + 1), "cdist_p3": lambda x: md.cdist(x, x[:1] * 2 + 1, p=3.0),
    "tensordot": lambda x: md.tensordot(x, x, dims=([1], [1])), "movedim": lambda x: md.movedim(x, 0, 1) * x.T,
    "rot90": lambda x: md.rot90(x) * x.T, "take": lambda x: md.take(x, md.tensor([0, 3, 3])),
    "masked_select": lambda x: md.masked_select(x, x > 0), "diff": lambda x: md.diff(x, n=2, dim=1),
    "median": lambda x: md.median(x, dim=1).values, "vstack": lambda x: md.vstack([x, x[0]]),
    "cross": lambda x: md.cross(x[:, :3], x[:, 1:4] + 1, dim=1), "nanmean": lambda x: md.nanmean(x, dim=0),
    "take_along_dim": lambda x: md.take_along_dim(x[:3], md.tensor([[1], [0], [2]]), dim=1),
}


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(DIFFERENTIABLE)), rows=st.integers(3, 4), cols=st.integers(4, 5),
       seed=st.integers(0, 2**16))
def test_differentiable_functions_pass_gradcheck(name, rows, cols, seed):
    x = np.random.default_rng(seed).uniform(0.5, 2.0, (rows, cols)) * np.where(np.arange(cols) % 2, 1, -1)
    assert_gradcheck(DIFFERENTIABLE[name], x)


def test_gradients_match_pytorch_for_distances_and_diagonals():
    a = R.standard_normal((4, 3))
    xm, xt = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ym = md.cdist(xm, xm).sum() + md.diagonal(xm @ xm.T).sum() + md.median(xm)
    yt = torch.cdist(xt, xt).sum() + torch.diagonal(xt @ xt.T).sum() + torch.median(xt)
    ym.backward()
    yt.backward()
    _same(ym, yt)
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_methods_as_programs_call_them():
    x = md.tensor([[0.0, 2.0], [3.0, 0.0]])
    assert x.nonzero().tolist() == [[0, 1], [1, 0]]
    assert x.diagonal().tolist() == [0.0, 0.0] and x.trace().item() == 0.0
    assert md.tensor([1, 1, 2]).unique().tolist() == [1, 2]
    assert md.tensor([0, 2, 2]).bincount().tolist() == [1, 0, 2]
    assert x.movedim(0, 1).tolist() == [[0.0, 3.0], [2.0, 0.0]]
    assert x.allclose(x + 1e-9) and x.equal(x.clone()) and not x.equal(x[:1])
    md.manual_seed(0)
    draws = md.empty(10000).bernoulli_(0.3)
    assert abs(draws.mean().item() - 0.3) < 0.02 and set(draws.unique().tolist()) == {0.0, 1.0}
    p = md.full((20000,), 0.8)
    assert abs(md.bernoulli(p).mean().item() - 0.8) < 0.02
    n = md.normal(md.zeros(20000) + 2.0, 0.5)
    assert abs(n.mean().item() - 2.0) < 0.02 and abs(n.std().item() - 0.5) < 0.02
    assert md.normal(0.0, 1.0, size=(3, 2)).shape == (3, 2)
    assert abs(md.poisson(md.full((20000,), 3.0)).mean().item() - 3.0) < 0.05
    r = md.randint_like(md.zeros(1000, dtype=md.int64), 5)
    assert r.dtype == md.int64 and r.min().item() >= 0 and r.max().item() == 4


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"outer: expected two 1-d tensors, got shapes \(2, 2\) and \(2,\)"):
        md.outer(md.ones(2, 2), md.ones(2))
    with pytest.raises(ValueError, match=r"bincount: expected a 1-d integer tensor"):
        md.bincount(md.ones(3))
    with pytest.raises(ValueError, match="cross: dim 0 must have size 3"):
        md.cross(md.ones(2, 3), md.ones(2, 3), dim=0)
    with pytest.raises(ValueError, match=r"cdist: expected \(\.\.\., P, M\) and \(\.\.\., R, M\)"):
        md.cdist(md.ones(3, 2), md.ones(3, 4))
    with pytest.raises(IndexError, match="kthvalue: k=5 is out of range"):
        md.kthvalue(md.ones(4), 5)
    with pytest.raises(ValueError, match="bernoulli: probabilities must lie in"):
        md.bernoulli(md.tensor([1.5]))
