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
    np.testing.assert_allclose(ym.numpy(), to_numpy(yt), rtol=1e-5, atol=1e-7)
    g = np.random.default_rng(seed).standard_normal(tuple(yt.shape))
    (ym * md.tensor(g)).sum().backward()
    (yt * torch.tensor(g, dtype=yt.dtype)).sum().backward()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-7)
    ours_grads = []
    for w in ours._weights:
        (t,) = w.tensors()
        ours_grads.append(np.asarray(w.to_keras(t.grad.numpy())))
    for mine, var in zip(ours_grads, theirs.weights):
        np.testing.assert_allclose(mine, var.value.grad.numpy(), rtol=1e-5, atol=1e-7)
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


# --- Layer.add_loss / losses (the subclassing guide's ActivityRegularizationLayer, OuterLayer, VAE) ------------
def _activity_layer(lib):
    class ActivityRegularization(lib.layers.Layer):
        def __init__(self, rate=1e-2, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * lib.ops.mean(inputs))
            return inputs
    return ActivityRegularization


def _outer_layer(lib):
    inner = _activity_layer(lib)

    class Outer(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = inner(1e-2)
            self.dense = lib.layers.Dense(3, kernel_regularizer=lib.regularizers.l2(1e-3))

        def call(self, inputs):
            return self.dense(self.activity_reg(inputs))
    return Outer


def test_add_loss_lists_and_resets_like_keras():
    x = RNG.standard_normal((4, 2)).astype("float32")
    ours, theirs = _outer_layer(mk)(), _outer_layer(keras)()
    assert len(ours.losses) == len(theirs.losses) == 0
    ours(x), theirs(x)
    theirs.dense.set_weights(ours.dense.get_weights())
    for _ in range(2):                       # the losses of the last call only, not accumulated
        ours(x), theirs(x)
        assert len(ours.losses) == len(theirs.losses) == 2
    got = sorted(float(v) for v in ours.losses)
    want = sorted(float(to_numpy(v)) for v in theirs.losses)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(got[0] if abs(got[0] - 1e-2 * x.mean()) < 1e-7 else got[1], 1e-2 * x.mean(),
                               rtol=1e-5)


def test_add_loss_joins_the_compiled_loss_in_evaluate_and_fit():
    x = RNG.standard_normal((8, 3)).astype("float32")
    y = RNG.standard_normal((8, 3)).astype("float32")
    models = []
    for lib in (mk, keras):
        inp = lib.Input(shape=(3,))
        out = _activity_layer(lib)(5.0)(lib.layers.Dense(3, name="d")(inp))
        model = lib.Model(inp, out)
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        models.append(model)
    ours, theirs = models
    theirs.set_weights(ours.get_weights())
    assert len(ours.losses) == 0           # building the graph (shape tracing) adds no loss
    np.testing.assert_allclose(ours.evaluate(x, y, batch_size=8, verbose=0),
                               theirs.evaluate(x, y, batch_size=8, verbose=0), rtol=1e-5)
    h_ours = ours.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
    h_theirs = theirs.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(h_ours, h_theirs, rtol=1e-4)
    assert len(ours.losses) == 1


def test_add_loss_in_a_subclassed_model_trains_a_vae_and_rejects_bad_values():
    class VAE(mk.Model):
        def __init__(self):
            super().__init__()
            self.enc = layers.Dense(4)
            self.mean, self.log_var = layers.Dense(2), layers.Dense(2)
            self.dec = layers.Dense(6, activation="sigmoid")

        def call(self, x):
            h = self.enc(x)
            z_mean, z_log_var = self.mean(h), self.log_var(h)
            self.add_loss(-0.5 * mk.ops.mean(z_log_var - mk.ops.square(z_mean) - mk.ops.exp(z_log_var) + 1))
            return self.dec(z_mean)
    vae = VAE()
    x = (RNG.random((64, 6)) > 0.5).astype("float32")
    vae.compile(optimizer=mk.optimizers.Adam(0.01), loss="binary_crossentropy")
    hist = vae.fit(x, x, epochs=8, batch_size=16, verbose=0).history["loss"]
    assert hist[-1] < hist[0] and len(vae.losses) == 1
    with pytest.raises(ValueError, match="scalar"):
        vae.add_loss(np.ones(3))
    with pytest.raises(ValueError, match="symbolic"):
        vae.add_loss(mk.Input(shape=(1,)))


# --- keras.utils image files: load_img, img_to_array, array_to_img, save_img ---------------------------------------
@pytest.fixture
def png(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    path = tmp_path / "img.png"
    pil.fromarray(RNG.integers(0, 256, (20, 30, 3)).astype("uint8")).save(path)
    return path


@pytest.mark.parametrize("kwargs", [{}, {"color_mode": "grayscale"}, {"color_mode": "rgba"},
                                    {"target_size": (10, 12)}, {"target_size": (9, 9), "interpolation": "bilinear"},
                                    {"target_size": (8, 16), "keep_aspect_ratio": True, "interpolation": "bicubic"},
                                    {"target_size": (16, 8), "keep_aspect_ratio": True}])
def test_load_img_and_img_to_array_match_keras(png, kwargs):
    got = mk.utils.img_to_array(mk.utils.load_img(png, **kwargs))
    want = keras.utils.img_to_array(keras.utils.load_img(png, **kwargs))
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    with open(png, "rb") as f:              # a file object works too
        np.testing.assert_array_equal(mk.utils.img_to_array(mk.utils.load_img(f, **kwargs)), want)


@pytest.mark.parametrize("channels,data_format,scale", [(3, "channels_last", True), (1, "channels_last", True),
                                                        (4, "channels_first", False), (3, "channels_first", True)])
def test_array_to_img_img_to_array_and_save_img_match_keras(tmp_path, channels, data_format, scale):
    pytest.importorskip("PIL.Image")
    shape = (channels, 6, 7) if data_format == "channels_first" else (6, 7, channels)
    x = RNG.random(shape).astype("float32") * (1.0 if scale else 255.0)
    got = mk.utils.array_to_img(x, data_format=data_format, scale=scale)
    want = keras.utils.array_to_img(x, data_format=data_format, scale=scale)
    assert got.mode == want.mode and got.size == want.size
    np.testing.assert_array_equal(mk.utils.img_to_array(got, data_format=data_format),
                                  keras.utils.img_to_array(want, data_format=data_format))
    mk.utils.save_img(tmp_path / "a.png", x, data_format=data_format, scale=scale)
    keras.utils.save_img(tmp_path / "b.png", x, data_format=data_format, scale=scale)
    np.testing.assert_array_equal(mk.utils.img_to_array(mk.utils.load_img(tmp_path / "a.png", color_mode="rgba")),
                                  keras.utils.img_to_array(keras.utils.load_img(tmp_path / "b.png", color_mode="rgba")))


def test_image_helpers_errors(png, monkeypatch):
    with pytest.raises(ValueError, match="interpolation"):
        mk.utils.load_img(png, target_size=(4, 4), interpolation="cubic")
    with pytest.raises(ValueError, match="color_mode"):
        mk.utils.load_img(png, color_mode="cmyk")
    with pytest.raises(ValueError, match="rank 3"):
        mk.utils.array_to_img(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="channel number 2"):
        mk.utils.array_to_img(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="unsupported image shape"):
        mk.utils.img_to_array(np.zeros((1, 2, 3, 4)))
    import builtins
    real_import = builtins.__import__

    def no_pil(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("no PIL")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_pil)
    with pytest.raises(ImportError, match=r"minidl\[image\]"):
        mk.utils.load_img(png)


# --- more losses: KLDivergence, Poisson, LogCosh, MAPE, MSLE, CosineSimilarity, Hinge, SquaredHinge, CategoricalHinge
_MORE_LOSSES = ["KLDivergence", "Poisson", "LogCosh", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
                "CosineSimilarity", "Hinge", "SquaredHinge", "CategoricalHinge"]


def _loss_data(name):
    if name in ("KLDivergence",):
        y = RNG.dirichlet(np.ones(5), 6)
        p = RNG.dirichlet(np.ones(5), 6)
    elif name in ("Hinge", "SquaredHinge"):
        y = RNG.integers(0, 2, (6, 5)).astype("float64")
        p = RNG.standard_normal((6, 5))
    elif name == "CategoricalHinge":
        y = np.eye(5)[RNG.integers(0, 5, 6)]
        p = RNG.standard_normal((6, 5))
    elif name in ("Poisson", "MeanSquaredLogarithmicError"):
        y, p = RNG.random((6, 5)) * 3, RNG.random((6, 5)) * 3 + 0.1
    else:
        y, p = RNG.standard_normal((6, 5)), RNG.standard_normal((6, 5))
    return y, p


@pytest.mark.parametrize("name", _MORE_LOSSES)
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_more_losses_values_and_gradients_match_keras(f64, name, reduction):
    keras.backend.set_floatx("float64")
    try:
        _check_more_loss(name, reduction)
    finally:
        keras.backend.set_floatx("float32")


def _check_more_loss(name, reduction):
    import torch
    y, p = _loss_data(name)
    w = RNG.random(6)
    ours, theirs = getattr(mk.losses, name)(reduction=reduction), getattr(keras.losses, name)(reduction=reduction)
    pm, pt = md.tensor(p, requires_grad=True), torch.tensor(p, requires_grad=True)
    got, want = ours(y, pm, sample_weight=w), theirs(torch.tensor(y), pt, sample_weight=torch.tensor(w))
    np.testing.assert_allclose(got.numpy(), to_numpy(want), rtol=1e-5, atol=1e-7)
    got.sum().backward()
    want.sum().backward()
    np.testing.assert_allclose(pm.grad.numpy(), pt.grad.numpy(), rtol=1e-5, atol=1e-7)
    fn = NAME = ours.name
    assert NAME == theirs.name
    np.testing.assert_allclose(getattr(mk.losses, fn)(y, p).numpy(), to_numpy(getattr(keras.losses, fn)(y, p)),
                               rtol=1e-5, atol=1e-6)


def test_more_losses_names_aliases_configs_and_training(tmp_path):
    for alias, cls in (("kld", "KLDivergence"),
                       ("log_cosh", "LogCosh"), ("mape", "MeanAbsolutePercentageError"),
                       ("msle", "MeanSquaredLogarithmicError"), ("cosine_similarity", "CosineSimilarity"),
                       ("hinge", "Hinge"), ("squared_hinge", "SquaredHinge"), ("poisson", "Poisson"),
                       ("categorical_hinge", "CategoricalHinge")):
        ours = mk.losses.get(alias)
        assert type(ours).__name__ == cls and ours.name == keras.losses.get(alias).__name__, alias
    ours, theirs = mk.losses.CosineSimilarity(axis=0, name="cos"), keras.losses.CosineSimilarity(axis=0, name="cos")
    mine, want = ours.get_config(), theirs.get_config()
    assert {k: mine[k] for k in ("name", "reduction")} == {k: want[k] for k in ("name", "reduction")}
    assert mine["axis"] == 0 and mk.losses.get({"class_name": "CosineSimilarity", "config": mine}).get_config() == mine
    model = mk.Sequential([layers.Input(shape=(4,)), layers.Dense(3, activation="softplus")])
    model.compile(optimizer=mk.optimizers.Adam(0.05), loss=mk.losses.Poisson())
    x = RNG.standard_normal((64, 4)).astype("float32")
    y = np.exp(x[:, :3] * 0.5).astype("float32")
    hist = model.fit(x, y, epochs=15, batch_size=16, verbose=0).history["loss"]
    assert hist[-1] < hist[0]
    path = str(tmp_path / "p.keras")
    model.save(path)
    again = mk.models.load_model(path)
    assert type(again.loss).__name__ == "Poisson"
    np.testing.assert_allclose(again.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)


# --- more activations, initializer aliases --------------------------------------------------------------------------
@pytest.mark.parametrize("name,kwargs", [("mish", {}), ("hard_silu", {}), ("hard_swish", {}), ("log_sigmoid", {}),
                                         ("hard_tanh", {}), ("celu", {}), ("celu", {"alpha": 2.0}),
                                         ("squareplus", {}), ("squareplus", {"b": 1}), ("sparse_plus", {}),
                                         ("soft_shrink", {}), ("soft_shrink", {"threshold": 1.0}), ("hard_shrink", {}),
                                         ("tanh_shrink", {}), ("threshold", {"threshold": 0.3, "default_value": -2.0})])
def test_more_activations_values_and_gradients_match_keras(f64, name, kwargs):
    import torch
    x = np.concatenate([RNG.standard_normal(40) * 3, [-3.0, 3.0, -1.0, 1.0, -1.5, 0.3, 2.5, 40.0, -40.0]])
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got, want = getattr(mk.activations, name)(xm, **kwargs), getattr(keras.activations, name)(xt, **kwargs)
    np.testing.assert_allclose(got.numpy(), to_numpy(want), rtol=1e-7, atol=1e-12)
    g = RNG.standard_normal(x.shape)
    (got * md.tensor(g)).sum().backward()
    (want * torch.tensor(g)).sum().backward()
    assert np.isfinite(xm.grad.numpy()).all()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_more_activations_by_name_in_layers_and_saved(tmp_path):
    assert "threshold" not in mk.activations._ALL            # no defaults for its parameters: a function only
    for name in ("mish", "hard_silu", "log_sigmoid", "hard_tanh", "celu", "squareplus", "sparse_plus", "soft_shrink",
                 "hard_shrink", "tanh_shrink"):
        assert mk.activations.serialize(mk.activations.get(name)) == keras.activations.serialize(
            keras.activations.get(name)) == name
    assert mk.activations.serialize(mk.activations.get("hard_swish")) == "hard_silu"
    model = mk.Sequential([layers.Input(shape=(3,)), layers.Dense(4, activation="mish"),
                           layers.Dense(2, activation="hard_silu")])
    x = RNG.standard_normal((5, 3)).astype("float32")
    path = str(tmp_path / "a.keras")
    model.save(path)
    again = mk.models.load_model(path)
    assert again.layers[0].get_config()["activation"] == "mish"
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_initializer_lowercase_aliases_are_keras_classes():
    for name in ("constant", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "identity", "lecun_normal",
                 "lecun_uniform", "ones", "orthogonal", "random_normal", "random_uniform", "truncated_normal",
                 "variance_scaling", "zeros", "IdentityInitializer", "OrthogonalInitializer"):
        ours, theirs = getattr(mk.initializers, name), getattr(keras.initializers, name)
        assert isinstance(ours, type) and ours.__name__ == theirs.__name__, name
    layer = layers.Dense(3, kernel_initializer=mk.initializers.he_normal(seed=1))
    layer.build((None, 50))
    w = layer.get_weights()[0]
    assert w.shape == (50, 3) and 0.1 < w.std() < 0.3            # He normal: stddev sqrt(2 / 50) = 0.2


# --- more keras.ops ---------------------------------------------------------------------------------------------------
_UNARY = ["log1p", "expm1", "log2", "log10", "sinh", "cosh", "arcsin", "arccos", "arctan"]


@pytest.mark.parametrize("name", _UNARY + ["arctan2", "hypot"])
def test_more_ops_math_values_and_gradients_match_keras(f64, name):
    import torch
    keras.backend.set_floatx("float64")
    try:
        xs = [RNG.uniform(-0.9, 0.9, (3, 4)) if name in ("arcsin", "arccos", "log1p") else
              RNG.uniform(0.1, 3.0, (3, 4)) if name in ("log2", "log10") else RNG.standard_normal((3, 4))]
        if name in ("arctan2", "hypot"):
            xs.append(RNG.standard_normal((3, 4)))
        xm = [md.tensor(x, requires_grad=True) for x in xs]
        xt = [torch.tensor(x, requires_grad=True) for x in xs]
        got, want = getattr(mk.ops, name)(*xm), getattr(keras.ops, name)(*xt)
        tol = 1e-6 if len(xs) == 2 else 1e-9             # Keras computes arctan2 and hypot in float32
        np.testing.assert_allclose(got.numpy(), to_numpy(want), rtol=tol, atol=1e-12)
        got.sum().backward()
        want.sum().backward()
        for a, b in zip(xm, xt):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol, atol=1e-9)
    finally:
        keras.backend.set_floatx("float32")


@pytest.mark.parametrize("call", [
    lambda o, x, y: o.floor_divide(x, y), lambda o, x, y: o.mod(x, y), lambda o, x, y: o.isfinite(x / y),
    lambda o, x, y: o.isinf(x / y), lambda o, x, y: o.logical_xor(x > 0, y > 0), lambda o, x, y: o.flip(x),
    lambda o, x, y: o.flip(x, axis=1), lambda o, x, y: o.flip(x, axis=(0, 1)), lambda o, x, y: o.roll(x, 2),
    lambda o, x, y: o.roll(x, -1, axis=1), lambda o, x, y: o.moveaxis(x[None], 0, -1), lambda o, x, y: o.triu(x),
    lambda o, x, y: o.tril(x, k=-1), lambda o, x, y: o.triu(x, k=1), lambda o, x, y: o.amax(x),
    lambda o, x, y: o.amax(x, axis=0, keepdims=True), lambda o, x, y: o.amin(x, axis=(0, 1)),
    lambda o, x, y: o.full_like(x, 3.5), lambda o, x, y: o.full_like(x, 2, dtype="int32"),
    lambda o, x, y: o.count_nonzero(x), lambda o, x, y: o.count_nonzero(x, axis=1),
    lambda o, x, y: o.count_nonzero(x, axis=(0, 1)), lambda o, x, y: o.eye(3), lambda o, x, y: o.eye(2, 4, k=1),
    lambda o, x, y: o.identity(3), lambda o, x, y: o.linspace(0.0, 2.0, 5),
    lambda o, x, y: o.linspace(0.0, 2.0, 4, endpoint=False)])
def test_more_ops_arrays_match_keras(call):
    x = RNG.integers(-3, 4, (4, 5)).astype("float32")
    y = RNG.integers(1, 4, (4, 5)).astype("float32")
    y[0, 0] = 0.0                                         # an inf and a nan for isfinite / isinf
    got, want = call(mk.ops, x, y), call(keras.ops, x, y)
    got, want = np.asarray(got.numpy()), to_numpy(want)
    assert got.shape == want.shape
    assert got.dtype.kind == want.dtype.kind
    np.testing.assert_allclose(got.astype("float64"), want.astype("float64"), rtol=1e-6)


def test_more_ops_in_a_custom_layer_train():
    class SoftClip(mk.layers.Layer):
        def call(self, x):
            return mk.ops.log1p(mk.ops.expm1(mk.ops.amax(mk.ops.flip(x, axis=1), axis=-1, keepdims=True)))
    model = mk.Sequential([layers.Input(shape=(4,)), layers.Dense(3), SoftClip(), layers.Dense(1)])
    model.compile(optimizer=mk.optimizers.Adam(0.05), loss="mse")
    x = RNG.standard_normal((64, 4)).astype("float32")
    hist = model.fit(x, np.abs(x[:, :1]), epochs=10, batch_size=16, verbose=0).history["loss"]
    assert hist[-1] < hist[0]


# --- Model.from_config / Sequential.from_config (the functional API guide) -----------------------------------------
def _custom_dense(lib):
    class CustomDense(lib.layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal")

        def call(self, inputs):
            return lib.ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return {"units": self.units}
    return CustomDense


def test_model_from_config_with_custom_objects_matches_keras():
    x = RNG.standard_normal((3, 4)).astype("float32")
    outs = []
    for lib in (mk, keras):
        custom = _custom_dense(lib)
        inputs = lib.Input((4,))
        hidden = lib.layers.Dense(5, activation="relu")(inputs)
        model = lib.Model(inputs, lib.layers.concatenate([custom(3)(hidden), hidden]))
        again = lib.Model.from_config(model.get_config(), custom_objects={"CustomDense": custom})
        assert again.count_params() == model.count_params() == 5 * 4 + 5 + 5 * 3 + 3
        assert [type(la).__name__ for la in again.layers[-3:]] == [type(la).__name__ for la in model.layers[-3:]]
        outs.append((model, again))
    (ours, ours_again), (theirs, theirs_again) = outs
    weights = theirs.get_weights()
    for m in (ours, ours_again, theirs_again):
        m.set_weights(weights)
    want = to_numpy(theirs(x))
    np.testing.assert_allclose(ours(x).numpy(), want, rtol=1e-5)
    np.testing.assert_allclose(ours_again(x).numpy(), want, rtol=1e-5)


def test_sequential_and_subclassed_from_config():
    model = mk.Sequential([layers.Input(shape=(3,)), layers.Dense(4, activation="relu"), layers.Dense(2)],
                          name="seq")
    again = mk.Sequential.from_config(model.get_config())
    assert type(again) is mk.Sequential and again.name == "seq" and again.count_params() == model.count_params()
    assert keras.Sequential.from_config(keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4),
                                                          keras.layers.Dense(2)]).get_config()).count_params() == 26

    class Scaled(mk.Model):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor, self.dense = factor, layers.Dense(1)

        def call(self, x):
            return self.dense(x) * self.factor

        def get_config(self):
            return {"factor": self.factor}
    assert Scaled.from_config({"factor": 3.0}).factor == 3.0
    with pytest.raises(ValueError, match="CustomDense"):
        inputs = mk.Input((4,))
        mk.Model.from_config(mk.Model(inputs, _custom_dense(mk)(2)(inputs)).get_config())
    with pytest.raises(ValueError, match="expects the dict"):
        mk.Model.from_config("not a config")
