"""The attention case set of ``minidl bench`` (``--ops attention``): scaled dot-product attention, forward and
forward+backward, at sequence lengths 128 to 4096 (d = 64), three ways:

- ``native``: minidl's fused kernel (``minidl._C.attention`` / ``attention_backward``: tiled, online softmax, the
  L x S score matrix never built), called through the native provider's functions;
- ``unfused``: the same attention composed from minidl ops with autograd, ``softmax(q @ k^T * scale) @ v`` (the
  score and probability matrices built, as frameworks do without a fused kernel);
- ``torch``: PyTorch's ``F.scaled_dot_product_attention`` on the CPU with as many threads as minidl's kernels.

``ratio_vs_torch`` is torch ms / this ms (above 1: faster than PyTorch). Peak memory (``peak_mb``, shown in the
note) is measured for forward+backward of each side in a fresh subprocess: the process's peak resident set
(VmHWM) is reset to the resident set (``/proc/self/clear_refs``) after the inputs exist and one small warm-up call
ran, and its growth over one call is reported, so it counts everything the call allocates (outputs, gradients,
scratch, C++ and PyTorch buffers as well as NumPy arrays) and nothing that was resident before.

Example:
    >>> rows = run_attention(compare=("torch",), repeat=1, tiny=True, memory=False)
    >>> sorted({r.provider for r in rows})
    ['native', 'torch', 'unfused']
"""
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np

from .kernels import Result, import_torch, measure, minidl_threads, torch_threads

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass(frozen=True)
class AttentionCase:
    """q, k, v of shape (batch, heads, length, d); non-causal self-attention, no mask."""
    batch: int
    heads: int
    length: int
    d: int = 64

    @property
    def shape(self):
        return f"B{self.batch} H{self.heads} L{self.length} d{self.d}"

    def flops(self, direction):
        """Two products of 2 B H L^2 d flops forward; the backward adds five (P recomputed, dV, dP, dQ, dK)."""
        fwd = 4.0 * self.batch * self.heads * self.length * self.length * self.d
        return fwd if direction == "forward" else 3.5 * fwd


CASES = (
    AttentionCase(4, 8, 128),
    AttentionCase(4, 8, 512),
    AttentionCase(2, 8, 1024),
    AttentionCase(1, 8, 2048),
    AttentionCase(1, 4, 4096),
)
TINY = (AttentionCase(1, 2, 32, 16),)
SIDES = ("native", "unfused", "torch")
DIRECTIONS = ("forward", "forward+backward")


def _inputs(case, dtype):
    rng = np.random.default_rng(0)
    shape = (case.batch, case.heads, case.length, case.d)
    return [np.ascontiguousarray(rng.standard_normal(shape).astype(dtype)) for _ in range(4)]


def side_calls(side, case, dtype, torch=None):
    """{direction: zero-argument callable} of one side on fresh random q, k, v and output gradient g."""
    q, k, v, g = _inputs(case, dtype)
    scale = case.d ** -0.5
    if side == "native":
        from ..backends import ops_native  # noqa: PLC0415

        def fwd():
            return ops_native.attention(q, k, v, None, False, scale)

        def fwd_bwd():
            out, lse = ops_native.attention(q, k, v, None, False, scale)
            return ops_native.attention_backward(g, q, k, v, out, lse, None, False, scale)
        return {"forward": fwd, "forward+backward": fwd_bwd}
    if side == "unfused":
        import minidl as md  # noqa: PLC0415
        from minidl.nn import functional as F  # noqa: PLC0415
        tq, tk, tv = (md.tensor(a, requires_grad=True) for a in (q, k, v))
        tg = md.tensor(g)

        def compose():
            return F.softmax(md.matmul(tq, tk.transpose(-1, -2)) * scale, dim=-1) @ tv

        def fwd():
            with md.no_grad():
                return compose()

        def fwd_bwd():
            for t in (tq, tk, tv):
                t.grad = None
            compose().backward(tg)
        return {"forward": fwd, "forward+backward": fwd_bwd}
    if side == "torch":
        sdpa = torch.nn.functional.scaled_dot_product_attention
        tq, tk, tv = (torch.from_numpy(a).requires_grad_() for a in (q, k, v))
        tg = torch.from_numpy(g)

        def fwd():
            with torch.no_grad():
                return sdpa(tq, tk, tv)

        def fwd_bwd():
            for t in (tq, tk, tv):
                t.grad = None
            sdpa(tq, tk, tv).backward(tg)
        return {"forward": fwd, "forward+backward": fwd_bwd}
    raise ValueError(f"bench attention: unknown side {side!r}; choose from {', '.join(SIDES)}")


def _available(side):
    """None when ``side`` can run here, else why not."""
    if side == "native":
        from .. import backends  # noqa: PLC0415
        why = backends.available().get("native")
        if why is None and backends.provider_kernel("native", "attention") is None:
            why = "the native provider has no attention kernel"
        return why
    return None


def _status_kb(field):
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def peak_rss_reset():
    """Bytes resident now, after resetting the process's peak-RSS mark to it (Linux: "5" into
    /proc/self/clear_refs); where that is not possible, the peak so far (``ru_maxrss``), so that ``peak_rss()``
    minus this is still the growth of the peak, though it then misses memory reused below an earlier peak."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return _status_kb("VmRSS") * 1024
    except OSError:
        import resource  # noqa: PLC0415 -- POSIX only
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024    # KiB on Linux


def peak_rss():
    """The process's peak resident set in bytes (VmHWM, else ``ru_maxrss``)."""
    try:
        return _status_kb("VmHWM") * 1024
    except OSError:
        import resource  # noqa: PLC0415
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_memory_mb(side, case, dtype, timeout=600):
    """MB the peak resident set of a fresh process grows by during one forward+backward of ``side`` on ``case``
    (inputs made and a tiny warm-up call run first), or None when the child fails."""
    code = ("import json, sys\n"
            "from minidl.bench import attention as a\n"
            f"side, dtype = {side!r}, {dtype!r}\n"
            f"case = a.AttentionCase{(case.batch, case.heads, case.length, case.d)!r}\n"
            "torch = a.import_torch() if side == 'torch' else None\n"
            "if torch is not None: torch.set_num_threads(a.minidl_threads())\n"
            "a.side_calls(side, a.AttentionCase(1, 1, 16, case.d), dtype, torch)['forward+backward']()\n"
            "calls = a.side_calls(side, case, dtype, torch)\n"
            "before = a.peak_rss_reset()\n"
            "calls['forward+backward']()\n"
            "print(json.dumps((a.peak_rss() - before) / 2**20))\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    try:
        # run from the folder holding this minidl: a child started with -c imports from its working directory first,
        # which from a checkout would be the source tree (no compiled extension) instead of the installed package
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout,
                             cwd=PACKAGE_ROOT)
    except subprocess.TimeoutExpired:
        return None
    if res.returncode != 0:
        return None
    return float(json.loads(res.stdout.strip().splitlines()[-1]))


def run_attention(compare=("torch",), dtype="float32", repeat=None, budget=None, quick=False, tiny=False,
                  progress=None, memory=True, cases=None):
    """Time each case's forward and forward+backward for native, unfused (and torch when in ``compare``); with
    ``memory``, each side's forward+backward peak memory too (``peak_mb``, in a subprocess). ``quick`` drops the
    longest sequence. Returns ``Result`` rows, op "attention", in (case, direction, side) order."""
    torch = import_torch() if "torch" in compare else None
    if cases is None:
        cases = TINY if tiny else CASES[:-1] if quick else CASES
    budget = budget if budget is not None else (0.2 if quick else 0.5)
    sides = [s for s in SIDES if s != "torch" or torch is not None]
    rows = []
    with torch_threads(torch, minidl_threads()):
        for case in cases:
            if progress:
                progress(f"attention {case.shape}")
            peaks = {s: peak_memory_mb(s, case, dtype) for s in sides if _available(s) is None} if memory else {}
            calls = {s: side_calls(s, case, dtype, torch) if _available(s) is None else None for s in sides}
            for direction in DIRECTIONS:
                case_rows = []
                for side in sides:
                    row = Result("attention", case.shape, "self-attention, no mask", direction, side, dtype)
                    if calls[side] is None:
                        row.note = f"not run: {_available(side)}"
                    else:
                        row.ms, row.repeats = measure(calls[side][direction], repeat, budget)
                        row.gflops = case.flops(direction) / (row.ms * 1e6)
                        peak = peaks.get(side) if direction == "forward+backward" else None
                        if peak is not None:
                            row.note = f"peak +{peak:.0f} MB"
                    case_rows.append(row)
                torch_ms = next((r.ms for r in case_rows if r.provider == "torch"), None)
                for r in case_rows:
                    if torch_ms is not None and r.ms is not None:
                        r.ratio_vs_torch = torch_ms / r.ms
                rows += case_rows
    return rows


def summary_lines(results):
    """Per case (forward+backward): fused vs PyTorch, fused vs unfused, and the peak memories side by side."""
    by = {}
    for r in results:
        if r.op == "attention" and r.direction == "forward+backward" and r.ms is not None:
            by.setdefault(r.shape, {})[r.provider] = r
    lines = []
    for shape, sides in by.items():
        nat = sides.get("native")
        if nat is None:
            continue
        parts = [f"attention {shape} fwd+bwd: native {nat.ms:.1f} ms"]
        if "torch" in sides:
            parts.append(f"{sides['torch'].ms / nat.ms:.2f}x torch")
        if "unfused" in sides:
            parts.append(f"{sides['unfused'].ms / nat.ms:.2f}x unfused")
        mem = [f"{p} {r.note.split('+')[1]}" for p, r in sides.items() if r.note.startswith("peak +")]
        if mem:
            parts.append("peak memory: " + ", ".join(mem))
        lines.append("; ".join(parts))
    return lines
