"""Keras masks in md.keras: Embedding(mask_zero=True) and Masking make them, recurrent layers (and Bidirectional) skip
masked steps, layers that keep masks pass them on, and fit/evaluate leave masked steps out of the loss and the
metrics. Values against Keras 3 itself (same weights) and against hand-computed runs."""
import numpy as np
import pytest

import minidl as md
import minidl.keras as mk
from minidl.keras.layers.base import host
from minidl.keras.masking_utils import get_keras_mask

from keras_helpers import fresh_session  # noqa: F401 -- fixture
from keras_oracle import keras, to_numpy

IDS = np.array([[1, 2, 0, 0, 3], [3, 0, 4, 0, 0], [0, 0, 1, 2, 3], [4, 4, 0, 0, 0]])
LABELS = np.array([[1, 0, 0, 0, 1], [1, 0, 1, 0, 0], [0, 0, 1, 1, 0], [1, 1, 0, 0, 0]])


def _close(got, want, label, atol=1e-6):
    got = host(got) if isinstance(got, md.Tensor) else np.asarray(got)
    np.testing.assert_allclose(got, to_numpy(want), rtol=1e-5, atol=atol, err_msg=label)


def test_embedding_mask_zero_makes_the_mask_keras_makes():
    ke, me = keras.layers.Embedding(5, 3, mask_zero=True), mk.layers.Embedding(5, 3, mask_zero=True)
    out = me(IDS)
    np.testing.assert_array_equal(host(get_keras_mask(out)), IDS != 0)
    np.testing.assert_array_equal(host(me.compute_mask(IDS)), to_numpy(ke.compute_mask(IDS)))
    assert mk.layers.Embedding(5, 3).compute_mask(IDS) is None
    assert me.get_config()["mask_zero"] is True


def test_masking_layer_values_and_mask_against_keras():
    x = np.random.default_rng(0).standard_normal((3, 4, 2)).astype("float32")
    x[0, 2:] = 0.5
    x[1, 0] = 0.5
    x[2, 1, 0] = 0.5            # one feature equal to the value: the step stays
    km, mm = keras.layers.Masking(mask_value=0.5), mk.layers.Masking(mask_value=0.5)
    out = mm(x)
    _close(out, km(x), "Masking output")
    np.testing.assert_array_equal(host(get_keras_mask(out)), to_numpy(km.compute_mask(x)))
    assert mm.get_config()["mask_value"] == 0.5


def _pair(cls, **kw):
    ke, kr = keras.layers.Embedding(5, 3, mask_zero=True), getattr(keras.layers, cls)(4, **kw)
    me, mr = mk.layers.Embedding(5, 3, mask_zero=True), getattr(mk.layers, cls)(4, **kw)
    kr(ke(IDS))
    mr(me(IDS))
    me.set_weights(ke.get_weights())
    mr.set_weights(kr.get_weights())
    return (ke, kr), (me, mr)


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_recurrent_layer_equals_keras(cls, return_sequences, go_backwards):
    (ke, kr), (me, mr) = _pair(cls, return_sequences=return_sequences, go_backwards=go_backwards, return_state=True)
    got, want = mr(me(IDS)), kr(ke(IDS))
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        _close(g, w, f"{cls} output {i}")
    mask = get_keras_mask(got[0])
    if return_sequences:                    # the sequence output keeps the mask; the states have none
        np.testing.assert_array_equal(host(mask), IDS != 0)
    else:
        assert mask is None
    assert all(get_keras_mask(s) is None for s in got[1:])


def test_gru_reset_before_masked_equals_keras():
    (ke, kr), (me, mr) = _pair("GRU", reset_after=False, return_sequences=True)
    _close(mr(me(IDS)), kr(ke(IDS)), "GRU(reset_after=False) masked")


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
def test_masked_bidirectional_equals_keras(return_sequences, merge_mode):
    ke, me = keras.layers.Embedding(5, 3, mask_zero=True), mk.layers.Embedding(5, 3, mask_zero=True)
    kb = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=return_sequences), merge_mode=merge_mode)
    mb = mk.layers.Bidirectional(mk.layers.LSTM(4, return_sequences=return_sequences), merge_mode=merge_mode)
    kb(ke(IDS))
    mb(me(IDS))
    me.set_weights(ke.get_weights())
    mb.set_weights(kb.get_weights())
    got = mb(me(IDS))
    _close(got, kb(ke(IDS)), "Bidirectional masked")
    if return_sequences:            # Keras: zeros at the masked steps of the merged sequence
        assert np.all(host(got)[IDS == 0] == 0)


def _lstm_numpy(x, kernel, recurrent, bias, h, c):
    """One LSTM over x (steps, features) from (h, c), in Keras' layouts and gate order i, f, c, o."""
    def sig(v):
        return 1 / (1 + np.exp(-v))
    outs = []
    for xt in x:
        z = xt @ kernel + h @ recurrent + bias
        i, f, g, o = np.split(z, 4)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        outs.append(h)
    return np.array(outs), h, c


def test_masked_lstm_equals_a_hand_computed_run_over_the_kept_steps():
    """A masked step leaves the state alone: each sequence's result is the run over its unmasked steps only, and the
    returned sequence repeats the last kept output at masked steps (zeros before the first)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 2)).astype(np.float32).astype(np.float64)     # arrays arrive as floatx
    mask = np.array([[1, 1, 1, 0, 0, 0], [0, 1, 0, 1, 1, 0], [1, 1, 1, 1, 1, 1]], bool)
    layer = mk.layers.LSTM(3, return_sequences=True, return_state=True, dtype="float64")
    layer(x)
    kernel, recurrent, bias = layer.get_weights()
    seq, h, c = layer(x, mask=md.tensor(mask))
    for b in range(3):
        kept, hb, cb = _lstm_numpy(x[b][mask[b]], kernel, recurrent, bias, np.zeros(3), np.zeros(3))
        np.testing.assert_allclose(host(h)[b], hb, atol=1e-12)
        np.testing.assert_allclose(host(c)[b], cb, atol=1e-12)
        prev, k = np.zeros(3), 0
        for t in range(6):
            if mask[b, t]:
                prev, k = kept[k], k + 1
            np.testing.assert_allclose(host(seq)[b, t], prev, atol=1e-12)
    # an all-true mask takes the fused kernel: the same as no mask
    np.testing.assert_allclose(host(layer(x, mask=md.tensor(np.ones((3, 6), bool)))[0]), host(layer(x)[0]),
                               atol=1e-12)


def test_masks_propagate_through_the_layers_that_keep_them_as_keras():
    inp = keras.Input((5,), dtype="int32")
    minp = mk.Input((5,), dtype="int32")
    kh, mh = keras.layers.Embedding(5, 3, mask_zero=True)(inp), mk.layers.Embedding(5, 3, mask_zero=True)(minp)
    for name, make in [("Dropout", lambda L: L.Dropout(0.1)), ("Dense", lambda L: L.Dense(2)),
                       ("Activation", lambda L: L.Activation("relu")), ("ReLU", lambda L: L.ReLU()),
                       ("TimeDistributed", lambda L: L.TimeDistributed(L.Dense(2))),
                       ("LayerNormalization", lambda L: L.LayerNormalization()),
                       ("Flatten", lambda L: L.Flatten()), ("Conv1D", lambda L: L.Conv1D(2, 1)),
                       ("LSTM seq", lambda L: L.LSTM(2, return_sequences=True)), ("LSTM last", lambda L: L.LSTM(2))]:
        kout, mout = make(keras.layers)(kh), make(mk.layers)(mh)
        want = getattr(kout, "_keras_mask", None) is not None
        assert (get_keras_mask(mout) is not None) == want, name
    # eagerly: the mask rides through Dense and TimeDistributed to a second recurrent layer
    emb, dense = mk.layers.Embedding(5, 3, mask_zero=True), mk.layers.TimeDistributed(mk.layers.Dense(3))
    out = dense(mk.layers.Dropout(0.5)(emb(IDS)))
    np.testing.assert_array_equal(host(get_keras_mask(out)), IDS != 0)


def _model(K, sequential=False):
    layers = [K.layers.Embedding(5, 3, mask_zero=True), K.layers.LSTM(4, return_sequences=True),
              K.layers.Dropout(0.0), K.layers.Dense(2, activation="softmax")]
    if sequential:
        return K.Sequential([K.Input((5,), dtype="int32"), *layers])
    inp = K.Input((5,), dtype="int32")
    x = inp
    for layer in layers:
        x = layer(x)
    return K.Model(inp, x)


@pytest.mark.parametrize("sequential", [False, True])
def test_masked_evaluate_and_fit_step_equal_keras(sequential):
    km, mm = _model(keras, sequential), _model(mk, sequential)
    mm.set_weights(km.get_weights())
    km.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    mm.compile(optimizer=mk.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    for got, want in zip(mm.evaluate(IDS, LABELS, verbose=0), km.evaluate(IDS, LABELS, verbose=0)):
        assert got == pytest.approx(want, rel=1e-5)
    # the loss and accuracy are over the kept steps only (Keras' normalisation), by hand
    p = mm.predict(IDS, verbose=0)
    keep = IDS != 0
    ce = -np.log(np.take_along_axis(p, LABELS[..., None], -1)[..., 0])
    loss, acc = mm.evaluate(IDS, LABELS, verbose=0)
    assert loss == pytest.approx(ce[keep].mean(), rel=1e-5)
    assert acc == pytest.approx((p.argmax(-1) == LABELS)[keep].mean())
    # one training step: the same loss, then the same weights
    got, want = mm.train_on_batch(IDS, LABELS), km.train_on_batch(IDS, LABELS)
    assert got[0] == pytest.approx(want[0], rel=1e-5)
    for a, b in zip(mm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, to_numpy(b), rtol=1e-4, atol=1e-6)


def test_masked_loss_with_per_step_sample_weights_equals_keras():
    km, mm = _model(keras), _model(mk)
    mm.set_weights(km.get_weights())
    km.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    mm.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    sw = np.linspace(0.5, 2.0, 20).reshape(4, 5)
    assert mm.evaluate(IDS, LABELS, sample_weight=sw, verbose=0) == pytest.approx(
        km.evaluate(IDS, LABELS, sample_weight=sw, verbose=0), rel=1e-5)


def test_masked_model_round_trips_through_a_keras_file(tmp_path):
    model = _model(mk)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    path = tmp_path / "masked.keras"
    model.save(path)
    again = mk.models.load_model(path)
    assert again.layers[0].mask_zero
    np.testing.assert_allclose(again.predict(IDS, verbose=0), model.predict(IDS, verbose=0), atol=1e-7)
    assert again.evaluate(IDS, LABELS, verbose=0) == pytest.approx(model.evaluate(IDS, LABELS, verbose=0))


def test_masked_lstm_gradients_reach_only_kept_steps():
    emb, lstm = mk.layers.Embedding(5, 3, mask_zero=True), mk.layers.LSTM(4)
    x = IDS.copy()
    out = lstm(emb(x))
    out.sum().backward()
    g = host(emb.embedding.weight.grad)
    assert np.all(g[0] == 0)            # id 0 (padding) is never read
    assert np.any(g[1:] != 0)


@pytest.mark.parametrize("name, kwargs", [("Add", {}), ("Subtract", {}), ("Multiply", {}), ("Average", {}),
                                          ("Maximum", {}), ("Minimum", {}), ("Concatenate", {}),
                                          ("Concatenate", {"axis": 1})])
def test_merge_masks_equal_keras(name, kwargs):
    other = np.array([[1, 0, 0, 4, 1], [3, 3, 4, 0, 0], [1, 0, 0, 0, 0], [0, 1, 2, 0, 3]])
    embeddings = []
    for _ in range(2):
        ke, me = keras.layers.Embedding(5, 3, mask_zero=True), mk.layers.Embedding(5, 3, mask_zero=True)
        ke(IDS)
        me(IDS)
        me.set_weights(ke.get_weights())
        embeddings.append((ke, me))
    (k1, m1), (k2, m2) = embeddings
    kout = getattr(keras.layers, name)(**kwargs)([k1(IDS), k2(other)])
    mout = getattr(mk.layers, name)(**kwargs)([m1(IDS), m2(other)])
    _close(mout, kout, f"{name} values")
    np.testing.assert_array_equal(host(get_keras_mask(mout)), to_numpy(kout._keras_mask))
    # an input without a mask: Keras drops the mask of an elementwise merge, Concatenate counts it as all true
    kmixed = getattr(keras.layers, name)(**kwargs)([k1(IDS), k2(other) * 1.0])
    mmixed = getattr(mk.layers, name)(**kwargs)([m1(IDS), m2(other) * 1.0])
    want = getattr(kmixed, "_keras_mask", None)
    if want is None:
        assert get_keras_mask(mmixed) is None
    else:
        np.testing.assert_array_equal(host(get_keras_mask(mmixed)), to_numpy(want))


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling_1d_averages_the_kept_steps_as_keras(keepdims):
    ke, me = keras.layers.Embedding(5, 3, mask_zero=True), mk.layers.Embedding(5, 3, mask_zero=True)
    ke(IDS)
    me(IDS)
    me.set_weights(ke.get_weights())
    got = mk.layers.GlobalAveragePooling1D(keepdims=keepdims)(me(IDS))
    _close(got, keras.layers.GlobalAveragePooling1D(keepdims=keepdims)(ke(IDS)), "masked GlobalAveragePooling1D")
    assert get_keras_mask(got) is None
    emb = host(me(IDS))
    keep = IDS != 0
    by_hand = np.stack([emb[b][keep[b]].mean(0) for b in range(len(IDS))])
    np.testing.assert_allclose(host(got).reshape(by_hand.shape), by_hand, rtol=1e-6)


def test_text_classifier_with_masked_average_trains_as_keras():
    def build(K):
        return K.Sequential([K.Input((5,), dtype="int32"), K.layers.Embedding(5, 4, mask_zero=True),
                             K.layers.GlobalAveragePooling1D(), K.layers.Dense(1, activation="sigmoid")])
    km, mm = build(keras), build(mk)
    mm.set_weights(km.get_weights())
    y = np.array([1, 0, 1, 0])
    km.compile(optimizer=keras.optimizers.SGD(1.0), loss="binary_crossentropy", metrics=["accuracy"])
    mm.compile(optimizer=mk.optimizers.SGD(1.0), loss="binary_crossentropy", metrics=["accuracy"])
    for _ in range(2):
        got, want = mm.train_on_batch(IDS, y), km.train_on_batch(IDS, y)
        assert got[0] == pytest.approx(want[0], rel=1e-5)
    for a, b in zip(mm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, to_numpy(b), rtol=1e-4, atol=1e-6)


PADDED = np.array([[0, 0, 2, 3, 1, 4], [1, 2, 3, 0, 0, 0], [0, 0, 0, 0, 0, 0], [4, 3, 2, 1, 1, 2], [0, 2, 4, 0, 0, 0],
                   [0, 0, 0, 3, 1, 4]])
BROKEN = np.array([[1, 0, 2, 0, 3, 0]])      # kept steps not in one run: the step loop


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_padded_batches_take_the_fused_runs_and_equal_keras_and_the_step_loop(cls, go_backwards):
    """Padding before and/or after (pad_sequences' two forms), full and empty rows: each row's kept steps are one
    run, which the fused kernel computes; the result equals Keras and the step loop (the same rows in a batch with
    one row whose kept steps are split)."""
    ke, me = keras.layers.Embedding(5, 3, mask_zero=True), mk.layers.Embedding(5, 3, mask_zero=True)
    kw = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    kr, mr = getattr(keras.layers, cls)(4, **kw), getattr(mk.layers, cls)(4, **kw)
    kr(ke(PADDED))
    mr(me(PADDED))
    me.set_weights(ke.get_weights())
    mr.set_weights(kr.get_weights())
    got, want = mr(me(PADDED)), kr(ke(PADDED))
    for i, (g, w) in enumerate(zip(got, want)):
        _close(g, w, f"{cls} padded part {i}")
    loop = mr(me(np.concatenate([PADDED, BROKEN])))
    for i, (g, w) in enumerate(zip(got, loop)):
        np.testing.assert_allclose(host(g), host(w)[:len(PADDED)], rtol=1e-5, atol=1e-6, err_msg=f"loop part {i}")
    states = [np.random.default_rng(3).standard_normal((6, 4)).astype("float32")] * len(got[1:])
    mask = PADDED != 0                      # with initial_state, Keras applies only a mask given as mask=
    for i, (g, w) in enumerate(zip(mr(me(PADDED), initial_state=states, mask=md.tensor(mask)),
                                   kr(ke(PADDED), initial_state=states, mask=mask))):
        _close(g, w, f"{cls} padded from initial_state, part {i}")


def test_padded_bidirectional_and_gradients_match_the_step_loop():
    ke, me = keras.layers.Embedding(5, 3, mask_zero=True), mk.layers.Embedding(5, 3, mask_zero=True)
    kb = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))
    mb = mk.layers.Bidirectional(mk.layers.GRU(4, return_sequences=True))
    kb(ke(PADDED))
    mb(me(PADDED))
    me.set_weights(ke.get_weights())
    mb.set_weights(kb.get_weights())
    _close(mb(me(PADDED)), kb(ke(PADDED)), "padded Bidirectional")
    grads = []
    for ids in (PADDED, np.concatenate([PADDED, BROKEN])):       # fused runs, then the step loop
        for p in mb.parameters():
            p.grad = None
        out = mb(me(ids))[:len(PADDED)]
        (out * md.tensor(np.linspace(-1, 1, out.numel()).reshape(out.shape).astype("float32"))).sum().backward()
        grads.append([host(p.grad) for p in mb.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_with_initial_state_only_an_explicit_mask_applies_as_keras():
    """Keras 3 applies a sequence's own mask to a recurrent layer given initial_state only when passed as mask=."""
    ke, me = keras.layers.Embedding(5, 3, mask_zero=True), mk.layers.Embedding(5, 3, mask_zero=True)
    kb = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))
    mb = mk.layers.Bidirectional(mk.layers.LSTM(4, return_sequences=True))
    kb(ke(PADDED))
    mb(me(PADDED))
    me.set_weights(ke.get_weights())
    mb.set_weights(kb.get_weights())
    states = [np.full((6, 4), 0.1 * i, "float32") for i in range(4)]
    _close(mb(me(PADDED), initial_state=states), kb(ke(PADDED), initial_state=states), "states, mask found")
    mask = PADDED != 0
    _close(mb(me(PADDED), initial_state=states, mask=md.tensor(mask)),
           kb(ke(PADDED), initial_state=states, mask=mask), "states and mask=")
