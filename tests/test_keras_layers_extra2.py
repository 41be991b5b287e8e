"""Identity, ActivityRegularization (and activity_regularizer on any layer), add_loss, AlphaDropout,
SpatialDropout3D, UnitNormalization, RMSNormalization, GroupNormalization and the functional merge spellings,
against Keras 3 itself."""
import numpy as np
import pytest
import torch

from keras_oracle import keras, to_numpy

import minidl as md
from minidl import keras as mk

ROUND_TRIPPED = {"Identity", "ActivityRegularization", "AlphaDropout", "SpatialDropout3D", "UnitNormalization",
                 "RMSNormalization", "GroupNormalization"}

CASES = [("Identity", {}, (2, 3)), ("UnitNormalization", {}, (2, 3, 4)), ("UnitNormalization", {"axis": [1, 2]}, (2, 3, 4)),
         ("RMSNormalization", {}, (2, 3, 4)), ("RMSNormalization", {"axis": [1, 2], "epsilon": 1e-3}, (2, 3, 4)),
         ("GroupNormalization", {"groups": 2}, (2, 5, 5, 4)), ("GroupNormalization", {"groups": 4}, (3, 8)),
         ("GroupNormalization", {"groups": 3, "axis": 1}, (2, 6, 3, 2)),
         ("GroupNormalization", {"groups": 1, "center": False}, (2, 4, 6)),
         ("AlphaDropout", {"rate": 0.3}, (2, 3)), ("SpatialDropout3D", {"rate": 0.3}, (2, 2, 2, 2, 3)),
         ("ActivityRegularization", {"l1": 0.1, "l2": 0.2}, (2, 3))]


@pytest.mark.parametrize("name,kwargs,shape", CASES, ids=lambda v: str(v))
def test_inference_values_weights_and_configs_match_keras(name, kwargs, shape, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    ours, theirs = getattr(mk.layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    theirs.build(shape)
    ours.build((None,) + shape[1:])
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    np.testing.assert_allclose(ours(x).numpy(), to_numpy(theirs(x)), rtol=1e-5, atol=1e-5)
    config, keras_config = ours.get_config(), theirs.get_config()
    for key in set(kwargs) | {"axis", "epsilon", "groups", "rate"}:
        if key in keras_config:
            # (Keras' RMSNormalization turns axis into a list when it builds; the value is the same)
            assert np.atleast_1d(config[key]).tolist() == np.atleast_1d(keras_config[key]).tolist(), key
    model = mk.Sequential([mk.Input(shape[1:]), getattr(mk.layers, name)(**kwargs)])
    model.layers[0].set_weights(weights)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(mk.models.load_model(tmp_path / "m.keras").predict(x, verbose=0),
                               to_numpy(theirs(x)), rtol=1e-5, atol=1e-5)


def test_group_normalization_gradients_match_torch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 3, 6))
    layer = mk.layers.GroupNormalization(groups=3, dtype="float64")
    layer.build((None, 4, 3, 6))
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    layer.set_weights([gamma, beta])
    xt = md.tensor(x, requires_grad=True)
    g = rng.standard_normal(x.shape)
    (layer(xt) * md.tensor(g)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    y = torch.nn.functional.group_norm(tx.permute(0, 3, 1, 2), 3, torch.tensor(gamma), torch.tensor(beta), 1e-3)
    (y.permute(0, 2, 3, 1) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_alpha_dropout_keeps_selu_statistics_in_training():
    md.manual_seed(0)
    y = mk.layers.AlphaDropout(0.2)(np.random.default_rng(2).standard_normal((200, 500)).astype(np.float32),
                                     training=True).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    alpha_p, rate = -1.6732632423543772 * 1.0507009873554805, 0.2
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    dropped = a * alpha_p - a * alpha_p * rate            # the one value every dropped unit takes
    assert np.isclose(y, dropped, rtol=0, atol=1e-6).mean() == pytest.approx(0.2, abs=0.01)


def test_spatial_dropout_3d_drops_whole_channels():
    y = mk.layers.SpatialDropout3D(0.5)(np.ones((4, 2, 3, 2, 8), np.float32), training=True).numpy()
    per_channel = y.reshape(4, -1, 8)
    assert np.all(per_channel.min(1) == per_channel.max(1)) and set(np.unique(y)) <= {0.0, 2.0}


def _fit_once(lib, model, x, y):
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
    return model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history["loss"][0]


def test_activity_regularizer_and_add_loss_reach_the_training_loss_as_in_keras():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)

    def build(lib):
        class Penalty(lib.layers.Layer):
            def call(self, inputs):
                self.add_loss(0.05 * lib.ops.sum(inputs * inputs))
                return inputs

        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, activity_regularizer=lib.regularizers.L2(0.3)),
                                Penalty(), lib.layers.ActivityRegularization(l1=0.2), lib.layers.Dense(2)])
        return model

    ours, theirs = build(mk), build(keras)
    theirs.set_weights(ours.get_weights())
    assert _fit_once(mk, ours, x, y) == pytest.approx(_fit_once(keras, theirs, x, y), rel=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    ours(x[:2])
    assert len(ours.losses) == 3                      # one pass: the two activity losses and the add_loss
    ours(x[:2])
    assert len(ours.losses) == 3                      # the next pass replaces them


def test_functional_merge_spellings_match_keras():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2, 4)).astype(np.float32), rng.standard_normal((2, 4)).astype(np.float32)
    for name, kwargs in (("add", {}), ("subtract", {}), ("multiply", {}), ("average", {}), ("maximum", {}),
                         ("minimum", {}), ("concatenate", {"axis": 0}), ("dot", {"axes": 1, "normalize": True})):
        np.testing.assert_allclose(getattr(mk.layers, name)([md.tensor(a), md.tensor(b)], **kwargs).numpy(),
                                   to_numpy(getattr(keras.layers, name)([a, b], **kwargs)), rtol=1e-5, atol=1e-6)
    x = mk.Input((4,))
    assert mk.layers.concatenate([mk.layers.Dense(3)(x), mk.layers.Dense(5)(x)]).shape == (None, 8)


def test_bad_group_counts_are_refused():
    with pytest.raises(ValueError, match="multiple"):
        mk.layers.GroupNormalization(groups=3)(np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match="cannot be more"):
        mk.layers.GroupNormalization(groups=8)(np.ones((1, 4), np.float32))
