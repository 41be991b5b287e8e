"""Keras 3's .weights.h5 files: md.keras writes the layout Keras reads and reads what Keras writes (Sequential,
functional with several inputs, nested models, BatchNormalization's moving statistics, recurrent and conv layers),
and a bad file is a ValueError naming it before any weight changes."""
import numpy as np
import pytest

from keras_oracle import keras

from minidl import keras as mk


def _build(lib, kind):
    if kind == "sequential":
        return lib.Sequential([lib.Input((6, 6, 2)), lib.layers.Conv2D(3, 3), lib.layers.BatchNormalization(),
                               lib.layers.Flatten(), lib.layers.Dense(4), lib.layers.Dense(2)])
    if kind == "functional":
        a, b = lib.Input((5, 3), name="a"), lib.Input((4,), name="b")
        x = lib.layers.concatenate([lib.layers.LSTM(3)(a), lib.layers.Dense(3)(b)])
        return lib.Model([a, b], lib.layers.Dense(2)(lib.layers.GRU(2)(lib.layers.Reshape((3, 2))(x))))
    inner = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3), lib.layers.Dense(3)], name="inner")
    i = lib.Input((4,))
    return lib.Model(i, lib.layers.Dense(1)(inner(i)))


def _inputs(kind, rng):
    if kind == "sequential":
        return rng.standard_normal((3, 6, 6, 2)).astype("float32")
    if kind == "functional":
        return [rng.standard_normal((3, 5, 3)).astype("float32"), rng.standard_normal((3, 4)).astype("float32")]
    return rng.standard_normal((3, 4)).astype("float32")


@pytest.mark.parametrize("kind", ["sequential", "functional", "nested"])
def test_weights_move_both_ways_between_md_keras_and_keras(kind, tmp_path):
    rng = np.random.default_rng(0)
    ours, theirs = _build(mk, kind), _build(keras, kind)
    weights = [rng.standard_normal(w.shape).astype("float32") + (1.5 if w.ndim == 1 else 0)
               for w in theirs.get_weights()]           # positive moving variances
    ours.set_weights(weights)
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    x = _inputs(kind, rng)
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    theirs.set_weights([w * 0.5 for w in theirs.get_weights()])
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    again = _build(mk, kind)
    again.load_weights(tmp_path / "theirs.weights.h5")
    np.testing.assert_allclose(again.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_checkpoint_callback_writes_weights_h5(tmp_path):
    model = _build(mk, "nested")
    model.compile(optimizer="sgd", loss="mse")
    path = tmp_path / "best.weights.h5"
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 1), "float32"), epochs=2, verbose=0,
              callbacks=[mk.callbacks.ModelCheckpoint(str(path), save_weights_only=True)])
    fresh = _build(mk, "nested")
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_files_are_refused_before_any_weight_changes(tmp_path):
    model = _build(mk, "sequential")
    before = [w.copy() for w in model.get_weights()]
    (tmp_path / "junk.weights.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="junk.weights.h5"):
        model.load_weights(tmp_path / "junk.weights.h5")
    other = mk.Sequential([mk.Input((6, 6, 2)), mk.layers.Conv2D(3, 3), mk.layers.BatchNormalization(),
                           mk.layers.Flatten(), mk.layers.Dense(4), mk.layers.Dense(5)])
    other.save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(ValueError, match=r"layers/dense_1/vars/0 has shape \(4, 5\)"):
        model.load_weights(tmp_path / "other.weights.h5")
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="weights.h5"):
        model.save_weights(tmp_path / "model.h5")


def test_wrapped_and_recurrent_layers_nest_as_in_keras(tmp_path):
    rng = np.random.default_rng(3)

    def build(lib):
        return lib.Sequential([lib.Input((5, 3)), lib.layers.Bidirectional(lib.layers.LSTM(2, return_sequences=True)),
                               lib.layers.TimeDistributed(lib.layers.Dense(2)), lib.layers.SimpleRNN(2)])
    ours, theirs = build(mk), build(keras)
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    ours.set_weights([w * 0.9 for w in ours.get_weights()])
    ours.save_weights(tmp_path / "m.weights.h5")
    theirs.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
