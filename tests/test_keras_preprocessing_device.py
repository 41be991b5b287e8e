"""md.keras' preprocessing layers on device ``cuda`` through the fake CuPy (see test_fake_cuda.py for what the fake
checks: minidl's device plumbing, not GPU kernels): outputs stay on the device and equal the CPU's."""
import fake_cupy
import numpy as np
import pytest

import minidl as md
from minidl import keras as mk

L = mk.layers


@pytest.fixture
def cupy_module():
    mp = pytest.MonkeyPatch()
    cp = fake_cupy.install(mp)
    yield cp
    fake_cupy.uninstall(mp)


def test_image_pipeline_on_the_device_matches_the_cpu(cupy_module):
    x = (np.random.default_rng(0).random((4, 6, 6, 3)) * 255).astype(np.float32)
    norm = L.Normalization()
    norm.adapt(x / 255)
    model = mk.Sequential([mk.Input((6, 6, 3)), L.Rescaling(1 / 255), norm, L.RandomFlip(seed=1),
                           L.RandomRotation(0.1, seed=1), L.Resizing(4, 4), L.CenterCrop(3, 3),
                           L.RandomContrast(0.2, seed=2), L.Flatten(), L.Dense(2, activation="softmax")])
    cpu = model.predict(x, verbose=0)
    model.to("cuda")
    np.testing.assert_allclose(model.predict(x, verbose=0), cpu, rtol=1e-6)
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, np.array([0, 1, 0, 1]), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("make", [lambda: L.RandomFlip(seed=1), lambda: L.RandomZoom(0.2, seed=1),
                                  lambda: L.Resizing(3, 5, interpolation="nearest"), lambda: L.Resizing(8, 8),
                                  lambda: L.Rescaling(0.5, 1.0)])
def test_layers_keep_device_tensors_on_the_device(cupy_module, make):
    x = np.random.default_rng(1).random((2, 6, 6, 3)).astype(np.float32)
    cpu = make()(x, training=True).numpy()
    out = make()(md.tensor(x, device="cuda"), training=True)
    assert isinstance(out.array, cupy_module.ndarray)
    np.testing.assert_allclose(out.numpy(), cpu, rtol=1e-6)


def test_category_encoding_of_device_ids(cupy_module):
    out = L.CategoryEncoding(3, output_mode="count")(md.tensor(np.array([[0, 2, 2]]), device="cuda"))
    assert isinstance(out.array, cupy_module.ndarray)
    np.testing.assert_array_equal(out.numpy(), [[1, 0, 2]])


def test_integer_lookup_of_device_ids(cupy_module):
    layer = mk.layers.IntegerLookup(vocabulary=[12, 36, 1138], output_mode="one_hot")
    out = layer(md.tensor(np.array([12, 1138, 7]), device="cuda"))
    assert isinstance(out.array, cupy_module.ndarray)
    np.testing.assert_array_equal(out.numpy(), np.eye(4)[[1, 3, 0]])
