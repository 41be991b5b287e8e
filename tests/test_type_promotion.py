"""PyTorch's type promotion, dtype aliases and Tensor.type, checked against PyTorch itself (issue 14)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md

DTYPES = ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"]
ALL_DTYPES = DTYPES + ["int8", "int16"]
KINDS = ["dim", "zero", "scalar"]

# operator forms, as programs write them (PyTorch's function forms refuse a Python scalar as first argument)
BINARY = {
    "add": (lambda m, a, b: a + b),
    "sub": (lambda m, a, b: a - b),
    "mul": (lambda m, a, b: a * b),
    "div": (lambda m, a, b: a / b),
    "floor_divide": (lambda m, a, b: a // b),
    "remainder": (lambda m, a, b: a % b),
    "pow": (lambda m, a, b: a ** b),
    "lt": (lambda m, a, b: a < b),
    "eq": (lambda m, a, b: a == b),
    "where": (lambda m, a, b: m.where(m.tensor([True, False, True]), a, b)),
}


def _tdt(name):
    return getattr(torch, name)


def _operand(kind, dtype, values, scalar):
    """(minidl operand, torch operand): a (3,) tensor, a 0-d tensor or the Python scalar itself."""
    if kind == "scalar":
        return scalar, scalar
    data = values if kind == "dim" else values[0]
    arr = np.asarray(data).astype(dtype)
    return md.tensor(arr), torch.tensor(arr)


@st.composite
def operand_pairs(draw):
    kinds = draw(st.tuples(st.sampled_from(KINDS), st.sampled_from(KINDS)).filter(lambda k: "scalar" != k[0] or
                                                                                  "scalar" != k[1]))
    pair = []
    for kind in kinds:
        dtype = draw(st.sampled_from(DTYPES))
        values = draw(st.lists(st.integers(1, 5), min_size=3, max_size=3))
        scalar = draw(st.one_of(st.booleans(), st.integers(1, 5), st.sampled_from([0.5, 1.5, 2.25, 3.0])))
        pair.append(_operand(kind, dtype, values, scalar))
    return pair


def _assert_same(out, ref):
    assert out.dtype.name == str(ref.dtype).removeprefix("torch.")
    expected = ref.numpy()
    tol = {"float16": 2e-3, "float32": 1e-6}.get(out.dtype.name, 0)
    np.testing.assert_allclose(out.numpy().astype(np.float64), expected.astype(np.float64), rtol=tol, atol=tol)


@settings(max_examples=50, deadline=None)
@given(operand_pairs())
def test_result_type_matches_torch(pair):
    (ma, ta), (mb, tb) = pair
    assert md.result_type(ma, mb).name == str(torch.result_type(ta, tb)).removeprefix("torch.")


@settings(max_examples=50, deadline=None)
@given(operand_pairs(), st.sampled_from(sorted(BINARY)))
def test_binary_ops_follow_torch_dtype_and_values(pair, op):
    (ma, ta), (mb, tb) = pair
    fn = BINARY[op]
    try:
        ref = fn(torch, ta, tb)
    except (RuntimeError, TypeError):           # e.g. bool - bool, integer // False: minidl refuses too
        with pytest.raises((RuntimeError, TypeError, ZeroDivisionError)):
            fn(md, ma, mb)
        return
    _assert_same(fn(md, ma, mb), ref)


def test_promote_types_matches_torch_on_every_pair():
    for a in ALL_DTYPES:
        for b in ALL_DTYPES:
            got = md.promote_types(getattr(md, a), getattr(md, b))
            assert got.name == str(torch.promote_types(_tdt(a), _tdt(b))).removeprefix("torch."), (a, b)


def test_the_issue_cases():
    x, n = md.ones(2, 3), md.ones(2, 3, dtype=md.int64)
    assert (x * n).dtype == md.float32                                   # NumPy would say float64
    assert (md.arange(4) / 2).dtype == md.float32                         # int true division: default float
    assert (md.arange(4) / md.arange(1, 5)).dtype == md.float32
    assert (md.arange(4) * 1.5).dtype == md.float32
    assert (md.tensor([1, 2], dtype=md.int32) + md.tensor(7)).dtype == md.int32       # dimensioned beats 0-d
    assert (md.tensor([1, 2], dtype=md.int32) + md.tensor(7.0, dtype=md.float64)).dtype == md.float64
    assert (md.ones(2, dtype=md.float16) + md.tensor(1.0, dtype=md.float64)).dtype == md.float16
    assert (md.tensor(1, dtype=md.uint8) + 300).dtype == md.uint8                    # 0-d tensor beats scalar
    assert (md.ones(2) > 0).dtype == md.bool


def test_true_division_follows_the_default_dtype():
    try:
        md.set_default_dtype(md.float64)
        assert md.get_default_dtype() == md.float64
        assert (md.arange(3) / 2).dtype == md.float64 and (md.arange(3) * 0.5).dtype == md.float64
        assert md.tensor([1.5]).dtype == md.float64
        assert (md.ones(2, dtype=md.float32) * 0.5).dtype == md.float32           # a float tensor keeps its own
    finally:
        md.set_default_dtype(md.float32)
    assert md.get_default_dtype() is md.float32
    with pytest.raises(TypeError, match="only floating dtypes"):
        md.set_default_dtype(md.int64)


def test_inplace_ops_keep_the_dtype_and_refuse_what_it_cannot_hold():
    refused = [(lambda t: t.__iadd__(1.5), "int64"), (lambda t: t.__itruediv__(2), "int64"),
               (lambda t: t.__iadd__(1), "bool"), (lambda t: t.mul_(2.5), "int32"),
               (lambda t: t.add_(t.float()), "uint8"), (lambda t: t.sub_(True), "bool")]
    for fn, dt in refused:
        with pytest.raises(RuntimeError):
            fn(torch.ones(3, dtype=_tdt(dt)))
        with pytest.raises(RuntimeError, match="can't be cast|not supported"):
            fn(md.ones(3, dtype=getattr(md, dt)))
    x = md.arange(3)
    with pytest.raises(RuntimeError, match="add_: result type float32 can't be cast to the desired output type "
                                           "int64"):
        x += 1.5
    assert x.tolist() == [0, 1, 2]            # untouched


def test_inplace_results_match_torch():
    cases = [("float16", lambda m: m.ones(3, dtype=m.float64) / 3),          # rounds into float16
             ("int32", lambda m: m.full((3,), 7, dtype=m.int64)),
             ("uint8", lambda m: 300),                                       # wraps around
             ("float32", lambda m: m.arange(3)),
             ("int64", lambda m: m.tensor(2, dtype=m.int32))]
    for dt, other in cases:
        for method in ("add_", "mul_", "sub_"):
            m = getattr(md.arange(1, 4, dtype=getattr(md, dt)), method)(other(md))
            t = getattr(torch.arange(1, 4, dtype=_tdt(dt)), method)(other(torch))
            _assert_same(m, t)
    m, t = md.arange(1, 4, dtype=md.float16), torch.arange(1, 4, dtype=torch.float16)
    m /= md.tensor([3.0, 7.0, 9.0], dtype=md.float64)
    t /= torch.tensor([3.0, 7.0, 9.0], dtype=torch.float64)
    _assert_same(m, t)
    m, t = md.tensor([7, -7, 9]), torch.tensor([7, -7, 9])
    m //= 2
    t //= 2
    m %= 3
    t %= 3
    _assert_same(m, t)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "where"])
def test_gradients_come_back_in_each_inputs_dtype(op):
    fn = {"where": lambda m, a, b: m.where(a > 1.5, a, b)}.get(op, lambda m, a, b: getattr(m, op)(a, b))
    a_np = np.array([1.0, 2.0, 3.0])
    b_np = np.array([2.0, 0.5, 3.0])
    grads = {}
    for lib in (md, torch):
        a = lib.tensor(a_np.astype(np.float32), requires_grad=True)
        b = lib.tensor(b_np.astype(np.float16), requires_grad=True)
        c = lib.tensor(1.25, dtype=lib.float64, requires_grad=True)     # a 0-d float64: loses to float32
        out = fn(lib, a, b) * c
        out.sum().backward()
        grads[lib] = (out, a.grad, b.grad, c.grad)
    for m, t in zip(grads[md], grads[torch]):
        m = m.detach() if hasattr(m, "detach") else m
        _assert_same(m, t.detach())


def test_rounded_division_and_remainders_match_torch():
    a = np.array([-7.5, -3.0, 0.5, 3.0, 7.25])
    b = np.array([2.0, -2.0, 0.75, 2.0, -1.5])
    for dt in ("int64", "int32", "float32", "float64"):
        ma, mb = md.tensor(a.astype(dt)), md.tensor(b.astype(dt) if "float" in dt else np.where(b < 0, -2, 2))
        ta, tb = torch.tensor(ma.numpy()), torch.tensor(mb.numpy())
        _assert_same(md.div(ma, mb, rounding_mode="floor"), torch.div(ta, tb, rounding_mode="floor"))
        _assert_same(md.div(ma, mb, rounding_mode="trunc"), torch.div(ta, tb, rounding_mode="trunc"))
        _assert_same(ma // mb, ta // tb)
        _assert_same(ma % mb, ta % tb)
        _assert_same(md.fmod(ma, mb), torch.fmod(ta, tb))
        _assert_same(md.remainder(ma, 3), torch.remainder(ta, 3))
        _assert_same(5 % mb, 5 % tb)
    with pytest.raises(ZeroDivisionError, match="floor_divide: integer division by zero"):
        md.arange(3) // 0
    with pytest.raises(ValueError, match="rounding_mode"):
        md.div(md.ones(2), 2, rounding_mode="round")


def test_remainder_fmod_gradients():
    from minidl.testing import assert_gradcheck
    a = md.tensor([-7.3, -2.9, 0.4, 3.3, 7.7], dtype=md.float64, requires_grad=True)
    b = md.tensor([2.1, -1.7, 0.9, 2.2, -1.4], dtype=md.float64, requires_grad=True)
    assert_gradcheck(lambda x, y: md.remainder(x, y), a, b)
    assert_gradcheck(lambda x, y: md.fmod(x, y), a, b)
    ta, tb = torch.tensor(a.numpy(), requires_grad=True), torch.tensor(b.numpy(), requires_grad=True)
    for mfn, tfn in ((md.remainder, torch.remainder), (md.fmod, torch.fmod),
                     (lambda x, y: md.div(x, y, rounding_mode="floor"),
                      lambda x, y: torch.div(x, y, rounding_mode="floor"))):
        a.grad = b.grad = ta.grad = tb.grad = None
        (mfn(a, b) * md.arange(1, 6)).sum().backward()
        (tfn(ta, tb) * torch.arange(1, 6)).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy())
        np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy())


def test_integer_power_errors_and_bool_subtraction_are_refused():
    with pytest.raises(RuntimeError, match="pow: integers to negative integer powers"):
        md.arange(1, 3) ** -1
    for a, b in ((md.tensor([True]), md.tensor([False])), (md.tensor([True]), 1), (1.5, md.tensor([True])),
                 (md.arange(2), True), (md.ones(2), md.tensor(False))):
        with pytest.raises(RuntimeError, match="sub: subtraction with a bool operand is not supported"):
            a - b
    with pytest.raises(RuntimeError, match="sub_: subtraction with a bool operand"):
        md.arange(2).sub_(md.tensor([True, False]))
    with pytest.raises(RuntimeError, match="pow: not implemented for bool"):
        md.tensor([True]) ** md.tensor([False])
    assert (md.tensor([True, False]) ** False).tolist() == [True, True]
    assert (md.arange(1, 3) ** -1.0).dtype == md.float32


def test_dtype_aliases_are_pytorchs():
    pairs = {"float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
             "short": "int16", "bool": "bool"}
    for alias, name in pairs.items():
        assert getattr(md, alias) is getattr(md, name)
        assert getattr(torch, alias) == _tdt(name)
    assert md.float.is_floating_point and not md.long.is_floating_point and md.int16.itemsize == 2
    assert md.int8.is_signed and not md.uint8.is_signed and not md.float.is_complex
    assert md.zeros(2, dtype=md.short).dtype == md.int16 and md.tensor([1, 2]).short().dtype == md.int16
    assert md.finfo(md.float32).eps == torch.finfo(torch.float32).eps
    assert md.finfo(md.half).max == torch.finfo(torch.half).max and md.finfo().tiny == torch.finfo().tiny
    assert (md.iinfo(md.int32).min, md.iinfo(md.uint8).max) == (torch.iinfo(torch.int32).min, 255)
    with pytest.raises(TypeError, match="not supported.*no complex"):
        md.zeros(2, dtype="complex64")


def test_tensor_type_and_conversions_as_programs_use_them():
    images = md.tensor(np.arange(12, dtype=np.uint8).reshape(3, 4))
    labels = md.tensor([1, 0, 1], dtype=md.int32)
    x = images.type(md.float) / 255
    assert x.dtype == md.float32 and labels.long().dtype == md.int64
    out = md.tensor([[0.1, 0.7, 0.2], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5]], dtype=md.float64).float()
    _, predicted = md.max(out, 1)
    correct = (predicted == labels.long()).sum().item()
    assert correct == 2 and isinstance(correct, int)
    acc = (predicted == labels).float().mean()
    assert acc.dtype == md.float32
    assert md.ones(2).type() == "minidl.FloatTensor" and md.arange(2).type() == "minidl.LongTensor"
    assert md.ones(2, dtype=md.bool).type() == "minidl.BoolTensor"
    assert md.ones(2).type("torch.LongTensor").dtype == md.int64
    assert md.ones(2).type("minidl.DoubleTensor").dtype == md.float64
    assert md.ones(2).type(md.half).dtype == md.float16 and md.ones(2).half().double().dtype == md.float64
    t = md.ones(2)
    assert t.type(md.float32) is t and t.type("torch.FloatTensor") is t
    with pytest.raises(ValueError, match="invalid type 'torch.ComplexTensor'"):
        t.type("torch.ComplexTensor")
    assert md.is_floating_point(t) and t.is_floating_point() and not md.arange(2).is_floating_point()
    assert md.arange(2, dtype=md.int16).element_size() == 2 and t.byte().dtype == md.uint8
    assert t.char().dtype == md.int8 and not t.is_complex()


def test_type_conversion_is_differentiable_and_keeps_grads_in_input_dtype():
    w = md.tensor([1.0, 2.0], requires_grad=True)
    y = (w.type(md.double) * md.tensor([3.0, 4.0], dtype=md.float64)).sum()
    y.backward()
    assert w.grad.dtype == md.float32 and w.grad.tolist() == [3.0, 4.0]


def test_legacy_tensor_types_as_old_programs_use_them():
    for name in ("FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor", "CharTensor",
                 "ByteTensor", "BoolTensor"):
        m, t = getattr(md, name)([1, 0, 2]), getattr(torch, name)([1, 0, 2])
        _assert_same(m, t)
        assert isinstance(m, getattr(md, name)) and md.ones(2).type(getattr(md, name)).dtype == m.dtype
    assert md.FloatTensor(2, 3).shape == (2, 3) and md.LongTensor().shape == (0,) == tuple(torch.LongTensor().shape)
    target = md.LongTensor([3, 1])
    assert target.type() == "minidl.LongTensor" and not isinstance(target, md.FloatTensor)
    assert md.ones(2).type(md.DoubleTensor).dtype == md.float64
    with pytest.raises(TypeError, match="FloatTensor: expected data or non-negative sizes"):
        md.FloatTensor(2, -1)


def test_missing_pytorch_dtypes_are_refused_by_name():
    for name, why in (("cfloat", "no complex"), ("complex64", "no complex"), ("bfloat16", "no bfloat16")):
        with pytest.raises(AttributeError, match=f"minidl.{name}: this dtype is not supported.*{why}"):
            getattr(md, name)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        md.no_such_name  # noqa: B018


def test_cat_promotes_as_pytorch():
    torch = pytest.importorskip("torch")
    for a, b in ((md.float32, md.int64), (md.float16, md.int64), (md.uint8, md.int8), (md.bool, md.int32)):
        x, y = md.zeros(2, dtype=a), md.ones(3, dtype=b)
        want = torch.cat([torch.zeros(2, dtype=getattr(torch, a.name)), torch.ones(3, dtype=getattr(torch, b.name))])
        assert md.cat([x, y]).dtype.name == str(want.dtype).split(".")[1]
