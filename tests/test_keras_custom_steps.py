"""Customising fit as Keras 3 does: a Model subclass overriding train_step / test_step (the PyTorch-backend guide's
code, with minidl in place of torch), compute_loss, the metrics property with the loss tracker and your own
metric attributes, optimizer.apply / apply_gradients, a model compiled without a loss that trains on add_loss;
weights and logs against Keras 3 itself."""
import numpy as np
import pytest
import torch

from keras_oracle import keras

import minidl as md
from minidl import keras as mk


def _custom_model_class(lib, no_grad):
    class CustomModel(lib.Model):
        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            loss.backward()
            weights = [v for v in self.trainable_weights]
            with no_grad():
                self.optimizer.apply([v.value.grad for v in weights], weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}
    return CustomModel


def _build(lib, cls):
    inputs = lib.Input(shape=(4,))
    outputs = lib.layers.Dense(1)(lib.layers.Dense(8, activation="tanh")(inputs))
    model = cls(inputs, outputs)
    model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    return model


def test_a_custom_train_step_trains_as_in_keras():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], np.float32)).astype(np.float32)
    ours = _build(mk, _custom_model_class(mk, md.no_grad))
    theirs = _build(keras, _custom_model_class(keras, torch.no_grad))
    theirs.set_weights(ours.get_weights())
    h_ours = ours.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, validation_data=(x[:16], y[:16]))
    h_theirs = theirs.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, validation_data=(x[:16], y[:16]))
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert set(h_ours.history) == set(h_theirs.history) == {"loss", "mae", "val_loss", "val_mae"}
    for key in h_theirs.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-5)
    assert h_ours.history["loss"][-1] < h_ours.history["loss"][0]
    logs = ours.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], theirs.evaluate(x, y, verbose=0, return_dict=True)["loss"], rtol=1e-5)


def test_own_metric_attributes_super_train_step_and_apply_gradients():
    class Tracked(mk.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.seen = mk.metrics.Sum(name="seen")

        def train_step(self, data):
            x, _ = data
            self.seen.update_state(float(len(x)))
            return {**super().train_step(data), "seen": self.seen.result()}

    inputs = mk.Input((3,))
    model = Tracked(inputs, mk.layers.Dense(2)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    assert [m.name for m in model.metrics] == ["loss", "seen"]
    history = model.fit(np.ones((10, 3), np.float32), np.zeros((10, 2), np.float32), batch_size=4, epochs=2,
                        verbose=0)
    assert history.history["seen"] == [10.0, 10.0]          # reset at each epoch, as Keras resets model.metrics
    before = model.get_weights()[0].copy()
    model.zero_grad()
    loss = model.compute_loss(y=np.ones((2, 2), np.float32), y_pred=model(np.ones((2, 3), np.float32)))
    loss.backward()
    model.optimizer.apply_gradients([(np.ones((3, 2), np.float32), model.trainable_weights[0]),
                                     (None, model.trainable_weights[1])])
    np.testing.assert_allclose(model.get_weights()[0], before - 0.01, rtol=1e-6)      # the given gradient, Keras' layout


def test_compiled_without_a_loss_trains_on_added_losses():
    class Shrink(mk.layers.Layer):
        def call(self, x):
            self.add_loss(mk.ops.mean(x * x))
            return x

    inputs = mk.Input((3,))
    model = mk.Model(inputs, Shrink()(mk.layers.Dense(3)(inputs)))
    model.compile(optimizer=mk.optimizers.SGD(0.1))
    history = model.fit(np.random.default_rng(1).standard_normal((32, 3)).astype(np.float32), epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    bare = mk.Model(inputs, mk.layers.Dense(3)(inputs))
    bare.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="loss"):
        bare.fit(np.ones((4, 3), np.float32), np.ones((4, 3), np.float32), verbose=0)


def test_unpack_and_pack_as_keras():
    for data in ((1,), (1, 2), (1, 2, 3), 5):
        assert mk.utils.unpack_x_y_sample_weight(data) == keras.utils.unpack_x_y_sample_weight(data)
    assert mk.utils.pack_x_y_sample_weight(1, 2) == keras.utils.pack_x_y_sample_weight(1, 2)
