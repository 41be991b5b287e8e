"""md.keras' numeric preprocessing layers against Keras 3 (PyTorch backend): Rescaling, Normalization (adapt, saved
statistics), CategoryEncoding; Hashing against its own documented rules (Keras' Hashing needs TensorFlow)."""
import numpy as np
import pytest
from keras_oracle import keras, to_numpy

import minidl as md
from minidl import keras as mk

L = mk.layers


def _model_file(tmp_path, layer, shape, name="m.keras"):
    model = mk.Sequential([mk.Input(shape), layer])
    path = tmp_path / name
    model.save(path)
    return model, mk.models.load_model(path)


# the preprocessing layers whose configs round-trip through .keras files in these test files (image ones in
# test_keras_preprocessing_image.py, lookups in test_keras_preprocessing_text.py); test_keras_layers.py checks that
# every registered layer has such a case
PREPROCESSING_ROUND_TRIPPED = {"Rescaling", "Normalization", "CategoryEncoding", "Hashing", "Resizing", "CenterCrop",
                               "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast",
                               "RandomBrightness", "StringLookup", "IntegerLookup", "TextVectorization"}


def test_preprocessing_layers_are_registered_for_loading():
    from minidl.keras.layers import _PREPROCESSING  # noqa: PLC0415
    assert {c.__name__ for c in _PREPROCESSING} == PREPROCESSING_ROUND_TRIPPED
    for name in PREPROCESSING_ROUND_TRIPPED:
        assert L.LAYERS[name] is getattr(L, name) and name in L.__all__


def test_rescaling_round_trips_through_a_keras_file(tmp_path):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    model, loaded = _model_file(tmp_path, L.Rescaling([1.0, 2.0, 3.0], offset=0.5), (3,))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), x * [1, 2, 3] + 0.5)
    assert loaded.layers[0].get_config() == {**model.layers[0].get_config(), "name": loaded.layers[0].name}


def test_rescaling_values_config_gradient():
    x = np.arange(12, dtype=np.uint8).reshape(2, 6)
    ours, theirs = L.Rescaling(1 / 127.5, offset=-1), keras.layers.Rescaling(1 / 127.5, offset=-1)
    np.testing.assert_allclose(ours(x).numpy(), to_numpy(theirs(x)), rtol=1e-6)
    assert ours(x).dtype == md.float32
    assert ours.get_config()["scale"] == theirs.get_config()["scale"]
    assert ours.get_config()["offset"] == theirs.get_config()["offset"]
    t = md.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    L.Rescaling(0.5, 2.0)(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="Rescaling scale"):
        L.Rescaling("x")


@pytest.mark.parametrize("axis,shape", [(-1, (20, 3)), ((1, 2), (6, 2, 3, 4)), (None, (10, 2)), (1, (8, 3, 2))])
def test_normalization_adapt_matches_keras(axis, shape):
    rng = np.random.default_rng(0)
    x = (rng.random(shape) * 5 + 2).astype(np.float32)
    ours, theirs = L.Normalization(axis=axis), keras.layers.Normalization(axis=axis)
    ours.adapt(x)
    theirs.adapt(x)
    np.testing.assert_allclose(ours(x).numpy(), to_numpy(theirs(x)), rtol=1e-4, atol=1e-4)
    ours_w, theirs_w = ours.get_weights(), [to_numpy(w) for w in theirs.weights]
    assert [w.shape for w in ours_w] == [w.shape for w in theirs_w]
    assert [w.name for w in ours._weights] == [w.name for w in theirs.weights] == ["mean", "variance", "count"]
    np.testing.assert_allclose(ours_w[0], theirs_w[0], rtol=1e-5)
    np.testing.assert_allclose(ours_w[1], theirs_w[1], rtol=1e-4)


def test_normalization_adapt_from_batches_generator_and_dataset():
    rng = np.random.default_rng(1)
    x = rng.normal(3, 2, (50, 4)).astype(np.float32)
    whole = L.Normalization()
    whole.adapt(x)
    batched = L.Normalization()
    batched.adapt(x, batch_size=7)
    gen = L.Normalization()
    gen.adapt(x[i:i + 10] for i in range(0, 50, 10))
    pairs = L.Normalization()
    pairs.adapt([(x[i:i + 25], np.zeros(25)) for i in (0, 25)])       # (x, y) batches contribute x
    for other in (batched, gen, pairs):
        for a, b in zip(whole.get_weights(), other.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5)
    assert int(whole.get_weights()[2]) == 50
    steps = L.Normalization()
    steps.adapt(x, batch_size=10, steps=1)
    np.testing.assert_allclose(steps.get_weights()[0], x[:10].mean(0), rtol=1e-5)


def test_normalization_given_stats_and_invert_match_keras():
    x = np.random.default_rng(2).random((4, 3)).astype(np.float32)
    kw = {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0]}
    for invert in (False, True):
        ours, theirs = L.Normalization(invert=invert, **kw), keras.layers.Normalization(invert=invert, **kw)
        np.testing.assert_allclose(ours(x).numpy(), to_numpy(theirs(x)), rtol=1e-5)
        assert ours.count_params() == 0 and ours.get_config()["mean"] == kw["mean"]
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        L.Normalization(mean=[1.0])
    with pytest.raises(ValueError, match="cannot adapt"):
        L.Normalization(**kw).adapt(x)


def test_normalization_gradient_and_param_counts():
    x = np.random.default_rng(3).random((10, 3)).astype(np.float32)
    norm = L.Normalization()
    norm.adapt(x)
    t = md.tensor(x, requires_grad=True)
    norm(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.broadcast_to(1 / x.std(0), x.shape), rtol=1e-4)
    model = mk.Sequential([mk.Input((3,)), norm])
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Normalization()])
    assert model.count_params() == theirs.count_params() == 7
    assert model.layers[0]._param_counts() == (0, 7)


def test_normalization_adapted_state_saved_and_loaded(tmp_path):
    x = np.random.default_rng(4).normal(5, 3, (30, 4)).astype(np.float32)
    norm = L.Normalization()
    norm.adapt(x)
    model, loaded = _model_file(tmp_path, norm, (4,))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    for a, b in zip(loaded.layers[0].get_weights(), norm.get_weights()):
        np.testing.assert_array_equal(a, b)
    _, fixed = _model_file(tmp_path, L.Normalization(axis=None, mean=2.0, variance=4.0), (4,), "f.keras")
    np.testing.assert_allclose(fixed.predict(x, verbose=0), (x - 2) / 2, rtol=1e-5)


def test_normalization_in_fit_stays_fixed():
    x = np.random.default_rng(5).random((32, 3)).astype(np.float32)
    y = x.sum(1, keepdims=True)
    norm = L.Normalization()
    norm.adapt(x)
    before = norm.get_weights()
    model = mk.Sequential([mk.Input((3,)), norm, L.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(before, norm.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["multi_hot", "one_hot", "count"])
@pytest.mark.parametrize("data", [[0, 1, 3], [[0, 2], [3, 3]], [[1], [2]]])
def test_category_encoding_matches_keras(mode, data):
    x = np.array(data)
    ours, theirs = L.CategoryEncoding(4, output_mode=mode), keras.layers.CategoryEncoding(4, output_mode=mode)
    want = to_numpy(theirs(x))
    got = ours(x).numpy()
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    sym = L.CategoryEncoding(4, output_mode=mode)(mk.Input(x.shape[1:]))
    assert sym.shape[1:] == want.shape[1:] or x.ndim == 1


def test_category_encoding_count_weights_config_and_errors(tmp_path):
    x = np.array([[0, 1, 1], [2, 2, 3]])
    w = np.array([[0.5, 1.0, 2.0], [1.0, 1.0, 0.25]], np.float32)
    ours, theirs = L.CategoryEncoding(4, output_mode="count"), keras.layers.CategoryEncoding(4, output_mode="count")
    np.testing.assert_allclose(ours(x, count_weights=w).numpy(), to_numpy(theirs(x, count_weights=w)))
    config = {k: v for k, v in ours.get_config().items() if k in ("num_tokens", "output_mode")}
    assert config == {k: theirs.get_config()[k] for k in config}
    with pytest.raises(ValueError, match=r"\[0, num_tokens=4\)"):
        ours(np.array([[5]]))
    with pytest.raises(ValueError, match="output_mode"):
        L.CategoryEncoding(3, output_mode="bad")
    model, loaded = _model_file(tmp_path, L.CategoryEncoding(5, output_mode="one_hot"), (1,))
    ids = np.array([[0], [4]])
    np.testing.assert_array_equal(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0))
    assert model.predict(ids, verbose=0).shape == (2, 5)


def test_hashing_bins_are_keras_documented_bins():
    # Keras' Hashing needs TensorFlow (not a test dependency): these are the bins Keras documents for its examples
    # (FarmHash Fingerprint64 without a salt, SipHash-2-4 with one)
    letters = [["A"], ["B"], ["C"], ["D"], ["E"]]
    np.testing.assert_array_equal(L.Hashing(num_bins=3)(letters).numpy().ravel(), [1, 0, 1, 1, 2])
    np.testing.assert_array_equal(L.Hashing(num_bins=3, mask_value="")([["A"], ["B"], [""], ["C"], ["D"]]).numpy()
                                  .ravel(), [1, 1, 0, 2, 2])
    np.testing.assert_array_equal(L.Hashing(num_bins=3, salt=[133, 137])(letters).numpy().ravel(), [1, 2, 1, 0, 2])
    np.testing.assert_array_equal(L.Hashing(num_bins=3, salt=133)(letters).numpy().ravel(), [0, 0, 2, 1, 0])


def test_hash_functions_match_their_references():
    from minidl.keras.layers.hash_functions import fingerprint64, siphash24  # noqa: PLC0415
    key = (int.from_bytes(bytes(range(8)), "little"), int.from_bytes(bytes(range(8, 16)), "little"))
    assert siphash24(*key, b"") == 0x726fdb47dd0e0e31                     # SipHash's published test vectors
    assert siphash24(*key, bytes(range(15))) == 0xa129ca6149be45e5
    assert fingerprint64(b"") == 0x9ae16a3b2f90404f                        # FarmHash's value for empty input
    try:
        import farmhash  # noqa: PLC0415 -- pyfarmhash, when installed: every length through each code path
    except ImportError:
        return
    rng = np.random.default_rng(0)
    for n in [*range(0, 130), 255, 256, 257, 1000]:
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert fingerprint64(data) == farmhash.fingerprint64(data), n


def test_hashing_bins_are_stable_and_follow_the_arguments():
    words = np.array([["apple"], ["banana"], ["apple"], ["cherry"], ["durian"]])
    bins = L.Hashing(num_bins=4)(words).numpy()
    assert bins.shape == (5, 1) and bins.dtype == np.int64
    assert bins[0, 0] == bins[2, 0] and ((bins >= 0) & (bins < 4)).all()
    np.testing.assert_array_equal(L.Hashing(num_bins=4)(words).numpy(), bins)    # the same in a new layer
    many = L.Hashing(num_bins=8)(np.array([str(i) for i in range(400)])).numpy()
    assert set(many.tolist()) == set(range(8))                                   # every bin is used
    ints = L.Hashing(num_bins=8)(np.arange(400)).numpy()
    np.testing.assert_array_equal(ints, many)            # integers hash as their decimal text
    masked = L.Hashing(num_bins=3, mask_value="")(np.array(["", "a", "b", ""])).numpy()
    assert masked[0] == masked[3] == 0 and (masked[1:3] >= 1).all()
    salted = L.Hashing(num_bins=1000, salt=[1, 2])(np.array([str(i) for i in range(50)])).numpy()
    plain = L.Hashing(num_bins=1000)(np.array([str(i) for i in range(50)])).numpy()
    assert (salted != plain).any()
    hot = L.Hashing(num_bins=4, output_mode="multi_hot")(words).numpy()
    np.testing.assert_array_equal(hot.argmax(1), bins[:, 0])
    with pytest.raises(ValueError, match="num_bins"):
        L.Hashing(num_bins=1, mask_value="")


def test_hashing_config_round_trip_in_a_model(tmp_path):
    layer = L.Hashing(num_bins=10, salt=7)
    inputs = mk.Input(shape=(1,), dtype="string")
    model = mk.Model(inputs, layer(inputs))
    path = tmp_path / "h.keras"
    model.save(path)
    loaded = mk.models.load_model(path)
    words = np.array([["x"], ["yy"], ["zzz"]])
    np.testing.assert_array_equal(loaded.predict(words, verbose=0), model.predict(words, verbose=0))
    assert loaded.layers[0].get_config()["salt"] == [7, 7]
