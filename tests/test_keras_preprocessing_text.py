"""md.keras' StringLookup, IntegerLookup and TextVectorization. Keras runs these layers only with TensorFlow
installed (not a test dependency), so the expected values are the outputs Keras documents for its examples, and
hand-computed ones; configs are compared with Keras' constructor signatures."""
import inspect
import math

import numpy as np
import pytest
from keras_oracle import keras

from minidl import keras as mk

L = mk.layers
VOCAB = ["a", "b", "c", "d"]


def test_string_lookup_given_and_adapted_vocabulary():
    data = [["a", "c", "d"], ["d", "z", "b"]]
    layer = L.StringLookup(vocabulary=VOCAB)
    np.testing.assert_array_equal(layer(data).numpy(), [[1, 3, 4], [4, 0, 2]])
    assert layer.get_vocabulary() == ["[UNK]", *VOCAB] and layer.vocabulary_size() == 5
    adapted = L.StringLookup()
    adapted.adapt(data)
    assert adapted.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]       # by count, then larger token first
    np.testing.assert_array_equal(adapted(data).numpy(), [[5, 3, 1], [1, 2, 4]])
    assert adapted.get_vocabulary(include_special_tokens=False) == ["d", "z", "c", "b", "a"]


def test_string_lookup_output_modes():
    rows = [["a", "c", "d", "d"], ["d", "z", "b", "z"]]
    one_hot = L.StringLookup(vocabulary=VOCAB, output_mode="one_hot")(["a", "b", "c", "d", "z"]).numpy()
    np.testing.assert_array_equal(one_hot, np.eye(5)[[1, 2, 3, 4, 0]])
    np.testing.assert_array_equal(L.StringLookup(vocabulary=VOCAB, output_mode="multi_hot")(rows).numpy(),
                                  [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    np.testing.assert_array_equal(L.StringLookup(vocabulary=VOCAB, output_mode="count")(rows).numpy(),
                                  [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    tfidf = L.StringLookup(output_mode="tf_idf")
    tfidf.set_vocabulary(VOCAB, idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tfidf(rows).numpy(), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]], rtol=1e-6)
    with_oov = L.StringLookup(output_mode="tf_idf")
    with_oov.set_vocabulary(["[UNK]", *VOCAB], idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(with_oov(rows).numpy(), [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]], rtol=1e-6)
    padded = L.StringLookup(vocabulary=VOCAB, output_mode="multi_hot", max_tokens=8, pad_to_max_tokens=True)
    assert padded(rows).numpy().shape == (2, 8)


def test_string_lookup_invert_mask_and_oov_buckets():
    forward, inverse = L.StringLookup(vocabulary=VOCAB), L.StringLookup(vocabulary=VOCAB, invert=True)
    data = [["a", "c", "d"], ["d", "z", "b"]]
    assert inverse(forward(data)).tolist() == [["a", "c", "d"], ["d", "[UNK]", "b"]]
    masked = L.StringLookup(vocabulary=VOCAB, mask_token="")
    np.testing.assert_array_equal(masked([["a", "", "z"]]).numpy(), [[2, 0, 1]])
    assert masked.get_vocabulary() == ["", "[UNK]", *VOCAB]
    two = L.StringLookup(vocabulary=VOCAB, num_oov_indices=2)
    out = two([["a", "c", "d"], ["m", "z", "b"]]).numpy()
    np.testing.assert_array_equal(out, [[2, 4, 5], [0, 1, 3]])             # OOV buckets by FarmHash, as Keras
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        L.StringLookup(vocabulary=VOCAB, num_oov_indices=0)([["q"]])
    with pytest.raises(ValueError, match="repeated term"):
        L.StringLookup(vocabulary=["a", "a"])


def test_integer_lookup_documented_values():
    vocab = [12, 36, 1138, 42]
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    np.testing.assert_array_equal(L.IntegerLookup(vocabulary=vocab)(data).numpy(), [[1, 3, 4], [4, 0, 2]])
    adapted = L.IntegerLookup()
    adapted.adapt(data)
    assert adapted.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    np.testing.assert_array_equal(adapted(data).numpy(), [[5, 2, 1], [1, 3, 4]])
    two = L.IntegerLookup(vocabulary=vocab, num_oov_indices=2)
    np.testing.assert_array_equal(two(np.array([[12, 1138, 42], [37, 1000, 36]])).numpy(), [[2, 4, 5], [1, 0, 3]])
    inverse = L.IntegerLookup(vocabulary=vocab, invert=True)
    np.testing.assert_array_equal(inverse(np.array([[1, 3, 4], [4, 0, 2]])), [[12, 1138, 42], [42, -1, 36]])
    counts = L.IntegerLookup(vocabulary=vocab, output_mode="count")(np.array([[12, 1138, 42, 42],
                                                                             [42, 7, 36, 7]])).numpy()
    np.testing.assert_array_equal(counts, [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    with pytest.raises(ValueError, match="integers"):
        L.IntegerLookup(vocabulary=vocab)(np.array([1.5]))


def test_lookup_adapt_max_tokens_tf_idf_and_datasets():
    docs = [["x", "y", "y"], ["y", "z", "z"], ["w", "y", "z"]]
    layer = L.StringLookup(max_tokens=3, output_mode="tf_idf")
    layer.adapt(iter([np.array(docs[:2]), np.array(docs[2:])]))
    assert layer.get_vocabulary() == ["[UNK]", "y", "z"]
    idf = [math.log(1 + 3 / (1 + 3)), math.log(1 + 3 / (1 + 2))]
    out = layer(np.array([["y", "z", "q"]])).numpy()
    np.testing.assert_allclose(out, [[np.mean(idf), idf[0], idf[1]]], rtol=1e-6)


def test_text_vectorization_documented_values():
    layer = L.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    np.testing.assert_array_equal(layer([["foo qux bar"], ["qux baz"]]).numpy(), [[4, 1, 3, 0], [1, 2, 0, 0]])
    given = L.TextVectorization(output_sequence_length=4, vocabulary=["earth", "wind", "and", "fire"])
    assert given.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    np.testing.assert_array_equal(given(np.array(["Wind, and FIRE!"])).numpy(), [[3, 4, 5, 0]])


def test_text_vectorization_standardize_split_ngrams_and_modes():
    texts = np.array(["The cat sat.", "the DOG sat, the end"])
    ragged = L.TextVectorization()
    ragged.adapt(texts)
    assert ragged.get_vocabulary() == ["", "[UNK]", "the", "sat", "end", "dog", "cat"]
    np.testing.assert_array_equal(ragged(texts).numpy(), [[2, 6, 3, 0, 0], [2, 5, 3, 2, 4]])     # padded to longest
    raw = L.TextVectorization(standardize=None, split="character", output_sequence_length=3)
    raw.adapt(["ab", "b"])
    assert raw.get_vocabulary() == ["", "[UNK]", "b", "a"]
    np.testing.assert_array_equal(raw(["Abba"]).numpy(), [[1, 2, 2]])
    grams = L.TextVectorization(ngrams=2, output_mode="count")
    grams.adapt(["a b a"])
    assert set(grams.get_vocabulary()) == {"[UNK]", "a", "b", "a b", "b a"}
    counts = dict(zip(grams.get_vocabulary(), grams(["a b a b"]).numpy()[0]))
    assert counts == {"[UNK]": 0, "a": 2, "b": 2, "a b": 2, "b a": 1}
    hot = L.TextVectorization(output_mode="multi_hot", max_tokens=4)
    hot.adapt(texts)
    assert hot(texts).numpy().shape == (2, 4) and hot.vocabulary_size() == 4
    fn = L.TextVectorization(standardize=lambda s: s.upper(), split=lambda s: s.split("-"))
    fn.adapt(["x-y", "y"])
    assert fn.get_vocabulary() == ["", "[UNK]", "Y", "X"]
    with pytest.raises(ValueError, match="cannot be saved"):
        fn.get_config()
    with pytest.raises(ValueError, match="output_sequence_length"):
        L.TextVectorization(output_mode="count", output_sequence_length=3)


def test_text_vectorization_on_a_dataset_of_text_label_batches():
    batches = [(np.array(["good good film"]), np.array([1])), (np.array(["bad film"]), np.array([0]))]
    layer = L.TextVectorization(output_mode="tf_idf")
    layer.adapt(batches)
    assert layer.get_vocabulary() == ["[UNK]", "good", "film", "bad"]       # a tie: the larger token first
    out = layer(["good film"]).numpy()[0]
    vocab = layer.get_vocabulary()
    assert out[vocab.index("good")] == pytest.approx(math.log(1 + 2 / 2))
    assert out[vocab.index("film")] == pytest.approx(math.log(1 + 2 / 3))


@pytest.mark.parametrize("name", ["StringLookup", "IntegerLookup", "TextVectorization", "Rescaling", "Normalization",
                                  "CategoryEncoding", "Hashing", "Resizing", "CenterCrop", "RandomFlip",
                                  "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast",
                                  "RandomBrightness"])
def test_arguments_and_defaults_are_keras(name):
    ours = inspect.signature(getattr(L, name).__init__).parameters
    theirs = inspect.signature(getattr(keras.layers, name).__init__).parameters
    for arg, p in ours.items():
        if arg in ("self", "kwargs"):
            continue
        assert arg in theirs and theirs[arg].default == p.default, arg


def test_vectorize_then_train_and_string_model_save_load(tmp_path):
    texts = np.array(["good great fun", "bad awful", "great good", "awful boring bad", "fun good", "bad"])
    labels = np.array([1, 0, 1, 0, 1, 0], np.float32)
    vectorize = L.TextVectorization(max_tokens=20, output_sequence_length=4)
    vectorize.adapt(texts)
    ids = vectorize(texts).numpy()
    model = mk.Sequential([mk.Input((4,), dtype="int64"), L.Embedding(20, 8), L.GlobalAveragePooling1D(),
                           L.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(ids, labels, epochs=60, verbose=0)
    assert model.evaluate(ids, labels, verbose=0)[1] == 1.0

    inputs = mk.Input(shape=(1,), dtype="string")
    end_to_end = mk.Model(inputs, model(vectorize(inputs)))
    end_to_end.compile("adam", "binary_crossentropy")
    end_to_end.fit(texts[:, None], labels, epochs=1, verbose=0)
    before = end_to_end.predict(texts[:, None], verbose=0)
    end_to_end.save(tmp_path / "text.keras")
    loaded = mk.models.load_model(tmp_path / "text.keras")
    np.testing.assert_allclose(loaded.predict(texts[:, None], verbose=0), before, rtol=1e-6)
    restored = loaded.layers[0]
    assert restored.get_vocabulary() == vectorize.get_vocabulary()


@pytest.mark.parametrize("layer", [
    lambda: L.StringLookup(vocabulary=VOCAB, mask_token="", num_oov_indices=2),
    lambda: L.StringLookup(vocabulary=VOCAB, output_mode="tf_idf", idf_weights=[1.0, 2.0, 3.0, 4.0]),
    lambda: L.IntegerLookup(vocabulary=[5, 9, 11], output_mode="multi_hot"),
    lambda: L.TextVectorization(vocabulary=["x", "y"], ngrams=(1, 2), output_mode="count")])
def test_lookup_configs_round_trip_through_keras_files(tmp_path, layer):
    original = layer()
    is_int = isinstance(original, L.IntegerLookup)
    inputs = mk.Input(shape=(4,) if not isinstance(original, L.TextVectorization) else (1,),
                      dtype="int64" if is_int else "string")
    model = mk.Model(inputs, original(inputs))
    model.save(tmp_path / "lookup.keras")
    loaded = mk.models.load_model(tmp_path / "lookup.keras")
    if is_int:
        data = np.array([[5, 9, 2, 11]])
    elif isinstance(original, L.TextVectorization):
        data = np.array([["x y z"]])
    else:
        data = np.array([["a", "", "q", "d"]])
    np.testing.assert_allclose(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    assert loaded.layers[0].get_config() == {**original.get_config(), "name": loaded.layers[0].name}


def test_vocabulary_files_in_code_but_never_from_a_config(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("earth\nwind\nfire\n", encoding="utf-8")
    layer = L.StringLookup(vocabulary=str(path))
    assert layer.get_vocabulary() == ["[UNK]", "earth", "wind", "fire"]
    assert L.TextVectorization(vocabulary=str(path)).vocabulary_size() == 5
    for cls in (L.StringLookup, L.IntegerLookup, L.TextVectorization):
        with pytest.raises(ValueError, match="vocabulary file path is accepted by the constructor only"):
            cls.from_config({"vocabulary": str(path)})
