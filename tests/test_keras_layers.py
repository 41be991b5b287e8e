"""``md.keras.layers`` against PyTorch and Keras' own rules.

Every layer's output, input gradient and weight gradients (in Keras' layouts, through ``get_weights``) are compared in
float64 with a PyTorch reference built from the Keras-layout weights (Dense, Conv2D with TF 'same' padding, the
poolings, BatchNormalization, Embedding, SimpleRNN, LSTM, GRU, the activations, Dropout, Flatten/Reshape and the
merging layers). Then Keras' conventions: weight shapes and orders, ``set_weights``, parameter counts, default
initializers, regularizer penalties, shape inference (``compute_output_shape`` against real calls), Keras' error
messages, float64 gradchecks and ``from_config(get_config())`` round trips.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
import minidl.keras as keras
from minidl.keras import activations, initializers, layers, regularizers
from minidl.testing import assert_gradcheck

from keras_helpers import ATOL, RTOL, close, f64, fresh_session, keras_grads, to_numpy  # noqa: F401 -- fixtures


def _compare(torch, layer, ref, x, training=None, seed=0, grads=True, rtol=RTOL, atol=ATOL):
    """Run ``layer`` on ``x`` and ``ref(xt, *weights)`` (a torch function of the input and the Keras-layout weights
    as leaves), back-propagate one random cotangent through both, compare output, input grad and weight grads."""
    x = np.asarray(x)
    float_in = x.dtype.kind == "f"
    xm = md.tensor(x, requires_grad=grads and float_in)
    wts = [torch.tensor(w, requires_grad=True) for w in layer.get_weights()]       # before the call updates any
    ym = layer(xm, training=training) if training is not None else layer(xm)
    xt = torch.tensor(x, requires_grad=grads and float_in)
    yt = ref(xt, *wts)
    close(ym, yt, f"{layer.name} output", rtol, atol)
    if not grads:
        return ym, yt
    g = np.random.default_rng(seed).standard_normal(tuple(yt.shape))
    (ym * md.tensor(g.astype(to_numpy(ym).dtype))).sum().backward()
    (yt * torch.tensor(g, dtype=yt.dtype)).sum().backward()
    if float_in:
        close(xm.grad, xt.grad, f"{layer.name} input grad", rtol, atol)
    for name, gm, wt, trainable in zip([w.name for w in layer._weights], keras_grads(layer), wts,
                                       [w.trainable for w in layer._weights]):
        if trainable:
            close(gm, wt.grad if wt.grad is not None else np.zeros(wt.shape), f"{layer.name} grad of {name}", rtol,
                   atol)
    return ym, yt


def _randomize(layer, seed=1, scale=0.5):
    """Give every weight random values (so zero biases or unit gammas hide nothing)."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.standard_normal(w.shape) * scale for w in layer.get_weights()])


def tf_same_pads(n, k, s, d=1):
    """TensorFlow's 'same': output ceil(n / s); the odd pixel of padding goes at the end (bottom/right)."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


# --- Dense --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5), (2, 2, 3, 5)])
@pytest.mark.parametrize("activation,use_bias", [(None, True), ("relu", True), ("tanh", False)])
def test_dense_matches_torch(torch, f64, shape, activation, use_bias):
    layer = layers.Dense(3, activation=activation, use_bias=use_bias)
    x = np.random.default_rng(0).standard_normal(shape)
    layer(x)
    _randomize(layer)
    act = {None: lambda t: t, "relu": torch.relu, "tanh": torch.tanh}[activation]

    def ref(xt, kernel, bias=None):
        lin = torch.nn.Linear(5, 3, bias=use_bias, dtype=torch.float64)
        params = {"weight": kernel.T}
        if use_bias:
            params["bias"] = bias
        return act(torch.func.functional_call(lin, params, (xt,)))

    ym, _ = _compare(torch, layer, ref, x)
    assert ym.shape == shape[:-1] + (3,)


# --- Conv2D -------------------------------------------------------------------------------------------------------
def _conv_ref(torch, padding, strides, dilation, use_bias, activation=None):
    F = torch.nn.functional

    def ref(xt, kernel, bias=None):
        x = xt.permute(0, 3, 1, 2)
        if padding == "same":
            kh, kw = kernel.shape[:2]
            top, bottom = tf_same_pads(x.shape[2], kh, strides[0], dilation[0])
            left, right = tf_same_pads(x.shape[3], kw, strides[1], dilation[1])
            x = F.pad(x, (left, right, top, bottom))
        y = F.conv2d(x, kernel.permute(3, 2, 0, 1), bias if use_bias else None, strides, 0, dilation)
        y = y.permute(0, 2, 3, 1)
        return torch.relu(y) if activation == "relu" else y
    return ref


CONV_CASES = [  # (H, W, cin, filters, kernel, strides, padding, dilation)
    (6, 7, 2, 3, (3, 3), (1, 1), "valid", (1, 1)),
    (6, 7, 2, 3, (3, 3), (1, 1), "same", (1, 1)),
    (6, 7, 2, 3, (2, 2), (1, 1), "same", (1, 1)),       # even kernel: the extra pixel at bottom/right
    (7, 6, 2, 3, (3, 3), (2, 2), "same", (1, 1)),       # stride 2 on odd and even sizes
    (8, 8, 1, 2, (4, 4), (2, 2), "same", (1, 1)),
    (7, 7, 2, 2, (3, 2), (2, 1), "valid", (1, 1)),
    (7, 8, 2, 2, (3, 3), (1, 1), "same", (2, 2)),       # dilation
    (9, 8, 1, 2, (2, 3), (1, 1), "valid", (2, 1)),
]


@pytest.mark.parametrize("h,w,cin,filters,kernel,strides,padding,dilation", CONV_CASES)
def test_conv2d_matches_torch(torch, f64, h, w, cin, filters, kernel, strides, padding, dilation):
    layer = layers.Conv2D(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation,
                          activation="relu")
    x = np.random.default_rng(1).standard_normal((2, h, w, cin))
    layer(x[:1])                                   # build from a first batch
    _randomize(layer)
    ym, _ = _compare(torch, layer, _conv_ref(torch, padding, strides, dilation, True, "relu"), x)
    assert ym.shape == (2,) + layer.compute_output_shape((None, h, w, cin))[1:]


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 7), w=st.integers(1, 7), kh=st.integers(1, 4), kw=st.integers(1, 4),
       stride=st.integers(1, 3), dil=st.integers(1, 2), same=st.booleans(), use_bias=st.booleans())
def test_conv2d_drawn_geometries_match_torch(torch, h, w, kh, kw, stride, dil, same, use_bias):
    if stride > 1 and dil > 1:
        dil = 1                                    # Keras refuses strides > 1 with dilation > 1
    padding = "same" if same else "valid"
    valid_out = [(n - d * (k - 1) - 1) // stride + 1 for n, k, d in ((h, kh, dil), (w, kw, dil))]
    if not same and min(valid_out) <= 0:
        with pytest.raises(ValueError, match="too small"):
            layers.Conv2D(2, (kh, kw), strides=stride, padding=padding, dilation_rate=dil)(np.zeros((1, h, w, 2)))
        return
    keras.backend.set_floatx("float64")
    layer = layers.Conv2D(2, (kh, kw), strides=stride, padding=padding, dilation_rate=dil, use_bias=use_bias)
    x = np.random.default_rng(h * 7 + w).standard_normal((2, h, w, 2))
    layer(x)
    _randomize(layer)
    ym, _ = _compare(torch, layer, _conv_ref(torch, padding, (stride, stride), (dil, dil), use_bias), x)
    assert ym.shape == (2,) + layer.compute_output_shape((None, h, w, 2))[1:]
    if same:
        assert ym.shape[1:3] == (-(-h // stride), -(-w // stride))


def test_conv2d_same_puts_the_extra_padding_at_bottom_right():
    # all-ones 3x3 image, a 2x2 all-ones kernel, 'same': each output sums the window starting at its pixel, so the
    # last row/column (whose window hangs over the bottom/right padding) sum 2 and the corner 1
    layer = layers.Conv2D(1, 2, padding="same", use_bias=False, kernel_initializer="ones")
    y = layer(np.ones((1, 3, 3, 1))).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(y, [[4, 4, 2], [4, 4, 2], [2, 2, 1]])
    # stride 2 on 4x4 with a 3x3 kernel: total padding 1, all of it after -> windows start at rows 0 and 2
    layer = layers.Conv2D(1, 3, strides=2, padding="same", use_bias=False, kernel_initializer="ones")
    y = layer(np.ones((1, 4, 4, 1))).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(y, [[9, 6], [6, 4]])


def test_conv2d_channels_first_matches_channels_last(f64):
    x = np.random.default_rng(2).standard_normal((2, 5, 6, 3))
    last = layers.Conv2D(4, 3, padding="same", strides=2)
    first = layers.Conv2D(4, 3, padding="same", strides=2, data_format="channels_first")
    last(x)
    first(x.transpose(0, 3, 1, 2))
    _randomize(last)
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(first(x.transpose(0, 3, 1, 2)).numpy(), last(x).numpy().transpose(0, 3, 1, 2),
                               rtol=1e-12, atol=1e-12)
    assert first.compute_output_shape((None, 3, 5, 6)) == (None, 4, 3, 3)


# --- pooling ------------------------------------------------------------------------------------------------------
def _pool_ref(torch, pool, strides, padding, kind):
    """A loop over output pixels: the max/mean of the window's real pixels (padding never counts, as TF)."""
    def ref(xt):
        n, h, w, c = xt.shape
        if padding == "same":
            oh, ow = -(-h // strides[0]), -(-w // strides[1])
            ph, pw = tf_same_pads(h, pool[0], strides[0])[0], tf_same_pads(w, pool[1], strides[1])[0]
        else:
            oh, ow = (h - pool[0]) // strides[0] + 1, (w - pool[1]) // strides[1] + 1
            ph = pw = 0
        rows = []
        for i in range(oh):
            cols = []
            for j in range(ow):
                r0, c0 = i * strides[0] - ph, j * strides[1] - pw
                win = xt[:, max(r0, 0):min(r0 + pool[0], h), max(c0, 0):min(c0 + pool[1], w), :]
                cols.append(win.amax((1, 2)) if kind == "max" else win.mean((1, 2)))
            rows.append(torch.stack(cols, 1))
        return torch.stack(rows, 1)
    return ref


POOL_CASES = [  # (H, W, pool, strides, padding)
    (6, 6, (2, 2), None, "valid"),
    (7, 5, (2, 2), None, "valid"),
    (7, 5, (2, 2), None, "same"),
    (5, 5, (3, 3), (2, 2), "same"),
    (6, 7, (3, 2), (1, 2), "same"),
    (4, 4, (2, 2), (1, 1), "same"),     # extra padding only at bottom/right
    (6, 5, (3, 3), (1, 1), "valid"),
]


@pytest.mark.parametrize("cls,kind", [(layers.MaxPooling2D, "max"), (layers.AveragePooling2D, "avg")])
@pytest.mark.parametrize("h,w,pool,strides,padding", POOL_CASES)
def test_pooling_matches_torch(torch, f64, cls, kind, h, w, pool, strides, padding):
    layer = cls(pool_size=pool, strides=strides, padding=padding)
    x = np.random.default_rng(3).standard_normal((2, h, w, 3))
    ym, _ = _compare(torch, layer, _pool_ref(torch, pool, strides or pool, padding, kind), x)
    assert ym.shape == (2,) + layer.compute_output_shape((None, h, w, 3))[1:]
    assert layer.get_weights() == [] and layer.count_params() == 0


def test_average_pooling_same_excludes_padding():
    # a 3x3 ones image, 2x2 'same' pooling stride 2: the windows at the edge hold fewer real pixels, all ones, so a
    # mean that counted the padded zeros would give 0.5 / 0.25 there
    y = layers.AveragePooling2D(padding="same")(np.ones((1, 3, 3, 1))).numpy()
    np.testing.assert_array_equal(y, np.ones((1, 2, 2, 1)))
    y = layers.MaxPooling2D(padding="same")(-np.ones((1, 3, 3, 1))).numpy()      # padding never wins the max
    np.testing.assert_array_equal(y, -np.ones((1, 2, 2, 1)))


@pytest.mark.parametrize("cls,reduce,shape", [
    (layers.GlobalAveragePooling1D, "mean", (2, 5, 3)), (layers.GlobalMaxPooling1D, "amax", (2, 5, 3)),
    (layers.GlobalAveragePooling2D, "mean", (2, 4, 3, 5)), (layers.GlobalMaxPooling2D, "amax", (2, 4, 3, 5))])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_pooling_matches_torch(torch, f64, cls, reduce, shape, keepdims, data_format):
    layer = cls(keepdims=keepdims, data_format=data_format)
    axes = tuple(range(1, len(shape) - 1)) if data_format == "channels_last" else tuple(range(2, len(shape)))
    x = np.random.default_rng(4).standard_normal(shape)
    ym, _ = _compare(torch, layer, lambda xt: getattr(xt, reduce)(axes, keepdim=keepdims), x)
    assert ym.shape == (2,) + layer.compute_output_shape((None,) + shape[1:])[1:]


# --- BatchNormalization -------------------------------------------------------------------------------------------
def _bn_ref(torch, axis, ndim, training, momentum=0.99, eps=1e-3, state=None):
    """torch's F.batch_norm over Keras' ``axis`` (moved to position 1), torch momentum = 1 - Keras momentum."""
    def ref(xt, gamma, beta, mean, var):
        ax = axis % ndim
        perm = [0, ax] + [i for i in range(1, ndim) if i != ax]
        x = xt.permute(*perm)
        rm, rv = mean.detach().clone(), var.detach().clone()
        y = torch.nn.functional.batch_norm(x, rm, rv, gamma, beta, training, 1.0 - momentum, eps)
        if state is not None:
            state["mean"] = rm
        return y.permute(*[perm.index(i) for i in range(ndim)])
    return ref


@pytest.mark.parametrize("shape,axis", [((6, 3), -1), ((4, 3, 5), -1), ((4, 3, 5), 1), ((3, 4, 2, 3), -1),
                                        ((3, 4, 2, 3), 1), ((2, 3, 2, 2, 3), -1), ((2, 3, 2, 2, 3), 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_matches_torch(torch, f64, shape, axis, training):
    layer = layers.BatchNormalization(axis=axis)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape) * 2 + 1
    layer(x)
    c = shape[axis]
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    old_mean, old_var = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    layer.set_weights([gamma, beta, old_mean, old_var])
    state = {}
    _compare(torch, layer, _bn_ref(torch, axis, len(shape), training, state=state), x, training=training)
    mean, var = layer.get_weights()[2:]
    red = tuple(i for i in range(len(shape)) if i != axis % len(shape))
    if training:    # Keras: moving = m * moving + (1 - m) * batch statistic, the variance biased
        close(mean, 0.99 * old_mean + 0.01 * x.mean(red), "moving_mean")
        close(mean, state["mean"], "moving_mean vs torch")
        close(var, 0.99 * old_var + 0.01 * x.var(red), "moving_variance (Keras' biased rule)")
    else:
        close(mean, old_mean, "moving_mean untouched in inference", 0, 0)
        close(var, old_var, "moving_variance untouched in inference", 0, 0)


def test_batch_normalization_options(torch, f64):
    x = np.random.default_rng(6).standard_normal((8, 3)) * 3 + 2
    layer = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, center=False, scale=False)
    y = layer(x, training=True).numpy()
    close(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), "center=scale=False")
    assert [w.shape for w in layer.get_weights()] == [(3,), (3,)]
    close(layer.get_weights()[1], 0.9 + 0.1 * x.var(0), "momentum=0.9")
    # default: direct call outside fit is inference (moving stats: mean 0, var 1)
    bn = layers.BatchNormalization()
    close(bn(x), x / np.sqrt(1 + 1e-3), "inference by default")
    close(bn.get_weights()[2], np.zeros(3), "no update in inference", 0, 0)
    # trainable=False: inference even when training (Keras' rule for frozen BatchNormalization)
    bn.trainable = False
    close(bn(x, training=True), x / np.sqrt(1 + 1e-3), "frozen BN runs in inference")
    close(bn.get_weights()[2], np.zeros(3), "frozen BN does not update", 0, 0)
    assert not any(p.requires_grad for p in bn.parameters())
    bn.trainable = True
    assert bn.get_weights()[0].dtype == np.float64
    y = bn(x, training=True).numpy()
    close(y.mean(0), np.zeros(3), "normalized mean", 0, 1e-12)


# --- Embedding ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2)])
def test_embedding_matches_torch(torch, f64, shape):
    layer = layers.Embedding(7, 3)
    ids = np.random.default_rng(7).integers(0, 7, shape)
    ids[..., 0] = 6
    layer(ids)
    _randomize(layer)
    _compare(torch, layer, lambda xt, emb: torch.nn.functional.embedding(xt, emb), ids)
    assert layer(ids).shape == (shape[0],) + layer.compute_output_shape((None,) + shape[1:])[1:]
    # float ids are cast, as Keras does
    np.testing.assert_array_equal(layer(ids.astype(np.float64)).numpy(), layer(ids).numpy())


# --- recurrent ----------------------------------------------------------------------------------------------------
def _reorder_gru(a, axis):
    """Keras GRU blocks (z, r, h) -> PyTorch (r, z, n)."""
    z, r, h = np.split(a, 3, axis=axis) if isinstance(a, np.ndarray) else a.chunk(3, axis)
    return (np.concatenate if isinstance(a, np.ndarray) else _cat)([r, z, h], axis)


def _cat(parts, axis):
    import torch
    return torch.cat(parts, axis)


def _rnn_ref(torch, kind, n_in, units, use_bias, return_sequences, go_backwards, activation="tanh"):
    """The torch.nn module with weights made (differentiably) from Keras' layouts."""
    def ref(xt, kernel, rec, bias=None):
        if kind == "SimpleRNN":
            mod = torch.nn.RNN(n_in, units, nonlinearity=activation, bias=use_bias, batch_first=True)
        else:
            mod = getattr(torch.nn, kind)(n_in, units, bias=use_bias, batch_first=True)
        mod = mod.double()
        if kind == "GRU":
            params = {"weight_ih_l0": _reorder_gru(kernel, 1).T, "weight_hh_l0": _reorder_gru(rec, 1).T}
            if use_bias:
                params["bias_ih_l0"], params["bias_hh_l0"] = _reorder_gru(bias[0], 0), _reorder_gru(bias[1], 0)
        else:       # LSTM gates i, f, c, o are PyTorch's i, f, g, o; one Keras bias
            params = {"weight_ih_l0": kernel.T, "weight_hh_l0": rec.T}
            if use_bias:
                params["bias_ih_l0"], params["bias_hh_l0"] = bias, torch.zeros_like(bias)
        x = xt.flip(1) if go_backwards else xt
        out = torch.func.functional_call(mod, params, (x,))[0]
        return out if return_sequences else out[:, -1]
    return ref


RNN_CASES = [("SimpleRNN", {}), ("SimpleRNN", {"activation": "relu"}), ("LSTM", {}), ("GRU", {})]


@pytest.mark.parametrize("kind,kw", RNN_CASES, ids=["SimpleRNN-tanh", "SimpleRNN-relu", "LSTM", "GRU"])
@pytest.mark.parametrize("return_sequences,go_backwards,use_bias",
                         [(False, False, True), (True, False, True), (False, True, True), (True, True, True),
                          (True, False, False)])
def test_recurrent_matches_torch(torch, f64, kind, kw, return_sequences, go_backwards, use_bias):
    layer = getattr(layers, kind)(4, return_sequences=return_sequences, go_backwards=go_backwards, use_bias=use_bias,
                                  **kw)
    x = np.random.default_rng(8).standard_normal((3, 5, 2))
    layer(x)
    _randomize(layer)
    ym, _ = _compare(torch, layer, _rnn_ref(torch, kind, 2, 4, use_bias, return_sequences, go_backwards,
                                            kw.get("activation", "tanh")), x)
    assert ym.shape == (3,) + layer.compute_output_shape((None, 5, 2))[1:]


def test_gru_follows_keras_reset_after_formula(f64):
    """One GRU step written from Keras' definition (gates z, r, h; reset applied after the recurrent matmul)."""
    layer = layers.GRU(3)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 2, 4))
    layer(x)
    _randomize(layer)
    k, r, b = layer.get_weights()

    def sig(v):
        return 1 / (1 + np.exp(-v))

    h = np.zeros((2, 3))
    for t in range(2):
        xz, xr, xh = np.split(x[:, t] @ k + b[0], 3, axis=1)
        hz, hr, hh = np.split(h @ r + b[1], 3, axis=1)
        z, rr = sig(xz + hz), sig(xr + hr)
        h = z * h + (1 - z) * np.tanh(xh + rr * hh)
    close(layer(x), h, "GRU vs Keras' formula")


def test_lstm_follows_keras_formula(f64):
    layer = layers.LSTM(3, return_sequences=True)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 2))
    layer(x)
    _randomize(layer)
    k, r, b = layer.get_weights()

    def sig(v):
        return 1 / (1 + np.exp(-v))

    h, c, outs = np.zeros((2, 3)), np.zeros((2, 3)), []
    for t in range(3):
        i, f, g, o = np.split(x[:, t] @ k + h @ r + b, 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        outs.append(h)
    close(layer(x), np.stack(outs, 1), "LSTM vs Keras' formula")


def test_recurrent_dropout_masks_inputs_only_in_training():
    md.keras.utils.set_random_seed(0)
    layer = layers.LSTM(3, dropout=0.5)
    x = np.random.default_rng(0).standard_normal((4, 6, 5)).astype(np.float32)
    a, b = layer(x).numpy(), layer(x).numpy()
    np.testing.assert_array_equal(a, b)                        # inference: deterministic, no dropout
    c = layer(x, training=True).numpy()
    assert not np.allclose(a, c)


# --- activations --------------------------------------------------------------------------------------------------
def _torch_activations(torch):
    F = torch.nn.functional
    return {"linear": lambda t: t, "relu": torch.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid,
            "hard_sigmoid": F.hardsigmoid, "tanh": torch.tanh, "softmax": lambda t: torch.softmax(t, -1),
            "log_softmax": lambda t: torch.log_softmax(t, -1), "softplus": F.softplus, "softsign": F.softsign,
            "elu": F.elu, "selu": F.selu, "gelu": F.gelu, "silu": F.silu, "swish": F.silu,
            "leaky_relu": lambda t: F.leaky_relu(t, 0.2), "exponential": torch.exp,
            "celu": F.celu, "glu": lambda t: F.glu(t, -1), "hard_shrink": F.hardshrink, "hard_silu": F.hardswish,
            "hard_swish": F.hardswish, "hard_tanh": F.hardtanh, "log_sigmoid": F.logsigmoid, "mish": F.mish,
            "soft_shrink": F.softshrink, "tanh_shrink": F.tanhshrink,
            "sparse_plus": lambda t: torch.where(t <= -1, 0 * t, torch.where(t >= 1, t, (t + 1) ** 2 / 4)),
            "sparse_sigmoid": lambda t: torch.clamp((t + 1) / 2, 0, 1),
            "squareplus": lambda t: (t + torch.sqrt(t * t + 4)) / 2, "sparsemax": _torch_sparsemax}


def _torch_sparsemax(t):
    srt = torch_module().sort(t, -1, descending=True)[0]
    cs = srt.cumsum(-1)
    k = torch_module().arange(1, t.shape[-1] + 1, dtype=t.dtype)
    size = (1 + k * srt > cs).sum(-1, keepdim=True)
    return (t - (cs.gather(-1, size - 1) - 1) / size).clamp(min=0)


def torch_module():
    import torch  # noqa: PLC0415
    return torch


def test_every_activation_has_a_reference(torch):
    assert set(activations._ALL) == set(_torch_activations(torch))


@pytest.mark.parametrize("name", sorted(activations._ALL))
def test_activation_layer_matches_torch(torch, f64, name):
    x = np.random.default_rng(11).uniform(-7, 7, (4, 6))
    for kink in (0.0, -3.0, 3.0, 6.0):                          # keep finite differences / subgradients out of it
        x[np.abs(x - kink) < 1e-2] += 0.05
    layer = layers.Activation(name)
    _compare(torch, layer, _torch_activations(torch)[name], x)
    # the same function through a Dense layer's activation argument and activations.get
    assert activations.get(name) is layer.activation
    dense = layers.Dense(6, activation=name)
    dense(x)
    kernel, bias = dense.get_weights()
    close(dense(x), _torch_activations(torch)[name](torch.tensor(x @ kernel + bias)), f"Dense({name})")


def test_activation_gradients_are_finite_for_large_inputs(f64):
    x = md.tensor(np.array([[-800.0, -50.0, 0.5, 50.0]]), requires_grad=True)
    for name in ("elu", "selu", "softplus", "sigmoid", "softmax", "log_softmax", "tanh", "silu"):
        x.grad = None
        y = activations.get(name)(x)
        y.sum().backward()
        assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(x.grad.numpy())), name


# --- Dropout ------------------------------------------------------------------------------------------------------
def test_dropout_training_and_inference():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(12).uniform(1, 2, (200, 50)).astype(np.float32)
    layer = layers.Dropout(0.3)
    np.testing.assert_array_equal(layer(x).numpy(), x)                       # Keras: direct call = inference
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    xm = md.tensor(x, requires_grad=True)
    y = layer(xm, training=True)
    out = y.numpy()
    dropped = out == 0
    assert abs(dropped.mean() - 0.3) < 0.02
    np.testing.assert_allclose(out[~dropped], x[~dropped] / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(xm.grad.numpy(), np.where(dropped, 0, 1 / 0.7), rtol=1e-6)
    assert not layer.training                                               # the mode came back
    np.testing.assert_array_equal(layers.Dropout(0.0)(x, training=True).numpy(), x)
    np.testing.assert_array_equal(layers.Dropout(1.0)(x, training=True).numpy(), np.zeros_like(x))


def test_dropout_noise_shape_and_seeding():
    keras.utils.set_random_seed(1)
    x = np.ones((4, 30, 6), np.float32)
    y = layers.Dropout(0.5, noise_shape=(None, 1, 6))(x, training=True).numpy()
    assert np.all(y == y[:, :1, :])                                        # one mask shared along axis 1
    assert 0 < (y == 0).mean() < 1
    md.keras.utils.set_random_seed(3)
    a = layers.Dropout(0.5)(x, training=True).numpy()
    md.keras.utils.set_random_seed(3)
    b = layers.Dropout(0.5)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)


# --- Flatten, Reshape, merging ------------------------------------------------------------------------------------
def test_flatten_and_reshape_use_channels_last_order():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(layers.Flatten()(x).numpy(), x.reshape(2, -1))
    np.testing.assert_array_equal(layers.Flatten(data_format="channels_first")(x).numpy(),
                                  x.transpose(0, 2, 3, 1).reshape(2, -1))
    np.testing.assert_array_equal(layers.Reshape((5, -1))(x).numpy(), x.reshape(2, 5, 12))
    np.testing.assert_array_equal(layers.Reshape((60,))(x).numpy(), x.reshape(2, 60))
    assert layers.Flatten().compute_output_shape((None, 3, 4, 5)) == (None, 60)
    assert layers.Flatten().compute_output_shape((None, None, 5)) == (None, None)
    assert layers.Reshape((-1, 3)).compute_output_shape((None, 4, 3)) == (None, 4, 3)
    assert layers.Reshape((2, -1)).compute_output_shape((None, None, 3)) == (None, 2, None)
    xm = md.tensor(x, requires_grad=True)
    (layers.Flatten()(xm) * md.tensor(np.arange(60, dtype=np.float32))).sum().backward()
    np.testing.assert_array_equal(xm.grad.numpy(), np.broadcast_to(np.arange(60).reshape(3, 4, 5), x.shape))


@pytest.mark.parametrize("cls,fn", [(layers.Add, lambda a, b, c: a + b + c), (layers.Multiply, lambda a, b, c: a * b * c),
                                    (layers.Average, lambda a, b, c: (a + b + c) / 3),
                                    (layers.Concatenate, lambda a, b, c: _cat([a, b, c], -1))])
def test_merging_matches_torch(torch, f64, cls, fn):
    rng = np.random.default_rng(13)
    xs = [rng.standard_normal((2, 3, 4)) for _ in range(3)]
    layer = cls()
    ms = [md.tensor(x, requires_grad=True) for x in xs]
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    ym, yt = layer(ms), fn(*ts)
    close(ym, yt, f"{cls.__name__} output")
    g = rng.standard_normal(tuple(yt.shape))
    (ym * md.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    for i, (a, b) in enumerate(zip(ms, ts)):
        close(a.grad, b.grad, f"{cls.__name__} grad {i}")
    sym = layer([keras.Input(shape=(3, 4)) for _ in range(3)])
    assert sym.shape == (None,) + tuple(yt.shape[1:])


def test_concatenate_axis_and_errors():
    a, b = np.ones((2, 3, 4)), np.zeros((2, 5, 4))
    assert layers.Concatenate(axis=1)([a, b]).shape == (2, 8, 4)
    with pytest.raises(ValueError, match="matching shapes"):
        layers.Concatenate()([a, b])
    with pytest.raises(ValueError, match="same shape"):
        layers.Add()([a, b])
    with pytest.raises(ValueError, match="at least 2 inputs"):
        layers.Add()([a])


# --- weight layouts, set_weights, parameter counts ----------------------------------------------------------------
def _built(layer, shape):
    layer(keras.Input(shape=shape))
    return layer


LAYOUTS = [  # (layer, input shape, Keras weight shapes, trainable count, non-trainable count)
    (lambda: layers.Dense(7), (5,), [(5, 7), (7,)], 5 * 7 + 7, 0),
    (lambda: layers.Dense(7, use_bias=False), (3, 5), [(5, 7)], 35, 0),
    (lambda: layers.Conv2D(8, (3, 2)), (9, 9, 4), [(3, 2, 4, 8), (8,)], 3 * 2 * 4 * 8 + 8, 0),
    (lambda: layers.Conv2D(8, 3, use_bias=False), (9, 9, 4), [(3, 3, 4, 8)], 3 * 3 * 4 * 8, 0),
    (lambda: layers.BatchNormalization(), (6, 6, 5), [(5,)] * 4, 2 * 5, 2 * 5),
    (lambda: layers.BatchNormalization(center=False), (5,), [(5,)] * 3, 5, 2 * 5),
    (lambda: layers.Embedding(100, 16), (10,), [(100, 16)], 1600, 0),
    (lambda: layers.SimpleRNN(6), (4, 3), [(3, 6), (6, 6), (6,)], 6 * (3 + 6) + 6, 0),
    (lambda: layers.SimpleRNN(6, use_bias=False), (4, 3), [(3, 6), (6, 6)], 6 * (3 + 6), 0),
    (lambda: layers.LSTM(6), (4, 3), [(3, 24), (6, 24), (24,)], 4 * (6 * (3 + 6) + 6), 0),
    (lambda: layers.LSTM(6, use_bias=False), (4, 3), [(3, 24), (6, 24)], 4 * 6 * (3 + 6), 0),
    (lambda: layers.GRU(6), (4, 3), [(3, 18), (6, 18), (2, 18)], 3 * 6 * (3 + 6) + 2 * 3 * 6, 0),
    (lambda: layers.GRU(6, use_bias=False), (4, 3), [(3, 18), (6, 18)], 3 * 6 * (3 + 6), 0),
    (lambda: layers.MaxPooling2D(), (4, 4, 2), [], 0, 0),
    (lambda: layers.Flatten(), (4, 4, 2), [], 0, 0),
]


@pytest.mark.parametrize("make,shape,weights,trainable,frozen", LAYOUTS)
def test_weight_shapes_counts_and_set_weights(make, shape, weights, trainable, frozen):
    layer = _built(make(), shape)
    got = layer.get_weights()
    assert [w.shape for w in got] == weights
    assert all(w.dtype == np.float32 for w in got)
    assert layer.count_params() == trainable + frozen
    assert layer._param_counts() == (trainable, frozen)
    rng = np.random.default_rng(14)
    new = [rng.standard_normal(s).astype(np.float32) for s in weights]
    layer.set_weights(new)
    for a, b in zip(layer.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    layer.set_weights(layer.get_weights())
    for a, b in zip(layer.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    if weights:
        bad = [np.zeros(s) for s in weights]
        bad[0] = np.zeros(weights[0] + (1,))
        with pytest.raises(ValueError, match=f"weight '{layer._weights[0].name}'"):
            layer.set_weights(bad)
    with pytest.raises(ValueError, match=f"expected {len(weights)} weights"):
        layer.set_weights(new + [np.zeros(1)])


def test_weight_names_and_orders():
    assert [w.name for w in _built(layers.LSTM(2), (3, 4))._weights] == ["kernel", "recurrent_kernel", "bias"]
    bn = _built(layers.BatchNormalization(), (3,))
    assert bn.weight_names == ["batch_normalization/gamma", "batch_normalization/beta",
                               "batch_normalization/moving_mean", "batch_normalization/moving_variance"]
    with pytest.raises(ValueError, match="isn't built"):
        layers.Dense(3).count_params()


def test_weights_follow_floatx(f64):
    layer = _built(layers.Conv2D(2, 3), (5, 5, 1))
    assert all(w.dtype == np.float64 for w in layer.get_weights())
    assert layer(np.zeros((1, 5, 5, 1), np.float32)).dtype == md.float64          # inputs are cast to floatx


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(["Dense", "Conv2D", "Embedding", "SimpleRNN", "LSTM", "GRU", "BatchNormalization"]),
       a=st.integers(1, 9), b=st.integers(1, 9), k=st.integers(1, 3), bias=st.booleans())
def test_parameter_count_formulae(kind, a, b, k, bias):
    if kind == "Dense":
        layer, shape, want = layers.Dense(b, use_bias=bias), (a,), a * b + b * bias
    elif kind == "Conv2D":
        layer, shape, want = layers.Conv2D(b, k, use_bias=bias), (4, 4, a), k * k * a * b + b * bias
    elif kind == "Embedding":
        layer, shape, want = layers.Embedding(a, b), (3,), a * b
    elif kind == "SimpleRNN":
        layer, shape, want = layers.SimpleRNN(b, use_bias=bias), (2, a), b * (a + b) + b * bias
    elif kind == "LSTM":
        layer, shape, want = layers.LSTM(b, use_bias=bias), (2, a), 4 * (b * (a + b) + b * bias)
    elif kind == "GRU":
        layer, shape, want = layers.GRU(b, use_bias=bias), (2, a), 3 * b * (a + b) + 2 * 3 * b * bias
    else:
        layer, shape, want = layers.BatchNormalization(), (k, a), 4 * a
    assert _built(layer, shape).count_params() == want


# --- default initializers -----------------------------------------------------------------------------------------
def _glorot_check(w, fan_in, fan_out):
    """Glorot-uniform draws: inside the limit, reaching near it, with the uniform's mean and variance. The tolerances
    are 5 standard errors of the sample statistics of n draws on [-L, L] (the mean's is L / sqrt(3n); the variance's,
    relative, sqrt(0.8 / n)), so a correct draw fails about once in 10^6 runs, while a scale sqrt(2) off (variance
    doubled or halved) fails for any n >= 100."""
    limit, n = math.sqrt(6 / (fan_in + fan_out)), w.size
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.95 * limit                  # all n draws below 0.95 L: probability 0.95 ** n
    np.testing.assert_allclose(w.var(), limit ** 2 / 3, rtol=5 * math.sqrt(0.8 / n))
    assert abs(w.mean()) < 5 * limit / math.sqrt(3 * n)


def test_default_initializers():
    keras.utils.set_random_seed(0)
    dense = _built(layers.Dense(300), (200,))
    kernel, bias = dense.get_weights()
    _glorot_check(kernel, 200, 300)
    np.testing.assert_array_equal(bias, 0)
    conv = _built(layers.Conv2D(32, 3), (8, 8, 16))
    kernel, bias = conv.get_weights()
    _glorot_check(kernel, 3 * 3 * 16, 3 * 3 * 32)          # Keras' fans count the receptive field
    np.testing.assert_array_equal(bias, 0)
    emb = _built(layers.Embedding(500, 64), (3,)).get_weights()[0]
    assert np.abs(emb).max() <= 0.05 and np.abs(emb).max() > 0.049
    np.testing.assert_allclose(emb.var(), 0.05 ** 2 / 3, rtol=0.05)
    bn = _built(layers.BatchNormalization(), (4,)).get_weights()
    for w, v in zip(bn, (1, 0, 0, 1)):
        np.testing.assert_array_equal(w, v)


@pytest.mark.parametrize("kind,gates", [("SimpleRNN", 1), ("LSTM", 4), ("GRU", 3)])
def test_recurrent_default_initializers(kind, gates):
    keras.utils.set_random_seed(0)
    units, n_in = 16, 400                                  # at least 6,400 kernel draws for the statistics
    layer = _built(getattr(layers, kind)(units), (3, n_in))
    weights = layer.get_weights()
    _glorot_check(weights[0], n_in, gates * units)
    for wrong in (math.sqrt(2), 1 / math.sqrt(2)):         # the check catches a scale sqrt(2) off
        with pytest.raises(AssertionError):
            _glorot_check(weights[0] * wrong, n_in, gates * units)
    rec = weights[1].astype(np.float64)
    # Keras' orthogonal on the whole (units, gates * units) matrix: its rows are orthonormal
    np.testing.assert_allclose(rec @ rec.T, np.eye(units), atol=1e-5)
    bias = weights[2]
    want = np.zeros(bias.shape)
    if kind == "LSTM":                                     # unit_forget_bias: the forget gate's bias starts at 1
        want[units:2 * units] = 1
    np.testing.assert_array_equal(bias, want)
    if kind == "LSTM":
        no_forget = _built(layers.LSTM(units, unit_forget_bias=False), (3, n_in)).get_weights()[2]
        np.testing.assert_array_equal(no_forget, 0)


def test_string_initializers_in_layers():
    layer = _built(layers.Dense(400, kernel_initializer="he_normal", bias_initializer="ones"), (300,))
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(kernel.std(), math.sqrt(2 / 300), rtol=0.03)
    assert np.abs(kernel).max() <= 2 * math.sqrt(2 / 300) / 0.87962566103423978 + 1e-7
    np.testing.assert_array_equal(bias, 1)
    conv = _built(layers.Conv2D(64, 3, kernel_initializer="lecun_uniform"), (5, 5, 32)).get_weights()[0]
    limit = math.sqrt(3 / (9 * 32))
    assert limit * 0.95 < np.abs(conv).max() <= limit
    obj = _built(layers.Dense(5, kernel_initializer=initializers.Constant(0.25)), (3,)).get_weights()[0]
    np.testing.assert_array_equal(obj, 0.25)
    cls = _built(layers.Dense(5, kernel_initializer=initializers.Ones), (3,)).get_weights()[0]
    np.testing.assert_array_equal(cls, 1)


def test_set_random_seed_reproduces_builds():
    def build():
        return _built(layers.LSTM(4), (3, 5)).get_weights() + _built(layers.Conv2D(3, 2), (4, 4, 2)).get_weights()

    keras.utils.set_random_seed(42)
    a = build()
    keras.utils.set_random_seed(42)
    b = build()
    keras.utils.set_random_seed(43)
    c = build()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])


# --- regularizers -------------------------------------------------------------------------------------------------
REGS = [(lambda: regularizers.l1(0.01), 0.01, 0.0), (lambda: regularizers.l2(0.003), 0.0, 0.003),
        (lambda: regularizers.l1_l2(l1=0.02, l2=0.05), 0.02, 0.05), (lambda: "l2", 0.0, 0.01),
        (lambda: regularizers.L1L2(l2=np.float32(0.5)), 0.0, 0.5)]


def _penalty(w, l1, l2):
    return l1 * np.abs(w).sum() + l2 * (w.astype(np.float64) ** 2).sum()


@pytest.mark.parametrize("reg,l1,l2", REGS)
@pytest.mark.parametrize("make,shape,arg,index", [
    (lambda r: layers.Dense(4, kernel_regularizer=r), (3,), None, 0),
    (lambda r: layers.Dense(4, bias_regularizer=r), (3,), None, 1),
    (lambda r: layers.Conv2D(3, 2, kernel_regularizer=r), (4, 4, 2), None, 0),
    (lambda r: layers.Embedding(6, 3, embeddings_regularizer=r), (2,), None, 0),
    (lambda r: layers.LSTM(3, recurrent_regularizer=r), (2, 2), None, 1),
    (lambda r: layers.GRU(3, bias_regularizer=r), (2, 2), None, 2),
    (lambda r: layers.BatchNormalization(gamma_regularizer=r), (3,), None, 0)])
def test_regularizer_penalties_and_gradients(f64, reg, l1, l2, make, shape, arg, index):
    layer = _built(make(reg()), shape)
    _randomize(layer, seed=15)
    w = layer.get_weights()[index]
    (loss,) = layer.losses
    np.testing.assert_allclose(float(loss.numpy()), _penalty(w, l1, l2), rtol=1e-10)
    loss.backward()
    np.testing.assert_allclose(keras_grads(layer)[index], l1 * np.sign(w) + 2 * l2 * w, rtol=1e-10, atol=1e-12)
    assert not any(g.any() for i, g in enumerate(keras_grads(layer)) if i != index)


def test_regularizer_api():
    assert _built(layers.Dense(3), (2,)).losses == []
    both = _built(layers.Dense(3, kernel_regularizer="l1", bias_regularizer=regularizers.l2(0.1)), (2,))
    assert len(both.losses) == 2
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}
    assert type(regularizers.get({"class_name": "L2", "config": {"l2": 0.5}})) is regularizers.L2
    for bad in ("l3", 3, {"class_name": "L5"}):
        with pytest.raises(ValueError):
            regularizers.get(bad)
    with pytest.raises(ValueError, match="non-negative"):
        regularizers.l2(-1.0)
    with pytest.raises(ValueError, match="regularizer"):
        layers.Dense(3, kernel_regularizer="nope")


# --- shape inference ----------------------------------------------------------------------------------------------
def _sample_layer(kind, data):
    d = data.draw
    if kind == "Dense":
        return layers.Dense(d(st.integers(1, 4))), (d(st.integers(1, 3)),) * d(st.integers(1, 3))
    if kind in ("Conv2D", "MaxPooling2D", "AveragePooling2D"):
        pad, k, s = d(st.sampled_from(["valid", "same"])), d(st.integers(1, 3)), d(st.integers(1, 2))
        shape = (d(st.integers(k, 6)), d(st.integers(k, 6)), d(st.integers(1, 3)))
        if kind == "Conv2D":
            return layers.Conv2D(2, k, strides=s, padding=pad), shape
        return getattr(layers, kind)(k, strides=s, padding=pad), shape
    if kind in ("SimpleRNN", "LSTM", "GRU"):
        return (getattr(layers, kind)(3, return_sequences=d(st.booleans()), go_backwards=d(st.booleans())),
                (d(st.integers(1, 4)), d(st.integers(1, 3))))
    if kind == "Embedding":
        return layers.Embedding(5, 3), tuple(d(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    if kind == "BatchNormalization":
        return layers.BatchNormalization(), tuple(d(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    if kind == "Flatten":
        return layers.Flatten(), tuple(d(st.lists(st.integers(1, 3), min_size=0, max_size=3)))
    if kind == "Reshape":
        shape = tuple(d(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
        return layers.Reshape((-1,) + shape[1:]), shape
    if kind in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        return getattr(layers, kind)(keepdims=d(st.booleans())), (d(st.integers(1, 3)), d(st.integers(1, 3)))
    if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        return getattr(layers, kind)(), (2, 3, 2)
    return getattr(layers, kind)(**({"rate": 0.5} if kind == "Dropout" else {"activation": "relu"})), (3, 2)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["Dense", "Conv2D", "MaxPooling2D", "AveragePooling2D", "SimpleRNN", "LSTM", "GRU",
                             "Embedding", "BatchNormalization", "Flatten", "Reshape", "GlobalAveragePooling1D",
                             "GlobalMaxPooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Dropout",
                             "Activation"]),
       batch=st.integers(1, 3), data=st.data())
def test_compute_output_shape_matches_calls(kind, batch, data):
    layer, shape = _sample_layer(kind, data)
    sym = layer(keras.Input(shape=shape))                                 # built from an Input
    want = layer.compute_output_shape((None,) + shape)
    assert sym.shape == want
    x = np.random.default_rng(0).integers(0, 5, (batch,) + shape) if kind == "Embedding" else \
        np.random.default_rng(0).standard_normal((batch,) + shape)
    assert layer(x).shape == (batch,) + want[1:]
    fresh = type(layer).from_config(layer.get_config())
    assert fresh(x).shape == (batch,) + want[1:]                          # built from the first batch


def test_build_from_input_shape_argument():
    model = keras.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    assert [w.shape for w in model.layers[0].get_weights()] == [(3, 4), (4,)]
    assert [w.shape for w in model.layers[1].get_weights()] == [(4, 2), (2,)]
    conv = keras.Sequential([layers.Conv2D(4, 3, input_shape=(8, 8, 2))])
    assert conv.layers[0].get_weights()[0].shape == (3, 3, 2, 4)


def test_symbolic_none_dims():
    out = layers.LSTM(3, return_sequences=True)(keras.Input(shape=(None, 4)))
    assert out.shape == (None, None, 3)
    assert layers.Conv2D(2, 3, padding="same")(keras.Input(shape=(None, None, 1))).shape == (None, None, None, 2)
    assert layers.GlobalAveragePooling1D()(keras.Input(shape=(None, 5))).shape == (None, 5)
    with pytest.raises(ValueError, match="must be known"):
        layers.Dense(3)(keras.Input(shape=(None,)))


# --- Keras' errors ------------------------------------------------------------------------------------------------
def test_input_spec_errors():
    dense = layers.Dense(3)
    dense(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 5.*\(2, 4\)"):
        dense(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 5"):
        dense(keras.Input(shape=(6,)))
    with pytest.raises(ValueError, match=r"expected min_ndim=2, found ndim=1"):
        layers.Dense(3)(np.zeros(4))
    with pytest.raises(ValueError, match=r"expected ndim=4, found ndim=3"):
        layers.Conv2D(2, 3)(np.zeros((1, 5, 5)))
    for cls in (layers.MaxPooling2D, layers.AveragePooling2D, layers.GlobalAveragePooling2D):
        with pytest.raises(ValueError, match="expected ndim=4"):
            cls()(np.zeros((1, 4, 4)))
    for cls in (layers.SimpleRNN, layers.LSTM, layers.GRU):
        with pytest.raises(ValueError, match=r"expected ndim=3, found ndim=2. Full shape received: \(2, 5\)"):
            cls(3)(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="expected ndim=3"):
        layers.GlobalAveragePooling1D()(keras.Input(shape=(4,)))
    conv = layers.Conv2D(2, 3)
    conv(np.zeros((1, 5, 5, 3)))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        conv(np.zeros((1, 5, 5, 2)))
    lstm = layers.LSTM(2)
    lstm(np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 4"):
        lstm(np.zeros((1, 3, 5)))
    with pytest.raises(ValueError, match="too small"):
        layers.Conv2D(2, 5)(np.zeros((1, 3, 3, 1)))
    with pytest.raises(ValueError, match="smaller than the pool"):
        layers.MaxPooling2D(3)(np.zeros((1, 2, 2, 1)))
    with pytest.raises(ValueError, match="total size of the new array must be unchanged"):
        layers.Reshape((4, 4))(np.zeros((2, 3, 5)))


@pytest.mark.parametrize("bad", [10, 12, -1])
def test_embedding_index_errors(bad):
    layer = layers.Embedding(10, 3)
    with pytest.raises(ValueError, match=rf"index {bad} is not in \[0, 10\).*input_dim=10"):
        layer(np.array([[1, bad, 2]]))


@pytest.mark.parametrize("make,exc,match", [
    (lambda: layers.Dense(3, foo=1), TypeError, "Unrecognized keyword arguments passed to Dense"),
    (lambda: layers.Conv2D(3, 3, kernel_sise=3), TypeError, "Conv2D"),
    (lambda: layers.LSTM(3, bogus=True), TypeError, "LSTM"),
    (lambda: layers.Embedding(3, 2, input_lenght=4), TypeError, "Embedding"),
    (lambda: layers.Dropout(0.1, ratee=1), TypeError, "Dropout"),
    (lambda: layers.Dense(3, activation="relux"), ValueError, "activation function identifier: 'relux'"),
    (lambda: layers.Activation("nope"), ValueError, "nope"),
    (lambda: layers.Dense(3, kernel_initializer="glorot_unifrom"), ValueError, "initializer identifier"),
    (lambda: layers.Conv2D(3, 3, bias_initializer=7), ValueError, "initializer identifier"),
    (lambda: layers.Dense(3, kernel_regularizer="l3"), ValueError, "regularizer identifier"),
    (lambda: layers.Conv2D(3, 3, padding="full"), ValueError, "padding"),
    (lambda: layers.MaxPooling2D(padding="causal"), ValueError, "padding"),
    (lambda: layers.AveragePooling2D(data_format="nhwc"), ValueError, "data_format"),
    (lambda: layers.Flatten(data_format="nhwc"), ValueError, "data_format"),
    (lambda: layers.Conv2D(3, (3, 3, 3)), ValueError, "kernel_size"),
    (lambda: layers.Conv2D(3, 3, strides=2, dilation_rate=2), ValueError, "dilation_rate"),
    (lambda: layers.Conv2D(0, 3), ValueError, "filters"),
    (lambda: layers.Dense(0), ValueError, "units"),
    (lambda: layers.LSTM(-1), ValueError, "units"),
    (lambda: layers.Dropout(1.5), ValueError, "rate"),
    (lambda: layers.Embedding(0, 3), ValueError, "input_dim"),
    (lambda: layers.LSTM(3, recurrent_dropout=1.0), ValueError, "recurrent_dropout"),
    (lambda: layers.LSTM(3, activation="relu"), ValueError, "activation"),
    (lambda: layers.SimpleRNN(3, activation="sigmoid"), ValueError, "activation"),
    (lambda: layers.GRU(3, dropout=1.0), ValueError, "dropout"),
    (lambda: layers.Reshape((-1, -1)), ValueError, "-1"),
])
def test_constructor_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_batch_normalization_axis_errors():
    with pytest.raises(ValueError, match="out of range"):
        layers.BatchNormalization(axis=3)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="batch axis"):
        layers.BatchNormalization(axis=0)(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="one int"):
        layers.BatchNormalization(axis=[1, 2])


# --- gradchecks ---------------------------------------------------------------------------------------------------
def _gradcheck_layer(layer, x, training=None, **tol):
    layer(x)
    rng = np.random.default_rng(16)
    layer.set_weights([rng.standard_normal(w.shape) * 0.5 + (1.0 if w.ndim == 1 and "variance" in n else 0.0)
                       for w, n in zip(layer.get_weights(), [w.name for w in layer._weights])])
    assert_gradcheck(lambda t: layer(t, training=training), x, **tol)


@pytest.mark.parametrize("make,shape,training", [
    (lambda: layers.Conv2D(2, 2, strides=2, padding="same"), (1, 5, 4, 2), None),
    (lambda: layers.Conv2D(2, 3, padding="same", dilation_rate=2), (1, 5, 5, 1), None),
    (lambda: layers.AveragePooling2D(3, strides=2, padding="same"), (1, 5, 4, 2), None),
    (lambda: layers.MaxPooling2D(2, strides=1, padding="same"), (1, 3, 4, 2), None),
    (lambda: layers.BatchNormalization(), (4, 2, 2, 3), True),
    (lambda: layers.BatchNormalization(axis=1), (5, 3), False),
    (lambda: layers.GRU(3, return_sequences=True), (2, 3, 2), None),
    (lambda: layers.LSTM(3, go_backwards=True), (2, 3, 2), None),
    (lambda: layers.SimpleRNN(3), (2, 3, 2), None),
    (lambda: layers.Dense(3, activation="softmax"), (2, 2, 4), None),
    (lambda: layers.GlobalMaxPooling2D(), (2, 3, 3, 2), None),
])
def test_layer_gradcheck(f64, make, shape, training):
    x = np.random.default_rng(17).standard_normal(shape)
    _gradcheck_layer(make(), x, training)


# --- configs ------------------------------------------------------------------------------------------------------
CONFIG_LAYERS = [
    lambda: layers.Dense(3, activation="relu", use_bias=False, kernel_initializer="he_normal",
                         kernel_regularizer=regularizers.l1_l2(0.1, 0.2), input_shape=(4,)),
    lambda: layers.Activation("gelu"),
    lambda: layers.Flatten(data_format="channels_first"),
    lambda: layers.Reshape((2, -1)),
    lambda: layers.Dropout(0.25, noise_shape=(None, 1), seed=3),
    lambda: layers.Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="tanh",
                          kernel_initializer=initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=1),
                          bias_regularizer="l2", dilation_rate=1),
    lambda: layers.MaxPooling2D((3, 3), strides=2, padding="same"),
    lambda: layers.AveragePooling2D(data_format="channels_first"),
    lambda: layers.GlobalAveragePooling1D(keepdims=True),
    lambda: layers.GlobalMaxPooling1D(),
    lambda: layers.GlobalAveragePooling2D(),
    lambda: layers.GlobalMaxPooling2D(data_format="channels_first"),
    lambda: layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-4, center=False,
                                      gamma_initializer=initializers.Constant(2.0), trainable=False),
    lambda: layers.Embedding(20, 4, embeddings_initializer=initializers.RandomNormal(stddev=0.1, seed=2),
                             input_length=5),
    lambda: layers.SimpleRNN(3, activation="relu", return_sequences=True),
    lambda: layers.LSTM(3, unit_forget_bias=False, go_backwards=True, dropout=0.1, recurrent_regularizer="l1"),
    lambda: layers.GRU(3, use_bias=False, recurrent_initializer=initializers.Orthogonal(gain=2.0, seed=4)),
    lambda: layers.Add(), lambda: layers.Multiply(), lambda: layers.Average(), lambda: layers.Concatenate(axis=1),
    lambda: layers.Conv1D(3, 2, padding="causal", dilation_rate=2, activation="relu"),
    lambda: layers.MaxPooling1D(3, strides=1, padding="same"),
    lambda: layers.AveragePooling1D(),
    lambda: layers.LayerNormalization(axis=[1, 2], epsilon=1e-5, center=False),
    lambda: layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode="sum"),
    lambda: layers.Masking(mask_value=-1.0),
    lambda: layers.Embedding(20, 4, mask_zero=True),
    lambda: layers.LSTM(3, recurrent_dropout=0.2, return_state=True, stateful=True, unroll=True, seed=5),
    lambda: layers.Conv1DTranspose(4, 3, strides=2, padding="same", output_padding=1),   # issue 15 campaign
]


def _declared_round_trips():
    """Layer names that other test files round-trip through configs: each such file declares them in a
    module-level ``ROUND_TRIPPED`` (and ``CONFIG_REFUSED`` for layers whose config is refused on purpose)."""
    import importlib  # noqa: PLC0415
    import pathlib  # noqa: PLC0415
    names = set()
    for path in sorted(pathlib.Path(__file__).parent.glob("test_keras_*.py")):
        if path.stem != "test_keras_layers" and "ROUND_TRIPPED" in path.read_text():
            module = importlib.import_module(path.stem)
            for attr in ("ROUND_TRIPPED", "CONFIG_REFUSED", "PREPROCESSING_ROUND_TRIPPED"):
                names |= set(getattr(module, attr, ()))
    return names


def test_every_layer_class_has_a_config_case():
    covered = {type(make()).__name__ for make in CONFIG_LAYERS} | _declared_round_trips()
    assert set(layers.LAYERS) - covered == set()


@pytest.mark.parametrize("make", CONFIG_LAYERS, ids=lambda m: type(m()).__name__)
def test_from_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert type(again) is type(layer)
    assert again.get_config() == config
    assert again.name == layer.name and again.trainable == layer.trainable


def test_from_config_rebuilds_the_same_function(f64):
    x = np.random.default_rng(18).standard_normal((2, 5, 5, 3))
    conv = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")
    y = conv(x).numpy()
    again = layers.Conv2D.from_config(conv.get_config())
    again(x)
    again.set_weights(conv.get_weights())
    np.testing.assert_array_equal(again(x).numpy(), y)


def test_frozen_layers_stop_gradients():
    dense = layers.Dense(3, trainable=False)
    dense(np.zeros((1, 2), np.float32))
    assert not any(p.requires_grad for p in dense.parameters())
    assert dense._param_counts() == (0, 9)
    dense.trainable = True
    assert all(p.requires_grad for p in dense.parameters())


# --- building by hand, casting, odd batches -----------------------------------------------------------------------
def test_build_by_hand_marks_the_layer_built():
    dense = layers.Dense(3)
    dense.build((None, 4))
    assert dense.built and dense.count_params() == 15
    kernel = dense.get_weights()[0]
    assert dense(np.ones((2, 4), np.float32)).shape == (2, 3)
    assert len(dense.get_weights()) == 2                                   # the call did not build a second time
    np.testing.assert_array_equal(dense.get_weights()[0], kernel)
    lstm = layers.LSTM(2)
    lstm.build((None, 5, 3))
    assert lstm.count_params() == 4 * (2 * (3 + 2) + 2)
    lstm.build((None, 5, 3))                                               # building again replaces, not appends
    assert len(lstm.get_weights()) == 3 and lstm.count_params() == 4 * (2 * (3 + 2) + 2)


def test_inputs_are_cast_as_keras_casts_them():
    dense = layers.Dense(2)
    assert dense(md.tensor(np.ones((2, 3)))).dtype == md.float32            # float64 tensor -> the layer's floatx
    assert dense(np.ones((2, 3), np.uint8)).dtype == md.float32             # integers too, for computing layers
    np.testing.assert_allclose(dense(np.ones((2, 3), np.int64)).numpy(), dense(np.ones((2, 3))).numpy())
    assert layers.Conv2D(2, 2)(np.ones((1, 3, 3, 1), np.uint8)).dtype == md.float32
    assert layers.MaxPooling2D(padding="same")(np.ones((1, 3, 3, 1), np.uint8)).dtype == md.float32
    assert layers.LSTM(2)(np.ones((1, 3, 3), np.int32)).dtype == md.float32
    assert layers.Flatten()(np.ones((2, 3, 3), np.uint8)).dtype == md.uint8   # shape-only layers keep the dtype
    assert layers.Embedding(5, 2)(np.ones((2, 3), np.int64)).dtype == md.float32
    x = md.tensor(np.ones((2, 3)), requires_grad=True)
    dense(x).sum().backward()
    assert x.grad.dtype == md.float64 and np.all(x.grad.numpy() == dense.get_weights()[0].sum(1))


def test_batch_normalization_batch_of_one(f64):
    # Keras: one value per channel has variance 0, so the output is beta; moving mean moves toward the value
    bn = _built(layers.BatchNormalization(), (3,))
    bn.set_weights([np.full(3, 2.0), np.arange(3.0), np.zeros(3), np.ones(3)])
    x = md.tensor(np.array([[1.0, 5.0, -3.0]]), requires_grad=True)
    y = bn(x, training=True)
    np.testing.assert_array_equal(y.numpy(), [[0.0, 1.0, 2.0]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((1, 3)))
    close(bn.get_weights()[2], 0.01 * np.array([1.0, 5.0, -3.0]), "moving_mean")
    close(bn.get_weights()[3], np.full(3, 0.99), "moving_variance")
    bn4 = _built(layers.BatchNormalization(), (1, 1, 3))
    np.testing.assert_array_equal(bn4(np.ones((1, 1, 1, 3)), training=True).numpy(), np.zeros((1, 1, 1, 3)))


def test_grouped_conv2d_matches_torch(torch, f64):
    layer = layers.Conv2D(6, 3, groups=3, padding="same")
    x = np.random.default_rng(19).standard_normal((2, 5, 5, 3))
    layer(x)
    _randomize(layer)
    assert [w.shape for w in layer.get_weights()] == [(3, 3, 1, 6), (6,)]

    def ref(xt, kernel, bias):
        y = torch.nn.functional.conv2d(xt.permute(0, 3, 1, 2), kernel.permute(3, 2, 0, 1), bias, 1, 1, 1, 3)
        return y.permute(0, 2, 3, 1)

    _compare(torch, layer, ref, x)


@pytest.mark.parametrize("make,shape,ref_kind", [(lambda: layers.LSTM(4, return_sequences=True), (2, 5, 3), "LSTM"),
                                                 (lambda: layers.GRU(4), (2, 5, 3), "GRU")])
def test_recurrent_float32_matches_torch(torch, make, shape, ref_kind):
    layer = make()
    x = np.random.default_rng(20).standard_normal(shape).astype(np.float32)
    layer(x)
    _randomize(layer)
    ref = _rnn_ref(torch, ref_kind, 3, 4, True, layer.return_sequences, False)
    ym = layer(x)
    yt = ref(torch.tensor(x, dtype=torch.float64), *[torch.tensor(w, dtype=torch.float64) for w in layer.get_weights()])
    assert ym.dtype == md.float32
    close(ym, yt, "float32 output", rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make,shape", [(lambda: layers.Dense(3, kernel_regularizer="l2"), (2, 4)),
                                        (lambda: layers.GRU(3), (2, 4, 2)), (lambda: layers.LSTM(3), (2, 4, 2)),
                                        (lambda: layers.BatchNormalization(), (3, 4)),
                                        (lambda: layers.Conv2D(2, 2, padding="same"), (1, 3, 3, 2)),
                                        (lambda: layers.Embedding(5, 2), (2, 3))])
def test_weights_on_a_device(make, shape):
    """get/set_weights move arrays between host and device (through a fake CuPy: no GPU needed)."""
    import fake_cupy
    mp = pytest.MonkeyPatch()
    fake_cupy.install(mp)
    try:
        layer = make()
        x = np.ones(shape, np.int64) if isinstance(layer, layers.Embedding) else np.ones(shape, np.float32)
        want = layer(x, training=True).numpy()
        layer.to("cuda")
        weights = layer.get_weights()
        assert all(type(w) is np.ndarray for w in weights)
        layer.set_weights([w + 1 for w in weights])
        for a, b in zip(layer.get_weights(), weights):
            np.testing.assert_array_equal(a, b + 1)
        assert all(type(t.array).__module__ == "cupy" for w in layer._weights for t in w.tensors())
        layer.set_weights(weights)
        y = layer(md.tensor(x).to("cuda"), training=True)
        assert str(y.device) == "cuda:0"
        np.testing.assert_allclose(y.cpu().numpy(), want, rtol=1e-5, atol=1e-6)
        assert [float(p.cpu().numpy()) for p in layer.losses] == [float(p.numpy()) for p in layer.losses]
    finally:
        fake_cupy.uninstall(mp)


def test_layers_without_weights_are_built_by_a_direct_build_call():
    for layer in (layers.Flatten(), layers.MaxPooling2D(), layers.Dropout(0.5), layers.GlobalAveragePooling1D()):
        layer.build((None, 4, 4, 2))
        assert layer.built and layer.count_params() == 0
