"""The kernel benchmark behind ``minidl bench`` (and ``bench/run.py`` in a source checkout).

Every kernel (matmul, conv2d, max_pool2d, avg_pool2d, batch_norm), forward and backward, is timed
for each provider usable here, beside PyTorch and plain NumPy when installed, on the shapes of real
models (``shapes.py``), all in one process; plus whole training steps of the four families and a
ResNet basic block, and an LSTM forward+backward, each beside PyTorch's same step (``train_step.py``).
``processes=N`` repeats it all in N fresh processes and reports the median per row (``processes.py``).

Example:
    >>> from minidl import bench
    >>> report = bench.run(ops=["matmul"], quick=True)
    >>> print(report.table())
"""
import argparse
import sys
import time

from . import kernels, processes, report, shapes, train_step
from .kernels import (BASELINES, GPU_BASELINES, RECORD_KEYS, Result, gemm_peak, gpu_name, gpu_unavailable, measure,
                      measure_cuda, peak_fraction, run_kernels)
from .processes import child_argv, run_in_processes, write_rows
from .report import format_summary, format_table, plot, records, write_json
from .shapes import KERNEL_OPS

OPS = KERNEL_OPS + ("train_step", "attention")


class BenchReport:
    """The rows of one run, the machine's GEMM peak, and the ways to show them."""

    def __init__(self, results, peak, seconds, device="cpu"):
        self.results, self.peak, self.seconds, self.device = results, peak, seconds, device

    def table(self, markdown=False):
        """The results table (``report.format_table``)."""
        return format_table(self.results, markdown)

    def records(self):
        """The SPEC JSON records of the timed rows."""
        return records(self.results)

    def summary(self, markdown=False):
        """One row per case and direction, providers side by side (``report.format_summary``)."""
        return format_summary(self.results, markdown)

    def peak_line(self):
        """The best GEMM rate of each minidl provider as a fraction of the theoretical peak, and how the peak
        was derived."""
        if self.device != "cpu":
            best = {r.provider: r.gflops for r in self.results if r.op == "matmul" and r.gflops}
            return (f"GPU: {self.peak['gpu']}; best GEMM " + ", ".join(f"{p} {g:.1f} GFLOP/s" for p, g in best.items())
                    + " (no theoretical peak is derived for GPUs)") if best else f"GPU: {self.peak['gpu']}"
        best = peak_fraction(self.results, self.peak)
        if not best:
            return "GEMM peak: no matmul provider was timed"
        if self.peak["gflops"] is None:
            return "GEMM: " + ", ".join(f"best {g:.1f} GFLOP/s ({p})" for p, (g, _) in best.items()) + \
                f"; {self.peak['derivation']}"
        parts = ", ".join(f"{p} {g:.1f} GFLOP/s = {100 * f:.0f}%" for p, (g, f) in best.items())
        line = (f"GEMM best: {parts} of the theoretical peak {self.peak['gflops']:.1f} GFLOP/s on "
                f"{self.peak['cpu']} = {self.peak['derivation']}")
        if max(f for _, f in best.values()) > 1:
            # Virtual machines report the nominal clock in /proc/cpuinfo; boost clocks run above it.
            line += ". Above 100%: the cores run faster than the reported clock (boost), so the peak is higher"
        measured = self.peak.get("measured")
        if measured:
            line += ("; against the measured FMA peak " + f"{measured:.1f} GFLOP/s (minidl._C.fma_peak, "
                     f"{self.peak['cores']} threads, best of 3): "
                     + ", ".join(f"{p} {100 * g / measured:.0f}%" for p, (g, _) in best.items()))
        return line


def run(ops=OPS, providers=None, compare=None, dtype="float32", quick=False, repeat=None, budget=None,
        tiny=False, progress=None, device="cpu", processes=1):
    """Run the benchmark and return a ``BenchReport``. Arguments as ``kernels.run_kernels``; ``ops`` may also
    name ``"train_step"`` (the training steps of ``train_step.CASES``; ``tiny`` shrinks them too). Invalid
    arguments raise ValueError before any timing; ``device="cuda"`` without a usable GPU raises RuntimeError.
    ``compare`` defaults to every baseline of the device (torch and numpy on the CPU; torch and cupy on cuda).
    ``processes`` > 1 runs the whole measurement in that many fresh processes, one after another, and reports
    the median per row (``processes.merge``).

    Example:
        >>> rep = run(ops=["matmul", "train_step"], compare=("torch",), tiny=True, repeat=1)
        >>> rep.records()[0]["op"]
        'matmul'
    """
    gpu = str(device).split(":")[0] == "cuda"
    ops = list(dict.fromkeys(ops))            # each op timed once
    compare = list((GPU_BASELINES if gpu else BASELINES) if compare is None else compare)
    kernels.check_ops(ops, OPS)
    if dtype not in ("float32", "float64"):
        raise ValueError(f"bench: dtype must be float32 or float64, got {dtype!r}")
    if gpu and gpu_unavailable() is not None:
        raise RuntimeError(f"bench --device cuda: no usable GPU here: {gpu_unavailable()}")
    device = "cuda" if gpu else "cpu"
    kernels.resolve_providers(providers, device)       # unknown/unusable provider: fail now, not halfway
    if processes < 1:
        raise ValueError(f"bench: processes must be at least 1, got {processes}")
    start = time.perf_counter()
    if processes > 1:
        argv = child_argv(ops, providers, compare, dtype, quick, repeat, budget, tiny, device)
        results = run_in_processes(processes, argv, progress)
    else:
        results = _measure(ops, providers, compare, dtype, quick, repeat, budget, tiny, progress, device)
    peak = {"gpu": gpu_name()} if gpu else gemm_peak(dtype)
    return BenchReport(results, peak, time.perf_counter() - start, device)


def _measure(ops, providers, compare, dtype, quick, repeat, budget, tiny, progress, device):
    """The rows of one process: the kernels, then the training steps."""
    kernel_ops = [op for op in ops if op in KERNEL_OPS]
    results = run_kernels(kernel_ops, providers, compare, dtype, quick, repeat, budget, tiny, progress, device) \
        if kernel_ops else []
    if "train_step" in ops:
        results += train_step.run_train_step(compare, dtype, repeat, budget if budget is not None else
                                             (0.5 if quick else 2.0), device, tiny, progress=progress)
    if "attention" in ops and device == "cpu":
        from . import attention  # noqa: PLC0415 -- the attention cases (fused vs unfused vs torch, peak memory)
        results += attention.run_attention(compare, dtype, repeat, budget, quick, tiny, progress)
    elif "attention" in ops:
        print(f"attention: not timed on {device}: the attention cases (fused vs unfused vs PyTorch, peak resident "
              "memory) run on the CPU only", file=sys.stderr)
    return results


def _csv(text):
    """A comma-separated list, blanks dropped and repeats removed (first place kept)."""
    return list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


def add_arguments(parser):
    """The options of ``minidl bench`` and ``bench/run.py``, added to an argparse parser."""
    parser.add_argument("--ops", type=_csv, default=list(OPS),
                        help=f"comma-separated subset of {','.join(OPS)} (default: all); train_step is the "
                             "training steps of an MLP, the MNIST CNN, an LSTM classifier, two autoencoders and a "
                             "ResNet basic block, and an LSTM forward+backward; attention is the fused attention "
                             "kernel forward and forward+backward vs PyTorch's SDPA and the unfused composition, "
                             "L 128..4096, with peak memory (minidl/bench/attention.py)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cpu (default), or cuda: the cuda providers (cuda, cupy, numba_cuda) on CuPy arrays, "
                             "timed with CUDA events, beside cupy.matmul (cuBLAS) and PyTorch on CUDA")
    parser.add_argument("--compare", type=_csv, default=None,
                        help="baselines: torch, numpy (np.matmul, GEMM only; cpu), cupy (cupy.matmul, GEMM only; "
                             "cuda), or none (default: all of the device's, each skipped when not installed)")
    parser.add_argument("--providers", type=_csv, default=None,
                        help="comma-separated minidl providers to time (default: every one usable on the device)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--quick", action="store_true", help="skip the largest shapes (GEMM 2048^3), shorter budget")
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed calls per measurement (default: adaptive, as many as fit in --budget, >= 3)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of timed calls per measurement when --repeat is not given "
                             "(default 0.5, 0.2 with --quick; 2.0/0.5 per side for each training step)")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny smoke-test shapes and training-step networks (seconds; numbers meaningless)")
    parser.add_argument("--processes", type=int, default=1, metavar="N",
                        help="run the whole measurement in N fresh processes, one after another, and report the "
                             "median per row (default 1: this process)")
    parser.add_argument("--rows-out", metavar="PATH", help=argparse.SUPPRESS)   # a --processes child's rows
    parser.add_argument("--json", metavar="PATH", help="write the records {op, provider, shape, ...} here")
    parser.add_argument("--plot", metavar="PATH", help="draw the ratio-vs-torch bar chart (PNG; needs matplotlib)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--from-json", metavar="PATH",
                        help="time nothing: show (and --plot) the records an earlier --json run wrote")
    parser.add_argument("--summary", action="store_true",
                        help="print one row per case with the providers side by side instead of one per provider")
    return parser


def main(args, parser):
    """Run what the parsed ``args`` ask for; print the table; write JSON and the plot. Returns the exit code.

    Bad options end through ``parser.error`` (exit status 2 with a message on stderr), before any timing.
    """
    device = getattr(args, "device", "cpu")
    allowed = GPU_BASELINES if device == "cuda" else BASELINES
    for option, names, known in (("--ops", args.ops, OPS), ("--providers", args.providers, None),
                                 ("--compare", args.compare, allowed + ("none",))):
        if names == []:    # given, but only commas or blanks
            parser.error(f"{option} names nothing" + (f"; choose from {', '.join(known)}" if known else ""))
    compare = list(allowed) if args.compare is None else [] if args.compare == ["none"] else args.compare
    if args.plot and not report.have_matplotlib():
        parser.error(report.PLOT_MISSING)
    if args.from_json:
        try:
            results = [Result.from_record(rec) for rec in report.read_json(args.from_json)]
        except (OSError, ValueError) as exc:
            parser.error(f"--from-json: {exc}")
        print(format_summary(results, args.markdown) if args.summary else format_table(results, args.markdown))
        if args.plot:
            print(f"plot: {plot(results, args.plot)}")
        return 0
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.budget is not None and args.budget <= 0:
        parser.error("--budget must be positive")
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    unknown = [c for c in compare if c not in allowed]
    if unknown:
        parser.error(f"unknown --compare {', '.join(unknown)}; choose from {', '.join(allowed)} or none"
                     + (" (with --device cuda)" if device == "cuda" else ""))
    if device == "cuda" and gpu_unavailable() is not None:
        # an expected situation on most machines, not a usage error: one line, exit status 1, nothing timed
        print(f"minidl bench: --device cuda: no usable GPU here: {gpu_unavailable()}", file=sys.stderr)
        return 1
    try:
        kernels.check_ops(args.ops, OPS)
        kernels.resolve_providers(args.providers, device)
    except ValueError as exc:
        parser.error(str(exc).replace("bench: ", "", 1))

    def progress(msg):
        print(f"  timing {msg} ...", file=sys.stderr, flush=True)

    rep = run(args.ops, args.providers, compare, args.dtype, args.quick, args.repeat, args.budget, args.tiny,
              progress, device, args.processes)
    if args.rows_out:
        write_rows(rep.results, args.rows_out)
    print(rep.summary(args.markdown) if args.summary else rep.table(args.markdown))
    if any(r.op == "attention" for r in rep.results):
        from .attention import summary_lines  # noqa: PLC0415
        print("\n".join([""] + summary_lines(rep.results)))
    print()
    print(rep.peak_line())
    jit = [r for r in rep.results if r.provider.startswith("numba") and r.first_ms is not None]
    if jit:   # compile time, kept out of the medians above; cache=True makes a second process start fast
        worst = max(jit, key=lambda r: r.first_ms)
        print(f"numba first calls (JIT compile + run): {sum(r.first_ms for r in jit) / 1e3:.1f} s over {len(jit)} "
              f"kernels, longest {worst.first_ms:.0f} ms ({worst.op} {worst.direction} {worst.shape})")
    if device == "cuda":
        print(f"timing: CUDA events around each call; {rep.seconds:.1f} s in all")
    else:
        print(f"threads: {kernels.minidl_threads()} (minidl and PyTorch); {rep.seconds:.1f} s in all")
    if args.processes > 1:
        print(f"each row: the median of {args.processes} processes; vs torch = torch's median / this median")
    if args.json:
        print(f"records: {write_json(rep.results, args.json)}")
    if args.plot:
        print(f"plot: {plot(rep.results, args.plot)}")
    return 0


__all__ = ["GPU_BASELINES", "OPS", "RECORD_KEYS", "BenchReport", "Result", "add_arguments", "format_summary",
           "format_table", "gemm_peak", "kernels", "main", "measure", "measure_cuda", "plot", "processes", "records",
           "report", "run", "run_kernels", "shapes", "train_step", "write_json"]
