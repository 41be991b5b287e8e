"""md.keras' image preprocessing and augmentation layers against Keras 3 (PyTorch backend). The random layers are
compared on degenerate ranges (a fixed angle, shift or zoom), where Keras' output is deterministic."""
import numpy as np
import pytest
import torch
from keras_oracle import keras, to_numpy

import minidl as md
from minidl import keras as mk

L = mk.layers
X = (np.random.default_rng(0).random((2, 6, 7, 3)) * 255).astype(np.float32)


def _same(ours, theirs, x=X, training=None, atol=2e-4):
    kw = {} if training is None else {"training": training}
    got, want = ours(x, **kw).numpy(), to_numpy(theirs(x, **kw))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("size", [(3, 4), (8, 9), (4, 4), (6, 7)])
@pytest.mark.parametrize("aspect", [{}, {"crop_to_aspect_ratio": True}, {"pad_to_aspect_ratio": True,
                                                                          "fill_value": 2.0}])
def test_resizing_matches_keras(interpolation, size, aspect):
    _same(L.Resizing(*size, interpolation=interpolation, **aspect),
          keras.layers.Resizing(*size, interpolation=interpolation, **aspect))


def test_resizing_single_image_channels_first_and_ints():
    _same(L.Resizing(3, 5), keras.layers.Resizing(3, 5), x=X[0])
    first = np.moveaxis(X, -1, 1)
    _same(L.Resizing(4, 3, data_format="channels_first"), keras.layers.Resizing(4, 3, data_format="channels_first"),
          x=first)
    out = L.Resizing(3, 3)(X.astype(np.uint8))
    assert out.dtype == md.float32


def test_resizing_bilinear_gradient_matches_torch():
    x = np.random.default_rng(1).random((1, 5, 6, 2)).astype(np.float32)
    t = md.tensor(x, requires_grad=True)
    (L.Resizing(3, 8)(t) ** 2).sum().backward()
    tt = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.interpolate(tt.permute(0, 3, 1, 2), size=(3, 8), mode="bilinear", align_corners=False)
    (out ** 2).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [(3, 4), (6, 7), (8, 9), (2, 9)])
def test_center_crop_matches_keras(size):
    _same(L.CenterCrop(*size), keras.layers.CenterCrop(*size))


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_affine_layers_match_keras_on_fixed_draws(fill_mode, interpolation):
    kw = {"fill_mode": fill_mode, "interpolation": interpolation, "fill_value": 3.0}
    _same(L.RandomRotation((0.07, 0.07), **kw), keras.layers.RandomRotation((0.07, 0.07), **kw), training=True)
    _same(L.RandomRotation((-0.3, -0.3), **kw), keras.layers.RandomRotation((-0.3, -0.3), **kw), training=True)
    _same(L.RandomTranslation((0.2, 0.2), (-0.3, -0.3), **kw),
          keras.layers.RandomTranslation((0.2, 0.2), (-0.3, -0.3), **kw), training=True)
    _same(L.RandomZoom((0.3, 0.3), (-0.2, -0.2), **kw), keras.layers.RandomZoom((0.3, 0.3), (-0.2, -0.2), **kw),
          training=True)
    _same(L.RandomZoom((-0.4, -0.4), **kw), keras.layers.RandomZoom((-0.4, -0.4), **kw), training=True)


def test_rotation_by_a_quarter_turn_is_rot90():
    square = np.arange(2 * 5 * 5 * 1, dtype=np.float32).reshape(2, 5, 5, 1)
    out = L.RandomRotation((0.25, 0.25))(square, training=True).numpy()
    np.testing.assert_allclose(out, np.rot90(square, k=1, axes=(1, 2)), atol=1e-3)


def test_brightness_matches_keras_on_a_fixed_draw_and_clips():
    _same(L.RandomBrightness((0.1, 0.1)), keras.layers.RandomBrightness((0.1, 0.1)), training=True)
    _same(L.RandomBrightness((-0.5, -0.5), value_range=(0, 1)),
          keras.layers.RandomBrightness((-0.5, -0.5), value_range=(0, 1)), x=X / 255, training=True)


def test_contrast_draws_within_keras_range():
    layer = L.RandomContrast(0.5, seed=1)
    assert layer.factor == tuple(keras.layers.RandomContrast(0.5).factor) == (0.0, 0.5)
    x = X / 255 * 100 + 50
    out = layer(x, training=True).numpy()
    mean = x.mean(axis=(1, 2), keepdims=True)
    ratio = (out - mean) / (x - mean)
    for k in range(len(x)):              # one factor per image, in [1, 1.5]
        f = ratio[k].ravel()
        assert np.allclose(f, f[0], rtol=1e-3) and 1 - 1e-4 <= f[0] <= 1.5 + 1e-4
    with pytest.raises(ValueError, match="range"):
        L.RandomContrast(1.5)


@pytest.mark.parametrize("name", ["RandomFlip", "RandomRotation", "RandomBrightness", "RandomContrast", "RandomZoom",
                                  "RandomTranslation"])
def test_direct_calls_augment_as_keras_does(name):
    args = {"RandomTranslation": (0.3, 0.3), "RandomFlip": ()}.get(name, (0.3,))
    ours, theirs = getattr(L, name)(*args, seed=1), getattr(keras.layers, name)(*args, seed=1)
    assert not np.allclose(to_numpy(theirs(X)), X)             # Keras: a direct call augments
    assert not np.allclose(ours(X).numpy(), X)
    assert not np.allclose(mk.Sequential([mk.Input((6, 7, 3)), ours])(X).numpy(), X)
    np.testing.assert_array_equal(to_numpy(theirs(X, training=False)), X)


def test_random_flip_gives_one_of_the_flips_per_image_and_is_repeatable():
    x = np.random.default_rng(2).random((16, 4, 5, 2)).astype(np.float32)
    out = L.RandomFlip(seed=3)(x, training=True).numpy()
    seen = set()
    for k in range(len(x)):
        options = {"none": x[k], "h": x[k][:, ::-1], "v": x[k][::-1], "hv": x[k][::-1, ::-1]}
        match = [name for name, v in options.items() if np.array_equal(out[k], v)]
        assert match
        seen.add(match[0])
    assert len(seen) == 4
    np.testing.assert_array_equal(L.RandomFlip(seed=3)(x, training=True).numpy(), out)
    horizontal = L.RandomFlip("horizontal", seed=0)(x, training=True).numpy()
    assert all(np.array_equal(horizontal[k], x[k]) or np.array_equal(horizontal[k], x[k][:, ::-1])
               for k in range(len(x)))


@pytest.mark.parametrize("layer", [lambda: L.RandomFlip(), lambda: L.RandomRotation(0.2),
                                   lambda: L.RandomTranslation(0.1, 0.2), lambda: L.RandomZoom(0.3),
                                   lambda: L.RandomContrast(0.4), lambda: L.RandomBrightness(0.3)])
def test_random_layers_are_identity_at_inference_and_active_in_fit(layer):
    model = mk.Sequential([mk.Input((6, 7, 3)), layer(), L.Flatten(), L.Dense(1)])
    np.testing.assert_array_equal(model.layers[0](X, training=False).numpy(), X)
    with md.no_grad():
        np.testing.assert_array_equal(model.layers[0](X).numpy(), X)
    np.testing.assert_allclose(model.predict(X, verbose=0), model.predict(X, verbose=0))
    head = mk.Sequential([mk.Input((6, 7, 3)), model.layers[0]])
    np.testing.assert_array_equal(head.predict(X, verbose=0), X)
    model.compile("sgd", "mse")
    model.evaluate(X, np.zeros((2, 1)), verbose=0)
    seen = []

    class Spy(mk.layers.Layer):
        def call(self, x):
            seen.append(x.numpy().copy())
            return x
    spy_model = mk.Sequential([mk.Input((6, 7, 3)), model.layers[0], Spy(), L.Flatten(), L.Dense(1)])
    spy_model.compile("sgd", "mse")
    spy_model.fit(X, np.zeros((2, 1)), epochs=3, verbose=0, shuffle=False)
    assert any(not np.allclose(s, X) for s in seen[-3:])


@pytest.mark.parametrize("make", [
    lambda m: m.Resizing(4, 5, interpolation="nearest", crop_to_aspect_ratio=True), lambda m: m.CenterCrop(3, 2),
    lambda m: m.RandomFlip("vertical", seed=1), lambda m: m.RandomRotation(0.1, fill_mode="constant", seed=2),
    lambda m: m.RandomTranslation((-0.1, 0.2), 0.1, fill_mode="wrap"), lambda m: m.RandomZoom(0.2, 0.1),
    lambda m: m.RandomContrast((0.1, 0.3)), lambda m: m.RandomBrightness(0.2, value_range=(0, 1))])
def test_configs_match_keras_and_round_trip(tmp_path, make):
    ours, theirs = make(L), make(keras.layers)
    config, want = ours.get_config(), theirs.get_config()
    for key, value in config.items():
        if key in ("name", "dtype", "trainable"):
            continue
        assert key in want, key
        expected = want[key]
        if isinstance(expected, tuple) or (isinstance(value, list) and not isinstance(expected, list)):
            expected = list(expected) if isinstance(expected, (list, tuple)) else [-abs(expected), abs(expected)]
        assert value == expected, (key, value, want[key])
    model = mk.Sequential([mk.Input((6, 7, 3)), ours])
    model.save(tmp_path / "img.keras")
    loaded = mk.models.load_model(tmp_path / "img.keras")
    assert loaded.layers[0].get_config() == {**config, "name": loaded.layers[0].name}
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert loaded.predict(X, verbose=0).shape == (2, *to_numpy(theirs(X)).shape[1:])


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="interpolation"):
        L.Resizing(2, 2, interpolation="lanczos9")
    with pytest.raises(ValueError, match="Only one of"):
        L.Resizing(2, 2, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="unknown mode"):
        L.RandomFlip("diagonal")
    with pytest.raises(ValueError, match="fill_mode"):
        L.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match=r"3-D image or a 4-D batch.*\(2, 5\)"):
        L.CenterCrop(2, 2)(np.ones((2, 5)))
