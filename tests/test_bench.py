"""The benchmark machinery (``minidl bench``, ``minidl.bench``) on tiny shapes with one repeat.

Timings are never asserted: only that the table, the JSON records and the plot are well formed
and that the derived numbers (GFLOP/s, GB/s, ratio vs torch) agree with the times they came from.
"""
import importlib.util
import json
import math
import os
import re
import sys

import pytest

from minidl import backends
from minidl.bench import RECORD_KEYS, kernels, processes, report, run, shapes, train_step
from minidl.cli import main

HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_MPL = importlib.util.find_spec("matplotlib") is not None
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNELS = ",".join(shapes.KERNEL_OPS)


def _work(op, shape, direction, dtype="float32"):
    """Flops (matmul, conv2d) or bytes (the rest) of a TINY case, computed independently of kernels.py."""
    case = next(c for c in shapes.TINY if c.op == op and c.shape == shape)
    p, item = case.params, 4 if dtype == "float32" else 8
    if op == "matmul":
        f = 2 * p["m"] * p["k"] * p["n"]
        return f if direction == "forward" else 2 * f
    n, c, h, w = p["x"]
    if op == "batch_norm":
        return (2 if direction == "forward" else 3) * n * c * h * w * item
    k, s, pad = p["kernel"], p["stride"], p["padding"]
    oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
    if op == "conv2d":
        f = 2 * n * p["out"] * oh * ow * (c // p["groups"]) * k * k
        return f if direction == "forward" else 2 * f
    extra = 8 if op == "max_pool2d" else 0           # int64 indices
    return n * c * h * w * item + n * c * oh * ow * (item + extra)


def _check_records(recs, with_torch):
    assert recs, "no records"
    by_case = {}
    for r in recs:
        assert set(r) == set(RECORD_KEYS)
        assert r["ms"] > 0 and math.isfinite(r["ms"])
        assert r["dtype"] == "float32"
        by_case.setdefault((r["op"], r["shape"], r["direction"]), {})[r["provider"]] = r
        if r["op"] == "train_step":
            assert r["gflops"] is None and r["gbps"] is None
            continue
        work = _work(r["op"], r["shape"], r["direction"])
        if r["op"] in ("matmul", "conv2d"):
            assert r["gbps"] is None
            assert r["gflops"] == pytest.approx(work / (r["ms"] * 1e-3) / 1e9, rel=1e-9)
        else:
            assert r["gflops"] is None
            assert r["gbps"] == pytest.approx(work / (r["ms"] * 1e-3) / 1e9, rel=1e-9)
    for rows in by_case.values():
        torch_row = rows.get("torch")
        assert (torch_row is not None) == with_torch
        for r in rows.values():
            if with_torch:
                assert r["ratio_vs_torch"] == pytest.approx(torch_row["ms"] / r["ms"], rel=1e-9)
            else:
                assert r["ratio_vs_torch"] is None
    return by_case


def test_cli_table_and_json(tmp_path, capsys):
    path = tmp_path / "out" / "bench.json"
    assert main(["bench", "--tiny", "--repeat", "1", "--ops", KERNELS, "--json", str(path)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:5] == ["op", "layer", "shape", "direction", "provider"] and "ms" in header
    for op in shapes.KERNEL_OPS:
        assert f"\n{op} " in out
    assert "GFLOP/s" in out and "GB/s" in out
    assert "of the theoretical peak" in out or "peak unknown" in out
    for name in backends.usable("cpu"):
        for op in shapes.KERNEL_OPS:
            if backends.provider_kernel(name, op) is None:           # e.g. native before its conv kernel
                assert f"{name} has no {op} kernel" in out
    recs = report.read_json(path)
    by_case = _check_records(recs, HAVE_TORCH)
    providers = {p for rows in by_case.values() for p in rows}
    assert "numpy" in providers                                      # the reference is always timed
    assert "np.matmul" in providers                                  # plain NumPy: a dependency, always there
    assert json.loads(path.read_text()) == recs
    # --from-json shows an earlier run without timing anything
    assert main(["bench", "--from-json", str(path), "--summary"]) == 0
    summary = capsys.readouterr().out.splitlines()
    assert summary[0].startswith("op") and ("torch ms" in summary[0]) == HAVE_TORCH
    assert len(summary) == 1 + len({(r["op"], r["shape"], r["direction"]) for r in recs})


def test_api_without_baselines_has_no_ratio():
    rep = run(ops=["matmul", "batch_norm"], compare=(), tiny=True, repeat=1, providers=["numpy"])
    recs = rep.records()
    _check_records(recs, with_torch=False)
    assert {r["provider"] for r in recs} == {"numpy"}
    assert "-" in rep.table().splitlines()[1]                         # the vs-torch column is empty
    assert rep.table(markdown=True).startswith("| op | layer |")
    summary = rep.summary().splitlines()
    assert summary[0].split() == ["op", "shape", "direction", "numpy", "ms", "best", "minidl", "vs", "torch"]
    assert len(summary) == 1 + 2 * 2                                   # (matmul, batch_norm) x (forward, backward)
    assert "GEMM best: numpy" in rep.peak_line()
    if rep.peak.get("measured"):
        assert "against the measured FMA peak" in rep.peak_line() and "numpy " in rep.peak_line().split("against")[1]


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed: the train-step comparison needs it")
@pytest.mark.parametrize("case", train_step.CASES, ids=lambda c: c.shape.split()[0])
def test_train_step_case_rows_and_same_losses(case):
    import torch
    # Same weights, same batch, same optimizer: the two frameworks' losses agree step after step.
    state = train_step.initial_state(case, tiny=True)
    md_step = train_step.minidl_step(case, tiny=True, state=state)
    torch_step = train_step.torch_step(torch, case, tiny=True, state=state)
    for _ in range(3):
        assert md_step() == pytest.approx(torch_step(), rel=1e-4, abs=1e-6)
    rows = train_step.run_train_step(("torch",), repeat=1, tiny=True, cases=[case])
    assert [r.provider for r in rows] == ["minidl", "torch"]
    assert all(r.ms > 0 and r.repeats == 1 and r.note == "" for r in rows)
    assert rows[0].first_loss == pytest.approx(rows[1].first_loss, rel=1e-4, abs=1e-6)
    by_case = _check_records([r.record() for r in rows], with_torch=True)
    assert set(by_case) == {("train_step", case.name(tiny=True), case.direction)}


def test_train_step_cases_are_the_benchmarked_networks():
    assert [c.name() for c in train_step.CASES] == [
        "mlp 784-512-256-10 batch 128", "mnist_cnn batch 64",
        "lstm_classifier vocab 10000 embed 128 hidden 128 T 100 batch 64",
        "autoencoder 784-256-64-256-784 batch 128", "conv_autoencoder 1x28x28 16-32 batch 64",
        "resnet_block 64x32x32 batch 32", "lstm 128->128 T 100 batch 64"]
    assert train_step.SHAPE == "mnist_cnn batch 64"                  # the name earlier records used

    def count(case):
        return sum(v.size for k, v in train_step.initial_state(case).items() if "running" not in k
                   and "num_batches" not in k)
    mlp, _, lstm_clf, ae, _, block, lstm = train_step.CASES
    assert count(mlp) == 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10
    assert count(lstm) == 4 * 128 * (128 + 128 + 2)
    assert count(lstm_clf) == 10000 * 128 + count(lstm) + 128 * 2 + 2
    assert count(ae) == 2 * (784 * 256 + 256 * 64) + 256 + 64 + 256 + 784
    assert count(block) == 2 * (64 * 64 * 9 + 2 * 64) + 64 * 10 + 10


def test_train_step_disagreeing_losses_are_not_timed(monkeypatch):
    monkeypatch.setattr(train_step, "losses_disagree", lambda *a: "step 1 loss: minidl 1, torch 2")
    rows = train_step.run_train_step(repeat=1, tiny=True, cases=train_step.CASES[:1])
    assert rows and all(r.ms is None and r.ratio_vs_torch is None and "NOT TIMED" in r.note for r in rows)
    assert report.records(rows) == []                                 # never in the JSON as a time


def test_losses_disagree_tolerance():
    assert train_step.losses_disagree([2.3, 2.1], [2.3001, 2.1001]) is None
    assert train_step.losses_disagree([2.3, 2.1], [2.3, 2.2]) == "step 2 loss: minidl 2.1, torch 2.2"
    assert train_step.losses_disagree([float("nan")], [1.0]) is not None
    assert train_step.losses_disagree([2.3], [2.3001], "float64") is not None


def test_measure_interleaved_alternates_blocks():
    calls = []
    out = train_step.measure_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                         repeat=5, rounds=5)
    assert {k: n for k, (_, n) in out.items()} == {"a": 5, "b": 5}
    assert calls == ["a"] * 3 + ["b"] * 3 + ["a", "b"] * 5           # warm-up, then alternating blocks
    out = train_step.measure_interleaved({"a": lambda: None}, budget=0.001)
    assert kernels.MIN_REPEAT <= out["a"][1] <= kernels.MAX_REPEAT


def test_merge_takes_medians_across_processes():
    def row(provider, ms, ratio, gflops=None):
        return kernels.Result("matmul", "8x8x8", "tiny", "forward", provider, "float32", ms=ms, gflops=gflops,
                              ratio_vs_torch=ratio, repeats=2)
    runs = [[row("native", ms, t / ms, 1.0 / ms), row("torch", t, 1.0)] for ms, t in ((1, 2), (3, 3), (2, 8))]
    native, torch_row = processes.merge(runs)
    assert native.ms == 2 and torch_row.ms == 3 and native.repeats == 6
    assert native.ratio_vs_torch == pytest.approx(1.5)                 # torch's median / this median
    assert native.gflops == pytest.approx(0.5)                         # the work over the median time
    assert native.note == "3 processes: vs torch 1.00-4.00x" and torch_row.note == ""
    assert processes.merge([[row("numpy", None, None)]])[0].ms is None  # timed nowhere: stays untimed


def test_processes_option_runs_fresh_processes(tmp_path, capsys):
    path = tmp_path / "p.json"          # no baseline: a child importing PyTorch takes seconds (merge is tested above)
    assert main(["bench", "--tiny", "--repeat", "1", "--ops", "avg_pool2d", "--providers", "numpy",
                 "--compare", "none", "--processes", "2", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "the median of 2 processes" in out
    by_case = _check_records(report.read_json(path), with_torch=False)
    assert len(by_case) == 2                                          # forward and backward, once each
    with pytest.raises(SystemExit):
        main(["bench", "--processes", "0"])
    assert "--processes must be at least 1" in capsys.readouterr().err
    assert processes.child_argv(["train_step"], ["native"], ["torch"], "float64", False, None, 1.5, True,
                                "cpu") == ["--ops", "train_step", "--compare", "torch", "--dtype", "float64",
                                           "--device", "cpu", "--providers", "native", "--tiny", "--budget",
                                           "1.5"]


def test_unknown_op_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--ops", "matmul,convolution"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown op 'convolution'" in err and "conv2d" in err and "train_step" in err
    with pytest.raises(ValueError, match="unknown op 'nope'"):
        run(ops=["nope"])


def test_unknown_or_unusable_provider_and_baseline(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--providers", "fortran"])
    assert "unknown provider 'fortran'" in capsys.readouterr().err
    missing = [p for p, why in backends.available().items() if why is not None and p in backends.ORDER["cpu"]]
    if missing:
        with pytest.raises(ValueError, match="not usable here"):
            run(ops=["matmul"], providers=[missing[0]], tiny=True)
    with pytest.raises(SystemExit):
        main(["bench", "--compare", "jax"])
    assert "unknown --compare jax" in capsys.readouterr().err


def test_measure_counts_and_gemm_peak():
    calls = []
    ms, n = kernels.measure(lambda: calls.append(1), repeat=4)
    assert n == 4 and len(calls) == 7 and ms >= 0                    # three warm-up calls
    _, n = kernels.measure(lambda: None, budget=0.001)
    assert kernels.MIN_REPEAT <= n <= kernels.MAX_REPEAT
    peak = kernels.gemm_peak()
    assert peak["derivation"]
    if peak["gflops"] is not None:
        assert peak["gflops"] == pytest.approx(peak["cores"] * peak["lanes"] * 2 * peak["fma_units"] * peak["ghz"])
    try:
        from minidl import _C  # noqa: F401
    except ImportError:
        assert peak["measured"] is None
    else:
        # a measured peak above the theoretical one by more than boost explains would be a broken measurement
        assert peak["measured"] > 0 and (peak["gflops"] is None or peak["measured"] < 3 * peak["gflops"])


def test_quick_drops_only_the_largest_gemm():
    full, quick = shapes.kernel_cases(), shapes.kernel_cases(quick=True)
    assert [c.shape for c in full if c not in quick] == ["2048x2048x2048"]


@pytest.mark.skipif(not HAVE_MPL, reason="matplotlib is not installed (pip install 'minidl[bench]'): no PNG to check")
def test_plot_png(tmp_path, capsys):
    png = tmp_path / "ratio.png"
    assert main(["bench", "--tiny", "--repeat", "1", "--ops", "matmul,avg_pool2d", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # import matplotlib now raises ImportError
    with pytest.raises(SystemExit):
        main(["bench", "--tiny", "--ops", "matmul", "--plot", str(tmp_path / "x.png")])
    assert "minidl[bench]" in capsys.readouterr().err


def test_bench_run_script_writes_json(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_run", os.path.join(ROOT, "bench", "run.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    path = tmp_path / "r.json"
    argv = ["--tiny", "--repeat", "1", "--ops", "avg_pool2d", "--compare", "none", "--json", str(path)]
    if HAVE_MPL:
        argv += ["--plot", str(tmp_path / "r.png")]
    assert script.cli(argv) == 0
    _check_records(report.read_json(path), with_torch=False)


def test_numba_first_calls_are_reported_apart_from_the_medians(capsys):
    pytest.importorskip("numba", reason="numba is not installed (pip install 'minidl[numba]')")
    assert main(["bench", "--tiny", "--repeat", "1", "--ops", "avg_pool2d", "--providers", "numba",
                 "--compare", "none"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"numba first calls \(JIT compile \+ run\): [0-9.]+ s over 2 kernels, longest [0-9]+ ms "
                     r"\(avg_pool2d ", out), out
