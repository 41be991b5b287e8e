"""The examples/ scripts run as a user runs them, on the offline data (no MNIST or IMDB files here)."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

import minidl as md

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _run(script, *args, tmp_path):
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(md.__file__)))     # the minidl this test imported
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env["MINIDL_DATA"] = str(tmp_path / "no-data")       # empty: the scripts must fall back and say so
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env, capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def _test_accuracy(out):
    match = re.search(r"^Test accuracy: (\d\.\d{4})$", out, re.M)
    assert match, out[-2000:]
    return float(match.group(1))


@pytest.mark.parametrize("model,floor", [("cnn", 0.95), ("mlp", 0.93)])
def test_keras_mnist_example_falls_back_to_digits_and_learns(model, floor, tmp_path):
    out = _run("keras_mnist.py", "--model", model, "--save", "m.keras", tmp_path=tmp_path)
    assert "notice: MNIST is not available here" in out and "offline 'digits' set" in out
    assert 'Model: "sequential"' in out and "Total params:" in out
    assert re.search(r"^Epoch 1/15$", out, re.M)
    assert _test_accuracy(out) >= floor
    assert (tmp_path / "m.keras").is_file()


def test_keras_imdb_example_falls_back_to_synthetic_reviews_and_learns(tmp_path):
    out = _run("keras_imdb.py", tmp_path=tmp_path)
    assert "notice: IMDB is not available here" in out and "synthetic sentiment reviews" in out
    assert re.search(r"lstm \(LSTM\)\s+\(None, 32\)\s+12,416", out), out     # 4 * (32 * (64 + 32) + 32)
    assert _test_accuracy(out) >= 0.85
