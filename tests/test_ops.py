"""Tests generated from the op table ``tests/opinfo.py``, one parametrized case per row.

- forward values, dtypes and shapes vs PyTorch, in float64 and float32 (skipped without torch);
- float64 gradcheck through ``minidl.autograd.gradcheck`` (never skipped);
- gradients vs PyTorch's autograd for a random upstream gradient (skipped without torch);
- every alias spelling (method, ``md.*`` function, ``md.nn.functional``) agrees with the row's callable;
- non-differentiable ops (comparisons, argmax) give outputs that do not require grad.

Inputs are drawn by hypothesis: broadcasting shapes, size-0/1 dims, non-contiguous layouts.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opinfo import OPS

import minidl as md
from minidl.testing import assert_gradcheck

DIFFERENTIABLE = [op for op in OPS if op.differentiable]
NON_DIFFERENTIABLE = [op for op in OPS if not op.differentiable]
WITH_ALIASES = [op for op in OPS if op.aliases]


def _ids(ops):
    return [op.name for op in ops]


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _torch_copy(torch, a, requires_grad=False):
    # NOTE: torch.from_numpy rejects negative strides; a C-ordered copy keeps 0-d arrays 0-d.
    t = torch.from_numpy(np.array(a, order="C"))
    return t.requires_grad_() if requires_grad else t


def _check_outputs(got, want, rtol, atol, what):
    got, want = _as_list(got), _as_list(want)
    assert len(got) == len(want), f"{what}: {len(got)} outputs, torch gives {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        label = f"{what}, output {i}"
        assert isinstance(g, md.Tensor), f"{label}: got a {type(g).__name__}, expected a minidl Tensor"
        g_np, w_np = np.asarray(g.numpy()), w.detach().numpy()
        assert tuple(g.shape) == w_np.shape, f"{label}: shape {tuple(g.shape)}, torch gives {w_np.shape}"
        assert g_np.shape == w_np.shape, f"{label}: numpy() has shape {g_np.shape}, Tensor.shape is {g.shape}"
        assert g_np.dtype == w_np.dtype, f"{label}: dtype {g_np.dtype}, torch gives {w_np.dtype}"
        assert g.dtype == g_np.dtype, f"{label}: Tensor.dtype {g.dtype} but numpy() gives {g_np.dtype}"
        if w_np.dtype.kind == "f":
            np.testing.assert_allclose(g_np, w_np, rtol=rtol, atol=atol, equal_nan=True, err_msg=label)
        else:
            np.testing.assert_array_equal(g_np, w_np, err_msg=label)


@pytest.mark.parametrize("op", OPS, ids=_ids(OPS))
@given(data=st.data())
def test_forward_matches_torch(op, data, torch):
    sample = data.draw(op.inputs, label="sample")
    for dtype, rtol, atol in ((np.float64, op.rtol, op.atol), (np.float32, op.rtol32, op.atol32)):
        inputs = [a if a.dtype == dtype else a.astype(dtype) for a in sample.arrays]  # astype keeps permuted layouts
        before = [a.copy() for a in inputs]
        want = op.torch_fn(*[_torch_copy(torch, a) for a in inputs], **sample.kwargs)
        got = op.fn(*[md.from_numpy(a) for a in inputs], **sample.kwargs)
        _check_outputs(got, want, rtol, atol, f"{op.name} in {np.dtype(dtype).name}")
        for i, (a, b) in enumerate(zip(inputs, before)):
            np.testing.assert_array_equal(a, b, err_msg=f"{op.name} changed its input {i}")


@pytest.mark.parametrize("op", DIFFERENTIABLE, ids=_ids(DIFFERENTIABLE))
@given(data=st.data())
def test_gradcheck(op, data):
    sample = data.draw(op.inputs, label="sample")
    assert_gradcheck(lambda *ts: op.fn(*ts, **sample.kwargs), *sample.arrays, **op.gradcheck_tol)


@pytest.mark.parametrize("op", DIFFERENTIABLE, ids=_ids(DIFFERENTIABLE))
@given(data=st.data())
def test_gradients_match_torch(op, data, torch):
    sample = data.draw(op.inputs, label="sample")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="upstream gradient seed"))

    leaves = [md.from_numpy(a).requires_grad_() for a in sample.arrays]
    outs = [o for o in _as_list(op.fn(*leaves, **sample.kwargs)) if o.dtype.is_floating_point]
    upstream = [rng.standard_normal(tuple(o.shape)) for o in outs]
    for k, (o, g) in enumerate(zip(outs, upstream)):
        assert o.requires_grad, f"{op.name}: output {k} does not require grad though its inputs do"
        o.backward(md.tensor(g, dtype=md.float64), retain_graph=True)

    t_leaves = [_torch_copy(torch, a, requires_grad=True) for a in sample.arrays]
    t_outs = [o for o in _as_list(op.torch_fn(*t_leaves, **sample.kwargs)) if o.is_floating_point()]
    assert len(t_outs) == len(outs), f"{op.name}: {len(outs)} floating outputs, torch gives {len(t_outs)}"
    pairs = [(o, torch.from_numpy(g)) for o, g in zip(t_outs, upstream) if o.requires_grad]
    if pairs:
        torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])

    for i, (leaf, t_leaf, a) in enumerate(zip(leaves, t_leaves, sample.arrays)):
        if leaf.grad is None:
            got = np.zeros(a.shape)
        else:
            assert tuple(leaf.grad.shape) == a.shape, f"{op.name}: grad of input {i} has shape {leaf.grad.shape}"
            assert leaf.grad.dtype == md.float64, f"{op.name}: grad of input {i} is {leaf.grad.dtype}"
            got = leaf.grad.numpy()
        want = np.zeros(a.shape) if t_leaf.grad is None else t_leaf.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=op.rtol, atol=op.atol, err_msg=f"{op.name}: grad of input {i}")


@pytest.mark.parametrize("op", WITH_ALIASES, ids=_ids(WITH_ALIASES))
@given(data=st.data())
def test_aliases_agree(op, data):
    sample = data.draw(op.inputs, label="sample")
    tensors = [md.from_numpy(a) for a in sample.arrays]
    want = [o.numpy() for o in _as_list(op.fn(*tensors, **sample.kwargs))]
    for k, alias in enumerate(op.aliases):
        label = f"{op.name}: spelling {k} ({alias.__name__})"
        got = _as_list(alias(*tensors, **sample.kwargs))
        assert len(got) == len(want), f"{label}: {len(got)} outputs instead of {len(want)}"
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype, f"{label}: {g.shape} {g.dtype} vs {w.shape} {w.dtype}"
            np.testing.assert_allclose(g.numpy(), w, rtol=1e-12, atol=0, equal_nan=True, err_msg=label)


@pytest.mark.parametrize("op", NON_DIFFERENTIABLE, ids=_ids(NON_DIFFERENTIABLE))
@given(data=st.data())
def test_nondifferentiable_outputs_need_no_grad(op, data):
    sample = data.draw(op.inputs, label="sample")
    leaves = [md.from_numpy(a).requires_grad_() for a in sample.arrays]
    for k, o in enumerate(_as_list(op.fn(*leaves, **sample.kwargs))):
        assert not o.requires_grad, f"{op.name}: output {k} ({o.dtype}) requires grad"
        assert not o.dtype.is_floating_point, f"{op.name}: output {k} is {o.dtype}, expected bool or int64"


@pytest.mark.parametrize("name", ["max", "min"])
@given(values=st.lists(st.integers(-2, 2), min_size=1, max_size=24), data=st.data())
def test_full_max_min_share_the_gradient_among_ties_as_torch(name, values, data, torch):
    # the op table draws distinct values (ties are not differentiable, so no gradcheck); here ties are the point:
    # the whole-tensor max/min gives each tied element an equal share of the gradient, as PyTorch does
    a = np.array(values, dtype=np.float64)
    a = a.reshape(data.draw(st.sampled_from([(a.size,), (1, a.size)]), label="shape"))
    x, tx = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    getattr(x, name)().backward(md.tensor(3.0, dtype=md.float64))
    getattr(tx, name)().backward(torch.tensor(3.0, dtype=torch.float64))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    assert x.grad.numpy().sum() == pytest.approx(3.0)
