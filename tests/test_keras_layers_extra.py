"""``md.keras.layers`` Conv1D, MaxPooling1D, AveragePooling1D and LayerNormalization against PyTorch and Keras' rules.

Outputs, input gradients and weight gradients (in Keras' layouts, through ``get_weights``) are compared in float64
with PyTorch references built from the Keras-layout weights (``F.conv1d`` with explicit TF 'same' / causal padding,
``F.max_pool1d`` / ``F.avg_pool1d`` with TF's 'same' rule, ``F.layer_norm``), over fixed cases and hypothesis-drawn
geometries. Then Keras' conventions: weight shapes and parameter counts, ``compute_output_shape`` against real calls,
errors, gradchecks, config round trips, a small Conv1D text classifier and a ``.keras`` save/load round trip.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
import minidl.keras as keras
from minidl.keras import initializers, layers, regularizers
from minidl.testing import assert_gradcheck

from keras_helpers import ATOL, RTOL, close, f64, fresh_session, keras_grads, to_numpy  # noqa: F401 -- fixtures


def _compare(torch, layer, ref, x, seed=0):
    """Run ``layer`` on ``x`` and ``ref(xt, *keras_weights)``; back-propagate one random cotangent through both;
    compare output, input grad and weight grads."""
    xm = md.tensor(x, requires_grad=True)
    wts = [torch.tensor(w, requires_grad=True) for w in layer.get_weights()]
    ym = layer(xm)
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt, *wts)
    close(ym, yt, f"{layer.name} output")
    g = np.random.default_rng(seed).standard_normal(tuple(yt.shape))
    (ym * md.tensor(g)).sum().backward()
    (yt * torch.tensor(g, dtype=yt.dtype)).sum().backward()
    close(xm.grad, xt.grad, f"{layer.name} input grad")
    for w, gm, wt in zip(layer._weights, keras_grads(layer), wts):
        close(gm, wt.grad, f"{layer.name} grad of {w.name}")
    return ym


def _randomize(layer, seed=1, scale=0.5, offset=0.0):
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.standard_normal(w.shape) * scale + offset for w in layer.get_weights()])


def tf_same_pads(n, k, s, d=1):
    """TensorFlow's 'same': output ceil(n / s); the odd step of padding goes at the end."""
    total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


# --- Conv1D -------------------------------------------------------------------------------------------------------
def _conv1d_ref(torch, padding, stride, dilation, groups=1, activation=None, channels_first=False):
    F = torch.nn.functional

    def ref(xt, kernel, bias=None):
        x = xt if channels_first else xt.permute(0, 2, 1)           # (N, C, L)
        k = kernel.shape[0]
        if padding == "same":
            x = F.pad(x, tf_same_pads(x.shape[2], k, stride, dilation))
        elif padding == "causal":
            x = F.pad(x, (dilation * (k - 1), 0))
        y = F.conv1d(x, kernel.permute(2, 1, 0), bias, stride, 0, dilation, groups)
        y = y if channels_first else y.permute(0, 2, 1)
        return torch.relu(y) if activation == "relu" else y
    return ref


CONV1D_CASES = [  # (L, cin, filters, kernel, stride, padding, dilation, groups)
    (9, 3, 4, 3, 1, "valid", 1, 1),
    (9, 3, 4, 3, 1, "same", 1, 1),
    (8, 2, 3, 2, 1, "same", 1, 1),          # even kernel: the extra step at the end
    (9, 2, 3, 3, 2, "same", 1, 1),
    (10, 2, 3, 4, 3, "valid", 1, 1),
    (9, 2, 3, 3, 1, "causal", 2, 1),
    (7, 2, 2, 3, 2, "causal", 1, 1),        # causal with strides
    (9, 4, 6, 3, 1, "same", 2, 2),          # grouped and dilated
]


@pytest.mark.parametrize("steps,cin,filters,kernel,stride,padding,dilation,groups", CONV1D_CASES)
def test_conv1d_matches_torch(torch, f64, steps, cin, filters, kernel, stride, padding, dilation, groups):
    layer = layers.Conv1D(filters, kernel, strides=stride, padding=padding, dilation_rate=dilation, groups=groups,
                          activation="relu")
    x = np.random.default_rng(1).standard_normal((2, steps, cin))
    layer(x[:1])
    _randomize(layer)
    ym = _compare(torch, layer, _conv1d_ref(torch, padding, stride, dilation, groups, "relu"), x)
    assert ym.shape == (2,) + layer.compute_output_shape((None, steps, cin))[1:]


@settings(max_examples=30, deadline=None)
@given(steps=st.integers(1, 9), k=st.integers(1, 4), stride=st.integers(1, 3), dil=st.integers(1, 2),
       padding=st.sampled_from(["valid", "same", "causal"]), use_bias=st.booleans(), first=st.booleans())
def test_conv1d_drawn_geometries_match_torch(torch, steps, k, stride, dil, padding, use_bias, first):
    if stride > 1 and dil > 1:
        dil = 1                                    # Keras refuses strides > 1 with dilation > 1
    fmt = "channels_first" if first else "channels_last"
    shape = (2, 2, steps) if first else (2, steps, 2)
    if padding == "valid" and steps - dil * (k - 1) <= 0:
        with pytest.raises(ValueError, match="too small"):
            layers.Conv1D(3, k, strides=stride, dilation_rate=dil, data_format=fmt)(np.zeros(shape))
        return
    keras.backend.set_floatx("float64")
    layer = layers.Conv1D(3, k, strides=stride, padding=padding, dilation_rate=dil, use_bias=use_bias,
                          data_format=fmt)
    x = np.random.default_rng(steps * 5 + k).standard_normal(shape)
    layer(x)
    _randomize(layer)
    ym = _compare(torch, layer, _conv1d_ref(torch, padding, stride, dil, channels_first=first), x)
    assert ym.shape == (2,) + layer.compute_output_shape((None,) + shape[1:])[1:]
    if padding != "valid":
        assert ym.shape[2 if first else 1] == -(-steps // stride)


def test_conv1d_causal_output_never_sees_later_steps(f64):
    layer = layers.Conv1D(2, 3, padding="causal", dilation_rate=2)
    x = np.random.default_rng(2).standard_normal((1, 10, 3))
    y = layer(x).numpy()
    for t in range(10):
        later = x.copy()
        later[:, t + 1:] += 5.0
        np.testing.assert_array_equal(layer(later).numpy()[:, :t + 1], y[:, :t + 1])
    # and the first output sees only the first step: all-ones kernel, no bias -> cumulative sums of 1, 2 or 3 taps
    ones = layers.Conv1D(1, 3, padding="causal", use_bias=False, kernel_initializer="ones")
    np.testing.assert_array_equal(ones(np.ones((1, 5, 1))).numpy()[0, :, 0], [1, 2, 3, 3, 3])
    same = layers.Conv1D(1, 2, padding="same", use_bias=False, kernel_initializer="ones")
    np.testing.assert_array_equal(same(np.ones((1, 3, 1))).numpy()[0, :, 0], [2, 2, 1])      # extra pad at the end


def test_conv1d_equals_conv2d_on_a_unit_axis(f64):
    x = np.random.default_rng(3).standard_normal((2, 11, 3))
    one = layers.Conv1D(4, 3, strides=2, padding="same")
    two = layers.Conv2D(4, (1, 3), strides=(1, 2), padding="same")
    one(x)
    two(x[:, None])
    _randomize(one)
    kernel, bias = one.get_weights()
    two.set_weights([kernel[None], bias])
    np.testing.assert_allclose(one(x).numpy(), two(x[:, None]).numpy()[:, 0], rtol=1e-13, atol=1e-13)


# --- 1-D pooling --------------------------------------------------------------------------------------------------
def _pool1d_ref(torch, pool, stride, padding, kind, channels_first=False):
    """TF's rule: 'same' pads to ceil(L / stride) outputs, the odd step at the end; padding never counts."""
    F = torch.nn.functional

    def ref(xt):
        x = xt if channels_first else xt.permute(0, 2, 1)
        pads = tf_same_pads(x.shape[2], pool, stride) if padding == "same" else (0, 0)
        if kind == "max":
            y = F.max_pool1d(F.pad(x, pads, value=-float("inf")), pool, stride)
        else:
            summed = F.avg_pool1d(F.pad(x, pads), pool, stride)
            real = F.avg_pool1d(F.pad(torch.ones_like(x[:1, :1]), pads), pool, stride)
            y = summed / real
        return y if channels_first else y.permute(0, 2, 1)
    return ref


POOL1D_CASES = [  # (L, pool, strides, padding)
    (8, 2, None, "valid"), (7, 2, None, "valid"), (7, 2, None, "same"), (7, 3, 2, "same"), (8, 3, 1, "same"),
    (9, 4, 3, "valid"), (5, 3, 3, "same"),
]


@pytest.mark.parametrize("cls,kind", [(layers.MaxPooling1D, "max"), (layers.AveragePooling1D, "avg")])
@pytest.mark.parametrize("steps,pool,strides,padding", POOL1D_CASES)
def test_pooling1d_matches_torch(torch, f64, cls, kind, steps, pool, strides, padding):
    layer = cls(pool_size=pool, strides=strides, padding=padding)
    x = np.random.default_rng(3).standard_normal((2, steps, 3))
    ym = _compare(torch, layer, _pool1d_ref(torch, pool, strides or pool, padding, kind), x)
    assert ym.shape == (2,) + layer.compute_output_shape((None, steps, 3))[1:]
    assert layer.get_weights() == [] and layer.count_params() == 0


@settings(max_examples=30, deadline=None)
@given(steps=st.integers(1, 9), pool=st.integers(1, 4), stride=st.one_of(st.none(), st.integers(1, 3)),
       same=st.booleans(), kind=st.sampled_from(["max", "avg"]), first=st.booleans())
def test_pooling1d_drawn_geometries_match_torch(torch, steps, pool, stride, same, kind, first):
    cls = layers.MaxPooling1D if kind == "max" else layers.AveragePooling1D
    padding, fmt = ("same" if same else "valid"), ("channels_first" if first else "channels_last")
    shape = (2, 2, steps) if first else (2, steps, 2)
    if not same and steps < pool:
        with pytest.raises(ValueError, match="smaller than the pool"):
            cls(pool, stride, data_format=fmt)(np.zeros(shape))
        return
    keras.backend.set_floatx("float64")
    layer = cls(pool, stride, padding, data_format=fmt)
    x = np.random.default_rng(steps * 7 + pool).standard_normal(shape)
    ym = _compare(torch, layer, _pool1d_ref(torch, pool, stride or pool, padding, kind, first), x)
    assert ym.shape == (2,) + layer.compute_output_shape((None,) + shape[1:])[1:]


def test_pooling1d_same_excludes_padding():
    y = layers.AveragePooling1D(padding="same")(np.ones((1, 5, 2))).numpy()
    np.testing.assert_array_equal(y, np.ones((1, 3, 2)))
    y = layers.MaxPooling1D(3, strides=1, padding="same")(-np.ones((1, 4, 1))).numpy()
    np.testing.assert_array_equal(y, -np.ones((1, 4, 1)))
    y = layers.AveragePooling1D(2, strides=2, padding="same")(np.arange(5.0).reshape(1, 5, 1)).numpy()
    np.testing.assert_array_equal(y[0, :, 0], [0.5, 2.5, 4.0])            # the last window holds only step 4


# --- LayerNormalization -------------------------------------------------------------------------------------------
def _ln_ref(torch, axes, ndim, eps=1e-3, scale=True, center=True):
    """F.layer_norm when the normalized axes are the trailing ones, else the formula over those axes."""
    axes = sorted(a % ndim for a in axes)

    def ref(xt, *weights):
        weights = list(weights)
        gamma = weights.pop(0) if scale else None
        beta = weights.pop(0) if center else None
        if axes == list(range(ndim - len(axes), ndim)):
            return torch.nn.functional.layer_norm(xt, [xt.shape[a] for a in axes], gamma, beta, eps)
        bshape = [xt.shape[i] if i in axes else 1 for i in range(ndim)]
        y = (xt - xt.mean(axes, keepdim=True)) / torch.sqrt(xt.var(axes, unbiased=False, keepdim=True) + eps)
        if gamma is not None:
            y = y * gamma.reshape(bshape)
        return y + beta.reshape(bshape) if beta is not None else y
    return ref


@pytest.mark.parametrize("shape,axis", [((4, 5), -1), ((2, 3, 5), -1), ((2, 3, 5), [1, 2]), ((2, 3, 5), 1),
                                        ((2, 3, 4, 5), [1, 3]), ((2, 3, 4, 5), (-2, -1)), ((2, 3, 4, 5), 2)])
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
def test_layer_normalization_matches_torch(torch, f64, shape, axis, center, scale):
    layer = layers.LayerNormalization(axis=axis, center=center, scale=scale)
    x = np.random.default_rng(4).standard_normal(shape) * 3 + 1
    layer(x)
    _randomize(layer, offset=1.0)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    ym = _compare(torch, layer, _ln_ref(torch, axes, len(shape), scale=scale, center=center), x)
    assert ym.shape == shape and layer.compute_output_shape((None,) + shape[1:]) == (None,) + shape[1:]


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_layer_normalization_drawn_axes_match_torch(torch, data):
    ndim = data.draw(st.integers(2, 4))
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    axes = data.draw(st.lists(st.integers(1, ndim - 1), min_size=1, max_size=ndim - 1, unique=True))
    axes = [a - ndim if data.draw(st.booleans()) else a for a in axes]       # negative axes too
    eps = data.draw(st.sampled_from([1e-3, 1e-5, 0.1]))
    keras.backend.set_floatx("float64")
    layer = layers.LayerNormalization(axis=axes if len(axes) > 1 else axes[0], epsilon=eps)
    x = np.random.default_rng(sum(shape)).standard_normal(shape)
    layer(x)
    _randomize(layer, offset=1.0)
    ym = _compare(torch, layer, _ln_ref(torch, axes, ndim, eps), x)
    assert ym.shape == shape
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + shape[1:]
    assert [w.shape for w in layer.get_weights()] == [tuple(shape[a % ndim] for a in sorted(ax % ndim
                                                                                            for ax in axes))] * 2


def test_layer_normalization_defaults():
    layer = layers.LayerNormalization()
    assert layer.epsilon == 1e-3 and layer.axis == -1 and layer.center and layer.scale
    x = np.random.default_rng(5).standard_normal((3, 6)).astype(np.float32) * 4 + 2
    y = layer(x).numpy()
    gamma, beta = layer.get_weights()
    np.testing.assert_array_equal(gamma, np.ones(6))
    np.testing.assert_array_equal(beta, np.zeros(6))
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    assert y.dtype == np.float32


# --- weights, counts, shapes --------------------------------------------------------------------------------------
def _built(layer, shape):
    layer(keras.Input(shape=shape))             # (a weightless layer's direct build() does not mark it built yet)
    return layer


@pytest.mark.parametrize("make,shape,weights", [
    (lambda: layers.Conv1D(5, 3), (10, 4), [(3, 4, 5), (5,)]),
    (lambda: layers.Conv1D(6, 2, use_bias=False, groups=2), (10, 4), [(2, 2, 6)]),
    (lambda: layers.Conv1D(5, 3, data_format="channels_first"), (4, 10), [(3, 4, 5), (5,)]),
    (lambda: layers.LayerNormalization(), (3, 7), [(7,), (7,)]),
    (lambda: layers.LayerNormalization(axis=[1, 2], center=False), (3, 7), [(3, 7)]),
    (lambda: layers.LayerNormalization(axis=1, scale=False), (3, 7), [(3,)]),
    (lambda: layers.MaxPooling1D(), (10, 4), []),
    (lambda: layers.AveragePooling1D(), (10, 4), []),
])
def test_weight_shapes_counts_and_set_weights(make, shape, weights):
    layer = _built(make(), shape)
    assert [w.shape for w in layer.get_weights()] == weights
    assert layer.count_params() == sum(int(np.prod(w)) for w in weights)
    new = [np.random.default_rng(6).standard_normal(w) for w in weights]
    layer.set_weights(new)
    for got, want in zip(layer.get_weights(), new):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    if weights:
        with pytest.raises(ValueError, match="weight 'kernel' has shape|weight 'gamma' has shape|weight 'beta' has"):
            layer.set_weights([np.zeros(w + (1,)) for w in weights])


def test_weight_names_and_order():
    conv = _built(layers.Conv1D(2, 3, name="c"), (5, 3))
    ln = _built(layers.LayerNormalization(name="ln"), (5, 3))
    assert conv.weight_names == ["c/kernel", "c/bias"] and ln.weight_names == ["ln/gamma", "ln/beta"]


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["Conv1D", "LayerNormalization"]), a=st.integers(1, 6), b=st.integers(1, 6),
       k=st.integers(1, 5), flag=st.booleans(), groups=st.sampled_from([1, 2, 3]))
def test_parameter_count_formulae(kind, a, b, k, flag, groups):
    if kind == "Conv1D":
        cin, filters = a * groups, b * groups
        layer = _built(layers.Conv1D(filters, k, use_bias=flag, groups=groups), (k + 2, cin))
        want = k * (cin // groups) * filters + (filters if flag else 0)
    else:
        axis = [1, 2] if flag else -1
        layer = _built(layers.LayerNormalization(axis=axis), (a, b))
        want = 2 * (a * b if flag else b)
    assert layer.count_params() == want


def test_default_initializers():
    conv = _built(layers.Conv1D(64, 5), (20, 32))
    kernel, bias = conv.get_weights()
    limit = np.sqrt(6.0 / (5 * 32 + 5 * 64))          # Keras' glorot fans: receptive field x in / out
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    assert abs(kernel.std() - limit / np.sqrt(3)) < 0.05 * limit
    np.testing.assert_array_equal(bias, np.zeros(64))
    ln = _built(layers.LayerNormalization(gamma_initializer="zeros", beta_initializer="ones"), (4,))
    np.testing.assert_array_equal(ln.get_weights()[0], np.zeros(4))
    np.testing.assert_array_equal(ln.get_weights()[1], np.ones(4))


def test_regularizers_add_losses(f64):
    conv = layers.Conv1D(2, 3, kernel_regularizer=regularizers.l2(0.1), bias_regularizer="l1")
    conv(np.zeros((1, 5, 2)))
    _randomize(conv)
    kernel, bias = conv.get_weights()
    np.testing.assert_allclose(sum(float(loss.numpy()) for loss in conv.losses),
                               0.1 * (kernel ** 2).sum() + 0.01 * np.abs(bias).sum(), rtol=1e-10)
    ln = layers.LayerNormalization(gamma_regularizer=regularizers.l1(0.5))
    ln(np.zeros((2, 3)))
    np.testing.assert_allclose(float(ln.losses[0].numpy()), 0.5 * 3, rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(["Conv1D", "MaxPooling1D", "AveragePooling1D", "LayerNormalization"]),
       steps=st.integers(4, 9), k=st.integers(1, 4), stride=st.integers(1, 2),
       padding=st.sampled_from(["valid", "same", "causal"]))
def test_compute_output_shape_matches_calls(kind, steps, k, stride, padding):
    if kind == "Conv1D":
        layer = layers.Conv1D(3, k, strides=stride, padding=padding)
    elif kind == "LayerNormalization":
        layer = layers.LayerNormalization(axis=[1, 2] if k % 2 else -1)
    else:
        layer = getattr(layers, kind)(k, stride, "valid" if padding == "causal" else padding)
    x = np.zeros((2, steps, 2), np.float32)
    assert layer(x).shape == (2,) + layer.compute_output_shape((None, steps, 2))[1:]
    symbolic = layer(keras.Input(shape=(steps, 2)))
    assert symbolic.shape == (None,) + tuple(layer(x).shape[1:])


def test_symbolic_unknown_steps():
    assert layers.Conv1D(4, 3, padding="same")(keras.Input(shape=(None, 2))).shape == (None, None, 4)
    assert layers.Conv1D(4, 3)(keras.Input(shape=(None, 2))).shape == (None, None, 4)
    assert layers.MaxPooling1D()(keras.Input(shape=(None, 2))).shape == (None, None, 2)
    assert layers.AveragePooling1D(data_format="channels_first")(keras.Input(shape=(2, 9))).shape == (None, 2, 4)
    assert layers.LayerNormalization()(keras.Input(shape=(None, 5))).shape == (None, None, 5)
    with pytest.raises(ValueError, match="must be known"):
        layers.LayerNormalization(axis=1)(keras.Input(shape=(None, 5)))


# --- errors -------------------------------------------------------------------------------------------------------
def test_input_errors():
    for layer in (layers.Conv1D(2, 3), layers.MaxPooling1D(), layers.AveragePooling1D()):
        with pytest.raises(ValueError, match=r"expected ndim=3, found ndim=4. Full shape received: \(1, 5, 5, 1\)"):
            layer(np.zeros((1, 5, 5, 1)))
        with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
            layer(keras.Input(shape=(5,)))
    conv = layers.Conv1D(2, 3)
    conv(np.zeros((1, 6, 3)))
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 3.*\(1, 6, 2\)"):
        conv(np.zeros((1, 6, 2)))
    with pytest.raises(ValueError, match=r"too small for a \(5,\) kernel with padding='valid'"):
        layers.Conv1D(2, 5)(np.zeros((1, 4, 1)))
    with pytest.raises(ValueError, match="too small"):
        layers.Conv1D(2, 3, dilation_rate=3)(keras.Input(shape=(6, 1)))       # span 7 > 6 steps
    assert layers.Conv1D(2, 5, padding="causal")(np.zeros((1, 2, 1))).shape == (1, 2, 2)
    with pytest.raises(ValueError, match="smaller than the pool"):
        layers.MaxPooling1D(3)(np.zeros((1, 2, 1)))
    ln = layers.LayerNormalization(axis=[1, 2])
    ln(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
        ln(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="expected axis 2 of input shape to have value 4"):
        ln(np.zeros((2, 3, 5)))


@pytest.mark.parametrize("make,exc,match", [
    (lambda: layers.Conv1D(3, 3, padding="full"), ValueError, "'valid', 'same', 'causal'. Received: 'full'"),
    (lambda: layers.Conv2D(3, 3, padding="causal"), ValueError, "'valid', 'same'. Received: 'causal'"),
    (lambda: layers.MaxPooling1D(padding="causal"), ValueError, "padding"),
    (lambda: layers.AveragePooling1D(padding="full"), ValueError, "padding"),
    (lambda: layers.Conv1D(3, (3, 3)), ValueError, "kernel_size` argument must be a tuple of 1"),
    (lambda: layers.Conv1D(3, 0), ValueError, "kernel_size"),
    (lambda: layers.Conv1D(3, 3, strides=2, dilation_rate=2), ValueError, "dilation_rate"),
    (lambda: layers.Conv1D(0, 3), ValueError, "filters"),
    (lambda: layers.Conv1D(3, 3, groups=0), ValueError, "groups"),
    (lambda: layers.Conv1D(3, 3, data_format="nwc"), ValueError, "data_format"),
    (lambda: layers.Conv1D(3, 3, kernel_sise=3), TypeError, "Unrecognized keyword arguments passed to Conv1D"),
    (lambda: layers.MaxPooling1D(pool_size=(2, 2)), ValueError, "pool_size"),
    (lambda: layers.AveragePooling1D(strides=0), ValueError, "strides"),
    (lambda: layers.LayerNormalization(axis="x"), TypeError, "int or a list/tuple of ints"),
    (lambda: layers.LayerNormalization(momentum=0.9), TypeError, "LayerNormalization"),
])
def test_constructor_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_build_errors():
    with pytest.raises(ValueError, match="groups=2 must divide"):
        layers.Conv1D(4, 3, groups=2)(np.zeros((1, 5, 3)))
    with pytest.raises(ValueError, match="invalid axis: 3"):
        layers.LayerNormalization(axis=3)(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="batch axis"):
        layers.LayerNormalization(axis=0)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="duplicate axis"):
        layers.LayerNormalization(axis=[1, -1])(np.zeros((2, 3)))


# --- gradchecks ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make,shape", [
    (lambda: layers.Conv1D(2, 3, padding="causal", dilation_rate=2, activation="tanh"), (1, 6, 2)),
    (lambda: layers.Conv1D(2, 2, strides=2, padding="same", data_format="channels_first"), (1, 2, 5)),
    (lambda: layers.MaxPooling1D(2, strides=1, padding="same"), (1, 5, 2)),
    (lambda: layers.AveragePooling1D(3, strides=2, padding="same"), (1, 6, 2)),
    (lambda: layers.LayerNormalization(), (2, 3, 4)),
    (lambda: layers.LayerNormalization(axis=[1, 3], epsilon=0.1), (2, 2, 2, 3)),
])
def test_layer_gradcheck(f64, make, shape):
    layer = make()
    x = np.random.default_rng(17).standard_normal(shape)
    layer(x)
    _randomize(layer, seed=16, offset=0.5)
    assert_gradcheck(lambda t: layer(t), x)


# --- configs ------------------------------------------------------------------------------------------------------
CONFIG_LAYERS = [
    lambda: layers.Conv1D(4, 3, strides=2, padding="same", activation="relu", use_bias=False, groups=1,
                          kernel_initializer=initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=1),
                          kernel_regularizer=regularizers.l1_l2(0.1, 0.2), input_shape=(10, 2)),
    lambda: layers.Conv1D(2, 5, padding="causal", dilation_rate=2, data_format="channels_first",
                          bias_initializer="ones", bias_regularizer="l2"),
    lambda: layers.MaxPooling1D(3, strides=2, padding="same"),
    lambda: layers.AveragePooling1D(data_format="channels_first", trainable=False),
    lambda: layers.LayerNormalization(axis=[1, 2], epsilon=1e-5, center=False,
                                      gamma_initializer=initializers.Constant(2.0), gamma_regularizer="l2"),
    lambda: layers.LayerNormalization(scale=False, beta_initializer="ones"),
]


@pytest.mark.parametrize("make", CONFIG_LAYERS, ids=lambda m: type(m()).__name__)
def test_from_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert type(again) is type(layer) and again.get_config() == config
    assert again.name == layer.name and again.trainable == layer.trainable


def test_from_config_rebuilds_the_same_function(f64):
    x = np.random.default_rng(8).standard_normal((2, 9, 3))
    for layer in (layers.Conv1D(4, 3, padding="causal", dilation_rate=2), layers.LayerNormalization(axis=[1, 2])):
        y = layer(x)
        _randomize(layer)
        y = layer(x).numpy()
        again = type(layer).from_config(layer.get_config())
        again(x)
        again.set_weights(layer.get_weights())
        np.testing.assert_array_equal(again(x).numpy(), y)


def test_registry_exports_and_aliases():
    for name in ("Conv1D", "MaxPooling1D", "AveragePooling1D", "LayerNormalization"):
        assert layers.LAYERS[name] is getattr(layers, name) and name in layers.__all__
    assert {type(make()).__name__ for make in CONFIG_LAYERS} == {"Conv1D", "MaxPooling1D", "AveragePooling1D",
                                                                 "LayerNormalization"}
    assert layers.Convolution1D is layers.Conv1D and layers.MaxPool1D is layers.MaxPooling1D
    assert layers.AvgPool1D is layers.AveragePooling1D
    for alias in ("Convolution1D", "MaxPool1D", "AvgPool1D"):
        assert alias in layers.__all__


# --- models -------------------------------------------------------------------------------------------------------
def test_conv1d_text_classifier_learns_the_sentiment_task():
    keras.utils.set_random_seed(0)
    (xtr, ytr), (xte, yte) = md.datasets.synthetic.sentiment(n=1000, maxlen=40, vocab_size=100)
    model = keras.Sequential([layers.Embedding(100, 16), layers.Conv1D(32, 3, activation="relu"),
                              layers.GlobalMaxPooling1D(), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=8, batch_size=32, verbose=0)
    loss, acc = model.evaluate(xte, yte, verbose=0)
    assert acc >= 0.85, (loss, acc)
    assert model.layers[1].get_weights()[0].shape == (3, 16, 32)


def test_saved_and_loaded_model_predicts_identically(tmp_path):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input(shape=(12, 3)), layers.Conv1D(4, 3, padding="causal", activation="relu"),
                              layers.LayerNormalization(), layers.MaxPooling1D(padding="same"),
                              layers.Convolution1D(5, 2, strides=2, padding="same"), layers.AvgPool1D(2),
                              layers.LayerNormalization(axis=[1, 2], center=False), layers.Flatten(),
                              layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(9).standard_normal((16, 12, 3)).astype(np.float32)
    model.fit(x, np.arange(16) % 2, epochs=1, verbose=0)            # weights move away from their initial values
    path = tmp_path / "conv1d.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(la).__name__ for la in loaded.layers] == [type(la).__name__ for la in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert len(loaded.get_weights()) == len(model.get_weights())
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
