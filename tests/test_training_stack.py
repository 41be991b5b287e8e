"""One training stack: ``md.train.fit`` and ``md.keras.Model.fit`` run on the same loop (``minidl.train.engine``) with
one Callback, one History and one Metric hierarchy, and the keras modules import each other in one direction only."""
import ast
import json
import os

import numpy as np
import pytest
from keras_helpers import fresh_session  # noqa: F401

import minidl as md
import minidl.keras as keras
from minidl.nn import functional as F


def _blobs(n=60):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, 4)) + 2.0 * np.eye(3, 4)[y]).astype("float32")
    return x, y


class Recorder(keras.callbacks.Callback):
    """Keras' hooks, written once, recorded in both loops."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(f"epoch_begin {epoch}")

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(f"batch_end {batch} {sorted(logs)}")

    def on_test_begin(self, logs=None):
        self.calls.append("test_begin")

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(f"epoch_end {epoch} {sorted(logs)}")

    def on_train_end(self, logs=None):
        self.calls.append("train_end")


def _nn_model():
    md.manual_seed(0)
    return md.nn.Sequential(md.nn.Linear(4, 3))


def _keras_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_one_callback_class_reaches_both_loops_with_the_same_hooks():
    x, y = _blobs()
    ours, theirs = Recorder(), Recorder()
    model = _nn_model()
    md.train.fit(model, F.cross_entropy, md.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2,
                 batch_size=30, shuffle=False, validation_data=(x, y), verbose=0, callbacks=[ours])
    _keras_model().fit(x, y, batch_size=30, epochs=2, shuffle=False, validation_data=(x, y), verbose=0,
                       callbacks=[theirs])
    assert ours.calls == theirs.calls
    assert ours.calls[:4] == ["train_begin", "epoch_begin 0", "batch_end 0 ['accuracy', 'loss']",
                              "batch_end 1 ['accuracy', 'loss']"]
    assert ours.calls[5] == "epoch_end 0 ['accuracy', 'loss', 'val_accuracy', 'val_loss']"
    assert ours.model is model and ours.optimizer is not None and theirs.params["epochs"] == 2


def test_md_train_names_are_the_keras_classes():
    assert md.train.Callback is keras.callbacks.Callback
    assert md.train.History is keras.callbacks.History
    assert md.train.LambdaCallback is keras.callbacks.LambdaCallback
    assert issubclass(md.train.EarlyStopping, keras.callbacks.EarlyStopping)
    assert issubclass(md.train.ModelCheckpoint, keras.callbacks.ModelCheckpoint)
    assert md.train.Metric is keras.metrics.Metric
    metric = md.train.get_metric("accuracy")
    assert isinstance(metric, keras.metrics.Metric) and metric.name == "accuracy"
    assert isinstance(md.train.get_metric("mae"), keras.metrics.MeanAbsoluteError)
    from minidl.keras import model as keras_model
    from minidl.train import loop
    from minidl.train.engine import fit_loop
    assert keras_model.fit_loop is fit_loop and loop.fit_loop is fit_loop


def test_md_train_metric_spelling_and_keras_spelling_agree():
    out = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    target = np.array([1, 2, 2])
    a, b = md.train.get_metric("accuracy"), keras.metrics.SparseCategoricalAccuracy()
    a.update(out, target)                   # md.train's order: (output, target)
    b.update_state(target, out)             # Keras' order
    assert a.result() == b.result() == pytest.approx(2 / 3)
    a.reset_state()
    assert a.result() == 0.0


def test_the_history_of_md_train_reads_both_ways():
    x, y = _blobs()
    model = _nn_model()
    h = md.train.fit(model, F.cross_entropy, md.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=3,
                     verbose=0)
    assert isinstance(h, keras.callbacks.History)
    assert h["loss"] == h.history["loss"] and set(h) == {"loss", "accuracy"} and h.epoch == [0, 1, 2]
    assert dict(h) == h.history and json.loads(json.dumps(h)) == h.history


def test_keras_callbacks_drive_md_train_and_stop_it():
    x, y = _blobs()
    model = _nn_model()
    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    h = md.train.fit(model, F.cross_entropy, md.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=10,
                     verbose=0, callbacks=[stopper, keras.callbacks.TerminateOnNaN()])
    assert len(h["loss"]) == 2 and stopper.stopped_epoch == 1 and model.stop_training


def test_md_train_callbacks_drive_keras_fit(tmp_path):
    x, y = _blobs()
    model = _keras_model()
    ckpt = md.train.ModelCheckpoint(tmp_path / "ep{epoch}.weights.safetensors", monitor="loss")
    seen = []
    model.fit(x, y, epochs=2, verbose=0, callbacks=[ckpt, md.train.LambdaCallback(on_batch_end=lambda b, logs:
                                                                                     seen.append(b))])
    assert [os.path.basename(p) for p in ckpt.saved] == ["ep1.weights.safetensors", "ep2.weights.safetensors"]
    assert seen == [0, 1] * 2
    with pytest.raises(KeyError, match="'val_loss' is not logged"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[md.train.EarlyStopping()])


def test_keras_model_checkpoint_saves_an_md_nn_state_dict(tmp_path):
    x, y = _blobs()
    model = _nn_model()
    ckpt = keras.callbacks.ModelCheckpoint(tmp_path / "m.safetensors", monitor="loss", save_weights_only=True)
    md.train.fit(model, F.cross_entropy, md.optim.SGD(model.parameters(), lr=0.1), (x, y), verbose=0,
                 callbacks=[ckpt])
    assert set(md.load(tmp_path / "m.safetensors")) == set(model.state_dict())


def test_a_callback_stopping_mid_epoch_ends_both_loops_after_that_batch():
    x, y = _blobs()

    class StopAtSecondBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True
    model = _nn_model()
    h = md.train.fit(model, F.cross_entropy, md.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=3,
                     batch_size=10, verbose=0, callbacks=[StopAtSecondBatch()])
    k = _keras_model().fit(x, y, batch_size=10, epochs=3, verbose=0, callbacks=[StopAtSecondBatch()])
    assert h.epoch == k.epoch == [0]


def _imports(module_path):
    tree = ast.parse(open(module_path).read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names.add(node.module)
    return names


def test_saving_and_summary_do_not_import_the_model_classes():
    root = os.path.join(os.path.dirname(md.__file__), "keras")
    for name in ("saving.py", "summary.py", "saving_optimizer.py", "compile_utils.py", "data_adapter.py"):
        assert not _imports(os.path.join(root, name)) & {"model", "sequential"}, name
    src = open(os.path.join(root, "saving.py")).read() + open(os.path.join(root, "summary.py")).read()
    assert "isinstance(layer, Model)" not in src and "isinstance(layer, Sequential)" not in src
