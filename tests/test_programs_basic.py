"""What the basics/tutorials/graph/RL programs of issue 14 needed, used the way they use it, against PyTorch:
``torch.diag`` (GCN/GAT degree matrices), ``randint(high, size)``
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.testing import assert_gradcheck

SETTINGS = settings(max_examples=25, deadline=None)


# --- diag ----------------------------------------------------------------------------------------------------
@SETTINGS
@given(n=st.integers(1, 5), m=st.integers(1, 5), k=st.integers(-6, 6), vector=st.booleans())
def test_diag_matches_torch_values_and_gradients(n, m, k, vector):
    rng = np.random.default_rng(n * 100 + m * 10 + k)
    a = rng.standard_normal((n,) if vector else (n, m))
    x, tx = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, tout = md.diag(x, k), torch.diag(tx, k)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy())
    up = rng.standard_normal(tuple(tout.shape))
    (out * md.tensor(up)).sum().backward()
    (tout * torch.tensor(up)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("shape,k", [((4,), 0), ((3,), -1), ((3, 4), 1), ((4, 3), -2)])
def test_diag_gradcheck_float64(shape, k):
    x = md.tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True)
    assert_gradcheck(lambda t: md.diag(t, k), x)
    assert_gradcheck(lambda t: x.diag(k).sum() * t.diag(k).square().sum(), x)   # twice through, as a method


def test_diag_of_the_inverse_degrees_as_gcn_builds_it():
    a = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]], np.float32)
    deg = md.sqrt(1 / md.sum(md.tensor(a), dim=1))
    tdeg = torch.sqrt(1 / torch.sum(torch.tensor(a), dim=1))
    got = md.diag(deg) @ md.tensor(a) @ md.diag(deg)
    want = torch.diag(tdeg) @ torch.tensor(a) @ torch.diag(tdeg)
    assert got.dtype == md.float32
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_diag_refuses_other_ranks_and_non_int_diagonal():
    with pytest.raises(ValueError, match=r"diag: expected a 1-d or 2-d tensor, got shape \(2, 2, 2\)"):
        md.diag(md.ones(2, 2, 2))
    with pytest.raises(TypeError, match="diag: diagonal must be an int"):
        md.diag(md.ones(2), 1.5)
    with pytest.raises(TypeError, match="diag: expected input to be a Tensor"):
        md.diag([1.0, 2.0])


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
