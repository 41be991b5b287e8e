"""The command line's bad inputs (issue 12, item 7): one clear line, the right exit status, no traceback, and
every check done before training so that finished work is never thrown away. Each case runs ``minidl`` in a
subprocess, as a user would."""
import json
import os
import subprocess
import sys

import pytest

import minidl as md
import child_process  # tests/ helper: children import the same minidl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def minidl(*argv, timeout=300):
    return subprocess.run([sys.executable, "-m", "minidl.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, cwd=child_process.CWD, env=child_process.env())


def assert_one_line_error(got, status, *fragments, prefix="minidl train: error: "):
    assert got.returncode == status, (got.returncode, got.stdout[-2000:], got.stderr[-2000:])
    assert "Traceback" not in got.stderr
    last = got.stderr.strip().splitlines()[-1]
    assert last.startswith(prefix), got.stderr
    for fragment in fragments:
        assert fragment in last, last


def unwritable_folder(tmp_path):
    """A folder this process cannot create files in (root ignores permission bits: use sysfs then)."""
    if os.geteuid() == 0:
        return "/sys"
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return str(folder)


@pytest.mark.parametrize("option,fragments", [
    (["--save", ""], ["argument --save: expected a file path, got an empty one"]),
    (["--save", "{tmp}"], ["argument --save: {tmp} is a directory"]),
    (["--save", "{tmp}/missing/w.safetensors"], ["argument --save: folder {tmp}/missing does not exist"]),
    (["--save", "{ro}/w.safetensors"], ["argument --save: cannot write in folder {ro}"]),
    (["--lr", "inf"], ["argument --lr: expected a finite number > 0, got 'inf'"]),
    (["--lr", "nan"], ["argument --lr: expected a finite number > 0, got 'nan'"]),
    (["--lr", "0"], ["argument --lr: expected a finite number > 0, got '0'"]),
    (["--lr=-1e-3"], ["argument --lr: expected a finite number > 0, got '-1e-3'"]),
    (["--device", "tpu"], ["argument --device: expected cpu, cuda or cuda:N, got 'tpu'"]),
    (["--epochs", "0"], ["argument --epochs: expected a whole number >= 1, got '0'"]),
    (["--batch-size=-4"], ["argument --batch-size: expected a whole number >= 1, got '-4'"]),
    (["--data-path", "{tmp}"], ["--data-path is for the data sets read from files", "digits ships inside minidl"]),
    (["rnn", "--data-path", "{tmp}"], ["--data-path is for", "synthetic is generated"]),
    (["rnn", "--dataset", "digits"], ["dataset 'digits' does not fit the rnn family"]),
])
def test_bad_train_options_are_usage_errors_before_training(tmp_path, option, fragments):
    ro = unwritable_folder(tmp_path)
    fill = lambda text: text.format(tmp=tmp_path, ro=ro)
    short = [] if "--epochs" in option else ["--epochs", "1"]      # quick, should a check ever let it through
    got = minidl("train", *map(fill, option), *short, "--quiet")
    assert_one_line_error(got, 2, *map(fill, fragments))
    assert "training" not in got.stdout                  # refused before any data was read


def test_divergence_is_a_clear_error_and_saves_nothing(tmp_path):
    got = minidl("train", "mlp", "--lr", "1e12", "--epochs", "2", "--quiet", "--save", tmp_path / "w.safetensors")
    assert_one_line_error(got, 1, "training diverged: fit: the loss became", "lower the learning rate",
                          "nothing was saved")
    assert "RuntimeWarning" not in got.stderr
    assert not (tmp_path / "w.safetensors").exists()


def test_save_writes_a_loadable_file(tmp_path):
    got = minidl("train", "mlp", "--epochs", "1", "--quiet", "--save", tmp_path / "w.safetensors")
    assert got.returncode == 0, got.stderr
    assert f"saved weights to {tmp_path / 'w.safetensors'}" in got.stdout
    assert len(md.load(tmp_path / "w.safetensors")) > 0
    assert sorted(os.listdir(tmp_path)) == ["w.safetensors"]             # the write probe leaves nothing


@pytest.mark.parametrize("option,fragment", [
    (["--ops", ""], "--ops names nothing; choose from matmul"),
    (["--ops", ",,"], "--ops names nothing; choose from matmul"),
    (["--ops", " , "], "--ops names nothing"),
    (["--providers", ","], "--providers names nothing"),
    (["--compare", ""], "--compare names nothing; choose from torch"),
    (["--ops", "matmul,nope,nope"], "unknown op 'nope'; choose from matmul"),
])
def test_bench_refuses_empty_or_unknown_op_lists(option, fragment):
    got = minidl("bench", "--tiny", "--repeat", "1", *option)
    assert_one_line_error(got, 2, fragment, prefix="minidl bench: error: ")
    assert "timing" not in got.stderr


def test_bench_times_a_repeated_op_once(tmp_path):
    got = minidl("bench", "--tiny", "--repeat", "1", "--ops", "avg_pool2d,avg_pool2d, avg_pool2d", "--providers",
                 "numpy", "--compare", "none", "--json", tmp_path / "r.json")
    assert got.returncode == 0, got.stderr
    records = json.loads((tmp_path / "r.json").read_text())
    cases = [(r["op"], r["provider"], r["shape"], r["direction"]) for r in records]
    assert cases and {c[0] for c in cases} == {"avg_pool2d"}
    assert len(cases) == len(set(cases))                               # no case timed twice
    from minidl.bench import run
    assert [r.op for r in run(ops=["avg_pool2d", "avg_pool2d"], providers=["numpy"], compare=(), tiny=True,
                              repeat=1).results] == [r[0] for r in cases]
    with pytest.raises(ValueError, match="no op given; choose from matmul"):
        run(ops=[])
