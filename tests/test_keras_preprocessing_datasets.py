"""keras.utils.image_dataset_from_directory / text_dataset_from_directory on real files: the file index and splits
against Keras' own indexing (keras.src.utils.dataset_utils, which runs without TensorFlow), image values against
Pillow plus Keras' Resizing, and training on the datasets."""
import sys

import numpy as np
import pytest
from keras_oracle import keras, to_numpy
from PIL import Image

from minidl import keras as mk

from keras.src.utils import dataset_utils  # noqa: E402  (Keras' file indexing, no TensorFlow needed)


@pytest.fixture
def image_dir(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for c, count in (("cats", 5), ("dogs", 4), ("owls", 3)):
        (root / c).mkdir(parents=True)
        for i in range(count):
            size = (9 + i, 12)
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    (root / "cats" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return root


@pytest.fixture
def text_dir(tmp_path):
    root = tmp_path / "texts"
    for c, words in (("neg", ["bad", "awful", "boring"]), ("pos", ["good", "great", "fun", "nice"])):
        (root / c).mkdir(parents=True)
        for i, w in enumerate(words):
            (root / c / f"{i}.txt").write_text(f"{w} movie number {i}", encoding="utf-8")
    return root


def _collect(ds):
    xs, ys = zip(*list(ds))
    return np.concatenate(xs), np.concatenate(ys)


def test_image_files_labels_and_order_match_keras_index(image_dir):
    ds = mk.utils.image_dataset_from_directory(image_dir, image_size=(8, 10), batch_size=4, seed=7, verbose=False)
    paths, labels, names = dataset_utils.index_directory(str(image_dir), "inferred", formats=(".png",), seed=7)
    assert ds.class_names == names == ["cats", "dogs", "owls"]
    assert ds.file_paths == list(paths)
    assert len(ds) == 3
    x, y = _collect(mk.utils.image_dataset_from_directory(image_dir, image_size=(8, 10), batch_size=4,
                                                          shuffle=False, verbose=False))
    assert x.shape == (12, 8, 10, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(y, [0] * 5 + [1] * 4 + [2] * 3)
    assert y.dtype == np.int32
    first = np.asarray(Image.open(image_dir / "cats" / "0.png").convert("RGB"), np.float32)
    np.testing.assert_allclose(x[0], to_numpy(keras.layers.Resizing(8, 10)(first)), rtol=1e-5, atol=1e-3)


def test_image_color_modes_label_modes_and_nearest(image_dir):
    kw = {"image_size": (5, 6), "shuffle": False, "verbose": False}
    x, y = _collect(mk.utils.image_dataset_from_directory(image_dir, color_mode="grayscale",
                                                          label_mode="categorical", interpolation="nearest", **kw))
    assert x.shape == (12, 5, 6, 1) and y.shape == (12, 3)
    np.testing.assert_array_equal(y.argmax(1), [0] * 5 + [1] * 4 + [2] * 3)
    gray = np.asarray(Image.open(image_dir / "dogs" / "1.png").convert("L"), np.float32)[:, :, None]
    np.testing.assert_allclose(x[6], to_numpy(keras.layers.Resizing(5, 6, interpolation="nearest")(gray)))
    rgba, _ = _collect(mk.utils.image_dataset_from_directory(image_dir, color_mode="rgba", **kw))
    assert rgba.shape[-1] == 4
    two = mk.utils.image_dataset_from_directory(image_dir, class_names=["owls", "dogs"], label_mode="binary", **kw)
    _, yb = _collect(two)
    assert two.class_names == ["owls", "dogs"] and yb.shape == (7, 1) and yb.dtype == np.float32
    np.testing.assert_array_equal(yb[:, 0], [0] * 3 + [1] * 4)
    only = mk.utils.image_dataset_from_directory(image_dir, labels=None, batch_size=5, **kw)
    assert [b.shape[0] for b in only] == [5, 5, 2]
    cropped = next(iter(mk.utils.image_dataset_from_directory(image_dir, crop_to_aspect_ratio=True, **kw)))[0]
    src = np.asarray(Image.open(image_dir / "cats" / "0.png").convert("RGB"), np.float32)
    want = to_numpy(keras.layers.Resizing(5, 6, crop_to_aspect_ratio=True)(src))
    np.testing.assert_allclose(cropped[0], want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("split", [0.2, 0.25, 0.5])
def test_validation_split_matches_keras(image_dir, split):
    train, val = mk.utils.image_dataset_from_directory(image_dir, image_size=(4, 4), batch_size=3, seed=11,
                                                       validation_split=split, subset="both", verbose=False)
    paths, labels, _ = dataset_utils.index_directory(str(image_dir), "inferred", formats=(".png",), seed=11)
    want_train, _ = dataset_utils.get_training_or_validation_split(paths, labels, split, "training")
    want_val, want_labels = dataset_utils.get_training_or_validation_split(paths, labels, split, "validation")
    assert train.file_paths == list(want_train) and val.file_paths == list(want_val)
    _, y_val = _collect(mk.utils.image_dataset_from_directory(image_dir, image_size=(4, 4), seed=11,
                                                              validation_split=split, subset="validation",
                                                              shuffle=True, verbose=False))
    assert sorted(y_val.tolist()) == sorted(np.asarray(want_labels).tolist())
    with pytest.raises(ValueError, match="seed"):
        mk.utils.image_dataset_from_directory(image_dir, validation_split=split, subset="training")
    with pytest.raises(ValueError, match="subset"):
        mk.utils.image_dataset_from_directory(image_dir, validation_split=split, subset="test", seed=1)


def test_dataset_methods_map_cache_take_unbatch(image_dir):
    ds = mk.utils.image_dataset_from_directory(image_dir, image_size=(4, 4), batch_size=5, seed=3, verbose=False)
    first = [y for _, y in ds]
    second = [y for _, y in ds]
    assert sorted(np.concatenate(first).tolist()) == sorted(np.concatenate(second).tolist())
    scaled = ds.map(lambda x, y: (x / 255.0, y + 10))
    xs, ys = _collect(scaled)
    assert xs.max() <= 1.0 and ys.min() >= 10
    cached = ds.cache().prefetch(buffer_size=2)
    a, b = [y.tolist() for _, y in cached], [y.tolist() for _, y in cached]
    assert a == b                                           # replayed in the first pass's order
    assert len(ds.take(2)) == 2 and len(list(ds.take(2))) == 2 and len(list(ds.skip(2))) == 1
    samples = list(ds.unbatch())
    assert len(samples) == 12 and samples[0][0].shape == (4, 4, 3)
    rebatched = ds.unbatch().batch(4)
    assert len(rebatched) == 3 and [x.shape[0] for x, _ in rebatched] == [4, 4, 4]
    assert all(isinstance(x, np.ndarray) for x, _ in scaled.as_numpy_iterator())


def test_fit_on_image_dataset_with_augmentation(image_dir):
    train, val = mk.utils.image_dataset_from_directory(image_dir, image_size=(8, 8), batch_size=4, seed=2,
                                                       validation_split=0.25, subset="both", verbose=False)
    model = mk.Sequential([mk.Input((8, 8, 3)), mk.layers.RandomFlip("horizontal", seed=1),
                           mk.layers.Rescaling(1 / 255), mk.layers.Flatten(), mk.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train.cache().prefetch(2), validation_data=val, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and "val_accuracy" in history.history
    assert model.predict(val, verbose=0).shape == (len(val.file_paths), 3)


def test_text_dataset_and_text_vectorization_pipeline(text_dir):
    ds = mk.utils.text_dataset_from_directory(text_dir, batch_size=3, seed=5, verbose=False)
    paths, labels, names = dataset_utils.index_directory(str(text_dir), "inferred", formats=(".txt",), seed=5)
    assert ds.class_names == names == ["neg", "pos"] and ds.file_paths == list(paths)
    texts, ys = _collect(ds)          # shuffled again each pass, as Keras' datasets are: compare (text, label) pairs
    want = sorted((open(p, encoding="utf-8").read(), int(c)) for p, c in zip(paths, labels))
    assert sorted(zip(texts.tolist(), ys.tolist())) == want
    short = mk.utils.text_dataset_from_directory(text_dir, max_length=4, shuffle=False, verbose=False)
    assert [t for t in _collect(short)[0]][:2] == ["bad ", "awfu"]
    vectorize = mk.layers.TextVectorization(max_tokens=30, output_sequence_length=4)
    vectorize.adapt(ds.map(lambda x, y: x))
    assert "movie" in vectorize.get_vocabulary()
    int_ds = ds.map(lambda x, y: (vectorize(x), y))
    model = mk.Sequential([mk.Input((4,), dtype="int64"), mk.layers.Embedding(30, 4),
                           mk.layers.GlobalAveragePooling1D(), mk.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    model.fit(int_ds, epochs=2, verbose=0)
    assert model.predict(int_ds, verbose=0).shape == (7, 1)


def test_messages_and_errors(image_dir, tmp_path, capsys, monkeypatch):
    mk.utils.image_dataset_from_directory(image_dir, seed=1, validation_split=0.25, subset="training")
    out = capsys.readouterr().out
    assert "Found 12 files belonging to 3 classes." in out and "Using 9 files for training." in out
    with pytest.raises(ValueError, match="class_names"):
        mk.utils.image_dataset_from_directory(image_dir, class_names=["cats", "zebras"], verbose=False)
    with pytest.raises(ValueError, match="exactly 2"):
        mk.utils.image_dataset_from_directory(image_dir, label_mode="binary", verbose=False)
    with pytest.raises(ValueError, match="len\\(labels\\) is 2"):
        mk.utils.image_dataset_from_directory(image_dir, labels=[0, 1], verbose=False)
    with pytest.raises(ValueError, match="does not exist"):
        mk.utils.image_dataset_from_directory(tmp_path / "nowhere")
    (tmp_path / "bad" / "a").mkdir(parents=True)
    (tmp_path / "bad" / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read the image"):
        list(mk.utils.image_dataset_from_directory(tmp_path / "bad", verbose=False))
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r'pip install "minidl\[image\]"'):
        mk.utils.image_dataset_from_directory(image_dir)


def test_exported_where_keras_exports_them():
    for name in ("image_dataset_from_directory", "text_dataset_from_directory"):
        assert hasattr(keras.utils, name) and hasattr(keras.preprocessing, name)
        assert getattr(mk.preprocessing, name) is getattr(mk.utils, name)
