"""The benchmark repeated in N fresh processes, one after another, and the median per row across them.

One process sees one draw of the machine: where its memory landed, which core each thread got, what
else was running. A figure worth quoting is the median over several processes (``minidl bench
--processes 3``). Each child is ``python -m minidl.cli bench`` with the same options, importing the same
minidl as this process, and hands its rows back through a JSON file (``--rows-out``, hidden).
"""
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile

from .kernels import Result

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def child_argv(ops, providers, compare, dtype, quick, repeat, budget, tiny, device):
    """The ``minidl bench`` options that make a child time what ``bench.run`` was asked for.

    Example:
        >>> child_argv(["matmul"], None, [], "float32", True, 1, None, False, "cpu")
        ['--ops', 'matmul', '--compare', 'none', '--dtype', 'float32', '--device', 'cpu', '--quick', '--repeat', '1']
    """
    argv = ["--ops", ",".join(ops), "--compare", ",".join(compare) or "none", "--dtype", dtype, "--device", device]
    if providers:
        argv += ["--providers", ",".join(providers)]
    argv += ["--quick"] if quick else []
    argv += ["--tiny"] if tiny else []
    argv += [] if repeat is None else ["--repeat", str(repeat)]
    argv += [] if budget is None else ["--budget", str(budget)]
    return argv


def write_rows(results, path):
    """Every field of every row (label, repeats, notes included), for the parent process."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump([dataclasses.asdict(r) for r in results], f)


def _read_rows(path):
    with open(path, encoding="utf-8") as f:
        return [Result(**rec) for rec in json.load(f)]


def run_in_processes(n, argv, progress=None):
    """The rows of ``n`` child benchmarks run one after another with options ``argv``, merged by ``merge``.

    A child that fails raises RuntimeError naming its exit status (its own error went to stderr).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    runs = []
    with tempfile.TemporaryDirectory(prefix="minidl-bench-") as tmp:
        for i in range(n):
            if progress:
                progress(f"process {i + 1} of {n}")
            path = os.path.join(tmp, f"rows-{i}.json")
            cmd = [sys.executable, "-m", "minidl.cli", "bench", *argv, "--rows-out", path]
            done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"bench: process {i + 1} of {n} failed with exit status {done.returncode}")
            runs.append(_read_rows(path))
    return merge(runs)


def merge(runs):
    """One row per (op, shape, direction, provider) of the runs: the median ms across processes.

    GFLOP/s and GB/s follow the median time (the work is the same in every process); ``ratio_vs_torch`` is
    torch's median ms over this row's median ms, and the note gives the spread of the per-process ratios.
    Rows timed in no process keep the first run's note.

    Example:
        >>> a = Result("train_step", "mlp", "", "step", "minidl", "float32", ms=2.0, ratio_vs_torch=0.5)
        >>> b = Result("train_step", "mlp", "", "step", "minidl", "float32", ms=4.0, ratio_vs_torch=0.25)
        >>> merge([[a], [b]])[0].ms
        3.0
    """
    groups = {}
    for rows in runs:
        for r in rows:
            groups.setdefault((r.op, r.shape, r.direction, r.provider, r.dtype), []).append(r)
    merged = {}
    for key, rows in groups.items():
        timed = [r for r in rows if r.ms is not None]
        out = dataclasses.replace(rows[0], repeats=sum(r.repeats for r in timed))
        if timed:
            out.ms = statistics.median(r.ms for r in timed)
            for metric in ("gflops", "gbps"):
                if rows[0].__dict__[metric] is not None:
                    out.__dict__[metric] = timed[0].__dict__[metric] * timed[0].ms / out.ms
            ratios = [r.ratio_vs_torch for r in timed if r.ratio_vs_torch is not None]
            out.ratio_vs_torch = ratios[0] if ratios else None        # recomputed from the medians below
            if len(ratios) > 1 and out.provider != "torch":
                out.note = (f"{len(timed)} processes: vs torch {min(ratios):.2f}-{max(ratios):.2f}x"
                            + (f"; {out.note}" if out.note else ""))
        merged[key] = out
    for (op, shape, direction, _, dtype), row in merged.items():
        torch_row = merged.get((op, shape, direction, "torch", dtype))
        if row.ratio_vs_torch is not None and torch_row is not None and row.ms and torch_row.ms:
            row.ratio_vs_torch = torch_row.ms / row.ms
    return list(merged.values())
