"""Multi-output training in md.keras against Keras 3 itself: loss lists/dicts, loss_weights, per-output metrics, the
names of the logs, and the values (same weights in both)."""
import numpy as np
import pytest
from keras_helpers import fresh_session  # noqa: F401
from keras_oracle import keras as K

import minidl.keras as keras


def _model(lib):
    inp = lib.Input((4,))
    hidden = lib.layers.Dense(5, activation="tanh", name="hidden")(inp)
    cls = lib.layers.Dense(3, activation="softmax", name="cls")(hidden)
    reg = lib.layers.Dense(1, name="reg")(hidden)
    return lib.Model(inp, [cls, reg])


def _pair():
    ours, theirs = _model(keras), _model(K)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def _data(n=24):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, 3, n),
            rng.normal(size=(n, 1)).astype("float32"))


COMPILES = [
    dict(loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5], metrics=[["accuracy"], ["mae"]]),
    dict(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"}, loss_weights={"cls": 0.3, "reg": 2.0},
         metrics={"cls": "accuracy"}),
    dict(loss=["sparse_categorical_crossentropy", "mae"], metrics=[None, ["mae", "mse"]]),
]


@pytest.mark.parametrize("kwargs", COMPILES)
def test_evaluate_logs_match_keras_names_and_values(kwargs):
    x, y1, y2 = _data()
    ours, theirs = _pair()
    ours.compile("sgd", **kwargs)
    theirs.compile("sgd", **kwargs)
    got = ours.evaluate(x, [y1, y2], verbose=0, return_dict=True)
    want = theirs.evaluate(x, [y1, y2], verbose=0, return_dict=True)
    assert set(got) == set(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-5, abs=1e-6), k
    # the weighted sum: loss = sum(w_i * output loss_i)
    weights = kwargs.get("loss_weights") or [1.0, 1.0]
    weights = [weights["cls"], weights["reg"]] if isinstance(weights, dict) else weights
    assert got["loss"] == pytest.approx(weights[0] * got["cls_loss"] + weights[1] * got["reg_loss"], rel=1e-6)
    # the list form: loss, the output losses, then the metrics, in Keras' order
    listed = ours.evaluate(x, [y1, y2], verbose=0)
    assert listed == pytest.approx([got[k] for k in ours.metrics_names], rel=1e-6)


def test_fit_history_and_weights_match_keras():
    x, y1, y2 = _data(32)
    ours, theirs = _pair()
    spec = COMPILES[0]
    ours.compile(keras.optimizers.SGD(0.05), **spec)
    theirs.compile(K.optimizers.SGD(0.05), **spec)
    h = ours.fit(x, {"cls": y1, "reg": y2}, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
    k = theirs.fit(x, {"cls": y1, "reg": y2}, batch_size=8, epochs=2, shuffle=False, verbose=0,
                   validation_split=0.25)
    assert set(h.history) == set(k.history)
    for key in k.history:
        np.testing.assert_allclose(h.history[key], k.history[key], rtol=2e-4, atol=1e-5, err_msg=key)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_zero_loss_weight_leaves_that_head_untrained():
    x, y1, y2 = _data()
    model = _model(keras)
    model.compile(keras.optimizers.SGD(0.1), loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.0])
    before = model.get_layer("reg").get_weights()
    model.fit(x, [y1, y2], epochs=2, verbose=0)
    for a, b in zip(before, model.get_layer("reg").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_one_loss_for_every_output_and_predict_gives_a_list():
    x, y1, y2 = _data()
    model = _model(keras)
    model.compile("adam", loss="mse")
    logs = model.evaluate(x, [np.eye(3, dtype="float32")[y1], y2], verbose=0, return_dict=True)
    assert set(logs) == {"loss", "cls_loss", "reg_loss"}
    out = model.predict(x, verbose=0)
    assert [o.shape for o in out] == [(24, 3), (24, 1)]


def test_bad_multi_output_specs_are_clear_errors():
    model = _model(keras)
    with pytest.raises(ValueError, match="list of 1 entries.*2 outputs"):
        model.compile("adam", loss=["mse"])
    with pytest.raises(ValueError, match="must name every output"):
        model.compile("adam", loss={"reg": "mse"})
    with pytest.raises(ValueError, match="not outputs of the model"):
        model.compile("adam", loss="mse", loss_weights={"nope": 1.0})
    with pytest.raises(ValueError, match="metrics is a list of 1 entries"):
        model.compile("adam", loss="mse", metrics=["mae"])
    model.compile("adam", loss="mse")
    x, y1, y2 = _data()
    with pytest.raises(ValueError, match="2 outputs"):
        model.fit(x, y2, verbose=0)
    with pytest.raises(ValueError, match="output names"):
        model.fit(x, {"cls": y1}, verbose=0)
    with pytest.raises(ValueError, match="single output"):
        model.fit(x, [y1, y2], class_weight={0: 1.0, 1: 1.0, 2: 1.0}, verbose=0)


def test_a_compiled_multi_output_model_round_trips_through_a_keras_file(tmp_path):
    x, y1, y2 = _data()
    model = _model(keras)
    model.compile("adam", **COMPILES[1])
    model.fit(x, [y1, y2], epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras")
    assert back.metrics_names == model.metrics_names == ["loss", "cls_loss", "reg_loss", "cls_accuracy"]
    got = back.evaluate(x, [y1, y2], verbose=0, return_dict=True)
    want = model.evaluate(x, [y1, y2], verbose=0, return_dict=True)
    assert got == pytest.approx(want, rel=1e-6)
