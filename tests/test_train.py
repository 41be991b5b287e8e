"""md.train (fit, evaluate, predict, callbacks), md.models, md.save/md.load, and `minidl train`."""
import os
import re

import numpy as np
import pytest

import minidl as md
from minidl.nn import functional as F
import child_process  # tests/ helper: children import the same minidl


def _blobs(n=240, classes=3, features=6, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (classes, features))
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.normal(0, 0.5, (n, features))).astype(np.float32)
    return x, y.astype(np.int64)


def _mlp(features=6, classes=3):
    md.manual_seed(0)
    return md.models.MLP(features, hidden=(16,), num_classes=classes)


# ---------------------------------------------------------------- save / load

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_save_load_round_trip_keeps_values_dtypes_and_order(tmp_path, dtype):
    state = {"b.weight": np.arange(6).reshape(2, 3).astype(dtype), "a.bias": md.tensor(np.ones(3, dtype))}
    path = tmp_path / "w.safetensors"
    md.save(state, path)
    loaded = md.load(path)
    assert list(loaded) == sorted(state) or set(loaded) == set(state)
    for k, v in state.items():
        want = v.numpy() if isinstance(v, md.Tensor) else v
        assert isinstance(loaded[k], md.Tensor)
        assert loaded[k].numpy().dtype == want.dtype
        np.testing.assert_array_equal(loaded[k].numpy(), want)
    assert os.listdir(tmp_path) == ["w.safetensors"], "the temporary file of the atomic write was left behind"


def test_saved_file_is_readable_by_the_safetensors_library(tmp_path):
    # md.save/md.load need no safetensors package; the library (the [test] extra) only checks the file format
    load_file = pytest.importorskip("safetensors.numpy").load_file

    md.save({"w": md.ones(2, 2)}, tmp_path / "w.safetensors")
    np.testing.assert_array_equal(load_file(str(tmp_path / "w.safetensors"))["w"], np.ones((2, 2), np.float32))


_NO_SAFETENSORS = """
import sys
sys.modules["safetensors"] = None               # as if it were not installed: importing it fails
import numpy as np
import minidl as md
import minidl.keras as keras
from minidl.cli import main

folder = sys.argv[1]
assert main(["train", "mlp", "--epochs", "1", "--quiet", "--save", folder + "/mlp.safetensors"]) == 0
assert all(t.numel() for t in md.load(folder + "/mlp.safetensors").values())
model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
model.save(folder + "/m.keras")
model.save_weights(folder + "/m.weights.safetensors")
x = np.ones((1, 3), np.float32)
assert (keras.models.load_model(folder + "/m.keras").predict(x, verbose=0) == model.predict(x, verbose=0)).all()
model.load_weights(folder + "/m.weights.safetensors")
print("OK")
"""


def test_saving_and_loading_need_no_safetensors_package(tmp_path):
    # md.save/md.load, `minidl train --save` and .keras files use minidl's own safetensors code
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _NO_SAFETENSORS, str(tmp_path)], capture_output=True, text=True,
                          timeout=300, cwd=child_process.CWD, env=child_process.env())
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stderr[-3000:]


def test_load_rejects_corrupt_and_truncated_files(tmp_path):
    path = tmp_path / "w.safetensors"
    md.save({"w": md.ones(50, 50)}, path)
    blob = path.read_bytes()
    (tmp_path / "short.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"short\.safetensors is not a valid safetensors file"):
        md.load(tmp_path / "short.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(ValueError, match=r"junk\.safetensors"):
        md.load(tmp_path / "junk.safetensors")
    with pytest.raises(FileNotFoundError):
        md.load(tmp_path / "missing.safetensors")


def test_save_rejects_what_it_cannot_store(tmp_path):
    # checkpoints nest tensors, numbers and containers (tests/test_checkpoint.py); other objects are pickled (and
    # load only with weights_only=False); what cannot be pickled is refused by name
    with pytest.raises(TypeError, match=r"cannot store a generator at \[0\]"):
        md.save([(i for i in range(2))], tmp_path / "x")
    assert not os.listdir(tmp_path)
    md.save([md.ones(2), {"lr": 0.1}], tmp_path / "x")
    back = md.load(tmp_path / "x")
    assert back[1] == {"lr": 0.1} and back[0].tolist() == [1.0, 1.0]


def test_model_saved_and_loaded_predicts_identically(tmp_path):
    x, y = _blobs()
    model = _mlp()
    md.train.fit(model, F.cross_entropy, md.optim.Adam(model.parameters(), lr=1e-2), (x, y), epochs=2, verbose=0)
    md.save(model.state_dict(), tmp_path / "m.safetensors")
    other = md.models.MLP(6, hidden=(16,), num_classes=3)
    other.load_state_dict(md.load(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(md.train.predict(model, x).numpy(), md.train.predict(other, x).numpy())


def test_loading_mismatched_weights_is_a_clear_error(tmp_path):
    md.save(_mlp().state_dict(), tmp_path / "m.safetensors")
    state = md.load(tmp_path / "m.safetensors")
    wider = md.models.MLP(6, hidden=(17,), num_classes=3)
    with pytest.raises((ValueError, RuntimeError), match=r"net\.1\.weight"):
        wider.load_state_dict(state)
    missing = dict(state)
    missing.pop("net.3.bias")
    with pytest.raises((KeyError, ValueError, RuntimeError), match=r"net\.3\.bias"):
        _mlp().load_state_dict(missing)
    extra = dict(state, **{"net.9.weight": md.ones(2)})
    with pytest.raises((KeyError, ValueError, RuntimeError), match=r"net\.9\.weight"):
        _mlp().load_state_dict(extra)


# ---------------------------------------------------------------- fit / evaluate / predict

def test_fit_learns_and_logs_keras_keys():
    x, y = _blobs()
    model = _mlp()
    opt = md.optim.Adam(model.parameters(), lr=1e-2)
    history = md.train.fit(model, F.cross_entropy, opt, (x[:200], y[:200]), epochs=8, batch_size=32,
                           validation_data=(x[200:], y[200:]), verbose=0, seed=1)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == list(range(8)) and all(len(v) == 8 for v in history.values())
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["val_accuracy"][-1] >= 0.95
    result = md.train.evaluate(model, F.cross_entropy, (x[200:], y[200:]))
    assert result["accuracy"] == pytest.approx(history["val_accuracy"][-1])
    logits = md.train.predict(model, x[200:], batch_size=7)
    assert logits.shape == (40, 3) and not logits.requires_grad
    assert (logits.numpy().argmax(1) == y[200:]).mean() == pytest.approx(result["accuracy"])


def test_fit_is_reproducible_with_a_seed():
    x, y = _blobs()
    runs = []
    for _ in range(2):
        model = _mlp()
        h = md.train.fit(model, F.cross_entropy, md.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2,
                         verbose=0, seed=3)
        runs.append(h["loss"])
    assert runs[0] == runs[1]


def test_early_stopping_stops_and_restores_best_weights():
    # random labels: the model can only memorise, so the loss on other random data soon rises
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 6)).astype(np.float32), rng.integers(0, 3, 200)
    md.manual_seed(0)
    model = md.models.MLP(6, hidden=(64,), num_classes=3)
    seen = []
    stopper = md.train.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = md.train.fit(model, F.cross_entropy, md.optim.Adam(model.parameters(), lr=0.03), (x[:100], y[:100]),
                     epochs=60, validation_data=(x[100:], y[100:]), verbose=0,
                     callbacks=[stopper, md.train.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e))])
    assert len(h["loss"]) < 60 and stopper.stopped_epoch == len(h["loss"]) - 1
    assert seen == h.epoch
    best = md.train.evaluate(model, F.cross_entropy, (x[100:], y[100:]))["loss"]
    assert best == pytest.approx(min(h["val_loss"]), rel=1e-5)


def test_model_checkpoint_saves_only_improvements(tmp_path):
    x, y = _blobs()
    model = _mlp()
    ckpt = md.train.ModelCheckpoint(tmp_path / "ep{epoch}.safetensors", monitor="loss", save_best_only=True)
    md.train.fit(model, F.cross_entropy, md.optim.Adam(model.parameters(), lr=1e-2), (x, y), epochs=3, verbose=0,
                 callbacks=[ckpt])
    assert ckpt.saved and all(os.path.exists(p) for p in ckpt.saved)
    assert set(md.load(ckpt.saved[-1])) == set(model.state_dict())


def test_monitoring_an_unlogged_value_is_a_clear_error():
    x, y = _blobs()
    model = _mlp()
    with pytest.raises(KeyError, match="'val_loss' is not logged.*validation_data"):
        md.train.fit(model, F.cross_entropy, md.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1,
                     verbose=0, callbacks=[md.train.EarlyStopping()])


def test_fit_rejects_a_non_scalar_loss_and_bad_data():
    x, y = _blobs()
    model = _mlp()
    opt = md.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="loss must be a scalar"):
        md.train.fit(model, lambda o, t: F.cross_entropy(o, t, reduction="none"), opt, (x, y), verbose=0)
    with pytest.raises(TypeError, match=r"\(x, y\) pair"):
        md.train.fit(model, F.cross_entropy, opt, x, verbose=0)


# ---------------------------------------------------------------- models

def test_model_families_have_the_documented_shapes():
    md.manual_seed(0)
    assert md.models.MLP(64, num_classes=10)(md.randn(5, 8, 8)).shape == (5, 10)
    assert md.models.CNN(1, 10, image_size=8, hidden=32)(md.randn(2, 1, 8, 8)).shape == (2, 10)
    assert md.models.CNN(3, 5, image_size=28)(md.randn(2, 3, 28, 28)).shape == (2, 5)
    for cell in ("lstm", "gru", "rnn"):
        m = md.models.RNNClassifier(50, num_classes=3, cell=cell, bidirectional=cell == "gru", num_layers=2)
        assert m(md.randint(0, 50, (4, 9))).shape == (4, 3)
    ae = md.models.Autoencoder(64, hidden=(32,), latent=8)
    assert ae(md.rand(3, 64)).shape == (3, 64) and ae.encode(md.rand(3, 64)).shape == (3, 8)
    cae = md.models.ConvAutoencoder(1)
    assert cae(md.rand(2, 1, 28, 28)).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="divisible by 4"):
        cae(md.rand(1, 1, 10, 10))
    with pytest.raises(ValueError, match="unknown cell"):
        md.models.RNNClassifier(10, cell="transformer")


# ---------------------------------------------------------------- the command line (the targets)

def _train(capsys, *argv):
    from minidl.cli import main

    assert main(["train", *argv, "--quiet"]) == 0
    return capsys.readouterr().out


def _last_value(out, label):
    match = re.findall(rf"^{label}: ([0-9.]+)$", out, flags=re.M)
    assert match, f"no '{label}:' line in:\n{out}"
    return float(match[-1])


def test_minidl_train_default_is_the_cnn_on_digits_and_reaches_97_percent(capsys):
    out = _train(capsys)
    assert "training cnn on digits" in out
    assert _last_value(out, "test accuracy") >= 0.97


def test_minidl_train_mlp_reaches_95_percent(capsys):
    assert _last_value(_train(capsys, "mlp"), "test accuracy") >= 0.95


def test_minidl_train_rnn_learns_the_synthetic_sequence_task(capsys):
    out = _train(capsys, "rnn")
    assert "on synthetic" in out
    assert _last_value(out, "test accuracy") >= 0.85


def test_minidl_train_autoencoder_halves_its_reconstruction_loss(capsys, tmp_path):
    out = _train(capsys, "autoencoder", "--save", str(tmp_path / "ae.safetensors"))
    assert _last_value(out, "test loss") <= 0.5 * _last_value(out, "initial test loss")
    assert "encoder.1.weight" in md.load(tmp_path / "ae.safetensors")


def test_minidl_train_rejects_a_dataset_that_does_not_fit(capsys):
    from minidl.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "rnn", "--dataset", "digits"])
    assert exc.value.code == 2                               # a usage error, reported before any data is read
    assert "does not fit the rnn family" in capsys.readouterr().err


def test_minidl_train_reports_expected_failures_in_one_line(capsys):
    from minidl.cli import main

    assert main(["train", "--backend", "nosuch", "--epochs", "1", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("minidl train: error: ") and "nosuch" in err and "Traceback" not in err


def test_saved_file_gets_the_usual_permissions(tmp_path):
    md.save({"w": md.ones(2)}, tmp_path / "w.safetensors")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask
