"""md.keras models: compile/fit/evaluate/predict, the accuracy targets, summary counts, saving, callbacks, errors,
and training steps against PyTorch."""
import os
import re
import zipfile

import numpy as np
import pytest
import torch

import minidl as md
import minidl.keras as keras
from minidl.keras import layers


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield
    keras.backend.set_floatx("float32")


@pytest.fixture(scope="module")
def digits():
    (xtr, ytr), (xte, yte) = md.datasets.digits.load_data()
    return (xtr.astype("float32") / 16.0, ytr), (xte.astype("float32") / 16.0, yte)


def _mlp(n_in=64, hidden=32, classes=10, **dense_kwargs):
    return keras.Sequential([keras.Input(shape=(n_in,)), layers.Dense(hidden, activation="relu", **dense_kwargs),
                             layers.Dense(classes, activation="softmax")])


# --- the targets ------------------------------------------------------------------------------------------
def test_sequential_mlp_on_digits_reaches_95_percent(digits):
    (xtr, ytr), (xte, yte) = digits
    model = keras.Sequential([keras.Input(shape=(8, 8)), layers.Flatten(), layers.Dense(128, activation="relu"),
                              layers.Dropout(0.2), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(xtr, ytr, epochs=20, batch_size=32, validation_split=0.1, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(history.history["loss"]) == 20 and history.epoch == list(range(20))
    assert history.history["loss"][-1] < history.history["loss"][0] / 3
    loss, acc = model.evaluate(xte, yte, verbose=0)
    assert acc >= 0.95, acc
    assert 0 < loss < 0.3


def test_conv2d_model_on_digits_reaches_97_percent(digits):
    (xtr, ytr), (xte, yte) = digits
    model = keras.Sequential([
        layers.Conv2D(32, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dropout(0.3),
        layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(xtr[..., None], ytr, epochs=15, batch_size=32, verbose=0)
    loss, acc = model.evaluate(xte[..., None], yte, verbose=0)
    assert acc >= 0.97, acc


def test_embedding_lstm_sigmoid_learns_the_sentiment_task():
    (xtr, ytr), (xte, yte) = md.datasets.synthetic.sentiment(n=2000, maxlen=40, vocab_size=100)
    model = keras.Sequential([layers.Embedding(100, 16), layers.LSTM(32), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(xtr, ytr, epochs=5, batch_size=32, validation_data=(xte, yte), verbose=0)
    assert history.history["val_accuracy"][-1] >= 0.85, history.history
    assert model.evaluate(xte, yte, verbose=0)[1] >= 0.85
    probs = model.predict(xte, verbose=0)
    assert probs.shape == (len(xte), 1) and np.all((probs > 0) & (probs < 1))


# --- summary --------------------------------------------------------------------------------------------------
def _summary_lines(model):
    lines = []
    model.summary(print_fn=lines.append)
    return lines


def _count(lines, label):
    for line in lines:
        if line.startswith(label):
            return int(re.search(r":\s*([\d,]+)", line).group(1).replace(",", ""))
    raise AssertionError(f"{label} not in summary:\n" + "\n".join(lines))


def test_summary_parameter_counts_match_keras_formulae():
    h = w = 12
    c_in, f, units, vocab, emb = 3, 8, 16, 50, 6
    conv = keras.Sequential([keras.Input(shape=(h, w, c_in)), layers.Conv2D(f, (3, 3), padding="same"),
                             layers.BatchNormalization(), layers.MaxPooling2D(), layers.Conv2D(f, 5, use_bias=False),
                             layers.Flatten(), layers.Dense(units), layers.Dense(3)])
    lines = _summary_lines(conv)
    conv_out = (h // 2 - 4) ** 2 * f
    want = [(3 * 3 * c_in * f + f), 4 * f, 0, 5 * 5 * f * f, 0, conv_out * units + units, units * 3 + 3]
    rows = [line for line in lines if re.match(r"^\w+ \(\w+\)", line) and not line.startswith("Layer (type)")]
    assert [int(r.split()[-1].replace(",", "")) for r in rows] == want
    assert _count(lines, "Total params") == sum(want)
    assert _count(lines, "Non-trainable params") == 2 * f         # moving mean and variance
    assert _count(lines, "Trainable params") == sum(want) - 2 * f
    assert conv.count_params() == sum(want)
    assert re.search(r"\(None, 6, 6, 8\)", "\n".join(lines)) and lines[0] == f'Model: "{conv.name}"'

    rnn = keras.Sequential([keras.Input(shape=(7,)), layers.Embedding(vocab, emb),
                            layers.SimpleRNN(units, return_sequences=True), layers.GRU(units, return_sequences=True),
                            layers.LSTM(units), layers.Dense(1)])
    want = [vocab * emb, units * (emb + units) + units, 3 * units * (units + units) + 2 * 3 * units,
            4 * (units * (units + units) + units), units + 1]
    lines = _summary_lines(rnn)
    rows = [line for line in lines if re.match(r"^\w+ \(\w+\)", line) and not line.startswith("Layer (type)")]
    assert [int(r.split()[-1].replace(",", "")) for r in rows] == want
    assert _count(lines, "Total params") == sum(want)
    assert "(None, 7, 16)" in "\n".join(lines)


def test_summary_before_build_says_so_and_counts_after_first_batch():
    model = keras.Sequential([layers.Dense(4), layers.Dense(2)])
    assert any("unknown until the model is built" in line for line in _summary_lines(model))
    with pytest.raises(ValueError, match="not yet been built"):
        model.count_params()
    model.predict(np.zeros((3, 5)), verbose=0)
    assert _count(_summary_lines(model), "Total params") == 5 * 4 + 4 + 4 * 2 + 2


# --- evaluate / predict semantics -----------------------------------------------------------------------------
def test_evaluate_returns_loss_alone_without_metrics_and_a_list_or_dict_with_them(digits):
    (xtr, ytr), _ = digits
    x = xtr.reshape(len(xtr), -1)[:100]
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    assert isinstance(model.evaluate(x, ytr[:100], verbose=0), float)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy", "sparse_categorical_accuracy"])
    out = model.evaluate(x, ytr[:100], verbose=0)
    assert isinstance(out, list) and len(out) == 3 and out[1] == out[2]
    as_dict = model.evaluate(x, ytr[:100], verbose=0, return_dict=True)
    assert list(as_dict) == ["loss", "accuracy", "sparse_categorical_accuracy"]
    assert as_dict["loss"] == pytest.approx(out[0])
    probs = model.predict(x, verbose=0)
    assert as_dict["accuracy"] == pytest.approx(np.mean(probs.argmax(1) == ytr[:100]))
    nll = -np.log(np.clip(probs[np.arange(100), ytr[:100]], 1e-7, 1 - 1e-7)).mean()
    assert as_dict["loss"] == pytest.approx(nll, rel=1e-5)


def test_predict_is_deterministic_in_inference_mode_and_batches_do_not_matter():
    model = keras.Sequential([keras.Input(shape=(10,)), layers.Dense(32, activation="relu"), layers.Dropout(0.5),
                              layers.BatchNormalization(), layers.Dense(3)])
    x = np.random.default_rng(0).normal(size=(50, 10)).astype("float32")
    a = model.predict(x, batch_size=7, verbose=0)
    b = model.predict(x, batch_size=50, verbose=0)
    assert isinstance(a, np.ndarray) and a.shape == (50, 3)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    train_a = model(x, training=True).numpy()
    train_b = model(x, training=True).numpy()
    assert not np.allclose(train_a, train_b)          # dropout is on when training=True
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())       # a plain call is inference
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((50, 3)), epochs=1, verbose=0)
    assert not model.training and not any(m.training for m in model.modules())     # fit leaves inference mode
    np.testing.assert_array_equal(model(x).numpy(), model.predict(x, verbose=0))


def test_validation_split_holds_out_the_last_samples_before_shuffling():
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    x = np.arange(100, dtype="float32")[:, None]
    y = np.zeros((100, 1), "float32")
    model = keras.Sequential([keras.Input(shape=(1,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=10, epochs=1, validation_split=0.25, verbose=0, callbacks=[Spy()])
    assert seen == list(range(8))           # 75 training samples in batches of 10
    # validation loss equals evaluate on the last quarter
    model2 = keras.Sequential([keras.Input(shape=(1,)), layers.Dense(1)])
    model2.compile(keras.optimizers.SGD(learning_rate=0.0), "mse")
    h = model2.fit(x, y, batch_size=10, epochs=1, validation_split=0.25, verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(model2.evaluate(x[75:], y[75:], verbose=0), rel=1e-6)


def test_fit_accepts_a_dataloader_and_one_hot_labels_with_categorical_crossentropy(digits):
    (xtr, ytr), _ = digits
    x = xtr.reshape(len(xtr), -1)
    onehot = keras.utils.to_categorical(ytr, 10)
    assert onehot.shape == (len(ytr), 10) and np.all(onehot.argmax(1) == ytr)
    model = _mlp()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    loader = md.data.DataLoader(md.data.TensorDataset(md.tensor(x), md.tensor(onehot)), batch_size=64, shuffle=True)
    history = model.fit(loader, epochs=10, verbose=0)
    acc = history.history["accuracy"]
    assert acc[-1] > 0.85 and acc[-1] > acc[0] + 0.3, acc


# --- training steps against PyTorch ---------------------------------------------------------------------------
def _torch_mlp(model):
    (k1, b1, k2, b2) = model.get_weights()
    net = torch.nn.Sequential(torch.nn.Linear(*k1.shape), torch.nn.ReLU(), torch.nn.Linear(*k2.shape)).double()
    with torch.no_grad():
        for lin, k, b in ((net[0], k1, b1), (net[2], k2, b2)):
            lin.weight.copy_(torch.from_numpy(k.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
    return net


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "rmsprop"])
def test_training_steps_match_pytorch(opt_name):
    keras.backend.set_floatx("float64")
    model = keras.Sequential([keras.Input(shape=(6,)), layers.Dense(5, activation="relu"), layers.Dense(3)])
    opt = {"sgd": keras.optimizers.SGD(0.1, momentum=0.9), "adam": keras.optimizers.Adam(0.01),
           "rmsprop": keras.optimizers.RMSprop(0.01)}[opt_name]
    model.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    net = _torch_mlp(model)
    topt = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
            "adam": lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-7),
            "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-7)}[opt_name](net.parameters())
    rng = np.random.default_rng(1)
    for _ in range(4):
        x, y = rng.normal(size=(8, 6)), rng.integers(0, 3, 8)
        loss = model.train_on_batch(x, y)
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))
        tloss.backward()
        topt.step()
        assert loss == pytest.approx(tloss.item(), rel=1e-10)
    k1, b1, k2, b2 = model.get_weights()
    np.testing.assert_allclose(k1, net[0].weight.detach().numpy().T, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b2, net[2].bias.detach().numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("opt_name", ["adamw", "adam", "sgd", "rmsprop"])
def test_weight_decay_is_keras_decoupled_decay(opt_name):
    """Keras 3 decays every weight first, ``w -= w * weight_decay * lr``, then applies the optimizer's update. Checked
    over several steps with a decay large enough that a flipped sign (or PyTorch's coupled L2 decay) shows: against
    PyTorch's AdamW (the same rule) and against PyTorch's optimizers after that decay step."""
    keras.backend.set_floatx("float64")
    lr, wd = 0.05, 0.5
    model = keras.Sequential([keras.Input(shape=(6,)), layers.Dense(5, activation="relu"), layers.Dense(3)])
    opt = {"adamw": keras.optimizers.AdamW(lr, weight_decay=wd), "adam": keras.optimizers.Adam(lr, weight_decay=wd),
           "sgd": keras.optimizers.SGD(lr, momentum=0.9, weight_decay=wd),
           "rmsprop": keras.optimizers.RMSprop(lr, weight_decay=wd)}[opt_name]
    model.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    net = _torch_mlp(model)
    params = list(net.parameters())
    topt = {"adamw": lambda: torch.optim.AdamW(params, lr=lr, weight_decay=wd, eps=1e-7),     # decays by itself
            "adam": lambda: torch.optim.Adam(params, lr=lr, eps=1e-7),
            "sgd": lambda: torch.optim.SGD(params, lr=lr, momentum=0.9),
            "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)}[opt_name]()
    rng = np.random.default_rng(2)
    start = model.get_weights()
    for _ in range(5):
        x, y = rng.normal(size=(8, 6)), rng.integers(0, 3, 8)
        model.train_on_batch(x, y)
        topt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        if opt_name != "adamw":
            with torch.no_grad():
                for p in params:
                    p.mul_(1 - lr * wd)             # Keras 3: variable -= variable * weight_decay * lr, then the update
        topt.step()
    k1, b1, k2, b2 = model.get_weights()
    for mine, theirs in ((k1, net[0].weight.detach().numpy().T), (b1, net[0].bias.detach().numpy()),
                         (k2, net[2].weight.detach().numpy().T), (b2, net[2].bias.detach().numpy())):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)
    assert np.abs(k1).sum() < np.abs(start[0]).sum()        # the decay really shrank the weights


@pytest.mark.parametrize("name,torch_fn,labels", [
    # Keras renormalizes the probabilities before the clip and the log (which changes the gradient, not the value)
    ("sparse_categorical_crossentropy",
     lambda p, y: torch.nn.functional.nll_loss(torch.log((p / p.sum(1, keepdim=True)).clamp(1e-7, 1 - 1e-7)), y),
     "index"),
    ("categorical_crossentropy",
     lambda p, y: -(y * torch.log((p / p.sum(1, keepdim=True)).clamp(1e-7, 1 - 1e-7))).sum(1).mean(), "onehot"),
    ("binary_crossentropy", lambda p, y: torch.nn.functional.binary_cross_entropy(p.clamp(1e-7, 1 - 1e-7), y), "binary"),
    ("mse", torch.nn.functional.mse_loss, "binary"),
    ("mae", torch.nn.functional.l1_loss, "binary"),
])
def test_string_losses_match_pytorch_values_and_gradients(name, torch_fn, labels):
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(6, 4))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    idx = rng.integers(0, 4, 6)
    y = {"index": idx, "onehot": np.eye(4)[idx], "binary": rng.integers(0, 2, (6, 4)).astype(float)}[labels]
    p_md = md.tensor(probs, requires_grad=True)
    loss = keras.losses.get(name)(y, p_md)
    loss.backward()
    p_t = torch.tensor(probs, requires_grad=True)
    t_loss = torch_fn(p_t, torch.from_numpy(y))
    t_loss.backward()
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-10)
    np.testing.assert_allclose(p_md.grad.numpy(), p_t.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_from_logits_and_label_smoothing_match_pytorch():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(5, 3))
    y = rng.integers(0, 3, 5)
    got = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(np.eye(3)[y], md.tensor(logits))
    want = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y), label_smoothing=0.1)
    assert got.item() == pytest.approx(want.item(), rel=1e-10)
    z = rng.normal(size=(5, 1))
    t = rng.integers(0, 2, 5).astype(float)
    got = keras.losses.BinaryCrossentropy(from_logits=True)(t, md.tensor(z))
    want = torch.nn.functional.binary_cross_entropy_with_logits(torch.from_numpy(z[:, 0]), torch.from_numpy(t))
    assert got.item() == pytest.approx(want.item(), rel=1e-10)


def test_regularization_penalties_are_part_of_the_loss():
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, kernel_regularizer=keras.regularizers.l2(0.1),
                                                                    bias_initializer="ones",
                                                                    bias_regularizer=keras.regularizers.l1(0.5))])
    model.compile(keras.optimizers.SGD(0.0), "mse")
    x, y = np.ones((2, 4), "float32"), np.zeros((2, 3), "float32")
    kernel, bias = model.get_weights()
    data_loss = np.mean((x @ kernel + bias) ** 2)
    want = data_loss + 0.1 * np.sum(kernel ** 2) + 0.5 * np.sum(np.abs(bias))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(want, rel=1e-5)
    assert model.train_on_batch(x, y) == pytest.approx(want, rel=1e-5)


def test_sample_weight_and_class_weight_weight_the_loss():
    model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.0), "mse")
    x = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    y = np.array([[0.0], [1.0]], "float32")
    per = ((model.predict(x, verbose=0) - y) ** 2)[:, 0]
    assert model.evaluate(x, y, sample_weight=np.array([2.0, 0.0]), verbose=0) == pytest.approx(per[0] * 2 / 2,
                                                                                                 rel=1e-5)
    h = model.fit(x, y, class_weight={0: 0.0, 1: 3.0}, batch_size=2, verbose=0)
    assert h.history["loss"][0] == pytest.approx(per[1] * 3 / 2, rel=1e-5)


# --- saving ---------------------------------------------------------------------------------------------------
def _trained_cnn(digits):
    (xtr, ytr), _ = digits
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                              layers.BatchNormalization(), layers.Flatten(),
                              layers.Dense(10, activation="softmax", kernel_regularizer=keras.regularizers.l1_l2())])
    model.compile(keras.optimizers.Adam(learning_rate=3e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(xtr[:256, ..., None], ytr[:256], epochs=2, verbose=0)
    return model


def test_saved_and_loaded_model_predicts_identically_and_stays_compiled(digits, tmp_path):
    model = _trained_cnn(digits)
    _, (xte, yte) = digits
    path = tmp_path / "model.keras"
    model.save(path)
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]         # the temp file was renamed, nothing left
    assert set(zipfile.ZipFile(path).namelist()) == {"config.json", "model.weights.safetensors"}
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(xte[..., None], verbose=0), model.predict(xte[..., None], verbose=0))
    assert loaded.evaluate(xte[..., None], yte, verbose=0) == model.evaluate(xte[..., None], yte, verbose=0)
    assert isinstance(loaded.optimizer, keras.optimizers.Adam) and loaded.optimizer.learning_rate == 3e-3
    assert [la.name for la in loaded.layers] == [la.name for la in model.layers]
    # the weights file is plain safetensors in Keras' layouts
    from safetensors.numpy import load as st_load
    weights = st_load(zipfile.ZipFile(path).read("model.weights.safetensors"))
    conv_name = model.layers[0].name
    assert weights[f"{conv_name}/kernel"].shape == (3, 3, 1, 4)


def test_functional_and_subclassed_models_save_or_say_why(tmp_path):
    inp = keras.Input(shape=(5,))
    a, b = layers.Dense(3, name="left")(inp), layers.Dense(3, name="right")(inp)
    out = layers.Dense(2)(layers.Concatenate()([a, layers.Add()([a, b])]))
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(4, 5))
    model.save(tmp_path / "f.keras")
    loaded = keras.models.load_model(tmp_path / "f.keras", compile=False)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden, self.out = layers.Dense(4, activation="tanh"), layers.Dense(1)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    net = Net()
    net.compile("adam", "mse")
    net.fit(x, np.ones((4, 1)), epochs=2, verbose=0)
    with pytest.raises(NotImplementedError, match="subclassed"):
        net.save(tmp_path / "n.keras")
    net.save_weights(tmp_path / "n.weights.safetensors")
    other = Net()
    other(x[:1])
    other.load_weights(tmp_path / "n.weights.safetensors")
    np.testing.assert_array_equal(other.predict(x, verbose=0), net.predict(x, verbose=0))


def test_corrupt_or_wrong_files_are_clear_errors(digits, tmp_path):
    model = _trained_cnn(digits)
    with pytest.raises(ValueError, match=r"\.keras"):
        model.save(tmp_path / "model.h5")
    good = tmp_path / "m.keras"
    model.save(good)
    blob = good.read_bytes()
    truncated = tmp_path / "t.keras"
    truncated.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        keras.models.load_model(truncated)
    with zipfile.ZipFile(good) as zf:
        config, weights = zf.read("config.json"), zf.read("model.weights.safetensors")
    for name, members, pattern in (("nojson.keras", {"config.json": b"{nope", "model.weights.safetensors": weights},
                                    "not valid JSON"),
                                   ("noweights.keras", {"config.json": config}, "lacks model.weights"),
                                   ("badweights.keras", {"config.json": config, "model.weights.safetensors": b"xx"},
                                    "member model.weights.safetensors is not a valid safetensors file")):
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            for member, data in members.items():
                zf.writestr(member, data)
        with pytest.raises(ValueError, match=pattern):
            keras.models.load_model(tmp_path / name)
    other = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Conv2D(5, 3), layers.Flatten(), layers.Dense(10)])
    with pytest.raises(ValueError, match="kernel"):
        other.load_weights(good)
    with pytest.raises(FileNotFoundError):
        keras.models.load_model(tmp_path / "absent.keras")


# --- callbacks ------------------------------------------------------------------------------------------------
def _tiny(lr=0.0):
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(1)])
    model.compile(keras.optimizers.SGD(lr), "mse")
    rng = np.random.default_rng(0)
    return model, rng.normal(size=(32, 3)), rng.normal(size=(32, 1))


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    model, x, y = _tiny(lr=0.0)          # nothing improves
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=2)
    history = model.fit(x, y, epochs=20, verbose=0, shuffle=False, callbacks=[stop])   # same sums: same loss
    assert len(history.epoch) == 3 and stop.stopped_epoch == 2

    model, x, y = _tiny(lr=0.05)
    best = {}

    class Worsen(keras.callbacks.Callback):      # later steps climb the loss, so the best weights are epoch 2's
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                best["weights"] = self.model.get_weights()
                self.model.optimizer.learning_rate = -0.5

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model.fit(x, y, epochs=30, batch_size=32, verbose=0, validation_data=(x, y), callbacks=[Worsen(), stop])
    assert stop.stopped_epoch > 0
    assert len(model.get_weights()) == len(best["weights"])
    for got, want in zip(model.get_weights(), best["weights"]):
        np.testing.assert_array_equal(got, want)


def test_model_checkpoint_saves_only_improvements_and_the_file_loads(tmp_path):
    model, x, y = _tiny(lr=0.05)
    path = tmp_path / "ckpt-{epoch:02d}.keras"
    ckpt = keras.callbacks.ModelCheckpoint(str(path), monitor="loss", save_best_only=True)
    model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[ckpt])
    files = sorted(os.listdir(tmp_path))
    assert files == ["ckpt-01.keras", "ckpt-02.keras", "ckpt-03.keras"]         # loss falls every epoch
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / files[-1]).predict(x, verbose=0),
                                  model.predict(x, verbose=0))
    model2, _, _ = _tiny(lr=0.0)
    ckpt = keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="loss", save_best_only=True)
    model2.fit(x, y, epochs=3, verbose=0, callbacks=[ckpt])
    mtime = os.path.getmtime(tmp_path / "best.keras")
    model2.fit(x, y, epochs=2, verbose=0, callbacks=[ckpt])          # no improvement: not rewritten
    assert os.path.getmtime(tmp_path / "best.keras") == mtime


def test_reduce_lr_on_plateau_and_learning_rate_scheduler_change_the_optimizer():
    model, x, y = _tiny(lr=0.0)
    model.optimizer.learning_rate = 0.0
    cb = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_lr=0.0)
    model.compile(keras.optimizers.SGD(0.08), "mse")
    # a constant loss: freeze the weights by making every step a no-op
    model.layers[0].trainable = False
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[cb])
    # logged at each epoch's end before that epoch's cut, as Keras; the loss never improves after epoch 1
    assert history.history["learning_rate"] == pytest.approx([0.08, 0.08, 0.04, 0.02])
    assert model.optimizer.learning_rate == pytest.approx(0.01)

    model, x, y = _tiny(lr=1.0)
    sched = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[sched])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_a_callback_stops_training_through_model_stop_training_and_csv_logger_writes(tmp_path):
    class StopAtTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    model, x, y = _tiny(lr=0.01)
    log = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[StopAtTwo(), keras.callbacks.CSVLogger(str(log))])
    assert history.epoch == [0, 1]
    rows = log.read_text().strip().splitlines()
    assert rows[0] == "epoch,loss" and len(rows) == 3


# --- progress output ------------------------------------------------------------------------------------------
def test_progress_lines_follow_keras(capsys):
    model, x, y = _tiny(lr=0.01)
    model.compile(keras.optimizers.SGD(0.01), "mse", metrics=["mae"])
    model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2" and out[2] == "Epoch 2/2"
    assert re.fullmatch(r"3/3 - \d+s - \d+(us|ms|s)/step - loss: \d+\.\d{4} - mae: \d+\.\d{4} - val_loss: \d+\.\d{4}"
                        r" - val_mae: \d+\.\d{4}", out[1]), out[1]
    model.fit(x, y, epochs=1, batch_size=8, verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"4/4 \u2501{20} \d+s \d+(us|ms|s)/step - loss: \d+\.\d{4} - mae: \d+\.\d{4}", out[1]), out
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


# --- errors in Keras' terms -----------------------------------------------------------------------------------
def test_dense_on_3d_input_without_flatten_fails_at_the_loss_naming_both_shapes(digits):
    (xtr, ytr), _ = digits
    model = keras.Sequential([layers.Dense(16, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    with pytest.raises(ValueError, match=r"labels of shape \(32,\).*output of shape \(32, 8, 10\).*Flatten"):
        model.fit(xtr, ytr, epochs=1, verbose=0)


@pytest.mark.parametrize("loss,y,pattern", [
    ("binary_crossentropy", np.zeros((4, 3)), r"target.shape=\(4, 3\), output.shape=\(4, 1\)"),
    ("categorical_crossentropy", np.zeros((4, 2)), r"target.shape=\(4, 2\), output.shape=\(4, 1\)"),
    ("sparse_categorical_crossentropy", np.full(4, 7), r"label value of 7 .*\[0, 1\)"),
    ("mse", np.zeros((5, 1)), "cardinality"),
])
def test_label_output_mismatches_name_both_shapes(loss, y, pattern):
    model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", loss)
    with pytest.raises(ValueError, match=pattern):
        model.fit(np.zeros((4, 2)), y, verbose=0)


def test_keras_usage_errors():
    model = _mlp()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(np.zeros((2, 64)), np.zeros(2), verbose=0)
    for kwargs, err, pattern in ((dict(optimizer="adamax_unknown", loss="mse"), ValueError, "optimizer identifier"),
                                 (dict(optimizer="adam", loss="hinge_unknown"), ValueError, "loss identifier"),
                                 (dict(optimizer="adam", loss="mse", metrics=["f1_unknown"]), ValueError, "metric"),
                                 (dict(optimizer="adam", loss="mse", metrics="accuracy"), TypeError, "list")):
        with pytest.raises(err, match=pattern):
            model.compile(**kwargs)
    with pytest.raises(TypeError, match="md.optim"):
        model.compile(md.optim.SGD([md.zeros(1, requires_grad=True)]), "mse")
    with pytest.raises(TypeError, match="Unrecognized keyword"):
        layers.Dense(3, unitz=4)
    with pytest.raises(TypeError, match="instance of class Layer"):
        keras.Sequential([md.nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="unique names"):
        keras.Sequential([layers.Dense(2, name="d"), layers.Dense(2, name="d")])
    with pytest.raises(ValueError, match=r"expected min_ndim=4, found ndim=3|expected ndim=4, found ndim=3"):
        keras.Sequential([keras.Input(shape=(28, 28)), layers.Conv2D(4, 3)])
    built = _mlp()
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 64"):
        built.predict(np.zeros((2, 65)), verbose=0)


# --- optimizers, schedules, utilities, datasets -----------------------------------------------------------------
def test_optimizer_strings_give_keras_defaults_and_schedules_drive_the_rate():
    assert keras.optimizers.get("adam").epsilon == 1e-7 and keras.optimizers.get("adam").learning_rate == 1e-3
    assert keras.optimizers.get("sgd").learning_rate == 0.01
    assert keras.optimizers.get("rmsprop").rho == 0.9
    sched = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    model, x, y = _tiny()
    model.compile(keras.optimizers.SGD(sched), "mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)         # 4 steps
    assert model.optimizer.iterations == 4
    assert model.optimizer.learning_rate == pytest.approx(0.1 * 0.5 ** 2)


def test_clipnorm_limits_each_gradient():
    keras.backend.set_floatx("float64")
    model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(1.0, clipnorm=0.5), "mse")
    model.train_on_batch(np.array([[100.0, 0.0]]), np.array([[100.0]]))
    np.testing.assert_allclose(model.get_weights()[0][:, 0], [0.5, 0.0], atol=1e-12)


def test_datasets_and_sequence_utilities_are_minidl_s(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mnist.npz", x_train=rng.integers(0, 255, (5, 28, 28), dtype=np.uint8),
             y_train=np.arange(5, dtype=np.uint8), x_test=rng.integers(0, 255, (2, 28, 28), dtype=np.uint8),
             y_test=np.arange(2, dtype=np.uint8))
    (xtr, ytr), (xte, yte) = keras.datasets.mnist.load_data(path=str(tmp_path / "mnist.npz"))
    assert xtr.shape == (5, 28, 28) and xtr.dtype == np.uint8 and list(ytr) == [0, 1, 2, 3, 4]
    with pytest.raises(FileNotFoundError):
        keras.datasets.fashion_mnist.load_data(path=str(tmp_path / "nothing"), download=False)
    assert keras.utils.pad_sequences is keras.preprocessing.sequence.pad_sequences is md.datasets.pad_sequences
    np.testing.assert_array_equal(keras.utils.pad_sequences([[1, 2], [3]], maxlen=3), [[0, 1, 2], [0, 0, 3]])


# --- device cuda (through tests/fake_cupy.py: checks minidl's device plumbing, not GPU arithmetic) -------------
def test_keras_model_trains_on_cuda_like_on_the_cpu(tmp_path):
    import fake_cupy
    from minidl import backends

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6, 6, 1)), rng.integers(0, 3, 64)

    def run(device):
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input(shape=(6, 6, 1)), layers.Conv2D(4, 3, padding="same"),
                                  layers.BatchNormalization(), layers.Flatten(), layers.Dense(3, activation="softmax")])
        model.to(device)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        with backends.use("numpy" if device == "cpu" else "cupy"):
            history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_data=(x, y))
            return model, history.history, model.predict(x, verbose=0)

    mp = pytest.MonkeyPatch()
    cp = fake_cupy.install(mp)
    try:
        gpu_model, gpu_hist, gpu_pred = run("cuda")
        assert all(isinstance(p.array, cp.ndarray) for p in gpu_model.parameters())
        gpu_model.save(tmp_path / "gpu.keras")
    finally:
        fake_cupy.uninstall(mp)
    _, cpu_hist, cpu_pred = run("cpu")
    assert isinstance(gpu_pred, np.ndarray)
    np.testing.assert_allclose(gpu_pred, cpu_pred, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gpu_hist["val_loss"], cpu_hist["val_loss"], rtol=1e-4)
    with backends.use("numpy"):         # the kernels that made gpu_pred (the reference), so only the weights differ
        loaded_pred = keras.models.load_model(tmp_path / "gpu.keras").predict(x, verbose=0)
    np.testing.assert_allclose(loaded_pred, gpu_pred, rtol=1e-6)
