"""The recurrent layers' Keras features: return_state, initial_state (eager and from another layer's states in a
functional model), recurrent_dropout, stateful with reset_state(s), go_backwards and unroll. Values against Keras 3
itself with the same weights, and recurrent dropout against a hand-computed run with the same masks."""
import numpy as np
import pytest

import minidl as md
import minidl.keras as mk
from minidl.keras.layers.base import host

from keras_helpers import f64, fresh_session  # noqa: F401 -- fixtures
from keras_oracle import keras, to_numpy

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3, 5)).astype("float32")
N_STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1}


def _pair(cls, **kw):
    k, m = getattr(keras.layers, cls)(4, **kw), getattr(mk.layers, cls)(4, **kw)
    k(X)
    m(X)
    m.set_weights(k.get_weights())
    return k, m


def _close(got, want, label):
    np.testing.assert_allclose(host(got), to_numpy(want), rtol=1e-5, atol=1e-6, err_msg=label)


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_return_state_equals_keras(cls, return_sequences):
    k, m = _pair(cls, return_state=True, return_sequences=return_sequences)
    got, want = m(X), k(X)
    assert isinstance(got, list) and len(got) == len(want) == 1 + N_STATES[cls]
    for i, (g, w) in enumerate(zip(got, want)):
        _close(g, w, f"{cls} return_state part {i}")
    assert m.compute_output_shape((None, 3, 5)) == [tuple(s) for s in k.compute_output_shape((None, 3, 5))]


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_initial_state_equals_keras(cls):
    k, m = _pair(cls, return_state=True, return_sequences=True)
    states = [RNG.standard_normal((2, 4)).astype("float32") for _ in range(N_STATES[cls])]
    for g, w in zip(m(X, initial_state=states), k(X, initial_state=states)):
        _close(g, w, f"{cls} from initial_state")
    with pytest.raises(ValueError, match="initial state"):
        m(X, initial_state=states + states)
    with pytest.raises(ValueError, match=r"initial state 0 must have shape \(2, 4\)"):
        m(X, initial_state=[np.zeros((2, 3), "float32")] * N_STATES[cls])


def test_gru_reset_before_initial_state_equals_keras():
    k, m = _pair("GRU", reset_after=False, return_sequences=True)
    h0 = RNG.standard_normal((2, 4)).astype("float32")
    _close(m(X, initial_state=[h0]), k(X, initial_state=[h0]), "GRU(reset_after=False) initial_state")


def _seq2seq(K):
    enc_in = K.Input((None, 5))
    _, h, c = K.layers.LSTM(4, return_state=True)(enc_in)
    dec_in = K.Input((None, 5))
    seq = K.layers.LSTM(4, return_sequences=True)(dec_in, initial_state=[h, c])
    return K.Model([enc_in, dec_in], K.layers.Dense(3)(seq))


def test_encoder_states_feed_the_decoder_as_in_keras(tmp_path):
    km, mm = _seq2seq(keras), _seq2seq(mk)
    mm.set_weights(km.get_weights())
    dec = RNG.standard_normal((2, 4, 5)).astype("float32")
    _close(mm([X, dec]), km([X, dec]), "seq2seq")
    assert mm.count_params() == km.count_params()
    mm.compile(optimizer="adam", loss="mse")
    mm.fit([X, dec], np.zeros((2, 4, 3)), epochs=2, verbose=0)
    path = tmp_path / "s2s.keras"
    mm.save(path)
    again = mk.models.load_model(path)
    np.testing.assert_allclose(again.predict([X, dec], verbose=0), mm.predict([X, dec], verbose=0), atol=1e-7)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_return_state_and_initial_state_equal_keras(return_sequences):
    k = keras.layers.Bidirectional(keras.layers.LSTM(4, return_state=True, return_sequences=return_sequences))
    m = mk.layers.Bidirectional(mk.layers.LSTM(4, return_state=True, return_sequences=return_sequences))
    k(X)
    m(X)
    m.set_weights(k.get_weights())
    got, want = m(X), k(X)
    assert len(got) == len(want) == 5
    for i, (g, w) in enumerate(zip(got, want)):
        _close(g, w, f"Bidirectional state {i}")
    states = [RNG.standard_normal((2, 4)).astype("float32") for _ in range(4)]
    for i, (g, w) in enumerate(zip(m(X, initial_state=states), k(X, initial_state=states))):
        _close(g, w, f"Bidirectional from initial_state, part {i}")
    symbolic = m(mk.Input((3, 5)))
    assert [t.shape for t in symbolic] == [tuple(t.shape) for t in k(keras.Input((3, 5)))]


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_stateful_carries_states_across_calls_as_keras(cls):
    k, m = _pair(cls, stateful=True, return_sequences=True)
    k.reset_states()
    m.reset_states()
    for step in range(3):                   # each call starts from the previous call's final states
        _close(m(X), k(X), f"{cls} stateful call {step}")
    k.reset_state()
    m.reset_state()
    _close(m(X), k(X), f"{cls} after reset_state")
    with pytest.raises(ValueError, match="batch size 2"):
        m(np.zeros((3, 3, 5), "float32"))


def test_stateful_model_with_a_fixed_batch_trains_and_resets():
    model = mk.Sequential([mk.Input(batch_shape=(2, 3, 5)), mk.layers.LSTM(4, stateful=True),
                           mk.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.tile(X, (2, 1, 1)), np.zeros((4, 1)), batch_size=2, shuffle=False, epochs=1, verbose=0)
    lstm = model.layers[0]
    assert lstm.states is not None and np.any(host(lstm.states[0]) != 0)
    first = model.predict(X, verbose=0)
    lstm.reset_states()
    assert np.all(host(lstm.states[0]) == 0)
    again = model.predict(X, verbose=0)
    lstm.reset_states()
    np.testing.assert_allclose(model.predict(X, verbose=0), again)
    assert not np.allclose(first, again)


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_go_backwards_and_unroll_equal_keras(cls):
    k, m = _pair(cls, go_backwards=True, return_sequences=True, unroll=True)
    _close(m(X), k(X), f"{cls} go_backwards")


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_dropout_is_off_in_inference_as_keras(cls):
    k, m = _pair(cls, recurrent_dropout=0.4, dropout=0.3, return_sequences=True)
    _close(m(X), k(X), f"{cls} recurrent_dropout at inference")


def test_recurrent_dropout_in_training_equals_a_hand_computed_run():
    """Keras' rule: one dropout mask per gate on the recurrent state (and per gate on the inputs), drawn once per
    call and used at every step."""
    layer = mk.layers.LSTM(3, recurrent_dropout=0.5, dropout=0.25, return_sequences=True, dtype="float64")
    x = RNG.standard_normal((4, 6, 2)).astype(np.float32).astype(np.float64)     # arrays arrive as floatx
    layer(x)
    kernel, recurrent, bias = layer.get_weights()
    md.manual_seed(7)
    got = host(layer(x, training=True))
    md.manual_seed(7)                       # the same draws, in the layer's order: 4 input masks, 4 state masks
    ones_in = md.ones(4, 1, 2, dtype=md.float64)
    in_masks = [host(md.nn.functional.dropout(ones_in, 0.25, True)) for _ in range(4)]
    ones_h = md.ones(4, 3, dtype=md.float64)
    rec_masks = [host(md.nn.functional.dropout(ones_h, 0.5, True)) for _ in range(4)]

    def sig(v):
        return 1 / (1 + np.exp(-v))
    h, c, outs = np.zeros((4, 3)), np.zeros((4, 3)), []
    for t in range(6):
        z = [(x[:, t] * in_masks[g][:, 0]) @ kernel[:, g * 3:(g + 1) * 3] + (h * rec_masks[g]) @
             recurrent[:, g * 3:(g + 1) * 3] + bias[g * 3:(g + 1) * 3] for g in range(4)]
        c = sig(z[1]) * c + sig(z[0]) * np.tanh(z[2])
        h = sig(z[3]) * np.tanh(c)
        outs.append(h)
    np.testing.assert_allclose(got, np.stack(outs, 1), atol=1e-12)
    assert not np.allclose(got, host(layer(x)))         # training differs from inference


def test_recurrent_dropout_trains():
    model = mk.Sequential([mk.Input((3, 5)), mk.layers.GRU(4, recurrent_dropout=0.3), mk.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()[1].copy()
    model.train_on_batch(X, np.ones((2, 1)))
    assert not np.allclose(model.get_weights()[1], before)      # the recurrent kernel got a gradient


def test_new_arguments_round_trip_through_config_and_match_keras_keys():
    m = mk.layers.LSTM(3, recurrent_dropout=0.2, return_state=True, stateful=True, unroll=True, go_backwards=True)
    config = m.get_config()
    k = keras.layers.LSTM(3, recurrent_dropout=0.2, return_state=True, stateful=True, unroll=True, go_backwards=True)
    want = k.get_config()
    for key in ("recurrent_dropout", "return_state", "stateful", "unroll", "go_backwards", "zero_output_for_mask",
                "seed"):
        assert config[key] == want[key], key
    assert mk.layers.LSTM.from_config(config).get_config() == config


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("mask_rows", [[[1, 1, 0, 1]], [[0, 1, 1, 0]]])      # the step loop; one fused run
def test_masked_runs_from_initial_states_gradcheck(f64, cls, mask_rows):
    from minidl.testing import assert_gradcheck  # noqa: PLC0415
    layer = getattr(mk.layers, cls)(3, return_sequences=True, return_state=True)
    x = np.random.default_rng(5).standard_normal((2, 4, 2))
    layer(x)
    mask = md.tensor(np.repeat(np.array(mask_rows, bool), 2, axis=0))
    h0 = np.random.default_rng(6).standard_normal((2, 3))

    def run(t, h):
        out = layer(t, initial_state=[h] * (2 if cls == "LSTM" else 1), mask=mask)
        return out[0].sum() + out[1].sum() * 0.5
    assert_gradcheck(run, x, h0)
