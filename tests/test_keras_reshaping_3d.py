"""UpSampling3D, ZeroPadding3D, Cropping3D (and the 2-D layers they share code with) against Keras 3 itself."""
import numpy as np
import pytest

from keras_oracle import keras, to_numpy

import minidl as md
from minidl import keras as mk

ROUND_TRIPPED = {"UpSampling3D", "ZeroPadding3D", "Cropping3D"}     # through .keras files below

CASES = [
    ("UpSampling3D", {}, (2, 2, 3, 2, 3)),
    ("UpSampling3D", {"size": (1, 2, 3)}, (2, 2, 3, 2, 3)),
    ("UpSampling3D", {"size": 2, "data_format": "channels_first"}, (2, 3, 2, 2, 3)),
    ("ZeroPadding3D", {}, (2, 2, 3, 2, 3)),
    ("ZeroPadding3D", {"padding": (1, 0, 2)}, (2, 2, 3, 2, 3)),
    ("ZeroPadding3D", {"padding": ((1, 0), (0, 2), (3, 1))}, (2, 2, 3, 2, 3)),
    ("ZeroPadding3D", {"padding": 1, "data_format": "channels_first"}, (2, 3, 2, 3, 2)),
    ("Cropping3D", {}, (2, 4, 5, 3, 2)),
    ("Cropping3D", {"cropping": ((0, 1), (2, 1), (1, 0))}, (2, 4, 5, 3, 2)),
    ("Cropping3D", {"cropping": (1, 0, 1), "data_format": "channels_first"}, (2, 2, 4, 5, 3)),
    ("ZeroPadding2D", {"padding": ((1, 0), (2, 3))}, (2, 4, 3, 2)),
    ("Cropping2D", {"cropping": (1, 2)}, (2, 5, 6, 2)),
    ("UpSampling2D", {"size": (2, 3), "interpolation": "bilinear"}, (2, 3, 4, 2)),
]


@pytest.mark.parametrize("name,kwargs,shape", CASES)
def test_values_shapes_and_configs_match_keras(name, kwargs, shape, tmp_path):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ours, theirs = getattr(mk.layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    want = to_numpy(theirs(x))
    got = ours(x).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert ours.compute_output_shape((None,) + shape[1:]) == tuple(theirs.compute_output_shape((None,) + shape[1:]))
    for key in ("size", "padding", "cropping", "data_format"):
        if key in theirs.get_config():
            assert np.array_equal(np.array(ours.get_config()[key], dtype=object),
                                  np.array(theirs.get_config()[key], dtype=object)), key
    # the config round-trips through a .keras file
    model = mk.Sequential([mk.Input(shape[1:]), getattr(mk.layers, name)(**kwargs)])
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(mk.models.load_model(tmp_path / "m.keras").predict(x, verbose=0), want,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["UpSampling3D", "ZeroPadding3D", "Cropping3D"])
def test_gradient_is_the_adjoint_of_the_layer(name):
    layer = getattr(mk.layers, name)()
    x = md.tensor(np.random.default_rng(1).standard_normal((1, 4, 4, 4, 2)), requires_grad=True)
    y = layer(x)
    g = np.random.default_rng(2).standard_normal(y.shape)
    (y * md.tensor(g)).sum().backward()
    # <layer(x), g> is linear in x, so its gradient is the layer's adjoint applied to g: check by finite pairs
    e = np.zeros(x.shape)
    e[0, 1, 2, 3, 1] = 1.0
    assert np.isclose(x.grad.numpy()[0, 1, 2, 3, 1], float((layer(md.tensor(e)).numpy() * g).sum()))


def test_bad_arguments_and_inputs_are_refused():
    with pytest.raises(ValueError, match="ZeroPadding3D padding"):
        mk.layers.ZeroPadding3D((1, 2))
    with pytest.raises(ValueError, match="UpSampling3D"):
        mk.layers.UpSampling3D(interpolation="bilinear")
    with pytest.raises(ValueError, match="leaves nothing"):
        mk.layers.Cropping3D(2)(np.ones((1, 4, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="ndim=5"):
        mk.layers.Cropping3D()(np.ones((1, 4, 4, 4), np.float32))
