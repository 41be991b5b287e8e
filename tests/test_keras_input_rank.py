"""A functional model fed inputs one rank off its Input, as Keras 3 allows: a trailing axis of size 1 is added
or dropped (``(N,)`` strings into ``Input(shape=(1,), dtype="string")``, the text-classification pattern)."""
import numpy as np
import pytest

from keras_oracle import keras

from minidl import keras as mk


def test_one_rank_off_inputs_match_keras():
    x1, x2 = np.arange(3, dtype="float32"), np.arange(3, dtype="float32")[:, None]
    for shape, x in (((1,), x1), ((), x2)):
        outs = []
        for lib in (keras, mk):
            i = lib.Input(shape=shape)
            outs.append(lib.Model(i, lib.layers.Reshape((1,))(i)).predict(x, verbose=0))
        np.testing.assert_array_equal(outs[0], outs[1])


def test_raw_strings_through_a_vectorizing_functional_model():
    texts = np.array(["good fine great", "bad awful poor", "great good", "poor bad"])
    labels = np.array([1, 0, 1, 0], "float32")
    vectorize = mk.layers.TextVectorization(max_tokens=20, output_mode="multi_hot")
    vectorize.adapt(texts)
    inputs = mk.Input(shape=(1,), dtype="string")
    model = mk.Model(inputs, mk.layers.Dense(1, activation="sigmoid")(vectorize(inputs)))
    model.compile(optimizer=mk.optimizers.Adam(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(texts, labels, epochs=30, verbose=0)
    assert model.evaluate(texts, labels, verbose=0)[1] == 1.0
    assert model.predict(texts, verbose=0).shape == (4, 1)


def test_inputs_and_targets_as_dicts_by_name_as_keras():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((16, 3)).astype("float32"), rng.standard_normal((16, 2)).astype("float32")
    t = rng.standard_normal((16, 1)).astype("float32")
    models = []
    for lib in (keras, mk):
        ia, ib = lib.Input((3,), name="alpha"), lib.Input((2,), name="beta")
        model = lib.Model([ia, ib], lib.layers.Dense(1, name="score")(lib.layers.concatenate([ia, ib])))
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    results = []
    for model in models:
        h = model.fit({"beta": b, "alpha": a}, t, batch_size=8, epochs=2, shuffle=False, verbose=0,
                      validation_data=({"alpha": a, "beta": b}, t))
        results.append((model.get_weights(), h.history["val_loss"],
                        model.predict({"alpha": a, "beta": b}, verbose=0)))
    (w0, v0, p0), (w1, v1, p1) = results
    np.testing.assert_allclose(v1, v0, rtol=1e-5)
    np.testing.assert_allclose(p1, p0, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Input names"):
        model.predict({"alpha": a}, verbose=0)


def test_given_input_names_are_kept():
    assert mk.Input((2,), name="title").name == mk.Input((2,), name="title").name == "title"


def test_layer_output_of_a_call_with_states_and_masks_on_tensors():
    inputs = mk.Input((None, 3))
    lstm = mk.layers.LSTM(4, return_state=True)
    out, h, c = lstm(inputs)
    assert lstm.output == [out, h, c]
    x = mk.layers.Embedding(10, 4, mask_zero=True)(mk.Input((None,), dtype="int32"))
    assert x._keras_mask is not None and x._keras_mask.shape == (None, None)
    eager = mk.layers.Embedding(10, 4, mask_zero=True)(np.array([[3, 0]]))
    assert eager._keras_mask.numpy().tolist() == [[True, False]]


def test_a_custom_layer_taking_a_mask_traces_with_one():
    class TemporalSoftmax(mk.layers.Layer):
        def call(self, inputs, mask=None):
            m = mk.ops.expand_dims(mk.ops.cast(mask, "float32"), -1)
            e = mk.ops.exp(inputs) * m
            return e / mk.ops.sum(e, axis=1, keepdims=True)

    inputs = mk.Input((None,), dtype="int32")
    x = mk.layers.Dense(1)(mk.layers.Embedding(10, 4, mask_zero=True)(inputs))
    model = mk.Model(inputs, TemporalSoftmax()(x))
    y = model.predict(np.array([[1, 2, 0, 0]]), verbose=0)
    np.testing.assert_allclose(y[0, :2, 0].sum(), 1.0, rtol=1e-6)
    assert np.all(y[0, 2:] == 0)
