"""``minidl bench --ops attention`` (minidl/bench/attention.py) on a tiny case with one repeat: the rows, the derived
numbers (GFLOP/s, ratio vs torch) against the times they came from, the three sides computing the same attention,
the peak-memory subprocess, and the CLI. Timings are never asserted."""
import importlib.util
import math

import numpy as np
import pytest

from minidl.bench import attention
from minidl.cli import main

HAVE_TORCH = importlib.util.find_spec("torch") is not None
CASE = attention.AttentionCase(1, 2, 24, 8)


def _check_rows(rows, with_torch):
    sides = ["native", "unfused"] + (["torch"] if with_torch else [])
    assert [(r.direction, r.provider) for r in rows] == [(d, s) for d in attention.DIRECTIONS for s in sides]
    by_dir = {}
    for r in rows:
        assert r.op == "attention" and r.shape == "B1 H2 L24 d8" and r.ms > 0 and math.isfinite(r.ms)
        assert r.gflops == pytest.approx(CASE.flops(r.direction) / (r.ms * 1e-3) / 1e9, rel=1e-9)
        by_dir.setdefault(r.direction, {})[r.provider] = r
    for by in by_dir.values():
        for r in by.values():
            if with_torch:
                assert r.ratio_vs_torch == pytest.approx(by["torch"].ms / r.ms, rel=1e-9)
            else:
                assert r.ratio_vs_torch is None


def test_rows_without_torch():
    rows = attention.run_attention(compare=(), repeat=1, memory=False, cases=[CASE])
    _check_rows(rows, with_torch=False)


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is the baseline side")
def test_rows_with_torch_and_summary():
    rows = attention.run_attention(compare=("torch",), repeat=1, memory=False, cases=[CASE])
    _check_rows(rows, with_torch=True)
    (line,) = attention.summary_lines(rows)
    assert line.startswith("attention B1 H2 L24 d8 fwd+bwd: native") and "x torch" in line and "x unfused" in line


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sides_compute_the_same_attention(dtype):
    """What is timed is the same computation on each side: outputs (and gradients) agree."""
    sides = ["native", "unfused"] + (["torch"] if HAVE_TORCH else [])
    torch = attention.import_torch() if HAVE_TORCH else None
    outs = {}
    for side in sides:
        out = attention.side_calls(side, CASE, dtype, torch)["forward"]()
        out = out[0] if isinstance(out, tuple) else out                  # native: (out, lse)
        outs[side] = out.detach().numpy() if side == "torch" else np.asarray(out.numpy() if side == "unfused" else out)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for side in sides[1:]:
        np.testing.assert_allclose(outs[side], outs["native"], rtol=tol, atol=tol)


def test_peak_memory_is_measured_in_a_subprocess():
    mb = attention.peak_memory_mb("native", CASE, "float32")
    assert mb is not None and mb >= 0 and math.isfinite(mb)


def test_unknown_side_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown side 'jax'"):
        attention.side_calls("jax", CASE, "float32")


def test_cli_ops_attention(capsys, monkeypatch):
    monkeypatch.setattr(attention, "peak_memory_mb", lambda side, case, dtype: 1.0)
    monkeypatch.setattr(attention, "TINY", (CASE,))
    assert main(["bench", "--ops", "attention", "--tiny", "--repeat", "1", "--compare", "none"]) == 0
    out = capsys.readouterr().out
    assert "\nattention " in out and "forward+backward" in out and "peak +1 MB" in out
    assert "attention B1 H2 L24 d8 fwd+bwd: native" in out and "peak memory: native 1 MB, unfused 1 MB" in out
