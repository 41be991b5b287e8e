"""md.keras' attention layers (MultiHeadAttention, Attention, AdditiveAttention) against Keras 3 itself.

Keras 3 (on its PyTorch backend) is the oracle: each md.keras layer gets the Keras layer's weights
(``set_weights(keras_layer.get_weights())``) and must give its outputs, attention scores, input and weight
gradients, parameter counts and configs, for self- and cross-attention, every kind of mask (attention_mask,
value/key masks, the query mask an Embedding(mask_zero=True) brings, causal, sliding windows), output_shape,
value_dim != key_dim, gates and attention over other axes. Then float64 gradchecks, dropout, the fused kernel
path, functional models (saved and loaded), fit, a keras-io style Transformer block, and the errors.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
import minidl.keras as mk
from minidl.keras.layers import multi_head_attention as mha_module
from minidl.testing import assert_gradcheck

from keras_helpers import fresh_session, keras_grads  # noqa: F401 -- fixtures
from keras_oracle import keras, to_numpy


@pytest.fixture(autouse=True)
def keras_dtype_policy_follows_floatx():
    """Keras 3.15's MultiHeadAttention fixes Keras' global dtype policy (to float32) as a side effect, after which
    ``keras.backend.set_floatx("float64")`` in later tests no longer reaches new layers; forget it after each test."""
    yield
    from keras.src.backend.common import global_state
    global_state.set_global_attribute("dtype_policy", None)

RNG = np.random.default_rng(0)
# the layers whose configs round-trip here (test_keras_layers.test_every_layer_class_has_a_config_case reads it)
ROUND_TRIPPED = ("MultiHeadAttention", "Attention", "AdditiveAttention")


def _data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _pair(cls, *args, **kwargs):
    """A Keras layer and an md.keras layer of the same class and arguments."""
    return getattr(keras.layers, cls)(*args, **kwargs), getattr(mk.layers, cls)(*args, **kwargs)


def _close(got, want, label, atol=2e-5, rtol=1e-4):
    got = got.numpy() if isinstance(got, md.Tensor) else np.asarray(got)
    want = to_numpy(want)
    assert got.shape == want.shape, f"{label}: shape {got.shape}, Keras {want.shape}"
    np.testing.assert_allclose(got, want, atol=atol, rtol=rtol, err_msg=label)


def _mha_vs_keras(layer_kwargs, query, value, key=None, grads=True, **call):
    """Build both layers, copy Keras' weights, and compare outputs, scores (when returned) and gradients."""
    kl, ml = _pair("MultiHeadAttention", **layer_kwargs)
    args = (query, value) if key is None else (query, value, key)
    kl(*args, **call)
    ml(*args, **call)
    assert [w.shape for w in ml.get_weights()] == [tuple(w.shape) for w in kl.get_weights()]
    assert ml.count_params() == kl.count_params()
    assert [n.split("/", 1)[1] for n in ml.weight_names] == [w.path.split("/", 1)[1] for w in kl.weights]
    ml.set_weights(kl.get_weights())
    tin = [torch.tensor(a, requires_grad=True) for a in args]
    min_ = [md.tensor(a, requires_grad=True) for a in args]
    kout, mout = kl(*tin, **call), ml(*min_, **call)
    if call.get("return_attention_scores"):
        _close(mout[1], kout[1], "scores")
        kout, mout = kout[0], mout[0]
    _close(mout, kout, "output")
    if grads:
        g = _data(*kout.shape, seed=9)
        (kout * torch.tensor(g)).sum().backward()
        (mout * md.tensor(g)).sum().backward()
        for t, m, name in zip(tin, min_, ("query", "value", "key")):
            _close(m.grad, t.grad, f"grad of {name}")
        for w, gm in zip(kl.weights, keras_grads(ml)):
            _close(gm, w.value.grad, f"grad of {w.path}")
    return kl, ml


# --- MultiHeadAttention against Keras -------------------------------------------------------------------------------
@pytest.mark.parametrize("layer_kwargs, call", [
    ({"num_heads": 2, "key_dim": 4}, {}),
    ({"num_heads": 3, "key_dim": 2}, {"use_causal_mask": True}),
    ({"num_heads": 2, "key_dim": 4}, {"return_attention_scores": True}),
    ({"num_heads": 2, "key_dim": 4}, {"return_attention_scores": True, "use_causal_mask": True}),
    ({"num_heads": 2, "key_dim": 3, "value_dim": 5}, {}),
    ({"num_heads": 2, "key_dim": 3, "output_shape": 7}, {}),
    ({"num_heads": 2, "key_dim": 3, "value_dim": 2, "output_shape": (3, 2)}, {"return_attention_scores": True}),
    ({"num_heads": 1, "key_dim": 6, "use_bias": False}, {}),
    ({"num_heads": 2, "key_dim": 3, "use_gate": True}, {"use_causal_mask": True}),
    ({"num_heads": 2, "key_dim": 3, "sliding_window": 2}, {}),
    ({"num_heads": 2, "key_dim": 3, "sliding_window": 2}, {"use_causal_mask": True, "return_attention_scores": True}),
])
def test_mha_self_attention_matches_keras(layer_kwargs, call):
    x = _data(2, 5, 6)
    _mha_vs_keras(layer_kwargs, x, x, **call)


@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("call", [{}, {"return_attention_scores": True}, {"use_causal_mask": True}])
def test_mha_cross_attention_matches_keras(with_key, call):
    q, v, k = _data(3, 4, 5, seed=1), _data(3, 7, 6, seed=2), _data(3, 7, 8, seed=3)
    _mha_vs_keras({"num_heads": 2, "key_dim": 3, "value_dim": 4}, q, v, k if with_key else None, **call)


def _masks(b, t, s, seed=4):
    r = np.random.default_rng(seed)
    attn = r.random((b, t, s)) > 0.3
    vmask = r.random((b, s)) > 0.3
    vmask[:, 0] = True
    kmask = r.random((b, s)) > 0.2
    return attn, vmask, kmask


@pytest.mark.parametrize("scores", [False, True])         # the fused kernel and the composed path
@pytest.mark.parametrize("which", ["attention_mask", "attention_mask_2d", "value_mask", "key_mask", "all", "causal"])
def test_mha_masks_match_keras(scores, which):
    q, v, k = _data(2, 4, 6, seed=5), _data(2, 5, 6, seed=6), _data(2, 5, 6, seed=7)
    attn, vmask, kmask = _masks(2, 4, 5)
    call = {"return_attention_scores": scores}
    if which == "attention_mask":
        call["attention_mask"] = attn
    elif which == "attention_mask_2d":              # (T, S): broadcast over the batch, as Keras
        call["attention_mask"] = attn[0]
    elif which == "value_mask":
        call["value_mask"] = vmask
    elif which == "key_mask":
        call["key_mask"] = kmask
    elif which == "all":
        call.update(attention_mask=attn, value_mask=vmask, key_mask=kmask, use_causal_mask=True)
    else:
        call.update(attention_mask=np.ones((2, 4, 5), bool), use_causal_mask=True)
    _mha_vs_keras({"num_heads": 2, "key_dim": 3}, q, v, k, **call)


def test_mha_fully_masked_rows_give_zero_attention_on_both_paths():
    """A query row that sees no key gets zero attention (the output is the output bias), as Keras' masked softmax
    gives; the fused kernel and the composed path agree, and gradients through such rows are finite."""
    x = _data(2, 4, 6, seed=8)
    mask = np.ones((2, 4, 4), bool)
    mask[0, 1] = False
    mask[1, 3] = False
    kl, ml = _mha_vs_keras({"num_heads": 2, "key_dim": 3}, x, x, attention_mask=mask, return_attention_scores=True)
    out, scores = ml(x, x, attention_mask=mask, return_attention_scores=True)
    assert np.all(scores.numpy()[0, :, 1] == 0) and np.all(scores.numpy()[1, :, 3] == 0)
    fused = ml(x, x, attention_mask=mask)
    np.testing.assert_allclose(fused.numpy(), out.numpy(), atol=1e-6)
    np.testing.assert_allclose(out.numpy()[0, 1], ml.get_weights()[-1], atol=1e-6)
    # Keras 3.15's own fused path (torch's SDPA) averages all values for such a row instead, unlike its composed
    # path; md.keras gives the composed path's zero on both (README: differences from Keras). Other rows agree.
    keras_fused = to_numpy(kl(x, x, attention_mask=mask))
    np.testing.assert_allclose(fused.numpy()[0, [0, 2, 3]], keras_fused[0, [0, 2, 3]], atol=2e-5)
    np.testing.assert_allclose(fused.numpy()[1, :3], keras_fused[1, :3], atol=2e-5)


def test_mha_embedding_masks_match_keras_in_functional_models():
    """Embedding(mask_zero=True) masks: the query's mask and the value's mask (a different sequence) combine with
    the causal mask; the output carries the query's mask on to GlobalAveragePooling1D."""
    def build(K, scores):
        a, b = K.Input((6,), dtype="int32"), K.Input((5,), dtype="int32")
        ea = K.layers.Embedding(30, 8, mask_zero=True)(a)
        eb = K.layers.Embedding(30, 8, mask_zero=True)(b)
        out = K.layers.MultiHeadAttention(2, 4)(ea, eb, use_causal_mask=True, return_attention_scores=scores)
        att = out[0] if scores else out
        pooled = K.layers.GlobalAveragePooling1D()(att)
        y = K.layers.Dense(2)(pooled)
        return K.Model([a, b], [y, out[1]] if scores else y)
    xa = RNG.integers(1, 30, (4, 6))
    xb = RNG.integers(1, 30, (4, 5))
    xa[0, 3:] = 0
    xb[1, 2:] = 0
    xb[2, 1:] = 0
    for scores in (False, True):
        km, mm = build(keras, scores), build(mk, scores)
        assert mm.count_params() == km.count_params()
        mm.set_weights(km.get_weights())
        kp, mp = km.predict([xa, xb], verbose=0), mm.predict([xa, xb], verbose=0)
        for got, want in zip(mp if scores else [mp], kp if scores else [kp]):
            np.testing.assert_allclose(got, want, atol=2e-5)


def test_mha_output_carries_the_query_mask():
    emb = mk.layers.Embedding(10, 4, mask_zero=True)
    ids = np.array([[3, 1, 0, 0], [2, 0, 0, 0]])
    x = emb(ids)
    out = mk.layers.MultiHeadAttention(2, 2)(x, x)
    np.testing.assert_array_equal(out._keras_mask.numpy(), ids != 0)
    out2 = mk.layers.MultiHeadAttention(2, 2)(md.tensor(_data(2, 4, 4)), x)
    assert out2._keras_mask is None


def test_mha_explicit_query_mask_equals_a_carried_one():
    """``query_mask=`` given explicitly acts as the mask a query carries (Keras 3.15 reads only the carried one and
    ignores the argument; md.keras applies the documented argument), and rides on the output."""
    q, v = md.tensor(_data(2, 4, 6, seed=14)), md.tensor(_data(2, 5, 6, seed=15))
    m = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], bool)
    layer = mk.layers.MultiHeadAttention(2, 3)
    explicit = layer(q, v, query_mask=m, return_attention_scores=True)
    carried_q = q * 1.0
    mk.masking_utils.set_keras_mask(carried_q, md.tensor(m))
    carried = layer(carried_q, v, return_attention_scores=True)
    for a, b in zip(explicit, carried):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    assert np.all(explicit[1].numpy()[0, :, 2:] == 0)       # masked query rows attend to nothing
    np.testing.assert_array_equal(explicit[0]._keras_mask.numpy(), m)
    np.testing.assert_array_equal(carried[0]._keras_mask.numpy(), m)


@pytest.mark.parametrize("axes, call", [(None, {}), ((2,), {}), ((1,), {"return_attention_scores": True}),
                                        ((1, 2), {"return_attention_scores": True}), ((-2,), {})])
def test_mha_attention_axes_match_keras(axes, call):
    x = _data(2, 3, 4, 5, seed=11)
    _mha_vs_keras({"num_heads": 2, "key_dim": 3, "attention_axes": axes}, x, x, **call)


def test_mha_attention_axes_with_mask_match_keras():
    q, v = _data(2, 3, 4, 5, seed=12), _data(2, 3, 6, 5, seed=13)
    mask = np.random.default_rng(3).random((2, 3, 4, 6)) > 0.3
    _mha_vs_keras({"num_heads": 2, "key_dim": 3, "attention_axes": (2,)}, q, v, attention_mask=mask,
                  return_attention_scores=True)


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")    # Keras, on a single key
@settings(max_examples=15, deadline=None)
@given(b=st.integers(1, 3), t=st.integers(1, 6), s=st.integers(1, 6), heads=st.integers(1, 3),
       key_dim=st.integers(1, 4), value_dim=st.integers(1, 4), dq=st.integers(1, 5), dv=st.integers(1, 5),
       causal=st.booleans(), scores=st.booleans(), masked=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_mha_drawn_shapes_match_keras(b, t, s, heads, key_dim, value_dim, dq, dv, causal, scores, masked, seed):
    r = np.random.default_rng(seed)
    q, v = r.standard_normal((b, t, dq)).astype("float32"), r.standard_normal((b, s, dv)).astype("float32")
    call = {"use_causal_mask": causal, "return_attention_scores": scores}
    if masked:
        mask = r.random((b, t, s)) > 0.4
        mask[..., 0] = True             # every query sees a key (a row that sees none: see the fully masked test)
        call["attention_mask"] = mask
    _mha_vs_keras({"num_heads": heads, "key_dim": key_dim, "value_dim": value_dim}, q, v, grads=seed % 2 == 0,
                  **call)


# --- gradients in float64 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [{}, {"use_causal_mask": True}, {"return_attention_scores": True},
                                  {"attention_mask": "mask"}, {"attention_mask": "mask", "use_causal_mask": True,
                                                               "return_attention_scores": True}])
def test_mha_gradcheck_float64(call):
    layer = mk.layers.MultiHeadAttention(2, 3, value_dim=2, dtype="float64")
    q, v = np.random.default_rng(1).standard_normal((2, 4, 5)), np.random.default_rng(2).standard_normal((2, 3, 4))
    mask = np.random.default_rng(3).random((2, 4, 3)) > 0.3
    mask[:, :, 0] = True
    call = {k: (mask if v == "mask" else v) for k, v in call.items()}
    layer(q, v)

    def fn(qt, vt):                     # the output, and the scores when returned
        return layer(qt, vt, **call)
    assert_gradcheck(fn, q, v)


def test_mha_weight_gradcheck_float64():
    layer = mk.layers.MultiHeadAttention(2, 2, dtype="float64", use_gate=True)
    x = md.tensor(np.random.default_rng(4).standard_normal((2, 3, 4)))
    layer(x, x)

    names = ("query_kernel", "key_kernel", "value_kernel", "attention_output_kernel")
    params = [layer._parameters[n] for n in names]

    def fn(*ws):                        # the layer computes with the kernels gradcheck hands in
        for name, w in zip(names, ws):
            layer._parameters[name] = w
        try:
            return layer(x, x, use_causal_mask=True)
        finally:
            for name, p in zip(names, params):
                layer._parameters[name] = p
    assert_gradcheck(fn, *[md.tensor(p.numpy(), requires_grad=True) for p in params])


# --- the fused path, dropout, flash_attention ------------------------------------------------------------------------
def test_mha_uses_the_fused_kernel_unless_scores_or_dropout(monkeypatch):
    calls = []
    real = mha_module.F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)
    monkeypatch.setattr(mha_module.F, "scaled_dot_product_attention", spy)
    x = _data(2, 5, 8)
    layer = mk.layers.MultiHeadAttention(2, 4, dropout=0.5)
    layer(x, x)
    layer(x, x, use_causal_mask=True)
    assert [c["is_causal"] for c in calls] == [False, True] and calls[1]["attn_mask"] is None
    layer(x, x, attention_mask=np.ones((2, 5, 5), bool), use_causal_mask=True)
    assert len(calls) == 3 and calls[2]["attn_mask"] is not None and not calls[2]["is_causal"]
    layer(x, x, return_attention_scores=True)
    layer(x, x, training=True)                      # dropout on the probabilities: composed
    assert len(calls) == 3
    mk.layers.MultiHeadAttention(2, 4, flash_attention=False)(x, x)
    assert len(calls) == 3


def test_mha_dropout_only_in_training():
    x = _data(2, 6, 8)
    layer = mk.layers.MultiHeadAttention(2, 4, dropout=0.5)
    plain = mk.layers.MultiHeadAttention(2, 4)
    layer(x, x)
    plain(x, x)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(layer(x, x).numpy(), plain(x, x).numpy(), atol=1e-6)
    np.testing.assert_allclose(layer(x, x, training=False).numpy(), plain(x, x).numpy(), atol=1e-6)
    md.manual_seed(0)
    _, dropped = layer(x, x, training=True, return_attention_scores=True)
    a, b = layer(x, x, training=True), layer(x, x, training=True)
    assert not np.allclose(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy(), plain(x, x).numpy())
    # the scores Keras returns are the probabilities before dropout: rows still sum to one
    np.testing.assert_allclose(dropped.numpy().sum(-1), 1.0, atol=1e-5)
    assert not layer.training                       # the call's training flag does not stick


def test_mha_flash_attention_refusals():
    with pytest.raises(ValueError, match="Dropout is not supported when flash attention"):
        mk.layers.MultiHeadAttention(2, 4, dropout=0.1, flash_attention=True)
    layer = mk.layers.MultiHeadAttention(2, 4, flash_attention=True)
    x = _data(1, 3, 4)
    assert layer(x, x).shape == (1, 3, 4)
    with pytest.raises(ValueError, match="Returning attention scores is not supported when flash attention"):
        layer(x, x, return_attention_scores=True)


# --- parameter counts, configs, saving -----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"value_dim": 5}, {"use_bias": False}, {"output_shape": (2, 3)},
                                    {"use_gate": True}, {"attention_axes": (1,)}])
def test_mha_parameter_counts_and_config_match_keras(kwargs):
    kl, ml = _pair("MultiHeadAttention", 4, 8, **kwargs)
    q, v = _data(2, 3, 16), _data(2, 5, 12)
    kl(q, v)
    ml(q, v)
    assert ml.count_params() == kl.count_params()
    kc, mc = kl.get_config(), ml.get_config()
    assert set(mc) == set(kc)
    for name in set(kc) - {"name", "dtype", "kernel_initializer", "bias_initializer"}:
        want = kc[name]
        want = list(want) if isinstance(want, tuple) else want
        assert mc[name] == want, name
    again = mk.layers.MultiHeadAttention.from_config(mc)
    again(q, v)
    again.set_weights(ml.get_weights())
    assert again.get_config() == mc
    np.testing.assert_allclose(again(q, v).numpy(), ml(q, v).numpy(), atol=1e-6)


def test_mha_summary_count_matches_keras_formula():
    # query/key/value kernels dim * heads * key_dim + biases, output heads * value_dim * dim + dim
    layer = mk.layers.MultiHeadAttention(num_heads=2, key_dim=8)
    x = np.zeros((4, 10, 16), np.float32)
    out, scores = layer(x, x, return_attention_scores=True, use_causal_mask=True)
    assert out.shape == (4, 10, 16) and scores.shape == (4, 2, 10, 10)
    assert layer.count_params() == 3 * (16 * 2 * 8 + 2 * 8) + 2 * 8 * 16 + 16 == 1088


def test_mha_regularizers_and_constraints():
    layer = mk.layers.MultiHeadAttention(2, 3, kernel_regularizer="l2", bias_regularizer=mk.regularizers.l1(0.1),
                                         activity_regularizer=mk.regularizers.l2(0.01),
                                         kernel_constraint=mk.constraints.MaxNorm(0.5))
    x = _data(2, 4, 6)
    layer(x, x)
    # weight penalties: 4 kernels and 4 biases; the activity regularizer on each of the 4 projections (Keras)
    assert len(layer.losses) == 4 + 8
    config = layer.get_config()
    again = mk.layers.MultiHeadAttention.from_config(config)
    assert again.get_config() == config


def _functional(K, causal=True):
    inp = K.Input((8,), dtype="int32")
    x = K.layers.Embedding(16, 12, mask_zero=True)(inp)
    att = K.layers.MultiHeadAttention(3, 4, name="att")(x, x, use_causal_mask=causal)
    x = K.layers.LayerNormalization()(K.layers.Add()([x, att]))
    x = K.layers.GlobalAveragePooling1D()(x)
    return K.Model(inp, K.layers.Dense(2, activation="softmax")(x))


def test_mha_functional_model_saves_loads_and_matches_keras(tmp_path):
    km, mm = _functional(keras), _functional(mk)
    mm.set_weights(km.get_weights())
    x = RNG.integers(0, 16, (5, 8))
    np.testing.assert_allclose(mm.predict(x, verbose=0), km.predict(x, verbose=0), atol=2e-5)
    mm.save(tmp_path / "m.keras")
    again = mk.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), mm.predict(x, verbose=0), atol=1e-6)
    node = [n for n in mm.get_config()["nodes"] if n.get("kwargs")]
    assert node and node[0]["kwargs"] == {"use_causal_mask": True}
    same = mk.Model.from_config(mm.get_config())
    same.set_weights(mm.get_weights())
    np.testing.assert_allclose(same.predict(x, verbose=0), mm.predict(x, verbose=0), atol=1e-6)


def test_shared_mha_keeps_each_calls_arguments(tmp_path):
    inp = mk.Input((5, 6))
    att = mk.layers.MultiHeadAttention(2, 3)
    b, scores = att(att(inp, inp, use_causal_mask=True), inp, return_attention_scores=True)
    mm = mk.Model(inp, [b, scores])
    kl = keras.layers.MultiHeadAttention(2, 3)       # the same two calls, eagerly (Keras 3.15 cannot build this
    x = _data(2, 5, 6, seed=50)                      # model: it finds the shared layer's second scores unconnected)
    kb, ks = kl(kl(x, x, use_causal_mask=True), x, return_attention_scores=True)
    mm.set_weights(kl.get_weights())
    for got, want in zip(mm.predict(x, verbose=0), (kb, ks)):
        np.testing.assert_allclose(got, to_numpy(want), atol=2e-5)
    mm.save(tmp_path / "shared.keras")
    for got, want in zip(mk.models.load_model(tmp_path / "shared.keras").predict(x, verbose=0),
                         mm.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_saved_node_call_arguments_are_checked():
    config = _functional(mk).get_config()
    att = next(i for i, n in enumerate(config["nodes"]) if n.get("kwargs"))
    for bad in ({"evil": True}, {"use_causal_mask": {"x": 1}}, ["use_causal_mask"]):
        config["nodes"][att]["kwargs"] = bad
        with pytest.raises(ValueError, match="call arguments"):
            mk.Model.from_config(config)
    config["nodes"][att]["kwargs"] = {"input_names": ["query", "attention_mask"]}
    with pytest.raises(ValueError, match="a list of inputs must be"):
        mk.Model.from_config(config)
    config["nodes"][att].pop("kwargs")
    config["nodes"][0]["kwargs"] = {"use_causal_mask": True}        # the Embedding takes no call arguments
    with pytest.raises(ValueError, match="call arguments"):
        mk.Model.from_config(config)


def test_mha_functional_explicit_attention_mask_input_and_scores(tmp_path):
    def build(K):
        q, v, m = K.Input((4, 6)), K.Input((5, 6)), K.Input((4, 5), dtype="bool")
        out, scores = K.layers.MultiHeadAttention(2, 3)(q, v, attention_mask=m, return_attention_scores=True)
        return K.Model([q, v, m], [out, scores])
    km, mm = build(keras), build(mk)
    mm.set_weights(km.get_weights())
    q, v = _data(3, 4, 6, seed=20), _data(3, 5, 6, seed=21)
    m = np.random.default_rng(5).random((3, 4, 5)) > 0.3
    for got, want in zip(mm.predict([q, v, m], verbose=0), km.predict([q, v, m], verbose=0)):
        np.testing.assert_allclose(got, want, atol=2e-5)
    mm.save(tmp_path / "mask.keras")
    again = mk.models.load_model(tmp_path / "mask.keras")
    for got, want in zip(again.predict([q, v, m], verbose=0), mm.predict([q, v, m], verbose=0)):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_mha_functional_model_trains_with_fit():
    md.manual_seed(0)
    r = np.random.default_rng(0)
    x = r.integers(1, 16, (128, 8))
    y = (x == 3).any(1).astype("int64")             # does token 3 occur?
    model = _functional(mk)
    model.compile(optimizer=mk.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0] and history.history["accuracy"][-1] > 0.75


# --- a keras-io Transformer block (text classification with Transformer) ---------------------------------------
class TransformerBlock(mk.layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.att = mk.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = mk.Sequential([mk.layers.Dense(ff_dim, activation="relu"), mk.layers.Dense(embed_dim)])
        self.layernorm1 = mk.layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = mk.layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = mk.layers.Dropout(rate)
        self.dropout2 = mk.layers.Dropout(rate)

    def call(self, inputs):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(mk.layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = mk.layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = mk.layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = mk.ops.shape(x)[-1]
        positions = mk.ops.arange(start=0, stop=maxlen, step=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


def test_keras_io_transformer_block_trains():
    md.manual_seed(1)
    maxlen, vocab, embed_dim = 12, 30, 16
    r = np.random.default_rng(1)
    x = r.integers(0, vocab, (96, maxlen))
    y = (np.isin(x, [3, 4, 5]).sum(1) > 1).astype("int64")
    inputs = mk.layers.Input(shape=(maxlen,))
    h = TokenAndPositionEmbedding(maxlen, vocab, embed_dim)(inputs)
    block = TransformerBlock(embed_dim, 2, 32)
    h = block(h)
    h = mk.layers.GlobalAveragePooling1D()(h)
    h = mk.layers.Dropout(0.1)(h)
    h = mk.layers.Dense(20, activation="relu")(h)
    outputs = mk.layers.Dense(2, activation="softmax")(h)
    model = mk.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # the block's attention has Keras' parameter count (key_dim = embed_dim, 2 heads)
    assert block.att.count_params() == 3 * (16 * 2 * 16 + 2 * 16) + 2 * 16 * 16 + 16
    assert model.predict(x[:4], verbose=0).shape == (4, 2)
    # the same blocks in a Sequential model
    seq = mk.Sequential([mk.layers.Input(shape=(maxlen,)), TokenAndPositionEmbedding(maxlen, vocab, embed_dim),
                         TransformerBlock(embed_dim, 2, 32), mk.layers.GlobalAveragePooling1D(),
                         mk.layers.Dense(2, activation="softmax")])
    seq.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    seq_history = seq.fit(x, y, batch_size=32, epochs=3, verbose=0)
    assert seq_history.history["loss"][-1] < seq_history.history["loss"][0]
    assert seq.output_shape == (None, 2)


def test_mha_build_directly_with_keras_signature():
    kl, ml = _pair("MultiHeadAttention", 2, 4, value_dim=3)
    kl.build((None, 4, 6), (None, 5, 7), (None, 5, 8))
    ml.build((None, 4, 6), (None, 5, 7), (None, 5, 8))
    assert ml.built and ml.count_params() == kl.count_params()
    assert [w.shape for w in ml.get_weights()] == [tuple(w.shape) for w in kl.get_weights()]
    assert ml.compute_output_shape((None, 4, 6), (None, 5, 7)) == (None, 4, 6)


# --- errors --------------------------------------------------------------------------------------------------------
def test_mha_errors():
    x, y = _data(2, 4, 6), _data(2, 5, 6)
    with pytest.raises(ValueError, match="num_heads"):
        mk.layers.MultiHeadAttention(0, 4)
    with pytest.raises(ValueError, match="key_dim"):
        mk.layers.MultiHeadAttention(2, 2.5)
    with pytest.raises(ValueError, match="value_dim"):
        mk.layers.MultiHeadAttention(2, 2, value_dim=-1)
    with pytest.raises(ValueError, match="attention_axes"):
        mk.layers.MultiHeadAttention(2, 2, attention_axes="x")
    with pytest.raises(TypeError, match="`value` is missing"):
        mk.layers.MultiHeadAttention(2, 2)(x)
    with pytest.raises(ValueError, match="All dimensions of `value` and `key`, except the last one, must be equal"):
        mk.layers.MultiHeadAttention(2, 2)(x, y, _data(2, 3, 6))
    with pytest.raises(ValueError, match="same rank, at least 3"):
        mk.layers.MultiHeadAttention(2, 2)(_data(2, 6), _data(2, 6))
    layer = mk.layers.MultiHeadAttention(2, 2)
    layer(x, y)
    with pytest.raises(ValueError, match=r"built for value features of size 6, but received value of shape \(2, 5, 3\)"):
        layer(x, _data(2, 5, 3))
    with pytest.raises(ValueError, match="built for inputs of rank 3"):
        layer(_data(2, 3, 4, 6), _data(2, 3, 5, 6))
    with pytest.raises(ValueError, match="cannot be broadcast to the attention scores"):
        layer(x, y, attention_mask=np.ones((2, 4, 3), bool))
    with pytest.raises(ValueError, match="attention_axes"):
        mk.layers.MultiHeadAttention(2, 2, attention_axes=(3,))(x, x)
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        layer(x, y, mask=None)
    with pytest.raises(TypeError, match="must hold booleans or numbers"):
        layer(x, y, attention_mask=np.full((2, 4, 5), "a"))


def test_mha_symbolic_errors():
    q = mk.Input((4, 6))
    with pytest.raises(TypeError, match="not a symbolic tensor"):
        mk.layers.MultiHeadAttention(2, 2)(q, _data(1, 4, 6))
    with pytest.raises(TypeError, match="constant array"):
        mk.layers.MultiHeadAttention(2, 2)(q, q, attention_mask=np.ones((1, 4, 4), bool))


# --- Attention and AdditiveAttention ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, kwargs", [("Attention", {}), ("Attention", {"use_scale": True}),
                                         ("Attention", {"score_mode": "concat"}),
                                         ("Attention", {"score_mode": "concat", "use_scale": True}),
                                         ("AdditiveAttention", {}), ("AdditiveAttention", {"use_scale": False})])
@pytest.mark.parametrize("call", [{}, {"mask": "masks"}, {"use_causal_mask": True},
                                  {"use_causal_mask": True, "mask": "masks"}])
@pytest.mark.parametrize("with_key", [False, True])
def test_dot_and_additive_attention_match_keras(cls, kwargs, call, with_key):
    q, v, k = _data(2, 4, 5, seed=30), _data(2, 6, 5, seed=31), _data(2, 6, 5, seed=32)
    qm = np.array([[1, 1, 1, 0], [1, 0, 0, 0]], bool)
    vm = np.array([[1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], bool)       # a value with every step masked
    call = {n: ([qm, vm] if c == "masks" else c) for n, c in call.items()}
    inputs = [q, v, k] if with_key else [q, v]
    kl, ml = _pair(cls, **kwargs)
    kl(inputs)
    ml(inputs)
    assert ml.count_params() == kl.count_params()
    weights = [w * 1.3 + 0.1 for w in kl.get_weights()]
    kl.set_weights(weights)
    ml.set_weights(weights)
    tin = [torch.tensor(a, requires_grad=True) for a in inputs]
    min_ = [md.tensor(a, requires_grad=True) for a in inputs]
    ko, ks = kl(tin, return_attention_scores=True, **call)
    mo, ms = ml(min_, return_attention_scores=True, **call)
    _close(mo, ko, "output")
    _close(ms, ks, "scores")
    g = _data(*ko.shape, seed=33)
    (ko * torch.tensor(g)).sum().backward()
    (mo * md.tensor(g)).sum().backward()
    for t, m in zip(tin, min_):
        _close(m.grad, t.grad, "input grad")
    for w, gm in zip(kl.weights, keras_grads(ml)):
        _close(gm, w.value.grad, f"grad of {w.path}")
    assert ml.get_config() == {**kl.get_config(), "dtype": "float32", "name": ml.name}


@pytest.mark.parametrize("make", [lambda: mk.layers.Attention(use_scale=True, score_mode="concat", dropout=0.1, seed=3),
                                  lambda: mk.layers.AdditiveAttention(use_scale=False, dropout=0.2)])
def test_attention_config_round_trip(make):
    layer = make()
    layer([_data(2, 3, 4), _data(2, 5, 4)])
    again = type(layer).from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    again([_data(2, 3, 4), _data(2, 5, 4)])
    assert again.count_params() == layer.count_params()


def test_attention_layers_gradcheck_float64():
    for layer in (mk.layers.Attention(use_scale=True, score_mode="concat", dtype="float64"),
                  mk.layers.AdditiveAttention(dtype="float64")):
        r = np.random.default_rng(2)
        q, v = r.standard_normal((2, 3, 4)), r.standard_normal((2, 5, 4))
        vm = np.array([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0]], bool)
        layer([q, v])
        assert_gradcheck(lambda a, b, layer=layer, vm=vm: layer([a, b], mask=[None, vm], use_causal_mask=True), q, v)


def test_attention_in_functional_models_with_embedding_masks(tmp_path):
    def build(K, cls):
        a, b = K.Input((6,), dtype="int32"), K.Input((5,), dtype="int32")
        ea = K.layers.Embedding(20, 4, mask_zero=True)(a)
        eb = K.layers.Embedding(20, 4, mask_zero=True)(b)
        out, scores = getattr(K.layers, cls)()([ea, eb], return_attention_scores=True, use_causal_mask=True)
        pooled = K.layers.GlobalAveragePooling1D()(out)
        return K.Model([a, b], [pooled, scores])
    xa, xb = RNG.integers(1, 20, (3, 6)), RNG.integers(1, 20, (3, 5))
    xa[0, 4:] = 0
    xb[1, 1:] = 0
    for cls in ("Attention", "AdditiveAttention"):
        km, mm = build(keras, cls), build(mk, cls)
        mm.set_weights(km.get_weights())
        for got, want in zip(mm.predict([xa, xb], verbose=0), km.predict([xa, xb], verbose=0)):
            np.testing.assert_allclose(got, want, atol=2e-5)
        mm.save(tmp_path / f"{cls}.keras")
        again = mk.models.load_model(tmp_path / f"{cls}.keras")
        for got, want in zip(again.predict([xa, xb], verbose=0), mm.predict([xa, xb], verbose=0)):
            np.testing.assert_allclose(got, want, atol=1e-6)


def test_attention_explicit_symbolic_masks_round_trip(tmp_path):
    q, v, vm = mk.Input((4, 3)), mk.Input((5, 3)), mk.Input((5,), dtype="bool")
    model = mk.Model([q, v, vm], mk.layers.Attention(use_scale=True)([q, v], mask=[None, vm]))
    xq, xv = _data(2, 4, 3), _data(2, 5, 3)
    m = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], bool)
    want = mk.layers.Attention(use_scale=True)
    want([xq, xv])
    want.set_weights(model.layers[-1].get_weights())
    np.testing.assert_allclose(model.predict([xq, xv, m], verbose=0),
                               want([xq, xv], mask=[None, m]).numpy(), atol=1e-6)
    model.save(tmp_path / "att.keras")
    again = mk.models.load_model(tmp_path / "att.keras")
    np.testing.assert_allclose(again.predict([xq, xv, m], verbose=0), model.predict([xq, xv, m], verbose=0),
                               atol=1e-6)


def test_attention_dropout_only_in_training():
    q, v = _data(2, 4, 5), _data(2, 6, 5)
    layer = mk.layers.Attention(dropout=0.5)
    base = layer([q, v]).numpy()
    np.testing.assert_allclose(layer([q, v], training=False).numpy(), base)
    md.manual_seed(0)
    assert not np.allclose(layer([q, v], training=True).numpy(), base)


def test_attention_errors():
    q = _data(2, 4, 5)
    with pytest.raises(ValueError, match="score_mode"):
        mk.layers.Attention(score_mode="bad")
    with pytest.raises(ValueError, match="must be called on a list of inputs"):
        mk.layers.Attention()(q)
    with pytest.raises(ValueError, match="accepts inputs list of length 2 or 3"):
        mk.layers.Attention()([q])
    with pytest.raises(ValueError, match="mask must be a list"):
        mk.layers.Attention()([q, q], mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="query and key must have the same feature size"):
        mk.layers.Attention()([q, _data(2, 6, 3)])
    with pytest.raises(ValueError, match="value and key the same steps"):
        mk.layers.AdditiveAttention()([q, _data(2, 6, 5), _data(2, 3, 5)])


# --- on device cuda (the fake CuPy: minidl's device plumbing, see test_fake_cuda.py) ---------------------------------
def test_attention_layers_on_the_device_match_the_cpu():
    import fake_cupy
    mp = pytest.MonkeyPatch()
    fake_cupy.install(mp)
    try:
        a, b = mk.Input((6,), dtype="int32"), mk.Input((5,), dtype="int32")
        ea, eb = mk.layers.Embedding(20, 8, mask_zero=True)(a), mk.layers.Embedding(20, 8, mask_zero=True)(b)
        att = mk.layers.MultiHeadAttention(2, 4)(ea, eb, use_causal_mask=True)
        out, scores = mk.layers.MultiHeadAttention(2, 4, dropout=0.2)(att, att, return_attention_scores=True)
        dot = mk.layers.AdditiveAttention()([out, eb])
        model = mk.Model([a, b], [mk.layers.Dense(2, activation="softmax")(mk.layers.GlobalAveragePooling1D()(dot)),
                                  scores])
        xa, xb = RNG.integers(0, 20, (4, 6)), RNG.integers(0, 20, (4, 5))
        xb[:, 0] = 1
        cpu = model.predict([xa, xb], verbose=0)
        model.to("cuda")
        for got, want in zip(model.predict([xa, xb], verbose=0), cpu):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        trainer = mk.Model([a, b], model.outputs[0])           # the same layers, without the scores
        trainer.compile("adam", "sparse_categorical_crossentropy")
        history = trainer.fit([xa, xb], np.array([0, 1, 0, 1]), epochs=2, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
    finally:
        fake_cupy.uninstall(mp)


@pytest.mark.parametrize("use_bias, use_gate", [(True, False), (False, True)])
def test_weights_h5_files_move_between_keras_and_md(tmp_path, use_bias, use_gate):
    pytest.importorskip("h5py")

    def build(K):
        q, v = K.Input((4, 6)), K.Input((5, 6))
        o = K.layers.MultiHeadAttention(2, 3, use_bias=use_bias, use_gate=use_gate)(q, v)
        a = K.layers.Attention(use_scale=True, score_mode="concat")([o, v])
        return K.Model([q, v], K.layers.AdditiveAttention()([a, v]))
    km, mm = build(keras), build(mk)
    x = [_data(2, 4, 6, seed=40), _data(2, 5, 6, seed=41)]
    km.save_weights(tmp_path / "k.weights.h5")
    mm.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(mm.predict(x, verbose=0), km.predict(x, verbose=0), atol=2e-5)
    mm2 = build(mk)
    mm2.save_weights(tmp_path / "m.weights.h5")
    km.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(km.predict(x, verbose=0), mm2.predict(x, verbose=0), atol=2e-5)
