"""Keras' GRU(reset_after=False): the reset gate before the recurrent product, one bias; values against a NumPy
recurrence written from Keras' formulas, gradients by float64 gradcheck, parameter count and a .keras round trip."""
import numpy as np

import minidl as md
from minidl import keras
from minidl.testing import assert_gradcheck


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _numpy_gru(x, kernel, recurrent, bias, units):
    h = np.zeros((x.shape[0], units))
    outs = []
    for t in range(x.shape[1]):
        p = x[:, t] @ kernel + bias
        z = _sigmoid(p[:, :units] + h @ recurrent[:, :units])
        r = _sigmoid(p[:, units:2 * units] + h @ recurrent[:, units:2 * units])
        cand = np.tanh(p[:, 2 * units:] + (r * h) @ recurrent[:, 2 * units:])
        h = z * h + (1 - z) * cand
        outs.append(h)
    return np.stack(outs, 1)


def test_values_follow_keras_formulas_and_the_parameter_count():
    rng = np.random.default_rng(0)
    layer = keras.layers.GRU(5, reset_after=False, return_sequences=True, dtype="float64")
    x = rng.standard_normal((3, 7, 4))
    layer(x)
    kernel, recurrent, bias = (rng.standard_normal(s) * 0.5 for s in ((4, 15), (5, 15), (15,)))
    layer.set_weights([kernel, recurrent, bias])
    np.testing.assert_allclose(layer(md.tensor(x)).numpy(), _numpy_gru(x, kernel, recurrent, bias, 5), rtol=1e-12)
    assert layer.count_params() == 3 * (4 * 5 + 5 * 5 + 5) == 150
    last = keras.layers.GRU(5, reset_after=False, dtype="float64", go_backwards=True)
    last(x)
    last.set_weights([kernel, recurrent, bias])
    np.testing.assert_allclose(last(md.tensor(x)).numpy(), _numpy_gru(x[:, ::-1], kernel, recurrent, bias, 5)[:, -1],
                               rtol=1e-12)


def test_gradients_pass_gradcheck():
    layer = keras.layers.GRU(3, reset_after=False, return_sequences=True, dtype="float64")
    x = np.random.default_rng(1).standard_normal((2, 4, 3))
    layer(x)
    assert_gradcheck(lambda t: layer(t), x)
    out = layer(md.tensor(x))
    (out * out).sum().backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in layer.parameters())


def test_it_trains_and_round_trips_through_a_keras_file(tmp_path):
    md.manual_seed(0)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 6, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.float32)[:, None]
    model = keras.Sequential([keras.Input(shape=(6, 2)), keras.layers.GRU(8, reset_after=False),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=25, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    model.save(tmp_path / "gru.keras")
    back = keras.models.load_model(tmp_path / "gru.keras")
    assert back.layers[0].get_config()["reset_after"] is False
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
