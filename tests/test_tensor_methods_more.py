"""More Tensor methods as PyTorch's: shapes, index updates, running reductions, quantiles, bitwise ops, aliases
and in-place fills; values (and gradients where differentiable) against PyTorch, float64 gradchecks."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.testing import assert_gradcheck

torch = pytest.importorskip("torch")
R = np.random.default_rng(0)
M = R.standard_normal((3, 4))
IDX = np.array([[3, 1, 3], [2, 2, 0]])


def _conv(x, lib):
    if isinstance(x, np.ndarray):
        return lib.tensor(x)
    if isinstance(x, list):
        return [_conv(v, lib) for v in x]
    return x


def _same(a, b, tol=1e-12):
    if isinstance(b, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y, tol)
    elif isinstance(b, torch.Tensor):
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], (a.dtype, b.dtype)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=tol, atol=tol)
    else:
        assert a == b


CASES = [
    ("repeat_interleave", M, (2,), {"dim": 1}), ("repeat_interleave", np.array([1, 2, 3]), (np.array([2, 0, 1]),), {}),
    ("tile", M, ((2, 1, 2),), {}), ("unflatten", M, (1, (2, 2)), {}), ("unfold", np.arange(10.0), (0, 3, 2), {}),
    ("unfold", R.standard_normal((2, 7, 3)), (1, 2, 3), {}), ("tensor_split", np.arange(10.0), (3,), {}),
    ("tensor_split", M, ([1, 3],), {"dim": 1}), ("hsplit", M, (2,), {}), ("vsplit", M, ([1],), {}),
    ("select", M, (1, -1), {}), ("ravel", M, (), {}), ("fliplr", M, (), {}), ("flipud", M, (), {}),
    ("sum_to_size", R.standard_normal((2, 3, 4)), ((3, 1),), {}),
    ("index_add", M, (0, np.array([2, 0, 2]), R.standard_normal((3, 4))), {"alpha": 0.5}),
    ("index_copy", M, (1, np.array([3, 0]), R.standard_normal((3, 2))), {}),
    ("index_fill", M, (1, np.array([1, 2]), -1.5), {}),
    ("masked_scatter", M, (M > 0, R.standard_normal(12)), {}),
    ("scatter_reduce", np.zeros((2, 4)), (1, IDX, R.standard_normal((2, 3)), "sum"), {}),
    ("scatter_reduce", np.ones((2, 4)), (1, IDX, R.standard_normal((2, 3)), "mean"), {"include_self": False}),
    ("scatter_reduce", np.ones((2, 4)), (1, IDX, R.standard_normal((2, 3)), "amax"), {}),
    ("scatter_reduce", np.ones((2, 4)), (1, IDX, R.standard_normal((2, 3)), "prod"), {"include_self": False}),
    ("cumprod", M, (1,), {}), ("cumprod", np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 0.0]]), (1,), {}),
    ("cummax", np.array([1.0, 3.0, 2.0, 3.0, 5.0]), (0,), {}), ("cummin", M, (1,), {}),
    ("logcumsumexp", M, (0,), {}), ("logaddexp", M, (M[::-1].copy(),), {}), ("logaddexp2", M, (M * 2,), {}),
    ("quantile", M, (0.3,), {}), ("quantile", M, (np.array([0.1, 0.5, 0.9]),), {"dim": 1, "keepdim": True}),
    ("quantile", M, (0.25,), {"dim": 0, "interpolation": "lower"}),
    ("quantile", M, (0.6,), {"dim": 1, "interpolation": "midpoint"}),
    ("quantile", M, (np.array([0.2, 0.7]),), {"interpolation": "nearest"}),
    ("mode", np.array([[1, 2, 2, 3], [4, 4, 1, 1]]), (), {"dim": 1}),
    ("aminmax", M, (), {"dim": 0}), ("dot", M[0], (M[1],), {}), ("mv", M, (M[0],), {}),
    ("inner", M, (M[:2],), {}), ("dist", M, (M * 0.5,), {"p": 3}), ("deg2rad", M, (), {}), ("rad2deg", M, (), {}),
    ("sinc", np.array([0.0, 0.5, -1.5]), (), {}), ("heaviside", np.array([-1.0, 0.0, 2.0]), (np.array([0.5]),), {}),
    ("signbit", np.array([-0.0, 1.0, -2.0]), (), {}), ("copysign", M, (-M[::-1].copy(),), {}),
    ("bitwise_and", IDX, (np.array([1, 2, 3]),), {}), ("bitwise_xor", IDX, (5,), {}), ("bitwise_not", IDX, (), {}),
    ("bitwise_left_shift", IDX, (2,), {}), ("gcd", IDX, (np.array([6, 4, 9]),), {}), ("lcm", IDX + 1, (np.array([4]),), {}),
    ("multiply", M, (2.0,), {}), ("subtract", M, (M,), {"alpha": 2}), ("greater", M, (0.0,), {}),
    ("less_equal", M, (M * 2,), {}), ("not_equal", IDX, (3,), {}), ("positive", M, (), {}), ("fix", M * 3, (), {}),
]


@pytest.mark.parametrize("name,x,args,kw", CASES)
def test_methods_match_pytorch(name, x, args, kw):
    mine = getattr(md.tensor(x), name)(*_conv(list(args), md), **kw)
    theirs = getattr(torch.tensor(x), name)(*_conv(list(args), torch), **kw)
    _same(mine, theirs, 1e-10)
    if hasattr(md, name) and name not in ("unfold",):
        _same(getattr(md, name)(md.tensor(x), *_conv(list(args), md), **kw), theirs, 1e-10)


DIFF = {
    "cumprod": lambda x: x.cumprod(1), "cumprod_zero": lambda x: (x * md.tensor([1.0, 0.0, 1.0, 1.0])).cumprod(1),
    "logcumsumexp": lambda x: x.logcumsumexp(0), "logaddexp": lambda x: md.logaddexp(x, x.flip(0)),
    "quantile": lambda x: md.quantile(x, md.tensor([0.2, 0.7]), dim=1),
    "repeat_interleave": lambda x: x.repeat_interleave(md.tensor([1, 0, 2]), dim=0),
    "unfold": lambda x: x.unfold(1, 2, 1), "index_add": lambda x: x.index_add(1, md.tensor([0, 0]), x[:, :2] * 2),
    "masked_scatter": lambda x: x.masked_scatter(x > 0, x.flip(1)), "cummax": lambda x: x.cummax(1).values,
    "scatter_reduce_mean": lambda x: x.scatter_reduce(1, md.tensor([[0, 0], [1, 1], [2, 0]]), x[:, 1:3], "mean"),
    "sinc": lambda x: md.sinc(x), "dist": lambda x: md.dist(x, x * 0.3, p=3), "tile": lambda x: x.tile((2, 1)),
}


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(DIFF)), seed=st.integers(0, 2**16))
def test_gradcheck(name, seed):
    x = np.random.default_rng(seed).uniform(0.5, 2.0, (3, 4)) * np.array([1, -1, 1, -1])
    assert_gradcheck(DIFF[name], x)


def test_cumprod_gradient_with_zeros_matches_pytorch():
    a = np.array([[2.0, 0.0, 3.0, 0.0, 5.0], [1.0, 2.0, 0.0, 4.0, 1.5]])
    xm, xt = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    w = R.standard_normal(a.shape)
    (xm.cumprod(1) * md.tensor(w)).sum().backward()
    (xt.cumprod(1) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_in_place_index_updates_and_random_fills():
    x = md.zeros(3, 4)
    assert x.index_add_(0, md.tensor([0, 0]), md.ones(2, 4)) is x and x.tolist()[0] == [2.0] * 4
    x.index_fill_(1, md.tensor([3]), 7.0)
    assert x[:, 3].tolist() == [7.0, 7.0, 7.0]
    x.index_put_((md.tensor([1]), md.tensor([1])), md.tensor(5.0), accumulate=True)
    assert x[1, 1].item() == 5.0
    m = md.zeros(3, 3)
    m.fill_diagonal_(2.0)
    assert m.tolist() == (torch.zeros(3, 3).fill_diagonal_(2.0)).tolist()
    md.manual_seed(0)
    r = md.empty(20000).random_(0, 10)
    assert r.min().item() == 0 and r.max().item() == 9 and abs(r.mean().item() - 4.5) < 0.1
    e = md.empty(20000).exponential_(2.0)
    assert abs(e.mean().item() - 0.5) < 0.02
    g = md.empty(20000).geometric_(0.25)
    assert abs(g.mean().item() - 4.0) < 0.15
    ln = md.empty(20000).log_normal_(0.0, 0.5)
    assert abs(np.log(ln.numpy()).mean()) < 0.02
    t = md.arange(6.0)
    t.resize_(2, 2)
    assert t.tolist() == [[0.0, 1.0], [2.0, 3.0]]


def test_metadata_methods():
    x = md.zeros(3, 4)
    assert x.stride() == (4, 1) and x.t().stride() == (1, 4) and x[1:].storage_offset() == 4
    assert x.ndimension() == 2 and x.nelement() == 12 and x.get_device() == -1
    assert md.tensor([5]).is_nonzero() and x.is_same_size(md.ones(3, 4)) and md.tensor([1]).is_signed()
    assert x.new(2, 3).shape == (2, 3) and x.new([1, 2]).dtype == md.float32
    assert x.reshape_as(md.zeros(6, 2)).shape == (6, 2) and x.pin_memory() is x and not x.is_pinned()
    y = md.tensor([1.0, 2.0])
    assert y.apply_(lambda v: v * 10).tolist() == [10.0, 20.0]
    assert y.map_(md.tensor([1.0, 2.0]), lambda a, b: a + b).tolist() == [11.0, 22.0]


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"dot: expected two 1-d tensors of one size"):
        md.dot(md.ones(2, 2), md.ones(2))
    with pytest.raises(ValueError, match="unfold: size 5 and step 1 do not fit dim 0 of size 3"):
        md.ones(3).unfold(0, 5, 1)
    with pytest.raises(TypeError, match="bitwise_and: only integer and bool tensors"):
        md.bitwise_and(md.ones(2), md.ones(2))
    with pytest.raises(ValueError, match="quantile: q must be"):
        md.quantile(md.ones(3), 1.5)
    with pytest.raises(NotImplementedError, match="gradients for reduce='amax'"):
        md.ones(3, requires_grad=True).scatter_reduce(0, md.tensor([0]), md.ones(1), "amax")
