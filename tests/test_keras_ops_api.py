"""md.keras's Keras 3 API surface: layer/model weights as Variables, add_weight, inputs/outputs, keras.ops,
keras.random (values against NumPy/PyTorch, gradients through a custom layer trained by fit)."""
import numpy as np
import pytest
import torch

import minidl as md
import minidl.keras as keras
from minidl.keras import ops
from minidl.testing import assert_gradcheck

from keras_helpers import fresh_session  # noqa: F401 -- autouse fixture


def npy(t):
    return ops.convert_to_numpy(t)


# --- weights, variables, inputs/outputs -------------------------------------------------------------------------------
def _functional():
    inputs = keras.Input(shape=(4,))
    dense = keras.layers.Dense(3, name="d")
    bn = keras.layers.BatchNormalization(name="bn")
    outputs = keras.layers.Dense(2, name="head")(bn(dense(inputs)))
    return keras.Model(inputs, outputs), inputs, outputs, dense, bn


def test_layer_weights_are_variables_in_keras_order_and_layouts():
    model, _, _, dense, bn = _functional()
    assert [v.path for v in model.weights] == ["d/kernel", "d/bias", "bn/gamma", "bn/beta", "bn/moving_mean",
                                               "bn/moving_variance", "head/kernel", "head/bias"]
    assert [v.name for v in dense.weights] == ["kernel", "bias"]
    kernel = dense.weights[0]
    assert kernel.shape == (4, 3) and kernel.dtype == "float32" and kernel.trainable
    np.testing.assert_array_equal(kernel.numpy(), dense.get_weights()[0])
    assert [v.path for v in bn.non_trainable_weights] == ["bn/moving_mean", "bn/moving_variance"]
    assert len(model.trainable_weights) == 6 and len(model.non_trainable_weights) == 2
    # the counts agree with count_params
    assert sum(int(np.prod(v.shape)) for v in model.weights) == model.count_params()


def test_weights_match_get_weights_through_nested_and_recurrent_layers():
    model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Embedding(10, 4),
                              keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True)),
                              keras.layers.GRU(2), keras.layers.Dense(1)])
    weights, arrays = model.weights, model.get_weights()
    assert len(weights) == len(arrays) == 12
    for v, a in zip(weights, arrays):
        np.testing.assert_array_equal(v.numpy(), a, err_msg=v.path)
        assert v.shape == a.shape
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == model._param_counts()[0]
    assert [v.path for v in weights][1:4] == ["forward_lstm/kernel", "forward_lstm/recurrent_kernel",
                                              "forward_lstm/bias"]


def test_variable_assign_writes_through_and_checks_shape():
    model, *_ = _functional()
    kernel = model.get_layer("d").weights[0]
    value = np.arange(12, dtype="float32").reshape(4, 3)
    kernel.assign(value)
    np.testing.assert_array_equal(model.get_layer("d").get_weights()[0], value)
    x = np.eye(4, dtype="float32")
    np.testing.assert_allclose(npy(model.get_layer("d")(x)), value + model.get_layer("d").get_weights()[1])
    with pytest.raises(ValueError, match=r"'d' weight 'kernel' has shape \(4, 3\).*\(3, 4\)"):
        kernel.assign(np.zeros((3, 4)))


def test_frozen_layer_weights_are_non_trainable():
    model, _, _, dense, _ = _functional()
    dense.trainable = False
    assert [v.path for v in model.non_trainable_weights][:2] == ["d/kernel", "d/bias"]
    model.trainable = False
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 8


def test_model_inputs_outputs_and_layer_input_output():
    model, inputs, outputs, dense, bn = _functional()
    assert model.inputs == [inputs] and model.outputs == [outputs]
    assert model.input is inputs and model.output is outputs
    assert dense.input is inputs and bn.input is dense.output
    assert model.get_layer("head").output is outputs
    assert dense.output.shape == (None, 3)
    with pytest.raises(ValueError, match="'lonely' has never been called"):
        _ = keras.layers.Dense(2, name="lonely").output
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    assert not hasattr(unbuilt, "inputs")
    seq = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(2, name="s1"), keras.layers.Dense(1)])
    assert seq.inputs[0].shape == (None, 5) and seq.outputs[0].shape == (None, 1)
    assert seq.get_layer("s1").output.shape == (None, 2) and seq.output is seq.outputs[0]
    seq.add(keras.layers.Dense(7))
    assert seq.output.shape == (None, 7)


def test_top_level_names():
    assert keras.Layer is keras.layers.Layer and keras.Model and keras.Sequential and keras.Input
    assert keras.ops is ops and keras.Variable


# --- a custom layer on add_weight and keras.ops, trained by fit ---------------------------------------------------------
class Affine(keras.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")
        self.steps = self.add_weight(shape=(), initializer="zeros", trainable=False, name="steps")

    def call(self, x):
        return ops.add(ops.matmul(x, self.w), self.b)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)


def test_add_weight_custom_layer_counts_and_gradient_against_torch():
    layer = Affine(3, name="affine")
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    out = layer(x)
    assert [v.path for v in layer.weights] == ["affine/w", "affine/b", "affine/steps"]
    assert [v.path for v in layer.trainable_weights] == ["affine/w", "affine/b"]
    assert layer.count_params() == 4 * 3 + 3 + 1 and layer._param_counts() == (15, 1)
    assert layer.w.value is layer._parameters["_keras_weight_w"]     # the trained tensor itself
    w, b = (torch.tensor(layer.w.numpy(), requires_grad=True), torch.tensor(layer.b.numpy(), requires_grad=True))
    want = torch.tensor(x) @ w + b
    np.testing.assert_allclose(npy(out), want.detach().numpy(), rtol=1e-6, atol=1e-6)
    (out * out).sum().backward()
    (want * want).sum().backward()
    np.testing.assert_allclose(npy(layer.w.value.grad), w.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(npy(layer.b.value.grad), b.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_custom_ops_layer_learns_with_fit():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 3)).astype("float32")
    true_w = np.array([[1.5], [-2.0], [0.5]], "float32")
    y = x @ true_w + 0.25
    model = keras.Sequential([keras.Input(shape=(3,)), Affine(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < before * 1e-2
    np.testing.assert_allclose(model.layers[0].w.numpy(), true_w, atol=0.05)
    np.testing.assert_allclose(model.layers[0].b.numpy(), [0.25], atol=0.05)
    assert model.layers[0].steps.numpy() == 0.0      # non-trainable: untouched


def test_add_weight_errors():
    layer = keras.Layer(name="plain")
    with pytest.raises(ValueError, match="'plain'.*shape"):
        layer.add_weight(shape=(-1, 2))
    with pytest.raises(ValueError, match="constraint identifier"):
        layer.add_weight(shape=(2,), constraint="no_such_constraint")
    v = layer.add_weight(shape=(2,))
    assert v.name == "variable" and layer.add_weight(shape=(1,)).name == "variable_1"


# --- keras.ops values ------------------------------------------------------------------------------------------------
X = np.random.default_rng(2).normal(size=(3, 4)).astype("float32")
P = np.abs(X) + 0.5


@pytest.mark.parametrize("name,got,want", [
    ("add", lambda: ops.add(X, 2.0), X + 2), ("subtract", lambda: ops.subtract(X, P), X - P),
    ("multiply", lambda: ops.multiply(X, P), X * P), ("divide", lambda: ops.divide(X, P), X / P),
    ("matmul", lambda: ops.matmul(X, X.T), X @ X.T), ("dot", lambda: ops.dot(X, X.T), np.dot(X, X.T)),
    ("dot_nd", lambda: ops.dot(np.ones((2, 3, 4)), np.arange(20.0).reshape(4, 5)),
     np.dot(np.ones((2, 3, 4)), np.arange(20.0).reshape(4, 5))),
    ("sum", lambda: ops.sum(X, axis=1, keepdims=True), X.sum(1, keepdims=True)),
    ("sum_all", lambda: ops.sum(X), X.sum()), ("sum_axes", lambda: ops.sum(X, axis=(0, 1)), X.sum((0, 1))),
    ("mean", lambda: ops.mean(X, axis=0), X.mean(0)), ("var", lambda: ops.var(X, axis=1, keepdims=True),
                                                        X.var(1, keepdims=True)),
    ("std", lambda: ops.std(X), X.std()), ("max", lambda: ops.max(X, axis=1), X.max(1)), ("max_all", lambda: ops.max(X),
                                                                                          X.max()),
    ("min", lambda: ops.min(X, axis=0, keepdims=True), X.min(0, keepdims=True)),
    ("sqrt", lambda: ops.sqrt(P), np.sqrt(P)), ("square", lambda: ops.square(X), X ** 2),
    ("exp", lambda: ops.exp(X), np.exp(X)), ("log", lambda: ops.log(P), np.log(P)),
    ("abs", lambda: ops.abs(X), np.abs(X)), ("relu", lambda: ops.relu(X), np.maximum(X, 0)),
    ("sigmoid", lambda: ops.sigmoid(X), 1 / (1 + np.exp(-X))), ("tanh", lambda: ops.tanh(X), np.tanh(X)),
    ("softmax", lambda: ops.softmax(X, axis=0), np.exp(X) / np.exp(X).sum(0)),
    ("log_softmax", lambda: ops.log_softmax(X), X - np.log(np.exp(X).sum(-1, keepdims=True))),
    ("gelu", lambda: ops.gelu(X), torch.nn.functional.gelu(torch.tensor(X), approximate="tanh").numpy()),
    ("gelu_exact", lambda: ops.gelu(X, approximate=False), torch.nn.functional.gelu(torch.tensor(X)).numpy()),
    ("silu", lambda: ops.silu(X), X / (1 + np.exp(-X))),
    ("reshape", lambda: ops.reshape(X, (2, -1)), X.reshape(2, -1)),
    ("transpose", lambda: ops.transpose(X), X.T), ("transpose_axes", lambda: ops.transpose(X[None], (2, 0, 1)),
                                                   X[None].transpose(2, 0, 1)),
    ("concatenate", lambda: ops.concatenate([X, P], axis=1), np.concatenate([X, P], 1)),
    ("stack", lambda: ops.stack([X, P], axis=1), np.stack([X, P], 1)),
    ("expand_dims", lambda: ops.expand_dims(X, -1), X[..., None]),
    ("squeeze", lambda: ops.squeeze(X[None, :, None]), X), ("squeeze_axis", lambda: ops.squeeze(X[None], axis=0), X),
    ("where", lambda: ops.where(X > 0, X, 0.0), np.where(X > 0, X, 0)),
    ("maximum", lambda: ops.maximum(X, 0.1), np.maximum(X, 0.1)), ("minimum", lambda: ops.minimum(X, P),
                                                                   np.minimum(X, P)),
    ("clip", lambda: ops.clip(X, -0.5, 0.5), np.clip(X, -0.5, 0.5)),
    ("argmax", lambda: ops.argmax(X, axis=1), X.argmax(1)), ("argmin", lambda: ops.argmin(X, axis=0), X.argmin(0)),
    ("cumsum", lambda: ops.cumsum(X, axis=1), X.cumsum(1)), ("cumsum_flat", lambda: ops.cumsum(X), X.cumsum()),
    ("erf", lambda: ops.erf(X), torch.erf(torch.tensor(X)).numpy()),
    ("norm", lambda: ops.norm(X), np.linalg.norm(X)), ("norm_axis", lambda: ops.norm(X, axis=1),
                                                       np.linalg.norm(X, axis=1)),
    ("norm_l1", lambda: ops.norm(X, ord=1, axis=0, keepdims=True), np.linalg.norm(X, 1, axis=0, keepdims=True)),
    ("norm_inf", lambda: ops.norm(X[0], ord=np.inf), np.linalg.norm(X[0], np.inf)),
    ("one_hot", lambda: ops.one_hot(np.array([0, 2, 1]), 3), np.eye(3, dtype="float32")[[0, 2, 1]]),
    ("one_hot_axis0", lambda: ops.one_hot(np.array([0, 2]), 3, axis=0), np.eye(3, dtype="float32")[[0, 2]].T),
    ("arange", lambda: ops.arange(2, 11, 3), np.arange(2, 11, 3)),
    ("zeros", lambda: ops.zeros((2, 3)), np.zeros((2, 3), "float32")),
    ("ones_like", lambda: ops.ones_like(X), np.ones_like(X)), ("zeros_like", lambda: ops.zeros_like(X, "int32"),
                                                               np.zeros((3, 4), "int32")),
    ("logsumexp", lambda: ops.logsumexp(X, axis=1), np.log(np.exp(X).sum(1))),
])
def test_ops_match_numpy(name, got, want):
    got = npy(got())
    assert got.shape == np.shape(want), name
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


def test_ops_dtypes_and_conversions():
    assert ops.cast(X, "int32").dtype == md.int32 and ops.cast(X, "float64").dtype == md.float64
    assert ops.ones((2,), dtype="int32").dtype == md.int32 and ops.zeros(3).dtype == md.float32
    assert ops.arange(3).dtype == md.int32 and ops.arange(0.0, 1.0, 0.5).dtype == md.float32
    assert ops.one_hot([1], 2).dtype == md.float32
    assert ops.convert_to_tensor([1.0, 2.0]).dtype == md.float32
    assert ops.convert_to_tensor(np.zeros(2)).dtype == md.float64
    assert ops.convert_to_tensor([1, 2], dtype="float32").dtype == md.float32
    assert ops.shape(X) == (3, 4) and ops.shape(ops.convert_to_tensor(X)) == (3, 4)
    assert isinstance(ops.convert_to_numpy(ops.convert_to_tensor(X)), np.ndarray)
    assert ops.add(1, 2).shape == ()
    with pytest.raises(ValueError, match="unknown dtype"):
        ops.cast(X, "complex7")
    with pytest.raises(ValueError, match="axis 0.*size 3"):
        ops.squeeze(X, axis=0)


@pytest.mark.parametrize("fn", [
    lambda x: ops.sum(ops.square(x), axis=1), lambda x: ops.softmax(x, axis=0), lambda x: ops.norm(x, axis=1),
    lambda x: ops.log_softmax(x), lambda x: ops.var(x, axis=0), lambda x: ops.gelu(x), lambda x: ops.erf(x),
    lambda x: ops.max(x, axis=1), lambda x: ops.cumsum(x, axis=1), lambda x: ops.dot(x, ops.ones((4, 2), dtype="float64")),
    lambda x: ops.concatenate([x, ops.exp(x)], axis=0), lambda x: ops.where(x > 0, x, ops.sigmoid(x)),
])
def test_ops_gradients(fn):
    x = md.tensor(np.random.default_rng(3).normal(size=(3, 4)), dtype=md.float64, requires_grad=True)
    assert_gradcheck(fn, (x,))


# --- keras.random ----------------------------------------------------------------------------------------------------
def test_random_seeds_reproduce_and_distributions():
    r = keras.random
    for fn in (lambda s: r.normal((4, 3), seed=s), lambda s: r.uniform((5,), 2.0, 3.0, seed=s),
               lambda s: r.randint((6,), 0, 4, seed=s), lambda s: r.truncated_normal((7,), seed=s),
               lambda s: r.shuffle(np.arange(10), seed=s), lambda s: r.dropout(np.ones(8, "float32"), 0.5, seed=s)):
        np.testing.assert_array_equal(npy(fn(5)), npy(fn(5)))
        g1, g2 = r.SeedGenerator(7), r.SeedGenerator(7)
        first, again = npy(fn(g1)), npy(fn(g2))
        np.testing.assert_array_equal(first, again)
    g = r.SeedGenerator(1)
    assert not np.array_equal(npy(r.normal((4,), seed=g)), npy(r.normal((4,), seed=g)))   # the state advances
    big = npy(r.normal((20000,), mean=1.0, stddev=2.0, seed=0))
    assert big.dtype == np.float32 and abs(big.mean() - 1) < 0.05 and abs(big.std() - 2) < 0.05
    u = npy(r.uniform((20000,), -1.0, 3.0, seed=0))
    assert u.min() >= -1 and u.max() < 3 and abs(u.mean() - 1) < 0.05
    t = npy(r.truncated_normal((20000,), stddev=0.5, seed=0))
    assert np.abs(t).max() <= 1.0
    i = npy(r.randint((1000,), 2, 5, seed=0))
    assert i.dtype == np.int32 and set(np.unique(i)) == {2, 3, 4}
    assert sorted(npy(r.shuffle(np.arange(10), seed=3))) == list(range(10))
    d = npy(r.dropout(np.ones((200, 50), "float32"), 0.25, seed=0))
    assert set(np.unique(d)) <= {0.0, np.float32(1 / 0.75)} and abs((d == 0).mean() - 0.25) < 0.02
    d2 = npy(r.dropout(np.ones((4, 6), "float32"), 0.5, noise_shape=(None, 1), seed=0))
    assert all(len(set(row)) == 1 for row in d2)     # one mask value per row
    with pytest.raises(ValueError, match="maxval"):
        r.randint((2,), 3, 3)


def test_random_global_seed():
    keras.utils.set_random_seed(11)
    a = npy(keras.random.normal((3,)))
    keras.utils.set_random_seed(11)
    np.testing.assert_array_equal(a, npy(keras.random.normal((3,))))


def test_dropout_gradient():
    x = md.tensor(np.ones((3, 4)), dtype=md.float64, requires_grad=True)
    out = keras.random.dropout(x, 0.5, seed=0)
    out.sum().backward()
    np.testing.assert_allclose(npy(x.grad), npy(out.detach()))


# --- keras.utils.get_file ------------------------------------------------------------------------------------------
def _archive(tmp_path):
    import hashlib
    import tarfile
    src = tmp_path / "src"
    (src / "data").mkdir(parents=True)
    (src / "data" / "a.txt").write_text("hello")
    path = tmp_path / "pack.tar.gz"
    with tarfile.open(path, "w:gz") as t:
        t.add(src / "data", arcname="data")
    return path, hashlib.sha256(path.read_bytes()).hexdigest(), hashlib.md5(path.read_bytes()).hexdigest()


def test_get_file_uses_keras_cache_and_checks_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    cached = tmp_path / "home" / "datasets" / "x.npz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"abc")
    sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"      # sha256("abc")
    url = "https://example.invalid/data/x.npz"
    assert keras.utils.get_file("x.npz", url) == str(cached)
    assert keras.utils.get_file(origin=url, file_hash=sha) == str(cached)                # fname from the URL
    assert keras.utils.get_file("x.npz", url, file_hash="900150983cd24fb0d6963f7d28e17f72") == str(cached)  # md5
    assert keras.utils.validate_file(str(cached), sha) and not keras.utils.validate_file(str(cached), "0" * 64)
    # a wrong hash means the cached copy is stale: it is fetched again, which fails offline with one clear line
    with pytest.raises(OSError, match=r"could not download https://example\.invalid/data/x\.npz to .*x\.npz") as e:
        keras.utils.get_file("x.npz", url, file_hash="0" * 64)
    assert "\n" not in str(e.value) and str(cached) in str(e.value)


def test_get_file_missing_offline_names_url_and_path(tmp_path):
    url = "https://example.invalid/nothing.zip"
    with pytest.raises(OSError) as e:
        keras.utils.get_file("nothing.zip", url, cache_dir=str(tmp_path), cache_subdir="sub")
    msg = str(e.value)
    assert url in msg and str(tmp_path / "sub" / "nothing.zip") in msg and "\n" not in msg
    assert not (tmp_path / "sub" / "nothing.zip").exists()       # nothing left behind
    with pytest.raises(ValueError, match="plain file name"):
        keras.utils.get_file("../escape.txt", url, cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="origin"):
        keras.utils.get_file("a.txt", "javascript:alert(1)", cache_dir=str(tmp_path))


def test_get_file_downloads_checks_and_extracts(tmp_path):
    archive, sha, md5 = _archive(tmp_path)
    url = archive.as_uri()
    cache = tmp_path / "cache"
    path = keras.utils.get_file("pack.tar.gz", url, file_hash=sha, cache_dir=str(cache))
    assert path == str(cache / "datasets" / "pack.tar.gz") and open(path, "rb").read() == archive.read_bytes()
    out = keras.utils.get_file("pack.tar.gz", url, md5_hash=md5, cache_dir=str(cache), extract=True)
    assert out == str(cache / "datasets" / "pack_extracted")
    assert open(f"{out}/data/a.txt").read() == "hello"
    folder = keras.utils.get_file("pack", url, untar=True, cache_dir=str(cache), cache_subdir="u")
    assert folder == str(cache / "u" / "pack") and (cache / "u" / "data" / "a.txt").read_text() == "hello"
    with pytest.raises(ValueError, match="expected 0000"):
        keras.utils.get_file("again.tar.gz", url, file_hash="0" * 64, cache_dir=str(cache))


def test_get_file_refuses_unsafe_archive_members(tmp_path):
    import tarfile
    bad = tmp_path / "bad.tar"
    (tmp_path / "evil.txt").write_text("x")
    with tarfile.open(bad, "w") as t:
        t.add(tmp_path / "evil.txt", arcname="../evil.txt")
    with pytest.raises(ValueError, match="unsafe member '../evil.txt'"):
        keras.utils.get_file("bad.tar", bad.as_uri(), cache_dir=str(tmp_path / "c"), extract=True)
    assert not (tmp_path / "c" / "evil.txt").exists()


# --- keras.utils.timeseries_dataset_from_array -------------------------------------------------------------------------
def _windows(data, targets, length, stride, rate, start=0, end=None):
    """The windows by the definition: starts every ``stride`` steps, ``length`` steps every ``rate``-th."""
    data = data[start:end]
    out = []
    s = 0
    while s + (length - 1) * rate < len(data) and (targets is None or start + s < len(targets)):
        out.append((data[s:s + (length - 1) * rate + 1:rate], None if targets is None else targets[start + s]))
        s += stride
    return out


@pytest.mark.parametrize("length,stride,rate,batch,start,end", [
    (5, 1, 1, 4, None, None), (3, 2, 2, 3, 2, 18), (4, 3, 1, 128, None, 15), (1, 1, 3, 5, 1, None)])
def test_timeseries_windows_and_targets(length, stride, rate, batch, start, end):
    data = np.arange(40, dtype="float32").reshape(20, 2)
    targets = np.arange(100, 120)
    ds = keras.utils.timeseries_dataset_from_array(data, targets, length, sequence_stride=stride, sampling_rate=rate,
                                                   batch_size=batch, start_index=start, end_index=end)
    want = _windows(data, targets, length, stride, rate, start or 0, end)
    xs = np.concatenate([x for x, _ in ds])
    ys = np.concatenate([y for _, y in ds])
    np.testing.assert_array_equal(xs, np.stack([w for w, _ in want]))
    np.testing.assert_array_equal(ys, [t for _, t in want])
    assert len(ds) == -(-len(want) // batch) == len(list(ds))
    assert all(x.shape[0] <= batch for x, _ in ds)


def test_timeseries_without_targets_shuffled_and_errors():
    ds = keras.utils.timeseries_dataset_from_array(np.arange(10), None, sequence_length=5, batch_size=2)
    np.testing.assert_array_equal(next(iter(ds)), [[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])
    a = keras.utils.timeseries_dataset_from_array(np.arange(30), np.arange(30), 3, shuffle=True, seed=4, batch_size=7)
    b = keras.utils.timeseries_dataset_from_array(np.arange(30), np.arange(30), 3, shuffle=True, seed=4, batch_size=7)
    xa = np.concatenate([x for x, _ in a])
    np.testing.assert_array_equal(xa, np.concatenate([x for x, _ in b]))
    assert sorted(xa[:, 0]) == list(range(28)) and not np.array_equal(xa[:, 0], np.arange(28))
    assert all(np.array_equal(x[:, 0], y) for x, y in a)          # each window keeps its own target
    single = list(keras.utils.timeseries_dataset_from_array(np.arange(6), None, 4, batch_size=None))
    assert [w.tolist() for w in single] == [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]]
    with pytest.raises(ValueError, match="`sequence_length` must be higher than 0. Received: sequence_length=0"):
        keras.utils.timeseries_dataset_from_array(np.arange(6), None, 0)
    with pytest.raises(ValueError, match="end_index=3"):
        keras.utils.timeseries_dataset_from_array(np.arange(6), None, 2, start_index=4, end_index=3)


def test_timeseries_dataset_trains_conv1d_with_fit():
    keras.utils.set_random_seed(0)
    t = np.arange(400, dtype="float32")
    series = np.sin(t / 5.0)[:, None]
    targets = np.roll(series[:, 0], -8)           # the value right after each window of 8
    ds = keras.utils.timeseries_dataset_from_array(series[:-8], targets[:-8], sequence_length=8, batch_size=32)
    model = keras.Sequential([keras.Input(shape=(8, 1)), keras.layers.Conv1D(8, 3, activation="tanh"),
                              keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    before = model.evaluate(ds, verbose=0)
    model.fit(ds, epochs=15, verbose=0)
    assert model.evaluate(ds, verbose=0) < before * 0.05


class ScaleShift(keras.Layer):
    """A config-carrying custom layer on add_weight and keras.ops, for the .keras round trip."""

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")
        self.shift = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="shift")

    def call(self, x):
        return ops.add(ops.multiply(ops.multiply(x, self.scale), self.factor), self.shift)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_add_weight_layer_round_trips_through_keras_file(tmp_path):
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, ScaleShift(2.0, name="ss")(keras.layers.Dense(3, name="d")(inputs)))
    model.get_layer("ss").weights[0].assign(np.array([1.0, 2.0, 3.0]))
    model.get_layer("ss").shift.assign(np.array([0.5, 0.0, -0.5]))
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    want = npy(model(x))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", custom_objects={"ScaleShift": ScaleShift})
    assert [v.path for v in loaded.weights] == ["d/kernel", "d/bias", "ss/scale", "ss/shift"]
    np.testing.assert_allclose(npy(loaded(x)), want, rtol=1e-6)
    np.testing.assert_array_equal(loaded.get_layer("ss").scale.numpy(), [1.0, 2.0, 3.0])
    assert loaded.get_layer("ss").factor == 2.0 and loaded.count_params() == model.count_params() == 18


def test_guide_style_layer_weights_in_init_operators_and_assign_add():
    """The subclassing guide's pattern: add_weight in __init__, ``x @ w + b`` on Variables, a non-trainable running
    total updated with assign_add, and ``layer.weights == [layer.w, layer.b, ...]``."""
    class Linear(keras.Layer):
        def __init__(self, units=4, input_dim=3):
            super().__init__()
            self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)
            self.total = self.add_weight(shape=(input_dim,), initializer="zeros", trainable=False)

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return inputs @ self.w + self.b

    layer = Linear()
    assert layer.weights == [layer.w, layer.b, layer.total]
    assert layer.trainable_weights == [layer.w, layer.b] and layer.non_trainable_weights == [layer.total]
    x = np.arange(6, dtype="float32").reshape(2, 3)
    y = layer(x)
    layer(x)
    np.testing.assert_array_equal(layer.total.numpy(), 2 * x.sum(0))
    y.sum().backward()
    np.testing.assert_allclose(npy(layer.w.value.grad), np.repeat(x.sum(0)[:, None], 4, 1))
    np.testing.assert_allclose(npy(layer.b.value.grad), [2.0] * 4)
    # reflected operators, NumPy operands and Python numbers
    np.testing.assert_allclose(npy(1.0 - layer.b), np.ones(4))
    np.testing.assert_allclose(npy(np.ones(4, "float32") * layer.b), np.zeros(4))
    np.testing.assert_allclose(npy(2 * layer.w), 2 * layer.w.numpy())


# --- more keras.ops: comparisons, logic, math, indexing, losses ---------------------------------------------------------
T = torch.tensor


@pytest.mark.parametrize("name,got,want", [
    ("equal", lambda: ops.equal(X, X[0]), X == X[0]), ("not_equal", lambda: ops.not_equal(X, 0.0), X != 0),
    ("greater", lambda: ops.greater(X, P), X > P), ("greater_equal", lambda: ops.greater_equal(X, 0.0), X >= 0),
    ("less", lambda: ops.less(0.0, X), X > 0), ("less_equal", lambda: ops.less_equal(X, 0.1), X <= 0.1),
    ("logical_and", lambda: ops.logical_and(X > 0, P > 1), (X > 0) & (P > 1)),
    ("logical_or", lambda: ops.logical_or(X > 0, P > 1), (X > 0) | (P > 1)),
    ("logical_not", lambda: ops.logical_not(X > 0), ~(X > 0)),
    ("any", lambda: ops.any(X > 1, axis=1), (X > 1).any(1)), ("all", lambda: ops.all(X > -3, keepdims=True),
                                                             (X > -3).all(keepdims=True)),
    ("isnan", lambda: ops.isnan(np.where(X > 0, X, np.nan)), np.isnan(np.where(X > 0, X, np.nan))),
    ("sin", lambda: ops.sin(X), np.sin(X)), ("cos", lambda: ops.cos(X), np.cos(X)),
    ("floor", lambda: ops.floor(X * 3), np.floor(X * 3)), ("ceil", lambda: ops.ceil(X * 3), np.ceil(X * 3)),
    ("round", lambda: ops.round(np.array([0.5, 1.5, 2.5, -0.5, 1.26])), np.round([0.5, 1.5, 2.5, -0.5, 1.26])),
    ("round_dec", lambda: ops.round(X, decimals=2), np.round(X, 2)),
    ("rsqrt", lambda: ops.rsqrt(P), 1 / np.sqrt(P)), ("reciprocal", lambda: ops.reciprocal(P), 1 / P),
    ("softplus", lambda: ops.softplus(X), np.log1p(np.exp(X))),
    ("leaky_relu", lambda: ops.leaky_relu(X), np.where(X > 0, X, 0.2 * X)),
    ("elu", lambda: ops.elu(X, 0.5), np.where(X > 0, X, 0.5 * (np.exp(X) - 1))),
    ("selu", lambda: ops.selu(X), torch.selu(T(X)).numpy()), ("softsign", lambda: ops.softsign(X), X / (1 + np.abs(X))),
    ("relu6", lambda: ops.relu6(X * 10), np.clip(X * 10, 0, 6)),
    ("hard_sigmoid", lambda: ops.hard_sigmoid(X * 4), np.clip(X * 4 + 3, 0, 6) / 6),
    ("tile", lambda: ops.tile(X, (2, 1)), np.tile(X, (2, 1))), ("repeat", lambda: ops.repeat(X, 2, axis=0),
                                                                np.repeat(X, 2, axis=0)),
    ("repeat_flat", lambda: ops.repeat(X, 3), np.repeat(X, 3)),
    ("take", lambda: ops.take(X, np.array([[2, 0], [1, -1]]), axis=1), np.take(X, [[2, 0], [1, -1]], axis=1)),
    ("take_flat", lambda: ops.take(X, [0, 5, 11]), np.take(X, [0, 5, 11])),
    ("take_along_axis", lambda: ops.take_along_axis(X, np.argsort(X, 1), axis=1), np.sort(X, 1)),
    ("einsum", lambda: ops.einsum("ij,kj->ik", X, P), np.einsum("ij,kj->ik", X, P)),
    ("broadcast_to", lambda: ops.broadcast_to(X[0], (2, 4)), np.broadcast_to(X[0], (2, 4))),
    ("sort", lambda: ops.sort(X, axis=0), np.sort(X, 0)), ("argsort", lambda: ops.argsort(X), np.argsort(X)),
    ("bce", lambda: ops.binary_crossentropy(P > 1, 1 / (1 + np.exp(-X))),
     torch.nn.functional.binary_cross_entropy(torch.sigmoid(T(X)), T(P > 1).float(), reduction="none").numpy()),
    ("bce_logits", lambda: ops.binary_crossentropy(P > 1, X, from_logits=True),
     torch.nn.functional.binary_cross_entropy_with_logits(T(X), T(P > 1).float(), reduction="none").numpy()),
    ("cce", lambda: ops.categorical_crossentropy(np.eye(4, dtype="float32")[[0, 3, 1]], np.exp(X) / 7.0),
     -np.log((np.exp(X) / np.exp(X).sum(1, keepdims=True))[[0, 1, 2], [0, 3, 1]])),
    ("cce_logits", lambda: ops.categorical_crossentropy(np.eye(4, dtype="float32")[[0, 3, 1]], X, from_logits=True),
     torch.nn.functional.cross_entropy(T(X), T([0, 3, 1]), reduction="none").numpy()),
    ("scce_logits", lambda: ops.sparse_categorical_crossentropy(np.array([[0], [3], [1]]), X, from_logits=True),
     torch.nn.functional.cross_entropy(T(X), T([0, 3, 1]), reduction="none").numpy()),
])
def test_more_ops_match_numpy_and_torch(name, got, want):
    got = npy(got())
    assert got.shape == np.shape(want), name
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


def test_split_and_top_k():
    parts = ops.split(X, [1, 3], axis=1)
    for got, want in zip(parts, np.split(X, [1, 3], axis=1)):
        np.testing.assert_array_equal(npy(got), want)
    assert [ops.shape(p) for p in ops.split(X, 3)] == [(1, 4)] * 3
    with pytest.raises(ValueError, match="size 3 cannot be split into 2 equal sections"):
        ops.split(X, 2)
    values, indices = ops.top_k(X, 2)
    want = torch.topk(T(X), 2)
    np.testing.assert_allclose(npy(values), want.values.numpy())
    np.testing.assert_array_equal(npy(indices), want.indices.numpy())


@pytest.mark.parametrize("fn", [
    lambda x: ops.take(x, np.array([[2, 0], [1, 1]]), axis=1), lambda x: ops.split(x, [1], axis=0)[1],
    lambda x: ops.binary_crossentropy(ops.greater(x, 0.0), ops.sigmoid(x)),
    lambda x: ops.binary_crossentropy(ops.greater(x, 0.0), x, from_logits=True),
    lambda x: ops.categorical_crossentropy(ops.one_hot([0, 3, 1], 4, dtype="float64"), x, from_logits=True),
    lambda x: ops.sparse_categorical_crossentropy([0, 3, 1], ops.softmax(x)),
    lambda x: ops.einsum("...j,...j->...", x, ops.sin(x)), lambda x: ops.softplus(x) + ops.elu(x) + ops.leaky_relu(x),
])
def test_more_ops_gradients(fn):
    x = md.tensor(np.random.default_rng(4).normal(size=(3, 4)), dtype=md.float64, requires_grad=True)
    assert_gradcheck(fn, (x,))


# --- custom layers without compute_output_shape: the shape comes from call, state untouched ------------------------------
class Sampling(keras.Layer):
    """The VAE guide's sampling layer: two inputs, keras.random.normal with a SeedGenerator."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(shape=(ops.shape(z_mean)[0], ops.shape(z_mean)[1]), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


def test_custom_layer_output_shape_from_call_without_side_effects():
    class Total(keras.Layer):
        def build(self, input_shape):
            self.total = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False)
            self.w = self.add_weight(shape=(input_shape[-1], 5), name="w")

        def call(self, x):
            self.total.assign_add(ops.sum(ops.reshape(x, (-1, ops.shape(x)[-1])), axis=0))
            return ops.mean(ops.matmul(x, self.w), axis=1) if len(ops.shape(x)) == 3 else ops.matmul(x, self.w)

    inputs = keras.Input(shape=(None, 3))
    total = Total(name="total")
    out = total(inputs)
    assert out.shape == (None, 5)                       # the unknown time axis was reduced away
    np.testing.assert_array_equal(total.total.numpy(), np.zeros(3))     # tracing changed no weight
    a = keras.Input(shape=(4,))
    z = Sampling(name="sampling")([keras.layers.Dense(2)(a), keras.layers.Dense(2)(a)])
    assert z.shape == (None, 2)
    fresh = keras.random.SeedGenerator(1337)
    layer = keras.Model(a, z).get_layer("sampling")
    np.testing.assert_array_equal(npy(keras.random.normal((3, 2), seed=layer.seed_generator)),
                                  npy(keras.random.normal((3, 2), seed=fresh)))      # no draw was used up
    seq = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(4), Total(name="t2")])
    assert seq.output_shape == (None, 5) and seq.layers[-1].output_shape == (None, 5)


def test_vae_style_model_with_sampling_trains():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(128, 4)).astype("float32")
    inputs = keras.Input(shape=(4,))
    h = keras.layers.Dense(8, activation="relu")(inputs)
    z = Sampling()([keras.layers.Dense(2)(h), keras.layers.Dense(2)(h)])
    outputs = keras.layers.Dense(4)(keras.layers.Dense(8, activation="relu")(z))
    model = keras.Model(inputs, outputs)
    assert model.output_shape == (None, 4)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, x, epochs=20, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]


def test_custom_layer_traced_with_integer_inputs():
    class Lookup(keras.Layer):
        def build(self, input_shape):
            self.table = self.add_weight(shape=(10, 3), name="table")

        def call(self, ids):
            assert ids.dtype == md.int32          # token ids reach call as integers
            return ops.take(self.table, ids, axis=0)

    ids = keras.Input(shape=(5,), dtype="int32")
    out = Lookup()(ids)
    assert out.shape == (None, 5, 3)
    model = keras.Model(ids, out)
    got = npy(model(np.array([[1, 2, 3, 4, 9]], "int32")))
    np.testing.assert_array_equal(got[0], model.layers[-1].table.numpy()[[1, 2, 3, 4, 9]])
