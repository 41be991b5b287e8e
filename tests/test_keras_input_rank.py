"""A functional model fed inputs one rank off its Input, as Keras 3 allows: a trailing axis of size 1 is added
or dropped (``(N,)`` strings into ``Input(shape=(1,), dtype="string")``, the text-classification pattern)."""
import numpy as np

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
