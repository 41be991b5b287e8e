"""F.scaled_dot_product_attention against PyTorch: values and gradients on hypothesis-drawn shapes, masks (bool and
additive, every broadcast pattern), causal flags, scales and grouped query heads, under every provider that has the
attention kernels; float64 gradchecks; double backward; dropout; fully masked rows; clear errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl import backends

torch = pytest.importorskip("torch")
TF = torch.nn.functional
F = md.nn.functional

PROVIDERS = [p for p, why in backends.available().items()
             if why is None and backends.DEVICE_OF_PROVIDER[p] == "cpu"
             and getattr(backends._load(p), "attention", None) is not None]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _run_both(rng, q_shape, k_shape, v_shape, mask=None, dtype=np.float64, **kw):
    """(minidl output, torch output, [(minidl grad, torch grad) for q, k, v]) for the same random operands."""
    arrays = [rng.standard_normal(s).astype(dtype) for s in (q_shape, k_shape, v_shape)]
    kw_md = dict(kw)
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    mt = [md.tensor(a, requires_grad=True) for a in arrays]
    tmask = None if mask is None else torch.tensor(mask)
    if mask is not None and kw.get("is_causal"):    # torch refuses both with grads; minidl applies both
        seen = torch.ones(q_shape[-2], k_shape[-2], dtype=torch.bool).tril()
        tmask = tmask & seen if tmask.dtype == torch.bool else tmask.masked_fill(~seen, float("-inf"))
        kw = dict(kw, is_causal=False)
    want = TF.scaled_dot_product_attention(*tt, attn_mask=tmask, **kw)
    got = F.scaled_dot_product_attention(*mt, attn_mask=None if mask is None else md.tensor(mask), **kw_md)
    g = rng.standard_normal(want.shape).astype(dtype)
    want.backward(torch.tensor(g))
    got.backward(md.tensor(g))
    return got, want, [(m.grad, t.grad) for m, t in zip(mt, tt)]


def _assert_matches(got, want, grads, dtype):
    assert got.shape == tuple(want.shape) and got.dtype.np == dtype
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), **TOL[dtype])
    for name, (m, t) in zip("qkv", grads):
        assert m is not None, f"no gradient for {name}"
        np.testing.assert_allclose(m.numpy(), t.numpy(), **TOL[dtype], err_msg=f"grad {name}")


@st.composite
def _cases(draw):
    lead = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=3)))
    L, S, E, Ev = (draw(st.integers(1, 9)) for _ in range(4))
    kind = draw(st.sampled_from(["none", "bool", "float"]))
    mask_shape = None
    if kind != "none":      # each axis of the scores' shape either kept or broadcast (1), leading axes droppable
        full = lead + (L, S)
        keep = [draw(st.booleans()) for _ in full]
        mask_shape = tuple(d if k else 1 for d, k in zip(full, keep))[draw(st.integers(0, len(lead))):]
    return dict(lead=lead, L=L, S=S, E=E, Ev=Ev, kind=kind, mask_shape=mask_shape, causal=draw(st.booleans()),
                scale=draw(st.sampled_from([None, 0.3, 2.0])), seed=draw(st.integers(0, 2**16)))


def _mask(rng, c, dtype):
    if c["kind"] == "bool":
        return rng.random(c["mask_shape"]) > 0.3
    if c["kind"] == "float":
        m = rng.standard_normal(c["mask_shape"]).astype(dtype)
        m[rng.random(c["mask_shape"]) < 0.2] = -np.inf
        return m
    return None


@pytest.mark.parametrize("provider", PROVIDERS)
@settings(max_examples=40, deadline=None)
@given(c=_cases())
def test_matches_torch_on_drawn_shapes_masks_and_flags(provider, c):
    rng = np.random.default_rng(c["seed"])
    lead = c["lead"]
    with backends.use(provider):
        got, want, grads = _run_both(rng, lead + (c["L"], c["E"]), lead + (c["S"], c["E"]), lead + (c["S"], c["Ev"]),
                                     _mask(rng, c, np.float64), is_causal=c["causal"], scale=c["scale"])
    _assert_matches(got, want, grads, np.float64)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("causal", [False, True])
def test_float32_matches_torch(provider, causal):
    rng = np.random.default_rng(1)
    mask = rng.random((2, 1, 33, 47)) > 0.2
    with backends.use(provider):
        got, want, grads = _run_both(rng, (2, 3, 33, 16), (2, 3, 47, 16), (2, 3, 47, 24), mask, np.float32,
                                     is_causal=causal)
    _assert_matches(got, want, grads, np.float32)


@pytest.mark.parametrize("heads", [(4, 2), (6, 1), (4, 4)])
def test_grouped_query_heads_match_torch(heads):
    rng = np.random.default_rng(2)
    hq, hk = heads
    got, want, grads = _run_both(rng, (2, hq, 5, 4), (2, hk, 7, 4), (2, hk, 7, 3), is_causal=True, enable_gqa=True)
    _assert_matches(got, want, grads, np.float64)


def test_gradcheck_float64_with_mask_and_causal():
    rng = np.random.default_rng(3)
    q, k, v = (md.tensor(rng.standard_normal(s), requires_grad=True) for s in ((2, 2, 4, 3), (2, 2, 6, 3), (2, 2, 6, 5)))
    mask = md.tensor(rng.standard_normal((1, 2, 4, 6)))
    assert md.autograd.gradcheck(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=mask, is_causal=True, scale=0.7), (q, k, v))


def test_gradient_of_a_float_mask_matches_torch():
    rng = np.random.default_rng(4)
    q, k, v = (rng.standard_normal((2, 2, 4, 3)) for _ in range(3))
    m = rng.standard_normal((4, 4))
    tm, mm = torch.tensor(m, requires_grad=True), md.tensor(m, requires_grad=True)
    TF.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)), attn_mask=tm).pow(2).sum().backward()
    F.scaled_dot_product_attention(*map(md.tensor, (q, k, v)), attn_mask=mm).pow(2).sum().backward()
    np.testing.assert_allclose(mm.grad.numpy(), tm.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_double_backward_matches_torch_composition():
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal((2, 2, 5, 4)) for _ in range(3)]
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in arrays)
    mq, mk, mv = (md.tensor(a, requires_grad=True) for a in arrays)
    causal = ~torch.ones(5, 5, dtype=torch.bool).tril()
    want = torch.softmax((tq @ tk.transpose(-2, -1) / 2).masked_fill(causal, float("-inf")), -1) @ tv
    got = F.scaled_dot_product_attention(mq, mk, mv, is_causal=True)
    (tg,) = torch.autograd.grad(want.pow(2).sum(), tq, create_graph=True)
    (mg,) = md.autograd.grad(got.pow(2).sum(), mq, create_graph=True)
    tg.pow(2).sum().backward()
    mg.pow(2).sum().backward()
    np.testing.assert_allclose(mg.numpy(), tg.detach().numpy(), rtol=1e-10, atol=1e-12)
    for m, t in ((mq, tq), (mk, tk), (mv, tv)):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_rows_that_see_no_key_give_zero_and_zero_gradients():
    rng = np.random.default_rng(6)
    mask = np.ones((3, 5), dtype=bool)
    mask[1] = False
    got, want, grads = _run_both(rng, (2, 3, 4), (2, 5, 4), (2, 5, 4), mask)
    _assert_matches(got, want, grads, np.float64)
    assert not got.numpy()[:, 1].any() and not grads[0][0].numpy()[:, 1].any()
    # no key at all: zeros, and finite gradients
    q = md.randn(2, 3, 4, requires_grad=True, dtype=md.float64)
    out = F.scaled_dot_product_attention(q, md.randn(2, 0, 4, dtype=md.float64), md.randn(2, 0, 6, dtype=md.float64))
    assert out.shape == (2, 3, 6) and not out.numpy().any()
    out.sum().backward()
    assert not q.grad.numpy().any()


def test_fused_kernel_runs_and_the_score_matrix_is_not_an_autograd_node():
    q = md.randn(1, 2, 64, 8, requires_grad=True)
    with backends.trace() as log:
        out = F.scaled_dot_product_attention(q, q, q, is_causal=True)
        out.sum().backward()
    kernels = [r.kernel for r in log]
    assert "attention" in kernels and "attention_backward" in kernels
    assert "matmul" not in kernels and "softmax" not in kernels


def test_dropout_keeps_the_expected_value_and_zeroes_at_one():
    rng = np.random.default_rng(7)
    q, k, v = (md.tensor(rng.standard_normal((1, 1, 3, 4))) for _ in range(3))
    plain = F.scaled_dot_product_attention(q, k, v).numpy()
    md.manual_seed(0)
    runs = np.mean([F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy() for _ in range(3000)], axis=0)
    np.testing.assert_allclose(runs, plain, atol=0.08)
    assert np.abs(F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy() - plain).max() > 1e-3
    assert not F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy().any()


@pytest.mark.parametrize("call, message", [
    (lambda q: F.scaled_dot_product_attention(q, q[..., :3], q), "same embedding size"),
    (lambda q: F.scaled_dot_product_attention(q, q, q[..., :4, :]), "same sequence length"),
    (lambda q: F.scaled_dot_product_attention(q, q, q[0]), "same number of dimensions"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, attn_mask=md.ones(4, 5, dtype=md.bool)), "does not broadcast"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, attn_mask=md.ones(5, 5, dtype=md.int64)), "bool or"),
    (lambda q: F.scaled_dot_product_attention(q, q, q, dropout_p=1.5), "dropout_p"),
    (lambda q: F.scaled_dot_product_attention(q, q[:, :2], q[:, :2], enable_gqa=True), "multiple"),
    (lambda q: F.scaled_dot_product_attention(q, q.numpy(), q), "must be a Tensor"),
    (lambda q: F.scaled_dot_product_attention(q.long(), q.long(), q.long()), "floating"),
])
def test_bad_input_is_a_clear_error(call, message):
    q = md.randn(2, 3, 5, 6)
    with pytest.raises((ValueError, TypeError), match=message) as err:
        call(q)
    assert "scaled_dot_product_attention" in str(err.value)


def test_a_key_padding_mask_reaches_the_kernel_as_one_row_per_batch():
    rng = np.random.default_rng(8)
    q = md.tensor(rng.standard_normal((2, 4, 64, 8)))
    pad = md.tensor(rng.random((2, 1, 1, 64)) > 0.2)
    with backends.trace() as log:
        got = F.scaled_dot_product_attention(q, q, q, attn_mask=pad)
    (record,) = [r for r in log if r.kernel == "attention"]
    assert (2, 1, 1, 64) in record.shapes        # not broadcast to (2, 1, 64, 64)
    want = TF.scaled_dot_product_attention(*(torch.tensor(q.numpy()),) * 3, attn_mask=torch.tensor(pad.numpy()))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
