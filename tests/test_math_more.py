"""More elementwise math (rounding, other logs/exps, inverse and hyperbolic trigonometry, atan2, the fused
shortcuts): values and gradients against PyTorch, float64 gradchecks on hypothesis-drawn shapes, methods and their
in-place twins."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.testing import assert_gradcheck, shapes

torch = pytest.importorskip("torch")

# name -> the interval the input is drawn from (where the function and its slope are defined and smooth)
UNARY = {"log1p": (-0.5, 2), "expm1": (-2, 2), "log2": (0.2, 3), "log10": (0.2, 3), "exp2": (-2, 2),
         "reciprocal": (0.3, 2), "rsqrt": (0.3, 2), "tan": (-1.2, 1.2), "sinh": (-2, 2), "cosh": (-2, 2),
         "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atan": (-3, 3), "asinh": (-3, 3), "acosh": (1.2, 3),
         "atanh": (-0.9, 0.9), "erfc": (-2, 2), "frac": (0.1, 0.9), "logit": (0.1, 0.9)}
ROUNDING = ["floor", "ceil", "round", "trunc"]


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(UNARY)), shape=shapes(max_dims=3, max_side=4), seed=st.integers(0, 2**16))
def test_unary_values_gradients_and_gradcheck_match_pytorch(name, shape, seed):
    lo, hi = UNARY[name]
    a = np.random.default_rng(seed).uniform(lo, hi, shape)
    xm, xt = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ym, yt = getattr(md, name)(xm), getattr(torch, name)(xt)
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    ym.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    assert_gradcheck(getattr(md, name), a)


@pytest.mark.parametrize("name", ROUNDING)
def test_rounding_matches_pytorch_and_has_zero_gradient(name):
    a = np.array([-2.5, -1.5, -0.4, 0.5, 1.5, 2.5, 2.7], dtype=np.float32)
    xm, xt = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ym, yt = getattr(md, name)(xm), getattr(torch, name)(xt)
    np.testing.assert_array_equal(ym.detach().numpy(), yt.detach().numpy())
    ym.sum().backward()
    np.testing.assert_array_equal(xm.grad.numpy(), np.zeros(7))
    ints = md.tensor([3, -4])
    assert getattr(md, name)(ints).dtype == md.int64 and getattr(md, name)(ints).tolist() == [3, -4]


def test_round_with_decimals_matches_pytorch():
    a = np.array([1.2345, -2.5551, 0.125])
    np.testing.assert_allclose(md.round(md.tensor(a), decimals=2).numpy(),
                               torch.round(torch.tensor(a), decimals=2).numpy())
    with pytest.raises(TypeError, match="decimals"):
        md.floor(md.tensor(a), decimals=1)


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(["atan2", "hypot", "xlogy", "fmax", "fmin", "float_power"]), seed=st.integers(0, 2**16))
def test_binary_values_and_gradients_match_pytorch(name, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.2, 2, (3, 4)) * rng.choice([-1, 1], (3, 4)), rng.uniform(0.2, 2, (4,))
    if name == "float_power":
        a = np.abs(a)
    ma, mb = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ym, yt = getattr(md, name)(ma, mb), getattr(torch, name)(ta, tb)
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    (ym * ym).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(ma.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mb.grad.numpy(), tb.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert_gradcheck(getattr(md, name), a, b)


def test_nan_aware_ops_match_pytorch():
    a = np.array([np.nan, 1.0, np.inf, -np.inf, 2.0])
    b = np.array([0.5, np.nan, 1.0, 3.0, np.nan])
    for name in ("fmax", "fmin"):
        np.testing.assert_array_equal(getattr(md, name)(md.tensor(a), md.tensor(b)).numpy(),
                                      getattr(torch, name)(torch.tensor(a), torch.tensor(b)).numpy())
    for kw in ({}, {"nan": 1.5, "posinf": 9.0, "neginf": -9.0}):
        np.testing.assert_array_equal(md.nan_to_num(md.tensor(a), **kw).numpy(),
                                      torch.nan_to_num(torch.tensor(a), **kw).numpy())
    x = md.tensor(a, requires_grad=True)
    md.nan_to_num(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 0, 0, 1])
    np.testing.assert_array_equal(md.xlogy(md.tensor([0.0, 2.0]), md.tensor([0.0, np.e])).numpy(), [0.0, 2.0])


def test_fused_shortcuts_match_pytorch():
    rng = np.random.default_rng(3)
    i, m1, m2 = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((4, 3))
    b1, b2, v = rng.standard_normal((5, 2, 4)), rng.standard_normal((5, 4, 3)), rng.standard_normal(4)
    t1, t2 = rng.standard_normal((2, 3)), rng.uniform(0.5, 2, (2, 3))
    cases = [("addmm", (i, m1, m2), {"beta": 0.5, "alpha": 2}), ("baddbmm", (i, b1, b2), {"alpha": -1}),
             ("addmv", (i[0, :2], m1, v), {"beta": 2}), ("addcmul", (i, t1, t2), {"value": 0.3}),
             ("addcdiv", (i, t1, t2), {"value": -2}), ("lerp", (i, t1, 0.25), {}), ("clamp_min", (i, 0.1), {}),
             ("clamp_max", (i, -0.1), {})]
    for name, args, kw in cases:
        margs = [md.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) else a for a in args]
        targs = [torch.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) else a for a in args]
        ym, yt = getattr(md, name)(*margs, **kw), getattr(torch, name)(*targs, **kw)
        np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), rtol=1e-12, err_msg=name)
        (ym * ym).sum().backward()
        (yt * yt).sum().backward()
        for a, b in zip(margs, targs):
            if isinstance(a, md.Tensor):
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, err_msg=name)
    with pytest.raises(ValueError, match=r"addmm: expected 2-d matrices, got shapes \(5, 2, 4\)"):
        md.addmm(md.tensor(i), md.tensor(b1), md.tensor(b2))


def test_methods_and_in_place_twins_as_programs_use_them():
    a = np.array([0.25, 0.5, 2.0])
    xm, xt = md.tensor(a), torch.tensor(a)
    for name in ("log1p", "reciprocal", "rsqrt", "floor", "ceil", "exp2", "atan"):
        np.testing.assert_allclose(getattr(xm, name)().numpy(), getattr(xt, name)().numpy(), rtol=1e-12)
        ym, yt = xm.clone(), xt.clone()
        assert getattr(ym, name + "_")() is ym
        getattr(yt, name + "_")()
        np.testing.assert_allclose(ym.numpy(), yt.numpy(), rtol=1e-12)
    w = md.tensor([1.0, 2.0], requires_grad=True)
    h = w * 2
    h.addcmul_(w, w, value=0.5)             # recorded: h = 2w + w^2 / 2
    h.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 4.0])
