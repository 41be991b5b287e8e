"""nn.MultiheadAttention, the Transformer layers and F.multi_head_attention_forward against torch.nn with copied
weights: outputs, the gradients of every input and parameter, masks, layouts, unbatched inputs, state-dict names,
float64 gradchecks and the errors for bad shapes."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.testing import assert_gradcheck

torch = pytest.importorskip("torch")
# torch's own warnings: its nested-tensor fast path, and its deprecation of a bool key padding mask beside a float
# attention mask (a combination minidl supports without a warning)
pytestmark = [pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
              pytest.mark.filterwarnings("ignore:Support for mismatched")]

TOL = {np.float64: (1e-9, 1e-10), np.float32: (2e-4, 2e-5)}
MD_DT = {np.float64: md.float64, np.float32: md.float32}
T_DT = {np.float64: torch.float64, np.float32: torch.float32}


def _pair(tm, mm, dtype):
    """Put both modules in ``dtype`` and eval mode, with tm's weights copied into mm through NumPy."""
    tm.to(T_DT[dtype]).eval()
    mm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    mm.to(MD_DT[dtype]).eval()
    assert list(mm.state_dict()) == list(tm.state_dict())
    return tm, mm


def _compare(tm, mm, arrays, call, dtype=np.float64, seed=0, tol=None):
    """Run ``call(module, lib, *inputs)`` on both libraries with the same float inputs (masks are passed through
    ``call``), back-propagate one random upstream gradient into every output and compare outputs, input gradients
    and every parameter's gradient."""
    rtol, atol = tol or TOL[dtype]
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    ti = [torch.tensor(a, requires_grad=True) for a in arrays]
    mi = [md.tensor(a, requires_grad=True) for a in arrays]
    to, mo = call(tm, torch, *ti), call(mm, md, *mi)
    to = to if isinstance(to, tuple) else (to,)
    mo = mo if isinstance(mo, tuple) else (mo,)
    rng = np.random.default_rng(seed)
    tloss, mloss = 0, 0
    for i, (a, b) in enumerate(zip(to, mo)):
        assert (a is None) == (b is None), f"output {i}: torch gives {a}, minidl {b}"
        if a is None:
            continue
        assert tuple(b.shape) == tuple(a.shape), f"output {i}: shape {b.shape}, torch {tuple(a.shape)}"
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"output {i}")
        g = rng.standard_normal(tuple(a.shape)).astype(dtype)
        tloss = tloss + (a * torch.tensor(g)).sum()
        mloss = mloss + (b * md.tensor(g)).sum()
    tloss.backward()
    mloss.backward()
    for i, (a, b) in enumerate(zip(ti, mi)):
        if a.grad is None:
            assert b.grad is None or not np.any(b.grad.numpy()), f"input {i}"
        else:
            np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"grad of input {i}")
    tparams = dict(tm.named_parameters())
    assert [n for n, _ in mm.named_parameters()] == list(tparams)
    for n, p in mm.named_parameters():
        if tparams[n].grad is None:
            assert p.grad is None or not np.any(p.grad.numpy()), n
        else:
            np.testing.assert_allclose(p.grad.numpy(), tparams[n].grad.numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"grad of {n}")
    return to, mo


def _lib_tensor(lib, a):
    return torch.tensor(a) if lib is torch else md.tensor(a)


# ---------------------------------------------------------------------------------------------- MultiheadAttention

MHA_CONFIGS = [
    ({}, "default"), ({"batch_first": True}, "batch_first"), ({"kdim": 5, "vdim": 3}, "kdim_vdim"),
    ({"add_bias_kv": True}, "bias_kv"), ({"add_zero_attn": True}, "zero_attn"),
    ({"add_bias_kv": True, "add_zero_attn": True, "kdim": 6, "vdim": 6}, "bias_kv_zero_attn_kdim"),
    ({"bias": False}, "no_bias"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("need_weights", [True, False], ids=["weights", "fused"])
@pytest.mark.parametrize("kw,name", MHA_CONFIGS, ids=[c[1] for c in MHA_CONFIGS])
def test_mha_cross_attention_matches_torch(kw, name, need_weights, dtype):
    torch.manual_seed(0)
    E, H, L, S, N = 8, 2, 4, 6, 3
    tm, mm = _pair(torch.nn.MultiheadAttention(E, H, **kw), md.nn.MultiheadAttention(E, H, **kw), dtype)
    kd, vd = kw.get("kdim", E), kw.get("vdim", E)
    shape = (lambda s, d: (N, s, d)) if kw.get("batch_first") else (lambda s, d: (s, N, d))
    r = np.random.default_rng(1)
    arrays = [r.standard_normal(shape(L, E)), r.standard_normal(shape(S, kd)), r.standard_normal(shape(S, vd))]
    _compare(tm, mm, arrays, lambda m, lib, q, k, v: m(q, k, v, need_weights=need_weights), dtype)


@pytest.mark.parametrize("average", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_self_attention_one_tensor_and_per_head_weights(batch_first, average):
    torch.manual_seed(1)
    tm, mm = _pair(torch.nn.MultiheadAttention(12, 3, batch_first=batch_first),
                   md.nn.MultiheadAttention(12, 3, batch_first=batch_first), np.float64)
    x = np.random.default_rng(2).standard_normal((2, 5, 12) if batch_first else (5, 2, 12))
    to, mo = _compare(tm, mm, [x], lambda m, lib, a: m(a, a, a, average_attn_weights=average))
    assert tuple(mo[1].shape) == ((2, 5, 5) if average else (2, 3, 5, 5))


def _masks(kind, N, H, L, S, r):
    """attn_mask and key_padding_mask arrays (NumPy) of one kind; the key padding leaves every row a key."""
    causal_bool = np.triu(np.ones((L, S), dtype=bool), 1)
    kpm = np.zeros((N, S), dtype=bool)
    kpm[0, S - 2:] = True
    kpm[-1, :1] = True
    return {
        "bool2d": ((r.random((L, S)) < 0.3) & ~np.eye(L, S, dtype=bool), None),
        "float2d": (r.standard_normal((L, S)), None),
        "float3d": (r.standard_normal((N * H, L, S)), None),
        "bool3d": ((r.random((N * H, L, S)) < 0.3) & ~np.eye(L, S, dtype=bool)[None], None),
        "kpm_bool": (None, kpm),
        "kpm_float": (None, np.where(kpm, -1e9, r.standard_normal((N, S)))),
        "causal_and_kpm": (np.where(causal_bool, -np.inf, 0.0), kpm),
        "bool_both": (causal_bool, kpm),
    }[kind]


MASK_KINDS = ["bool2d", "float2d", "float3d", "bool3d", "kpm_bool", "kpm_float", "causal_and_kpm", "bool_both"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("need_weights", [True, False], ids=["weights", "fused"])
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_mha_masks_match_torch(kind, need_weights, dtype):
    torch.manual_seed(3)
    E, H, L, S, N = 8, 2, 5, 5, 3
    tm, mm = _pair(torch.nn.MultiheadAttention(E, H), md.nn.MultiheadAttention(E, H), dtype)
    r = np.random.default_rng(4)
    am, kpm = (m if m is None or m.dtype == bool else m.astype(dtype) for m in _masks(kind, N, H, L, S, r))

    def call(m, lib, q, k, v):
        return m(q, k, v, need_weights=need_weights, attn_mask=None if am is None else _lib_tensor(lib, am),
                 key_padding_mask=None if kpm is None else _lib_tensor(lib, kpm))

    arrays = [r.standard_normal((L, N, E)), r.standard_normal((S, N, E)), r.standard_normal((S, N, E))]
    _compare(tm, mm, arrays, call, dtype)


@pytest.mark.parametrize("with_kpm", [False, True])
@pytest.mark.parametrize("need_weights", [True, False], ids=["weights", "fused"])
def test_mha_is_causal_hint_with_its_mask(need_weights, with_kpm):
    torch.manual_seed(5)
    tm, mm = _pair(torch.nn.MultiheadAttention(8, 4, batch_first=True),
                   md.nn.MultiheadAttention(8, 4, batch_first=True), np.float64)
    L = 6
    mask = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64).numpy()
    kpm = np.zeros((2, L), dtype=bool)
    kpm[1, 2] = True                    # key 0 stays: every causal row keeps a key

    def call(m, lib, x):
        return m(x, x, x, attn_mask=_lib_tensor(lib, mask), is_causal=True, need_weights=need_weights,
                 key_padding_mask=_lib_tensor(lib, kpm) if with_kpm else None)

    _compare(tm, mm, [np.random.default_rng(6).standard_normal((2, L, 8))], call)


@pytest.mark.parametrize("mask", [None, "2d", "3d"])
@pytest.mark.parametrize("need_weights", [True, False], ids=["weights", "fused"])
def test_mha_unbatched_input(need_weights, mask):
    torch.manual_seed(7)
    E, H, L, S = 6, 3, 4, 5
    tm, mm = _pair(torch.nn.MultiheadAttention(E, H, kdim=4, vdim=2), md.nn.MultiheadAttention(E, H, kdim=4, vdim=2),
                   np.float64)
    r = np.random.default_rng(8)
    am = {None: None, "2d": r.random((L, S)) < 0.3, "3d": r.standard_normal((H, L, S))}[mask]
    kpm = np.array([False, True, False, False, False])

    def call(m, lib, q, k, v):
        return m(q, k, v, need_weights=need_weights, key_padding_mask=_lib_tensor(lib, kpm),
                 attn_mask=None if am is None else _lib_tensor(lib, am))

    to, mo = _compare(tm, mm, [r.standard_normal((L, E)), r.standard_normal((S, 4)), r.standard_normal((S, 2))],
                      call)
    assert tuple(mo[0].shape) == (L, E)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 3), L=st.integers(1, 5), S=st.integers(1, 5), H=st.integers(1, 3), hd=st.integers(1, 4),
       batch_first=st.booleans(), need_weights=st.booleans(), mask=st.sampled_from([None, "float", "bool", "kpm"]),
       seed=st.integers(0, 2 ** 16))
def test_mha_drawn_sizes_match_torch(N, L, S, H, hd, batch_first, need_weights, mask, seed):
    torch.manual_seed(seed)
    E = H * hd
    tm, mm = _pair(torch.nn.MultiheadAttention(E, H, batch_first=batch_first),
                   md.nn.MultiheadAttention(E, H, batch_first=batch_first), np.float64)
    r = np.random.default_rng(seed)
    am = kpm = None
    if mask == "float":
        am = r.standard_normal((L, S))
    elif mask == "bool":
        am = r.random((L, S)) < 0.4
        am[:, 0] = False                # every query keeps one key (a fully masked row is NaN in torch's weights)
    elif mask == "kpm":
        kpm = r.random((N, S)) < 0.4
        kpm[:, 0] = False
    shape = (lambda s: (N, s, E)) if batch_first else (lambda s: (s, N, E))

    def call(m, lib, q, k, v):
        return m(q, k, v, need_weights=need_weights, attn_mask=None if am is None else _lib_tensor(lib, am),
                 key_padding_mask=None if kpm is None else _lib_tensor(lib, kpm))

    _compare(tm, mm, [r.standard_normal(shape(L)), r.standard_normal(shape(S)), r.standard_normal(shape(S))], call)


def test_mha_fully_masked_query_row():
    """A query whose every key is padded: the fused path gives 0 before out_proj (PyTorch's CPU result) and no NaN
    gradient; the weights path gives softmax's NaN, as torch's."""
    torch.manual_seed(9)
    tm, mm = _pair(torch.nn.MultiheadAttention(4, 2), md.nn.MultiheadAttention(4, 2), np.float64)
    kpm = np.array([[True, True, True], [False, True, False]])
    x = np.random.default_rng(10).standard_normal((3, 2, 4))
    _compare(tm, mm, [x], lambda m, lib, a: m(a, a, a, key_padding_mask=_lib_tensor(lib, kpm), need_weights=False))
    out, w = mm(md.tensor(x), md.tensor(x), md.tensor(x), key_padding_mask=md.tensor(kpm))
    tout, tw = tm(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kpm))
    np.testing.assert_array_equal(np.isnan(out.numpy()), np.isnan(tout.detach().numpy()))
    np.testing.assert_array_equal(np.isnan(w.numpy()), np.isnan(tw.detach().numpy()))


def test_mha_parameters_names_shapes_and_init():
    for kw in ({}, {"kdim": 3, "vdim": 5}, {"add_bias_kv": True}, {"bias": False}):
        t, m = torch.nn.MultiheadAttention(8, 2, **kw), md.nn.MultiheadAttention(8, 2, **kw)
        assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == \
            {k: tuple(v.shape) for k, v in t.state_dict().items()}
        assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
        assert repr(m) == repr(t)
    m = md.nn.MultiheadAttention(8, 2, add_bias_kv=True)
    bound = math.sqrt(6 / (8 + 24))     # xavier_uniform of the (3E, E) packed weight
    w = m.in_proj_weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > bound / 2
    assert not np.any(m.in_proj_bias.numpy()) and not np.any(m.out_proj.bias.numpy())
    assert np.any(m.bias_k.numpy()) and m.bias_k.shape == (1, 1, 8)
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear" and isinstance(m.out_proj, md.nn.Linear)
    assert (m.embed_dim, m.num_heads, m.head_dim, m.kdim, m.vdim, m.batch_first) == (8, 2, 4, 8, 8, False)


def test_mha_dropout_applies_only_in_training():
    md.manual_seed(0)
    m = md.nn.MultiheadAttention(8, 2, dropout=1.0)
    x = md.randn(4, 2, 8)
    for need_weights in (True, False):
        out = m(x, x, x, need_weights=need_weights)[0]     # every attention weight dropped: only out_proj's bias
        np.testing.assert_allclose(out.numpy(), np.broadcast_to(m.out_proj.bias.numpy(), (4, 2, 8)), atol=1e-6)
        m.eval()
        assert np.abs(m(x, x, x, need_weights=need_weights)[0].numpy()).max() > 1e-3
        m.train()
    m = md.nn.MultiheadAttention(8, 2, dropout=0.5)
    a, b = m(x, x, x)[0].numpy(), m(x, x, x)[0].numpy()
    assert not np.allclose(a, b)


def test_mha_gradcheck_float64():
    m = md.nn.MultiheadAttention(6, 2, kdim=4, vdim=3, add_bias_kv=True, add_zero_attn=True).double()
    r = np.random.default_rng(11)
    am = md.tensor(r.standard_normal((3, 5)))
    kpm = md.tensor(np.array([[False, True, False, False, False], [False] * 5]))
    for nw in (True, False):
        assert_gradcheck(lambda q, k, v, nw=nw: m(q, k, v, attn_mask=am, key_padding_mask=kpm, need_weights=nw)[0],
                         r.standard_normal((3, 2, 6)), r.standard_normal((5, 2, 4)), r.standard_normal((5, 2, 3)))


def test_multi_head_attention_forward_gradcheck_over_every_weight():
    r = np.random.default_rng(12)
    E, H = 4, 2
    am = r.random((3, 4)) < 0.3
    am[:, 0] = False
    am = md.tensor(am)

    def fn(x, mem, w_in, b_in, w_out, b_out, bias_k, bias_v):
        return md.nn.functional.multi_head_attention_forward(
            x, mem, mem, E, H, w_in, b_in, bias_k, bias_v, False, 0.0, w_out, b_out, attn_mask=am,
            need_weights=False)[0]

    assert_gradcheck(fn, r.standard_normal((3, 2, E)), r.standard_normal((4, 2, E)), r.standard_normal((3 * E, E)),
                     r.standard_normal(3 * E), r.standard_normal((E, E)), r.standard_normal(E),
                     r.standard_normal((1, 1, E)), r.standard_normal((1, 1, E)))


@pytest.mark.parametrize("need_weights", [True, False])
def test_multi_head_attention_forward_matches_torch(need_weights):
    r = np.random.default_rng(13)
    E, H, L, S, N = 6, 3, 4, 5, 2
    w = [r.standard_normal(s) for s in ((L, N, E), (S, N, E), (S, N, E), (3 * E, E), (3 * E,), (E, E), (E,))]
    static_k, static_v = r.standard_normal((N * H, S, E // H)), r.standard_normal((N * H, S, E // H))
    sep = [r.standard_normal((E, E)) for _ in range(3)]
    for extra in ({}, {"use_separate_proj_weight": True}, {"static_k": static_k, "static_v": static_v}):
        res = []
        for lib, F in ((torch, torch.nn.functional), (md, md.nn.functional)):
            t = [_lib_tensor(lib, a) for a in w]
            kw = {k: _lib_tensor(lib, v) if isinstance(v, np.ndarray) else v for k, v in extra.items()}
            if extra.get("use_separate_proj_weight"):
                kw.update(q_proj_weight=_lib_tensor(lib, sep[0]), k_proj_weight=_lib_tensor(lib, sep[1]),
                          v_proj_weight=_lib_tensor(lib, sep[2]))
            out = F.multi_head_attention_forward(t[0], t[1], t[2], E, H, t[3], t[4], None, None, False, 0.0, t[5],
                                                 t[6], need_weights=need_weights, **kw)
            res.append([None if o is None else np.asarray(o.detach().numpy()) for o in out])
        for a, b in zip(*res):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def test_mha_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"MultiheadAttention: embed_dim 10 must be divisible by num_heads 3"):
        md.nn.MultiheadAttention(10, 3)
    m = md.nn.MultiheadAttention(8, 2)
    x = md.randn(4, 2, 8)
    with pytest.raises(ValueError, match=r"2-D attn_mask should have shape \(4, 4\) \(L, S\), got \(4, 5\)"):
        m(x, x, x, attn_mask=md.zeros(4, 5))
    with pytest.raises(ValueError, match=r"3-D attn_mask should have shape \(4, 4, 4\) \(N\*num_heads, L, S\)"):
        m(x, x, x, attn_mask=md.zeros(2, 4, 4))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(2, 4\) \(N, S\), got \(4, 2\)"):
        m(x, x, x, key_padding_mask=md.zeros(4, 2, dtype=md.bool))
    with pytest.raises(ValueError, match=r"query must be an unbatched 2-D or a batched 3-D tensor, got shape"):
        m(md.randn(1, 4, 2, 8), x, x)
    with pytest.raises(ValueError, match=r"must all end in embed_dim 8"):
        m(x, md.randn(4, 2, 6), md.randn(4, 2, 6))
    with pytest.raises(ValueError, match=r"key .* and value .* must agree in batch and sequence length"):
        m(x, md.randn(4, 2, 8), md.randn(5, 2, 8))
    with pytest.raises(RuntimeError, match=r"is_causal is a hint .* pass attn_mask too"):
        m(x, x, x, is_causal=True)
    with pytest.raises(TypeError, match=r"only bool and floating attn_mask are supported, got attn_mask of dtype"):
        m(x, x, x, attn_mask=md.zeros(4, 4, dtype=md.int64))
    with pytest.raises(ValueError, match=r"an unbatched \(2-D\) query needs 2-D key and value, got query \(4, 8\)"):
        m(md.randn(4, 8), x, x)


# ------------------------------------------------------------------------------------------- the Transformer layers

def _layer_kw(batch_first, norm_first, activation="relu"):
    return dict(d_model=8, nhead=2, dim_feedforward=12, dropout=0.0, batch_first=batch_first, norm_first=norm_first,
                activation=activation)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post", "pre"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq", "bf"])
def test_encoder_layer_matches_torch(batch_first, norm_first, activation, dtype):
    torch.manual_seed(20)
    kw = _layer_kw(batch_first, norm_first, activation)
    tm, mm = _pair(torch.nn.TransformerEncoderLayer(**kw), md.nn.TransformerEncoderLayer(**kw), dtype)
    r = np.random.default_rng(21)
    x = r.standard_normal((3, 5, 8) if batch_first else (5, 3, 8))
    kpm = np.zeros((3, 5), dtype=bool)
    kpm[1, 3:] = True
    mask = r.standard_normal((5, 5)).astype(dtype)

    def call(m, lib, a):
        return m(a, src_mask=_lib_tensor(lib, mask), src_key_padding_mask=_lib_tensor(lib, kpm))

    _compare(tm, mm, [x], call, dtype)
    _compare(tm, mm, [x], lambda m, lib, a: m(a), dtype)


def test_encoder_layer_callable_activation_and_bias_false():
    torch.manual_seed(22)
    tm = torch.nn.TransformerEncoderLayer(8, 2, 12, 0.0, activation=torch.nn.functional.silu, bias=False)
    mm = md.nn.TransformerEncoderLayer(8, 2, 12, 0.0, activation=md.nn.functional.silu, bias=False)
    _pair(tm, mm, np.float64)
    _compare(tm, mm, [np.random.default_rng(23).standard_normal((5, 2, 8))], lambda m, lib, a: m(a))
    tm = torch.nn.TransformerEncoderLayer(8, 2, 12, 0.0, activation=torch.nn.GELU())   # a Module: a submodule
    mm = md.nn.TransformerEncoderLayer(8, 2, 12, 0.0, activation=md.nn.GELU())
    _pair(tm, mm, np.float64)
    assert dict(mm.named_children()).keys() == dict(tm.named_children()).keys()
    _compare(tm, mm, [np.random.default_rng(24).standard_normal((5, 2, 8))], lambda m, lib, a: m(a))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post", "pre"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq", "bf"])
def test_decoder_layer_matches_torch(batch_first, norm_first, dtype):
    torch.manual_seed(25)
    kw = _layer_kw(batch_first, norm_first, "gelu")
    tm, mm = _pair(torch.nn.TransformerDecoderLayer(**kw), md.nn.TransformerDecoderLayer(**kw), dtype)
    r = np.random.default_rng(26)
    T, S, N = 4, 6, 2
    tgt = r.standard_normal((N, T, 8) if batch_first else (T, N, 8))
    mem = r.standard_normal((N, S, 8) if batch_first else (S, N, 8))
    causal = np.triu(np.ones((T, T), dtype=bool), 1)
    mkpm = np.zeros((N, S), dtype=bool)
    mkpm[0, 4:] = True

    def call(m, lib, a, b):
        return m(a, b, tgt_mask=_lib_tensor(lib, causal), memory_key_padding_mask=_lib_tensor(lib, mkpm),
                 tgt_is_causal=True, memory_mask=_lib_tensor(lib, np.zeros((T, S), dtype)))

    _compare(tm, mm, [tgt, mem], call, dtype)


@pytest.mark.parametrize("norm", [False, True])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq", "bf"])
def test_encoder_stack_detects_the_causal_mask_and_matches_torch(batch_first, norm):
    torch.manual_seed(27)
    kw = _layer_kw(batch_first, False)
    tl, ml = torch.nn.TransformerEncoderLayer(**kw), md.nn.TransformerEncoderLayer(**kw)
    tm = torch.nn.TransformerEncoder(tl, 3, norm=torch.nn.LayerNorm(8) if norm else None, enable_nested_tensor=False)
    mm = md.nn.TransformerEncoder(ml, 3, norm=md.nn.LayerNorm(8) if norm else None)
    _pair(tm, mm, np.float64)
    assert mm.layers[0] is not mm.layers[1] and mm.layers[0].linear1.weight is not mm.layers[1].linear1.weight
    L = 7
    causal = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64).numpy()
    x = np.random.default_rng(28).standard_normal((2, L, 8) if batch_first else (L, 2, 8))
    kpm = np.zeros((2, L), dtype=bool)
    kpm[1, 5:] = True
    calls = [lambda m, lib, a: m(a, mask=_lib_tensor(lib, causal)),
             lambda m, lib, a: m(a, mask=_lib_tensor(lib, causal), is_causal=True),
             lambda m, lib, a: m(a, mask=_lib_tensor(lib, causal), src_key_padding_mask=_lib_tensor(lib, kpm)),
             lambda m, lib, a: m(a, src_key_padding_mask=_lib_tensor(lib, kpm.astype(np.float64) * -1e9))]
    for call in calls:
        _compare(tm, mm, [x], call)


def test_decoder_stack_matches_torch():
    torch.manual_seed(29)
    kw = _layer_kw(True, True)
    tm = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(**kw), 2, norm=torch.nn.LayerNorm(8))
    mm = md.nn.TransformerDecoder(md.nn.TransformerDecoderLayer(**kw), 2, norm=md.nn.LayerNorm(8))
    _pair(tm, mm, np.float64)
    r = np.random.default_rng(30)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64).numpy()
    tkpm = np.zeros((3, 5), dtype=bool)
    tkpm[2, 4] = True
    _compare(tm, mm, [r.standard_normal((3, 5, 8)), r.standard_normal((3, 6, 8))],
             lambda m, lib, a, b: m(a, b, tgt_mask=_lib_tensor(lib, causal), tgt_key_padding_mask=_lib_tensor(lib, tkpm)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post", "pre"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq", "bf"])
def test_transformer_matches_torch(batch_first, norm_first, dtype):
    torch.manual_seed(31)
    kw = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=16, dropout=0.0,
              batch_first=batch_first, norm_first=norm_first)
    tm, mm = _pair(torch.nn.Transformer(**kw), md.nn.Transformer(**kw), dtype)
    r = np.random.default_rng(32)
    S, T, N = 6, 5, 3
    src = r.standard_normal((N, S, 8) if batch_first else (S, N, 8))
    tgt = r.standard_normal((N, T, 8) if batch_first else (T, N, 8))
    kpm = np.zeros((N, S), dtype=bool)
    kpm[0, 4:] = True

    def call(m, lib, a, b):
        mask = type(m).generate_square_subsequent_mask(T, dtype=torch.float64 if lib is torch else md.float64)
        mask = mask.to(T_DT[dtype]) if lib is torch else mask.to(MD_DT[dtype])
        return m(a, b, tgt_mask=mask, src_key_padding_mask=_lib_tensor(lib, kpm),
                 memory_key_padding_mask=_lib_tensor(lib, kpm))

    _compare(tm, mm, [src, tgt], call, dtype)


def test_transformer_unbatched_and_custom_parts():
    torch.manual_seed(33)
    kw = dict(d_model=6, nhead=3, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=10, dropout=0.0)
    tm, mm = _pair(torch.nn.Transformer(**kw), md.nn.Transformer(**kw), np.float64)
    r = np.random.default_rng(34)
    _compare(tm, mm, [r.standard_normal((5, 6)), r.standard_normal((4, 6))],
             lambda m, lib, a, b: m(a, b, tgt_mask=type(m).generate_square_subsequent_mask(4).double()))
    enc = md.nn.TransformerEncoder(md.nn.TransformerEncoderLayer(6, 3, 10), 1)
    dec = md.nn.TransformerDecoder(md.nn.TransformerDecoderLayer(6, 3, 10), 1)
    model = md.nn.Transformer(d_model=6, nhead=3, custom_encoder=enc, custom_decoder=dec)
    assert model.encoder is enc and model.decoder is dec
    assert model(md.randn(5, 2, 6), md.randn(4, 2, 6)).shape == (4, 2, 6)


def test_transformer_state_dict_keys_and_init_match_torch():
    kw = dict(d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=3, dim_feedforward=24)
    t, m = torch.nn.Transformer(**kw), md.nn.Transformer(**kw)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in t.state_dict().items()}
    assert list(m.state_dict()) == list(t.state_dict())
    assert "encoder.layers.1.self_attn.in_proj_weight" in m.state_dict()
    assert "decoder.layers.2.multihead_attn.out_proj.bias" in m.state_dict()
    for name, p in m.named_parameters():       # Xavier-uniform on every matrix, as torch's _reset_parameters
        if p.ndim > 1:
            bound = math.sqrt(6 / sum(p.shape))
            assert np.abs(p.numpy()).max() <= bound + 1e-7, name
    lt = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2), 2, enable_nested_tensor=False)
    lm = md.nn.TransformerEncoder(md.nn.TransformerEncoderLayer(8, 2), 2)
    assert list(lm.state_dict()) == list(lt.state_dict())
    assert repr(md.nn.TransformerEncoderLayer(8, 2)) == repr(torch.nn.TransformerEncoderLayer(8, 2))


@pytest.mark.parametrize("sz", [0, 1, 4])
def test_generate_square_subsequent_mask(sz):
    m = md.nn.Transformer.generate_square_subsequent_mask(sz)
    t = torch.nn.Transformer.generate_square_subsequent_mask(sz)
    assert m.dtype == md.float32 and tuple(m.shape) == (sz, sz)
    np.testing.assert_array_equal(m.numpy(), t.numpy())
    assert md.nn.Transformer.generate_square_subsequent_mask(3, dtype=md.float64).dtype == md.float64


@settings(max_examples=20, deadline=None)
@given(N=st.integers(1, 3), S=st.integers(1, 5), T=st.integers(1, 5), H=st.integers(1, 2), hd=st.integers(1, 3),
       ff=st.integers(1, 6), batch_first=st.booleans(), norm_first=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_transformer_drawn_sizes_match_torch(N, S, T, H, hd, ff, batch_first, norm_first, seed):
    torch.manual_seed(seed)
    E = H * hd
    kw = dict(d_model=E, nhead=H, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=ff, dropout=0.0,
              batch_first=batch_first, norm_first=norm_first)
    tm, mm = _pair(torch.nn.Transformer(**kw), md.nn.Transformer(**kw), np.float64)
    r = np.random.default_rng(seed)
    src = r.standard_normal((N, S, E) if batch_first else (S, N, E))
    tgt = r.standard_normal((N, T, E) if batch_first else (T, N, E))
    _compare(tm, mm, [src, tgt], lambda m, lib, a, b: m(a, b, tgt_mask=type(m).generate_square_subsequent_mask(T)
                                                          .to(torch.float64 if lib is torch else md.float64)),
             tol=(1e-8, 1e-9))


def test_transformer_layers_gradcheck_float64():
    md.manual_seed(35)
    enc = md.nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, norm_first=True, activation="gelu").double()
    dec = md.nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0).double()
    r = np.random.default_rng(36)
    causal = md.nn.Transformer.generate_square_subsequent_mask(3, dtype=md.float64)
    assert_gradcheck(lambda x: enc(x, src_mask=causal, is_causal=True), r.standard_normal((3, 2, 4)))
    assert_gradcheck(lambda x, mem: dec(x, mem, tgt_mask=causal), r.standard_normal((3, 2, 4)),
                     r.standard_normal((4, 2, 4)))


def test_transformer_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"activation should be 'relu' or 'gelu' \(or a callable\), not 'tanh'"):
        md.nn.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(ValueError, match=r"embed_dim 8 must be divisible by num_heads 3"):
        md.nn.TransformerDecoderLayer(8, 3)
    layer = md.nn.TransformerEncoderLayer(8, 2, 16)
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer\(d_model=8\): src must be .* got shape \(5, 2, 6\)"):
        layer(md.randn(5, 2, 6))
    with pytest.raises(ValueError, match=r"2-D attn_mask should have shape \(5, 5\)"):
        layer(md.randn(5, 2, 8), src_mask=md.zeros(4, 4))
    model = md.nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(ValueError, match=r"Transformer: the batch sizes of src \(5, 2, 8\) and tgt \(4, 3, 8\)"):
        model(md.randn(5, 2, 8), md.randn(4, 3, 8))
    with pytest.raises(ValueError, match=r"must equal d_model=8"):
        model(md.randn(5, 2, 6), md.randn(4, 2, 6))
    with pytest.raises(ValueError, match=r"TransformerDecoderLayer\(d_model=8\): tgt and memory must both be"):
        md.nn.TransformerDecoderLayer(8, 2, 16)(md.randn(4, 2, 8), md.randn(5, 8))
    with pytest.raises(TypeError, match=r"TransformerEncoder: encoder_layer must be a Module"):
        md.nn.TransformerEncoder("layer", 2)


def test_transformer_trains_in_train_mode_with_dropout():
    md.manual_seed(37)
    model = md.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16,
                              dropout=0.1, batch_first=True)
    opt = md.optim.Adam(model.parameters(), lr=1e-2)
    src, tgt = md.randn(4, 6, 8), md.randn(4, 5, 8)
    mask = model.generate_square_subsequent_mask(5)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((model(src, tgt, tgt_mask=mask) - tgt) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.grad is not None for p in model.parameters())


def _subclass(lib):
    """A language model in the shape of PyTorch's word-language-model example: a Transformer subclass whose decoder
    is replaced by a Linear, run through its encoder with a log(tril(ones)) causal mask."""
    class LM(lib.nn.Transformer):
        def __init__(self):
            super().__init__(d_model=8, nhead=2, dim_feedforward=16, num_encoder_layers=2, dropout=0.0)
            self.input_emb = lib.nn.Embedding(11, 8)
            self.decoder = lib.nn.Linear(8, 11)

        def forward(self, src):
            mask = lib.log(lib.tril(lib.ones(src.shape[0], src.shape[0]))).to(self.decoder.weight.dtype)
            return lib.nn.functional.log_softmax(self.decoder(self.encoder(self.input_emb(src), mask=mask)), dim=-1)
    return LM()


def test_transformer_subclass_as_the_word_language_model_uses_it():
    torch.manual_seed(38)
    tm, mm = _pair(_subclass(torch), _subclass(md), np.float64)
    assert "decoder.weight" in mm.state_dict() and not any(k.startswith("decoder.layers") for k in mm.state_dict())
    tokens = np.random.default_rng(39).integers(0, 11, (6, 3))
    to, mo = tm(torch.tensor(tokens)), mm(md.tensor(tokens))
    np.testing.assert_allclose(mo.detach().numpy(), to.detach().numpy(), rtol=1e-9, atol=1e-10)
    (to * torch.tensor(to.detach().numpy())).sum().backward()
    (mo * md.tensor(mo.detach().numpy())).sum().backward()
    tparams = dict(tm.named_parameters())
    for n, p in mm.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[n].grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=n)


def test_causal_mask_detection_follows_torch():
    from minidl.nn.transformer import _detect_causal
    causal = md.nn.Transformer.generate_square_subsequent_mask(4)
    assert _detect_causal(causal, None, 4) and _detect_causal(md.log(md.tril(md.ones(4, 4))), None, 4)
    assert _detect_causal(causal < 0, None, 4)                  # the bool form (True = masked out)
    assert not _detect_causal(causal, False, 4)                 # an explicit flag wins
    assert _detect_causal(None, True, 4) and not _detect_causal(None, None, 4)
    assert not _detect_causal(causal, None, 5) and not _detect_causal(md.zeros(4, 4), None, 4)
    assert not _detect_causal(causal.reshape(1, 4, 4), None, 4)
