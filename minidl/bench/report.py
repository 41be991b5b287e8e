"""What ``minidl bench`` shows and writes: the table, the JSON records, the ratio plot."""
import json
import os

from .kernels import RECORD_KEYS

PLOT_MISSING = "--plot needs matplotlib, which is not installed (pip install \"minidl[bench]\")"


def _rate(r):
    if r.gflops is not None:
        return f"{r.gflops:.1f} GFLOP/s"
    if r.gbps is not None:
        return f"{r.gbps:.2f} GB/s"
    return "-"


def _ms(ms):
    return "-" if ms is None else f"{ms:.3f}" if ms < 100 else f"{ms:.1f}"


def format_table(results, markdown=False):
    """The results as an aligned text table (or a Markdown one), one row per (case, direction, provider).

    Columns: op, layer, shape, direction, provider, ms (median), GFLOP/s or GB/s, speed vs PyTorch
    (torch ms / this ms: above 1 means faster than PyTorch), and a note for skipped providers.

    Example:
        >>> print(format_table(run_kernels(["matmul"], tiny=True, repeat=1)))
    """
    head = ("op", "layer", "shape", "direction", "provider", "ms", "rate", "vs torch", "note")
    rows = [head]
    for r in results:
        ratio = "-" if r.ratio_vs_torch is None else f"{r.ratio_vs_torch:.2f}x"
        rows.append((r.op, r.label, r.shape, r.direction, r.provider, _ms(r.ms), _rate(r), ratio, r.note))
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        lines.insert(1, "|" + "|".join(" --- " for _ in head) + "|")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    right = {5, 6, 7}                                  # numbers align right
    out = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def format_summary(results, markdown=False):
    """One row per (op, shape, direction): each provider's and baseline's ms side by side, then the fastest
    minidl provider's speed vs PyTorch. Skipped providers show "-".

    Example:
        >>> print(format_summary(run_kernels(["matmul"], tiny=True, repeat=1), markdown=True))
    """
    sides = list(dict.fromkeys(r.provider for r in results))
    cases = {}
    for r in results:
        cases.setdefault((r.op, r.shape, r.direction), {})[r.provider] = r
    head = ("op", "shape", "direction") + tuple(f"{s} ms" for s in sides) + ("best minidl vs torch",)
    rows = [head]
    for (op, shape, direction), by in cases.items():
        ours = [r for p, r in by.items()
                if p not in ("torch", "np.matmul", "cupy.matmul") and r.ratio_vs_torch is not None]
        best = max(ours, key=lambda r: r.ratio_vs_torch, default=None)
        rows.append((op, shape, direction) + tuple(_ms(by[s].ms) if s in by else "" for s in sides)
                    + ("-" if best is None else f"{best.ratio_vs_torch:.2f}x ({best.provider})",))
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        lines.insert(1, "|" + "|".join(" --- " for _ in head) + "|")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                     .rstrip() for row in rows)


def records(results):
    """The SPEC JSON records of the rows that were timed (skipped providers have no time and are left out).

    Example:
        >>> records(rows)[0].keys() == set(RECORD_KEYS)
        True
    """
    return [r.record() for r in results if r.ms is not None]


def write_json(results, path):
    """Write ``records(results)`` to ``path`` as a JSON list (creating parent folders); returns the path."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(records(results), f, indent=1)
        f.write("\n")
    return path


def read_json(path):
    """The records a previous run wrote, checked to have exactly the SPEC keys."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    for rec in data:
        if set(rec) != set(RECORD_KEYS):
            raise ValueError(f"{path}: record {rec} does not have the keys {RECORD_KEYS}")
    return data


def have_matplotlib():
    """Whether matplotlib can be imported (the optional ``bench`` extra)."""
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def plot(results, path, title="minidl kernels: speed relative to PyTorch (higher is faster)"):
    """Draw grouped bars of ``ratio_vs_torch`` per op/shape/direction, one bar per provider, on a log
    scale with a line at 1.0 (PyTorch's speed), and save a PNG to ``path``. Needs matplotlib.

    ``results`` are ``Result`` rows or the JSON records of an earlier run (``read_json``), so a run on a
    machine without matplotlib can be plotted elsewhere.

    Example:
        >>> plot(run_kernels(["matmul"], tiny=True, repeat=1), "bench/results/ratio.png")
        >>> plot(read_json("bench/results/kernels.json"), "ratio.png")
    """
    try:
        import matplotlib  # noqa: PLC0415
        matplotlib.use("Agg")                          # files only: no display needed
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(PLOT_MISSING) from exc
    recs = [r if isinstance(r, dict) else r.record() for r in results]
    rows = [r for r in recs if r["ratio_vs_torch"] is not None and r["provider"] != "torch"]
    groups = list(dict.fromkeys((r["op"], r["shape"], r["direction"]) for r in rows))
    providers = list(dict.fromkeys(r["provider"] for r in rows))
    fig, ax = plt.subplots(figsize=(min(24.0, max(8.0, 2 + 0.6 * len(groups))), 7))
    width = 0.8 / max(1, len(providers))
    for i, prov in enumerate(providers):
        ratio = {(r["op"], r["shape"], r["direction"]): r["ratio_vs_torch"] for r in rows if r["provider"] == prov}
        xs = [g for g, key in enumerate(groups) if key in ratio]
        ax.bar([x + (i - (len(providers) - 1) / 2) * width for x in xs],
               [ratio[groups[x]] for x in xs], width, label=prov)
    ax.axhline(1.0, color="black", linewidth=1, linestyle="--", label="PyTorch")
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{op}\n{shape}\n{d}" for op, shape, d in groups], rotation=70, ha="right", fontsize=7)
    if not rows:
        ax.text(0.5, 0.5, "no ratios: PyTorch did not run", ha="center", transform=ax.transAxes)
    ax.set_ylabel("torch ms / provider ms (log scale)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
