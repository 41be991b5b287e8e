"""keras.constraints against Keras 3 itself: the projections' values, and their place in training (after each
optimizer step, on Dense/Conv/normalization weights and add_weight), and configs through .keras files."""
import numpy as np
import pytest

from keras_oracle import keras, to_numpy

import minidl as md
from minidl import keras as mk

CASES = [("MaxNorm", {}), ("MaxNorm", {"max_value": 0.5, "axis": 1}), ("MinMaxNorm", {}),
         ("MinMaxNorm", {"min_value": 0.8, "max_value": 1.2, "rate": 0.5, "axis": [0, 1]}), ("NonNeg", {}),
         ("UnitNorm", {}), ("UnitNorm", {"axis": -1})]


@pytest.mark.parametrize("name,kwargs", CASES)
def test_projection_values_match_keras(name, kwargs):
    w = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    ours, theirs = getattr(mk.constraints, name)(**kwargs), getattr(keras.constraints, name)(**kwargs)
    np.testing.assert_allclose(np.asarray(ours(md.tensor(w))), to_numpy(theirs(keras.ops.convert_to_tensor(w))),
                               rtol=1e-5, atol=1e-7)
    assert ours.get_config() == {k: v for k, v in theirs.get_config().items()}


def test_names_resolve_as_keras():
    for name in ("max_norm", "min_max_norm", "non_neg", "unit_norm"):
        assert type(mk.constraints.get(name)).__name__ == type(keras.constraints.get(name)).__name__


def _dense_models(constraint_ours, constraint_theirs, x, y):
    ours = mk.Sequential([mk.Input((4,)), mk.layers.Dense(3, kernel_constraint=constraint_ours,
                                                          bias_constraint="non_neg")])
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, kernel_constraint=constraint_theirs,
                                                                     bias_constraint="non_neg")])
    theirs.set_weights(ours.get_weights())
    for m in (ours, theirs):
        m.compile(optimizer="sgd", loss="mse")
        m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    return ours, theirs


def test_training_applies_constraints_after_each_step_as_keras():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 4)).astype(np.float32), (rng.standard_normal((16, 3)) * 5).astype(np.float32)
    ours, theirs = _dense_models(mk.constraints.MaxNorm(0.3), keras.constraints.MaxNorm(0.3), x, y)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    kernel, bias = ours.get_weights()
    assert np.all(np.linalg.norm(kernel, axis=0) <= 0.3 + 1e-5) and np.all(bias >= 0)


def test_conv_batchnorm_and_add_weight_constraints_hold_after_fit(tmp_path):
    class Scale(mk.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", constraint="non_neg", name="w")

        def call(self, x):
            return x * self.w

    model = mk.Sequential([mk.Input((6, 6, 2)), mk.layers.Conv2D(4, 3, kernel_constraint=mk.constraints.UnitNorm([0, 1, 2])),
                           mk.layers.BatchNormalization(gamma_constraint=mk.constraints.MinMaxNorm(0.5, 0.6)),
                           mk.layers.Flatten(), Scale(), mk.layers.Dense(1)])
    model.compile(optimizer=mk.optimizers.SGD(0.5), loss="mse")
    rng = np.random.default_rng(2)
    model.fit(rng.standard_normal((8, 6, 6, 2)).astype(np.float32), -10 * np.ones((8, 1), np.float32), epochs=2,
              verbose=0)
    kernel = model.layers[0].get_weights()[0]
    np.testing.assert_allclose(np.linalg.norm(kernel.reshape(-1, 4), axis=0), 1.0, rtol=1e-4)
    gamma = model.layers[1].get_weights()[0]
    assert 0.5 - 1e-5 <= np.linalg.norm(gamma) <= 0.6 + 1e-5
    assert np.all(model.layers[3].get_weights()[0] >= 0)
    # the constraints are in the configs, and come back from a .keras file
    model.save(tmp_path / "m.keras")
    again = mk.models.load_model(tmp_path / "m.keras", custom_objects={"Scale": Scale})
    assert again.layers[0].get_config()["kernel_constraint"] == {"class_name": "UnitNorm",
                                                                  "config": {"axis": [0, 1, 2]}}
    assert isinstance(again.layers[1].gamma_constraint, mk.constraints.MinMaxNorm)


def test_a_function_is_a_constraint_too():
    layer = mk.layers.Dense(2, kernel_constraint=lambda w: w * 0.0)
    model = mk.Sequential([mk.Input((3,)), layer])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32), verbose=0)
    assert np.all(layer.get_weights()[0] == 0)


def test_bad_identifiers_and_custom_saves_are_refused(tmp_path):
    with pytest.raises(ValueError, match="constraint identifier"):
        mk.layers.Dense(2, kernel_constraint="no_such")
    model = mk.Sequential([mk.Input((3,)), mk.layers.Dense(2, kernel_constraint=lambda w: w)])
    with pytest.raises(ValueError, match="custom constraint"):
        model.save(tmp_path / "m.keras")
