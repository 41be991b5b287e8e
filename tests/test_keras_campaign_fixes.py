"""Fixes found by running public Keras examples on md.keras (issue 15's campaign): ``Conv1DTranspose`` and the
functional merge helpers (``layers.add`` ...), each against Keras 3 itself (the oracle, on its PyTorch backend):
values, input and weight gradients, output shapes, parameter counts, configs and ``.keras`` round trips."""
import numpy as np
import pytest

import minidl as md
import minidl.keras as mk
from minidl.keras import layers

from keras_helpers import f64, fresh_session  # noqa: F401 -- fixtures
from keras_oracle import keras, to_numpy

RNG = np.random.default_rng(0)


def _run_both(ours, theirs, x, seed=0):
    """Same weights in both; outputs, the input gradient and the weight gradients for one random cotangent."""
    import torch
    theirs.build(x.shape)
    weights = [RNG.standard_normal(w.shape) * 0.5 for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.build(x.shape)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in weights]
    ours.set_weights(weights)
    xm = md.tensor(x, requires_grad=True)
    ym = ours(xm)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    np.testing.assert_allclose(ym.numpy(), to_numpy(yt), rtol=1e-6, atol=1e-8)
    g = np.random.default_rng(seed).standard_normal(tuple(yt.shape))
    (ym * md.tensor(g)).sum().backward()
    (yt * torch.tensor(g, dtype=yt.dtype)).sum().backward()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-8)
    ours_grads = []
    for w in ours._weights:
        (t,) = w.tensors()
        ours_grads.append(np.asarray(w.to_keras(t.grad.numpy())))
    for mine, var in zip(ours_grads, theirs.weights):
        np.testing.assert_allclose(mine, var.value.grad.numpy(), rtol=1e-6, atol=1e-8)
    return ym


@pytest.mark.parametrize("kernel,strides,padding,op,dilation", [
    (7, 2, "same", None, 1), (3, 1, "valid", None, 1), (4, 3, "valid", None, 1), (5, 2, "same", 1, 1),
    (3, 1, "same", None, 2), (2, 2, "valid", 0, 1)])
def test_conv1d_transpose_matches_keras(f64, kernel, strides, padding, op, dilation):
    keras.backend.set_floatx("float64")
    try:
        args = dict(strides=strides, padding=padding, output_padding=op, dilation_rate=dilation)
        ours, theirs = layers.Conv1DTranspose(5, kernel, **args), keras.layers.Conv1DTranspose(5, kernel, **args)
        x = RNG.standard_normal((2, 9, 3))
        y = _run_both(ours, theirs, x)
        assert tuple(y.shape) == ours.compute_output_shape((2, 9, 3)) == tuple(theirs.compute_output_shape(x.shape))
        assert ours.compute_output_shape((None, None, 3)) == (None, None, 5)
        assert ours.count_params() == theirs.count_params() == kernel * 5 * 3 + 5
    finally:
        keras.backend.set_floatx("float32")


def test_conv1d_transpose_channels_first_no_bias_and_activation(f64):
    keras.backend.set_floatx("float64")
    try:
        args = dict(strides=2, padding="same", data_format="channels_first", use_bias=False, activation="relu")
        ours, theirs = layers.Conv1DTranspose(4, 3, **args), keras.layers.Conv1DTranspose(4, 3, **args)
        y = _run_both(ours, theirs, RNG.standard_normal((2, 3, 6)))
        assert tuple(y.shape) == (2, 4, 12) and ours.count_params() == theirs.count_params() == 36
    finally:
        keras.backend.set_floatx("float32")


def test_conv1d_transpose_config_matches_keras_and_round_trips(tmp_path):
    kw = dict(strides=2, padding="same", output_padding=1, activation="relu", name="deconv")
    ours, theirs = layers.Conv1DTranspose(8, 5, **kw), keras.layers.Conv1DTranspose(8, 5, **kw)
    mine, want = ours.get_config(), theirs.get_config()
    for key in ("filters", "kernel_size", "strides", "padding", "output_padding", "data_format", "dilation_rate",
                "activation", "use_bias"):
        assert mine[key] == (list(want[key]) if isinstance(want[key], tuple) else want[key]), key
    model = mk.Sequential([layers.Input(shape=(16, 2)), layers.Conv1DTranspose(3, 7, strides=2, padding="same")])
    x = RNG.standard_normal((2, 16, 2)).astype("float32")
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = mk.models.load_model(path)
    assert isinstance(again.layers[-1], layers.Conv1DTranspose)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_conv1d_transpose_errors():
    with pytest.raises(ValueError, match="output_padding"):
        layers.Conv1DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="kernel_size"):
        layers.Conv1DTranspose(2, (3, 3))
    with pytest.raises(ValueError, match="expected ndim=3"):
        layers.Conv1DTranspose(2, 3)(np.zeros((2, 4, 4, 1), "float32"))
    assert layers.LAYERS["Conv1DTranspose"] is layers.Conv1DTranspose is layers.Convolution1DTranspose


@pytest.mark.parametrize("name,kwargs", [("add", {}), ("subtract", {}), ("multiply", {}), ("average", {}),
                                         ("maximum", {}), ("minimum", {}), ("concatenate", {"axis": 1}),
                                         ("dot", {"axes": 1}), ("dot", {"axes": 1, "normalize": True})])
def test_functional_merge_helpers_match_keras(name, kwargs):
    a, b = RNG.standard_normal((3, 4)).astype("float32"), RNG.standard_normal((3, 4)).astype("float32")
    got = getattr(layers, name)([a, b], **kwargs)
    want = getattr(keras.layers, name)([a, b], **kwargs)
    np.testing.assert_allclose(got.numpy(), to_numpy(want), rtol=1e-5, atol=1e-6)


def test_functional_merge_helpers_build_graphs_that_train_and_save(tmp_path):
    inp = mk.Input(shape=(6,))
    x1, x2 = layers.Dense(4, name="d1")(inp), layers.Dense(4, name="d2")(inp)
    out = layers.Dense(1)(layers.concatenate([layers.add([x1, x2], name="sum"), layers.average([x1, x2])]))
    model = mk.Model(inp, out)
    assert model.get_layer("sum").__class__ is layers.Add
    assert model.count_params() == 2 * (6 * 4 + 4) + 9
    model.compile(optimizer=mk.optimizers.Adam(0.02), loss="mse")
    x = RNG.standard_normal((64, 6)).astype("float32")
    y = x[:, :1] - x[:, 1:2]
    hist = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    path = str(tmp_path / "m.keras")
    model.save(path)
    np.testing.assert_allclose(mk.models.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
