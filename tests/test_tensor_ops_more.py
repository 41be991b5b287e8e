"""More of PyTorch's tensor ops (ops/extra.py, ops/einsum.py), checked against PyTorch itself: values, gradients on
the same inputs, float64 gradchecks over drawn shapes, and the errors bad input gets."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.testing import assert_gradcheck

SETTINGS = settings(max_examples=25, deadline=None)


def _both(arrays, grad=True):
    """The same float64 data as minidl and torch leaves."""
    mds = [md.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    ts = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    return mds, ts


def _values(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else x.numpy()


def check_against_torch(fn_md, fn_torch, *arrays, seed=0):
    """fn on minidl and torch give the same values (and dtype), and the same gradients for a random upstream."""
    mds, ts = _both(arrays)
    out_m, out_t = fn_md(*mds), fn_torch(*ts)
    outs_m = out_m if isinstance(out_m, tuple) else (out_m,)
    outs_t = out_t if isinstance(out_t, tuple) else (out_t,)
    assert len(outs_m) == len(outs_t)
    for m, t in zip(outs_m, outs_t):
        assert m.shape == tuple(t.shape)
        assert str(m.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        np.testing.assert_allclose(_values(m), _values(t), rtol=1e-10, atol=1e-12)
    if not any(t.requires_grad for t in ts):
        return
    rng = np.random.default_rng(seed)
    diff = [(m, t) for m, t in zip(outs_m, outs_t) if t.requires_grad]
    ups = [rng.standard_normal(t.shape) for _, t in diff]
    sum(((m * md.tensor(u)).sum() for (m, _), u in zip(diff, ups)), md.tensor(0.0, dtype=md.float64)).backward()
    sum(((t * torch.tensor(u)).sum() for (_, t), u in zip(diff, ups))).backward()
    for m, t in zip(mds, ts):
        if t.requires_grad:
            np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


R = np.random.default_rng(1)
A = R.standard_normal((3, 4))
B = R.standard_normal((4, 5))
C = R.standard_normal((2, 3, 4))
D = R.standard_normal((2, 4, 5))
IDX = np.array([[0, 3, 1, 1], [2, 2, 0, 3], [1, 0, 0, 2]])

CASES = {
    "t": (lambda x: x.t(), A),
    "t_fn_1d": (lambda x: (md if isinstance(x, md.Tensor) else torch).t(x), A[0]),
    "mm": (lambda a, b: a.mm(b), A, B),
    "mm_fn": (lambda a, b: (md if isinstance(a, md.Tensor) else torch).mm(a, b), A, B),
    "bmm": (lambda a, b: a.bmm(b), C, D),
    "masked_fill": (lambda x: x.masked_fill(x > 0, -1.5), A),
    "masked_fill_row": (lambda x: x.masked_fill((x > 0)[0], 2.0), A),
    "index_select": (lambda x, i: x.index_select(1, i), A, np.array([3, 0, 3])),
    "index_select0": (lambda x, i: x.index_select(0, i), C, np.array([1, 1])),
    "gather": (lambda x, i: x.gather(1, i), A, IDX),
    "gather_small": (lambda x, i: x.gather(0, i), A, IDX[:2, :3] % 3),
    "scatter_src": (lambda x, i, s: x.scatter(1, i, s), A, np.array([[0, 3], [2, 1], [1, 0]]), B[:3, :2]),
    "scatter_value": (lambda x, i: x.scatter(0, i, 7.0), A, IDX % 3),
    "scatter_add": (lambda x, i, s: x.scatter_add(1, i, s), A, IDX, B[:3, :4]),
    "repeat": (lambda x: x.repeat(2, 1, 3), A),
    "repeat_same": (lambda x: x.repeat(1, 2), A),
    "tril": (lambda x: x.tril(), A),
    "tril_k": (lambda x: x.tril(-1), C),
    "triu_k": (lambda x: x.triu(diagonal=2), A),
    "flip": (lambda x: x.flip((0, 2)), C),
    "flip_varargs": (lambda x: x.flip(0, 2), C),
    "flip_fn": (lambda x: (md if isinstance(x, md.Tensor) else torch).flip(x, [1]), C),
    "flip_int": (lambda x: x.flip(-1), A),
    "roll": (lambda x: x.roll(2), A),
    "roll_dims": (lambda x: x.roll((1, -2), (0, 1)), C),
    "unbind": (lambda x: x.unbind(1), C),
    "cumsum": (lambda x: x.cumsum(1), C),
    "cumsum_neg": (lambda x: x.cumsum(dim=-1), A),
    "prod_all": (lambda x: x.prod(), A[:2]),
    "prod_dim": (lambda x: x.prod(1, keepdim=True), A),
    "prod_zero": (lambda x: x.prod(1), np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [1.0, 2.0, 3.0]])),
    "prod_all_zero": (lambda x: x.prod(), np.array([[1.5, 0.0], [2.0, 3.0]])),
    "square": (lambda x: x.square(), A),
    "norm": (lambda x: x.norm(), A),
    "norm_dim": (lambda x: x.norm(dim=1, keepdim=True), A),
    "norm_p1": (lambda x: x.norm(p=1, dim=(0, 2)), C),
    "norm_inf": (lambda x: x.norm(p=float("inf"), dim=0), A),
    "norm_p3": (lambda x: x.norm(p=3), A),
    "norm_zero_row": (lambda x: x.norm(dim=1), np.array([[0.0, 0.0], [3.0, 4.0]])),
    "topk": (lambda x: tuple(x.topk(2)), A),
    "topk_smallest": (lambda x: tuple(x.topk(3, dim=0, largest=False)), A),
    "sort": (lambda x: tuple(x.sort()), A),
    "sort_desc": (lambda x: tuple(x.sort(dim=0, descending=True)), C),
    "sort_ties": (lambda x: tuple(x.sort(descending=True, stable=True)), np.array([1.0, 3.0, 1.0, 3.0, 2.0])),
    "amax": (lambda x: x.amax(dim=(1, 2)), C),
    "amin_keep": (lambda x: x.amin(dim=(0, 2), keepdim=True), C),
    "amax_ties": (lambda x: x.amax(), np.array([[1.0, 2.0], [2.0, 0.0]])),
    "sum_tuple": (lambda x: x.sum(dim=(0, 2)), C),
    "mean_tuple": (lambda x: x.mean(dim=(1, 2), keepdim=True), C),
    "max_dim": (lambda x: tuple(x.max(dim=1)), A),
    "einsum_mm": (lambda a, b: (md if isinstance(a, md.Tensor) else torch).einsum("ij,jk->ik", a, b), A, B),
    "einsum_batch": (lambda a, b: (md if isinstance(a, md.Tensor) else torch).einsum("bij,bjk->bik", a, b), C, D),
    "einsum_implicit": (lambda a, b: (md if isinstance(a, md.Tensor) else torch).einsum("ij,kj", a, b), A, A),
    "einsum_trace": (lambda a: (md if isinstance(a, md.Tensor) else torch).einsum("ii", a), A[:, :3]),
    "einsum_diag": (lambda a: (md if isinstance(a, md.Tensor) else torch).einsum("ii->i", a), A[:, :3]),
    "einsum_ellipsis": (lambda a, b: (md if isinstance(a, md.Tensor) else torch).einsum("...ij,jk->...ik", a, b),
                        C, B),
    "einsum_sum_out": (lambda a, b: (md if isinstance(a, md.Tensor) else torch).einsum("bij,k->bk", a, b),
                       C, B[0]),
    "einsum_list": (lambda a, b: (md if isinstance(a, md.Tensor) else torch).einsum("i,i->", [a, b]), B[0], B[1]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    fn, *arrays = CASES[name]
    check_against_torch(fn, fn, *arrays)


def test_int_results_match_torch():
    for fn in (lambda x: x.cumsum(0), lambda x: x.prod(), lambda x: x.prod(1), lambda x: x.square(),
               lambda x: x.flip(0), lambda x: x.repeat(2, 2), lambda x: x.tril(), lambda x: x.amax(dim=1),
               lambda x: x.sort()[0], lambda x: x.topk(1)[1]):
        check_against_torch(fn, fn, np.array([[3, 1, 2], [0, -4, 5]]))
    check_against_torch(lambda x: x.cumsum(0, dtype=md.float64), lambda x: x.cumsum(0, dtype=torch.float64),
                        np.array([1, 2, 3]))


def test_sort_and_topk_put_nan_first_when_descending():
    x = np.array([1.0, np.nan, 3.0, -np.inf, np.inf])
    for desc in (False, True):
        m, t = md.tensor(x).sort(descending=desc), torch.tensor(x).sort(descending=desc)
        np.testing.assert_array_equal(m.indices.numpy(), t.indices.numpy())
    np.testing.assert_array_equal(md.tensor(x).topk(2).indices.numpy(), [1, 4])


def test_in_place_variants_match_torch():
    a, i, s = A.copy(), IDX[:, :2], B[:3, :2]
    pairs = [
        (lambda x: x.masked_fill_(x > 0, 0.5), lambda x: x.masked_fill_(x > 0, 0.5)),
        (lambda x: x.scatter_(1, md.tensor(i), md.tensor(s)), lambda x: x.scatter_(1, torch.tensor(i),
                                                                                   torch.tensor(s))),
        (lambda x: x.scatter_(1, md.tensor(i), 2.0), lambda x: x.scatter_(1, torch.tensor(i), 2.0)),
        (lambda x: x.scatter_add_(0, md.tensor(IDX % 3), md.tensor(B[:3, :4])),
         lambda x: x.scatter_add_(0, torch.tensor(IDX % 3), torch.tensor(B[:3, :4]))),
        (lambda x: x.clamp_(-0.5, 0.5), lambda x: x.clamp_(-0.5, 0.5)),
        (lambda x: x.clamp_(min=0.0), lambda x: x.clamp_(min=0.0)),
    ]
    for fm, ft in pairs:
        xm, xt = md.tensor(a), torch.tensor(a)
        assert fm(xm) is xm
        ft(xt)
        np.testing.assert_allclose(xm.numpy(), xt.numpy())
        assert xm._version == 1


def test_in_place_refused_on_a_leaf_that_requires_grad():
    x = md.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="masked_fill_"):
        x.masked_fill_(x > 0, 0.0)
    with md.no_grad():
        x.masked_fill_(md.tensor([True, False, False]), 0.0)
    assert x.tolist() == [0.0, 1.0, 1.0]


# --- float64 gradchecks over drawn shapes ----------------------------------------------------------
def _shape(min_dims=1, max_dims=3):
    return st.lists(st.integers(1, 4), min_size=min_dims, max_size=max_dims).map(tuple)


@SETTINGS
@given(_shape(2, 3), st.integers(-3, 3), st.booleans())
def test_gradcheck_triangles(shape, k, lower):
    x = np.random.default_rng(0).standard_normal(shape)
    assert_gradcheck(lambda t: t.tril(k) if lower else t.triu(k), x)


@SETTINGS
@given(_shape(), st.data())
def test_gradcheck_gather_scatter(shape, data):
    rng = np.random.default_rng(len(shape))
    dim = data.draw(st.integers(0, len(shape) - 1))
    idx_shape = tuple(data.draw(st.integers(1, s)) if i != dim else data.draw(st.integers(1, 5))
                      for i, s in enumerate(shape))
    idx = md.tensor(rng.integers(0, shape[dim], idx_shape))
    x, src = rng.standard_normal(shape), rng.standard_normal(idx_shape)
    assert_gradcheck(lambda t: t.gather(dim, idx), x)
    assert_gradcheck(lambda t, s: t.scatter_add(dim, idx, s), x, src)
    # scatter with repeated indices keeps one unspecified write: check it only where indices are distinct
    uniq = md.tensor(np.argsort(rng.random(shape), axis=dim).take(range(min(idx_shape[dim], shape[dim])), axis=dim))
    cut = tuple(slice(0, n) for n in uniq.shape)
    assert_gradcheck(lambda t, s: t.scatter(dim, uniq, s[cut] if s.shape[dim] >= uniq.shape[dim] else s), x,
                     rng.standard_normal(uniq.shape))


@SETTINGS
@given(_shape(), st.data())
def test_gradcheck_movement(shape, data):
    x = np.random.default_rng(2).standard_normal(shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    reps = data.draw(st.lists(st.integers(1, 3), min_size=len(shape), max_size=len(shape) + 1))
    assert_gradcheck(lambda t: t.flip(dim), x)
    shift = data.draw(st.integers(-5, 5))
    assert_gradcheck(lambda t: t.roll(shift, dim), x)
    assert_gradcheck(lambda t: t.repeat(*reps), x)
    assert_gradcheck(lambda t: t.cumsum(dim), x)
    assert_gradcheck(lambda t: t.unbind(dim), x)
    assert_gradcheck(lambda t: t.index_select(dim, md.tensor([0, x.shape[dim] - 1, 0])), x)


@SETTINGS
@given(_shape(), st.data())
def test_gradcheck_reductions(shape, data):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    x[rng.random(shape) < 0.2] = 0.0          # zeros: prod's gradient must not divide by them
    dim = data.draw(st.integers(0, len(shape) - 1))
    dims = tuple(sorted(set(data.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=3)))))
    keep = data.draw(st.booleans())
    assert_gradcheck(lambda t: t.prod(dim, keepdim=keep), x)
    assert_gradcheck(lambda t: t.prod(), x)
    assert_gradcheck(lambda t: t.norm(dim=dims, keepdim=keep), x + 0.5)
    assert_gradcheck(lambda t: t.norm(p=3, dim=dims), x + 0.5)
    assert_gradcheck(lambda t: t.amax(dim=dims, keepdim=keep), rng.permutation(x.size).reshape(shape) * 1.0)
    assert_gradcheck(lambda t: t.square(), x)


@SETTINGS
@given(_shape(), st.data())
def test_gradcheck_sort_topk(shape, data):
    x = np.random.default_rng(4).permutation(int(np.prod(shape))).reshape(shape) * 0.5   # distinct values
    dim = data.draw(st.integers(0, len(shape) - 1))
    k = data.draw(st.integers(0, shape[dim]))
    desc = data.draw(st.booleans())
    assert_gradcheck(lambda t: t.sort(dim, descending=desc).values, x)
    assert_gradcheck(lambda t: t.topk(k, dim, largest=desc).values, x)


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3))
def test_gradcheck_einsum_and_mm(n, m, p, b):
    rng = np.random.default_rng(5)
    x, y, z = rng.standard_normal((b, n, m)), rng.standard_normal((b, m, p)), rng.standard_normal((m, m))
    assert_gradcheck(lambda s, t: md.bmm(s, t), x, y)
    assert_gradcheck(lambda s, t: md.mm(s[0], t[0]), x, y)
    assert_gradcheck(lambda s, t: md.einsum("bij,bjk->bik", s, t), x, y)
    assert_gradcheck(lambda s, t: md.einsum("...ij,jj->...i", s, t), x, z)
    assert_gradcheck(lambda s: md.einsum("bii->b", s), rng.standard_normal((b, m, m)))


def test_einsum_gradient_is_differentiable_again():
    a = md.tensor(A, requires_grad=True)
    (g,) = md.autograd.grad(md.einsum("ij,ij->", a, a), a, create_graph=True)
    g.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.full(A.shape, 2.0))


# --- tuple dims, max/min -----------------------------------------------------------------------
def test_max_min_tuple_dims_refused_with_the_way_out():
    x = md.ones(2, 3, 4)
    with pytest.raises(TypeError, match=r"max: dim must be one int.*amax\(dim=\(1, 2\)\)"):
        x.max(dim=(1, 2))
    with pytest.raises(TypeError, match="min: dim must be one int"):
        md.min(x, (0, 1))
    values, indices = md.max(md.tensor(A), 1)
    assert values.shape == (3,) and indices.dtype == md.int64


# --- constructors and helpers ------------------------------------------------------------------
def test_new_constructors_follow_self():
    x = md.ones(2, dtype=md.float64)
    for name, args in [("new_zeros", (2, 3)), ("new_ones", ((2, 3),)), ("new_empty", (2, 3)),
                       ("new_full", ((2, 3), 1.5))]:
        m, t = getattr(x, name)(*args), getattr(torch.ones(2, dtype=torch.float64), name)(*args)
        assert m.shape == tuple(t.shape) and m.dtype == md.float64 and m.device == x.device
        if name != "new_empty":
            np.testing.assert_array_equal(m.numpy(), t.numpy())
    assert x.new_zeros(3, dtype=md.int64).dtype == md.int64
    assert x.new_ones(2, requires_grad=True).requires_grad
    y = x.new_tensor([1, 2])
    assert y.dtype == md.float64 and y.tolist() == [1.0, 2.0]
    assert x.new_tensor([1, 2], dtype=md.int64).dtype == md.int64


def test_random_fills_follow_manual_seed():
    md.manual_seed(7)
    a = md.empty(4, 5).uniform_(-2, 3)
    b = md.empty(1000).normal_(1.0, 0.5)
    md.manual_seed(7)
    assert md.empty(4, 5).uniform_(-2, 3).tolist() == a.tolist()
    assert md.empty(1000).normal_(1.0, 0.5).tolist() == b.tolist()
    assert a.min().item() >= -2 and a.max().item() < 3
    assert abs(b.mean().item() - 1.0) < 0.1 and abs(b.std().item() - 0.5) < 0.1
    assert md.empty(3).fill_(2.0).tolist() == [2.0] * 3 and md.ones(2).zero_().tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="uniform_"):
        md.empty(2).uniform_(1, 0)
    with pytest.raises(RuntimeError, match="normal_"):
        md.empty(2, requires_grad=True).normal_()


def test_layout_helpers():
    x = md.tensor(A)
    assert x.is_contiguous() and not x.t().is_contiguous() and x.t().contiguous().is_contiguous()
    assert x.data_ptr() == x.numpy().ctypes.data and x[1].data_ptr() == x.data_ptr() + 4 * 8
    assert md.is_tensor(x) and not md.is_tensor(A)
    assert md.numel(x) == 12
    assert isinstance(x.shape, md.Size) and x.shape == (3, 4) and x.size() == md.Size([3, 4])
    assert x.shape.numel() == 12 and x.shape[1:] == (4,) and md.Size([2, 3]).numel() == 6
    assert x.size(-1) == 4 and md.tensor(1.0).size() == ()
    with pytest.raises(IndexError, match="size: dim 2"):
        x.size(2)


def test_inference_mode_as_context_and_decorator():
    x = md.ones(2, requires_grad=True)
    with md.inference_mode():
        assert not (x * 2).requires_grad and md.is_inference_mode_enabled()
    with md.inference_mode(False):
        assert (x * 2).requires_grad

    @md.inference_mode()
    def f():
        return x * 2

    @md.inference_mode
    def g():
        return x * 2
    assert not f().requires_grad and not g().requires_grad and (x * 2).requires_grad


def test_multinomial_draws_and_seeds():
    w = md.tensor([[0.0, 10.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    md.manual_seed(3)
    a = md.multinomial(w[1], 4)
    md.manual_seed(3)
    assert md.multinomial(w[1], 4).tolist() == a.tolist()
    assert sorted(a.tolist()) == [0, 1, 2, 3]                  # without replacement: each once
    s = md.multinomial(w, 6, replacement=True)
    assert s.shape == (2, 6) and s.dtype == md.int64 and s[0].tolist() == [1] * 6
    freq = np.bincount(md.multinomial(md.tensor([0.2, 0.8]), 4000, replacement=True).numpy(), minlength=2) / 4000
    assert abs(freq[1] - 0.8) < 0.05
    with pytest.raises(ValueError, match="multinomial: cannot draw 2 samples without replacement"):
        md.multinomial(w[0], 2)
    with pytest.raises(ValueError, match="multinomial: .*non-negative"):
        md.multinomial(md.tensor([-1.0, 2.0]), 1)


def test_register_hook_on_leaf_and_non_leaf_matches_torch():
    def run(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        seen = []
        x.register_hook(lambda g: seen.append(g.clone()))
        handle = x.register_hook(lambda g: g * 10)
        y = x * x
        y.register_hook(lambda g: g + 1)
        (y.sum() + (x * 3).sum()).backward()
        first = x.grad.clone()
        handle.remove()
        x.grad = None
        (x * 2).sum().backward()
        return [s.tolist() for s in seen], first.tolist(), x.grad.tolist()

    assert run(md) == run(torch)


def test_register_hook_with_retain_grad_and_autograd_grad():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 3)
    y.sum().backward()
    assert y.grad.tolist() == [3.0, 3.0] and x.grad.tolist() == [6.0, 6.0]
    x2 = md.tensor([1.0, 2.0], requires_grad=True)
    x2.register_hook(lambda g: -g)
    (g,) = md.autograd.grad((x2 * x2).sum(), x2)
    assert g.tolist() == [-2.0, -4.0]
    with pytest.raises(RuntimeError, match="register_hook: cannot register a hook on a tensor"):
        md.ones(2).register_hook(lambda g: g)


# --- bad input: errors name the op ----------------------------------------------------------------
@pytest.mark.parametrize("call, err, match", [
    (lambda: md.ones(2, 2, 2).t(), ValueError, "t: expects a tensor with <= 2 dims"),
    (lambda: md.mm(md.ones(2, 3), md.ones(2, 3)), ValueError, r"mm: shapes \(2, 3\) and \(2, 3\)"),
    (lambda: md.mm(md.ones(2, 3, 1), md.ones(1, 3)), ValueError, "mm: expects two 2-d"),
    (lambda: md.bmm(md.ones(2, 2, 3), md.ones(3, 3, 2)), ValueError, "bmm: shapes"),
    (lambda: md.ones(2).masked_fill(md.ones(2), 0.0), TypeError, "masked_fill: mask must be a bool"),
    (lambda: md.ones(2).masked_fill(md.ones(3) > 0, 0.0), ValueError, "masked_fill: mask of shape"),
    (lambda: md.ones(2).masked_fill(md.ones(2) > 0, md.ones(2)), ValueError, "masked_fill: value must be a 0-d tensor"),
    (lambda: md.ones(3).index_select(0, md.tensor([3])), IndexError, "index_select: index out of range"),
    (lambda: md.ones(3).index_select(0, md.tensor([0.0])), TypeError, "index_select: index must be an integer"),
    (lambda: md.ones(2, 2).gather(1, md.tensor([0, 1])), ValueError, "gather: index .* as many dims"),
    (lambda: md.ones(2, 2).gather(1, md.tensor([[2]])), IndexError, "gather: index out of range"),
    (lambda: md.ones(2, 2).gather(2, md.tensor([[0]])), IndexError, "gather: dim 2 is out of range"),
    (lambda: md.ones(2).scatter(0, md.tensor([0, 1]), md.ones(1)), ValueError, "scatter: index of shape"),
    (lambda: md.ones(2).scatter(0, md.tensor([0]), md.ones(1), reduce="multiply"), NotImplementedError,
     "scatter: reduce='multiply' is not supported"),
    (lambda: md.ones(2, 2).repeat(2), ValueError, "repeat: the number of repeats"),
    (lambda: md.ones(3).tril(), ValueError, "tril: needs a tensor with at least 2 dims"),
    (lambda: md.ones(3).flip((0, 0)), ValueError, "flip: dims"),
    (lambda: md.ones(3).roll((1, 2), 0), ValueError, "roll: shifts"),
    (lambda: md.ones(3).cumsum(1), IndexError, "cumsum: dim 1 is out of range"),
    (lambda: md.ones(3).prod((0,)), TypeError, "prod: dim must be one int"),
    (lambda: md.ones(3).norm(p="max"), NotImplementedError, "norm: p='max' is not supported"),
    (lambda: md.ones(3, dtype=md.int64).norm(), TypeError, "norm: needs a floating tensor"),
    (lambda: md.ones(3).topk(4), IndexError, r"topk: k \(4\) is out of range"),
    (lambda: md.ones(3).sort(dim=1), IndexError, "sort: dim 1 is out of range"),
    (lambda: md.ones(2, 0).amax(dim=1), IndexError, "amax: dim 1 of shape"),
    (lambda: md.einsum("ij,jk->ik", md.ones(2, 3)), ValueError, "einsum: the equation 'ij,jk->ik' names 2"),
    (lambda: md.einsum("ij,jk->ik", md.ones(2, 3), md.ones(2, 3)), ValueError, "einsum: subscript 'j'"),
    (lambda: md.einsum("ij->ii", md.ones(2, 2)), ValueError, "einsum: output subscripts"),
    (lambda: md.einsum("i1->i", md.ones(2, 2)), ValueError, "einsum: invalid subscripts"),
    (lambda: md.einsum("ijk->i", md.ones(2, 2)), ValueError, "einsum: subscripts 'ijk' do not fit"),
    (lambda: md.multinomial(md.ones(2, 2, 2), 1), ValueError, "multinomial: probabilities must be 1-d or 2-d"),
    (lambda: md.numel([1]), TypeError, "numel: expected input to be a Tensor"),
])
def test_bad_input_errors_name_the_op(call, err, match):
    with pytest.raises(err, match=match):
        call()


@pytest.mark.parametrize("name", ["norm", "norm_dim", "cumsum", "gather", "sort", "amax", "einsum_diag", "tril",
                                  "roll", "flip", "repeat", "scatter_add", "index_select", "masked_fill",
                                  "prod_all", "prod_dim", "prod_zero", "prod_all_zero"])
def test_second_derivatives_match_torch(name):
    """create_graph through the op: d/dx of (sum of grad(out . u)^2) agrees with PyTorch's."""
    fn, *arrays = CASES[name]
    mds, ts = _both(arrays)
    grads = []
    for lib, ins in ((md, mds), (torch, ts)):
        outs = fn(*ins)
        out = outs[0] if isinstance(outs, tuple) else outs
        u = lib.tensor(np.random.default_rng(9).standard_normal(tuple(out.shape)))
        (g,) = lib.autograd.grad((out * u).sum() + (out * out).sum(), ins[0], create_graph=True)
        (g * g).sum().backward()
        grads.append(ins[0].grad.numpy() if lib is md else ins[0].grad.detach().numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-9, atol=1e-12)


# --- device plumbing: the ops keep "cuda" tensors on their device (through the fake CuPy of fake_cupy.py) ------
DEVICE_CASES = ["t", "mm", "bmm", "masked_fill", "index_select", "gather", "scatter_src", "scatter_add", "repeat",
                "tril", "triu_k", "flip", "roll", "roll_dims", "unbind", "cumsum", "prod_dim", "prod_zero", "square",
                "norm", "norm_p1", "norm_inf", "topk", "sort_desc", "amax", "einsum_batch", "einsum_diag"]


@pytest.fixture
def fake_cuda():
    import fake_cupy
    mp = pytest.MonkeyPatch()
    fake_cupy.install(mp)
    yield
    fake_cupy.uninstall(mp)


def test_ops_stay_on_a_cuda_device(fake_cuda):
    for name in DEVICE_CASES:
        fn, *arrays = CASES[name]
        cpu = [md.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        dev = [md.tensor(a, device="cuda", requires_grad=a.dtype.kind == "f") for a in arrays]
        outs_c, outs_d = fn(*cpu), fn(*dev)
        outs_c = outs_c if isinstance(outs_c, tuple) else (outs_c,)
        outs_d = outs_d if isinstance(outs_d, tuple) else (outs_d,)
        for c, d in zip(outs_c, outs_d):
            assert d.device.type == "cuda", name
            np.testing.assert_allclose(d.cpu().numpy(), c.numpy(), err_msg=name)
        outs_c[0].sum().backward()
        outs_d[0].sum().backward()
        for c, d in zip(cpu, dev):
            if c.requires_grad:
                assert d.grad.device.type == "cuda", name
                np.testing.assert_allclose(d.grad.cpu().numpy(), c.grad.numpy(), err_msg=name)
    x = md.ones(2, 3, device="cuda")
    for y in (x.new_zeros(2), x.new_full((2,), 3.0), x.new_tensor([1.0]), md.empty(3, device="cuda").uniform_(),
              md.multinomial(md.ones(3, device="cuda"), 2)):
        assert y.device.type == "cuda"


def test_nuclear_norm_matches_pytorch():
    a = np.random.default_rng(0).standard_normal((2, 3, 4))
    xm, xt = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ym, yt = xm.norm(p="nuc", dim=(1, 2)), torch.norm(xt, p="nuc", dim=(1, 2))
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    ym.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(md.tensor(a[0]).norm(p="nuc").item(), np.linalg.norm(a[0], "nuc"), rtol=1e-12)


def test_multinomial_draws_from_its_own_generator():
    probs = md.tensor([[0.2, 0.3, 0.5], [0.0, 1.0, 0.0]])
    a = md.multinomial(probs, 6, replacement=True, generator=md.Generator().manual_seed(7))
    md.manual_seed(0)
    b = md.multinomial(probs, 6, replacement=True, generator=md.Generator().manual_seed(7))
    assert a.tolist() == b.tolist() and a[1].tolist() == [1] * 6
    with pytest.raises(TypeError, match="generator must be a minidl.Generator"):
        md.multinomial(probs, 1, generator=3)
