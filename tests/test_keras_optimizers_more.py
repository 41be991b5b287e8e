"""Adadelta, Adamax and Nadam in md.keras against Keras 3 itself: the same Dense model, weights and batches give
the same weights after several steps; names and configs resolve as Keras'."""
import numpy as np
import pytest

from keras_oracle import keras

from minidl import keras as mk


@pytest.mark.parametrize("name,kwargs", [("Adadelta", {"learning_rate": 1.0}), ("Adadelta", {"rho": 0.8}),
                                         ("Adamax", {"learning_rate": 0.01}), ("Nadam", {"learning_rate": 0.01}),
                                         ("Nadam", {"beta_1": 0.8, "beta_2": 0.99})])
def test_steps_match_keras(name, kwargs):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 5)).astype(np.float32), rng.standard_normal((32, 2)).astype(np.float32)
    ours = mk.Sequential([mk.Input((5,)), mk.layers.Dense(4, activation="tanh"), mk.layers.Dense(2)])
    theirs = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    theirs.set_weights(ours.get_weights())
    ours.compile(getattr(mk.optimizers, name)(**kwargs), "mse")
    theirs.compile(getattr(keras.optimizers, name)(**kwargs), "mse")
    for m in (ours, theirs):
        m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    mine, keras_config = ours.optimizer.get_config(), theirs.optimizer.get_config()
    for key in ("rho", "beta_1", "beta_2", "epsilon"):
        if key in keras_config:
            assert mine[key] == pytest.approx(keras_config[key])


@pytest.mark.parametrize("name", ["adadelta", "adamax", "nadam"])
def test_names_and_configs(name):
    opt = mk.optimizers.get(name)
    assert type(opt).__name__ == type(keras.optimizers.get(name)).__name__
    again = mk.optimizers.get(mk.optimizers.serialize(opt))
    assert type(again) is type(opt) and again.get_config() == opt.get_config()
