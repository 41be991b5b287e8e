"""``.keras`` files carry the optimizer's state: a fit resumed after ``load_model`` equals an uninterrupted one."""
import json
import os
import zipfile

import numpy as np
import pytest
from keras_helpers import fresh_session  # noqa: F401

import minidl.keras as keras


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(48, 5)).astype("float32"), rng.integers(0, 3, 48)


def _model(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


OPTIMIZERS = [lambda: keras.optimizers.Adam(1e-2), lambda: keras.optimizers.SGD(0.05, momentum=0.9),
              lambda: keras.optimizers.RMSprop(1e-2),
              lambda: keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-2, 3, 0.5))]


@pytest.mark.parametrize("make_opt", OPTIMIZERS, ids=["adam", "sgd_momentum", "rmsprop", "adam_schedule"])
def test_resumed_training_equals_uninterrupted(make_opt, tmp_path):
    x, y = _data()
    whole = _model(make_opt())
    h_whole = whole.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    first = _model(make_opt())
    first.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    first.save(tmp_path / "half.keras")
    resumed = keras.models.load_model(tmp_path / "half.keras")
    assert resumed.optimizer.iterations == 6
    h_rest = resumed.fit(x, y, batch_size=16, epochs=4, initial_epoch=2, shuffle=False, verbose=0)
    assert h_rest.epoch == [2, 3]
    np.testing.assert_allclose(h_rest.history["loss"], h_whole.history["loss"][2:], rtol=1e-6, atol=1e-7)
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_without_the_state_a_fresh_optimizer_diverges(tmp_path):
    """The check above is not vacuous: recompiling (fresh Adam moments) gives other weights."""
    x, y = _data()
    whole = _model(keras.optimizers.Adam(1e-2))
    whole.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    first = _model(keras.optimizers.Adam(1e-2))
    first.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    first.save(tmp_path / "half.keras")
    fresh = keras.models.load_model(tmp_path / "half.keras", compile=False)
    fresh.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    fresh.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert max(np.abs(a - b).max() for a, b in zip(whole.get_weights(), fresh.get_weights())) > 1e-4


def test_a_changed_learning_rate_is_restored(tmp_path):
    x, y = _data()
    model = _model(keras.optimizers.Adam(1e-2))
    model.fit(x, y, epochs=1, verbose=0)
    model.optimizer.learning_rate = 1e-4          # as ReduceLROnPlateau would
    model.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras")
    assert back.optimizer.learning_rate == pytest.approx(1e-4)
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        names = set(zf.namelist())
        config = json.loads(zf.read("config.json"))
        stored = set(_tensors(zf.read("model.weights.safetensors"), tmp_path))
    assert names == {"config.json", "model.weights.safetensors"}     # the state sits with the weights, as in Keras
    assert {k for k in stored if k.startswith("optimizer/")} == {
        f"optimizer/{p}/{s}" for p, _ in back.named_parameters() for s in ("exp_avg", "exp_avg_sq")}
    assert config["optimizer_state"]["iterations"] == 2
    assert config["compile_config"]["metrics"] == ["accuracy"]


def _tensors(data, tmp_path):
    from minidl.serialization import load
    path = tmp_path / "w.safetensors"
    path.write_bytes(data)
    return {k: v.numpy() for k, v in load(path).items()}


def _pack(tensors, tmp_path):
    from minidl import _safetensors as st
    path = tmp_path / "w.safetensors"
    _, write = st.writer(tensors)
    with open(path, "wb") as f:
        write(f)
    return path.read_bytes()


def test_an_untrained_model_saves_no_optimizer_state(tmp_path):
    model = _model("adam")
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert "optimizer_state" not in json.loads(zf.read("config.json"))
        assert not [k for k in _tensors(zf.read("model.weights.safetensors"), tmp_path) if k.startswith("optim")]
    assert keras.models.load_model(tmp_path / "m.keras").optimizer.iterations == 0


def _rewrite(src, dst, change):
    """Copy the .keras zip ``src`` to ``dst`` with ``change(members)`` applied to its ``{name: bytes}``."""
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    change(members)
    with zipfile.ZipFile(dst, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)


def _config_edit(fn):
    def change(members):
        config = json.loads(members["config.json"])
        fn(config)
        members["config.json"] = json.dumps(config).encode()
    return change


def _weights_edit(fn, tmp_path):
    def change(members):
        tensors = _tensors(members["model.weights.safetensors"], tmp_path)
        fn(tensors)
        members["model.weights.safetensors"] = _pack(tensors, tmp_path)
    return change


def _first_moment(tensors):
    return next(k for k in tensors if k.endswith("exp_avg"))


@pytest.mark.parametrize("edit, fn, message", [
    ("config", lambda c: c["optimizer_state"].update(iterations=-3), "iterations"),
    ("config", lambda c: c["optimizer_state"].update(learning_rate="fast"), "learning_rate"),
    ("config", lambda c: c["optimizer_state"]["scalars"].update({"nope/step": 1.0}), "nope/step"),
    ("config", lambda c: c["optimizer_state"]["scalars"].update({k: [1] for k in c["optimizer_state"]["scalars"]}),
     "finite number"),
    ("config", lambda c: c.update(optimizer_state=[1, 2]), "optimizer_state"),
    ("weights", lambda t: t.update({"optimizer/nope.weight/exp_avg": np.zeros(2, np.float32)}), "nope.weight"),
    ("weights", lambda t: t.update({_first_moment(t): np.zeros((2, 2), np.float32)}), "shape"),
], ids=["iterations", "lr", "unknown_scalar", "bad_scalar", "not_a_dict", "unknown_tensor", "wrong_shape"])
def test_a_corrupt_optimizer_state_is_a_clear_error(tmp_path, edit, fn, message):
    x, y = _data()
    model = _model("adam")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "good.keras")
    change = _config_edit(fn) if edit == "config" else _weights_edit(fn, tmp_path)
    _rewrite(tmp_path / "good.keras", tmp_path / "bad.keras", change)
    with pytest.raises(ValueError, match=message):
        keras.models.load_model(tmp_path / "bad.keras")
    keras.models.load_model(tmp_path / "bad.keras", compile=False)     # the model itself still loads


def test_saving_stays_atomic_with_the_optimizer_state(tmp_path):
    x, y = _data()
    model = _model("adam")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")               # overwritten in place: only the final file remains
    assert os.listdir(tmp_path) == ["m.keras"]
    assert keras.models.load_model(tmp_path / "m.keras").optimizer.iterations == 4
