"""Timing of each kernel, forward and backward, per provider, beside PyTorch and plain NumPy.

Every provider's own function is timed (``backends.provider_kernel``), never the dispatcher: a
provider that lacks a kernel would otherwise silently time the next one in the order. Inputs are
C-contiguous, as the dispatcher's contract promises. PyTorch runs on the CPU in the same process
with as many threads as minidl's kernels use; its backward is timed through the ATen backward ops
directly (no autograd graph), so both sides do the same work.

A measurement is the median of repeated calls after three warm-up calls. Unless a repeat count is
forced, it is adaptive: as many calls as fit in the time budget, at least 3 (a median needs
some), at most 10000 (tiny kernels).

With ``device="cuda"`` the same recipes run on CuPy arrays for the cuda providers (cuda, cupy,
numba_cuda), beside CuPy's cuBLAS-backed ``cupy.matmul`` and PyTorch on CUDA; each call is timed by
CUDA events recorded around it on the current stream (``measure_cuda``), not by the host clock.
"""
import os
import statistics
import time
from dataclasses import dataclass
from functools import partial

import numpy as np

from .. import backends
from .shapes import KERNEL_OPS, kernel_cases

RECORD_KEYS = ("op", "provider", "shape", "dtype", "direction", "ms", "gflops", "gbps", "ratio_vs_torch")
DIRECTIONS = ("forward", "backward")
BASELINES = ("torch", "numpy")      # what --compare may name
NUMPY_BASELINE = "np.matmul"        # provider name of the plain-NumPy rows (GEMM only: the other kernels have no
#                                     one-call NumPy form; the "numpy" provider *is* minidl's NumPy implementation)
GPU_BASELINES = ("torch", "cupy")   # what --compare may name with --device cuda
CUPY_BASELINE = "cupy.matmul"       # CuPy's GEMM (cuBLAS), the GPU counterpart of np.matmul
BASELINE_ROWS = (NUMPY_BASELINE, CUPY_BASELINE, "torch")
MIN_REPEAT, MAX_REPEAT = 3, 10000


@dataclass
class Result:
    """One row of the table; ``record()`` is its JSON form (SPEC section 10).

    ``ms`` is None for a provider that was skipped, and ``note`` says why.
    """
    op: str
    shape: str
    label: str
    direction: str
    provider: str
    dtype: str
    ms: float = None
    gflops: float = None
    gbps: float = None
    ratio_vs_torch: float = None
    repeats: int = 0
    note: str = ""
    first_ms: float = None      # the first call (JIT compilation for numba), reported apart from ``ms``
    first_loss: float = None    # training steps: this side's first loss (checked against the other side's)

    @classmethod
    def from_record(cls, rec):
        """A row rebuilt from a JSON record (the layer label and repeat count are not in the record).

        Example:
            >>> Result.from_record({"op": "matmul", "provider": "numpy", "shape": "8x8x8", "dtype": "float32",
            ...                     "direction": "forward", "ms": 0.01, "gflops": 0.1, "gbps": None,
            ...                     "ratio_vs_torch": None}).provider
            'numpy'
        """
        return cls(rec["op"], rec["shape"], "", rec["direction"], rec["provider"], rec["dtype"], rec["ms"],
                   rec["gflops"], rec["gbps"], rec["ratio_vs_torch"])

    def record(self):
        """The SPEC record ``{op, provider, shape, dtype, direction, ms, gflops, gbps, ratio_vs_torch}``.

        Example:
            >>> Result("matmul", "8x8x8", "tiny", "forward", "native", "float32", ms=0.01).record()["ms"]
            0.01
        """
        return {k: getattr(self, k) for k in RECORD_KEYS}


def measure(fn, repeat=None, budget=0.5, first_call=None):
    """Median milliseconds of ``fn()`` after three warm-up calls, and the number of timed calls.

    ``repeat`` fixes the count; otherwise it is as many as fit in ``budget`` seconds, within 3..10000.
    ``first_call``, a list, receives the first call's milliseconds (for Numba: JIT compilation included).

    Example:
        >>> ms, n = measure(lambda: sum(range(1000)), budget=0.05)
    """
    # Warm-up: first-touch allocation, lazy thread pools, caches -- and, after another framework ran, its
    # worker threads still spinning on our cores (OpenBLAS, libgomp): three calls let them go idle.
    for i in range(3):
        start = time.perf_counter()
        fn()
        first = time.perf_counter() - start
        if i == 0 and first_call is not None:
            first_call.append(first * 1e3)
    if repeat is None:
        repeat = int(min(MAX_REPEAT, max(MIN_REPEAT, budget / max(first, 1e-7))))
    times = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, len(times)


def measure_cuda(fn, repeat=None, budget=0.5, torch=None):
    """Median milliseconds of ``fn()`` on the GPU and the number of timed calls, like ``measure``.

    Each call is bracketed by two CUDA events on the current stream and timed by the GPU
    (``cupy.cuda.get_elapsed_time``); with ``torch`` given, PyTorch's events on its current stream,
    for PyTorch's own calls. The end event is waited for after each call, so calls do not overlap.
    """
    if torch is None:
        import cupy  # noqa: PLC0415

        def new_event():
            return cupy.cuda.Event()
        elapsed, sync = cupy.cuda.get_elapsed_time, cupy.cuda.get_current_stream().synchronize
    else:
        def new_event():
            return torch.cuda.Event(enable_timing=True)

        def elapsed(start, end):
            return start.elapsed_time(end)
        sync = torch.cuda.synchronize

    def timed():
        start, end = new_event(), new_event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        return elapsed(start, end)

    for _ in range(3):      # warm-up: CuPy compiles its elementwise kernels on first use, pools fill
        fn()
    sync()
    first = timed() * 1e-3
    if repeat is None:
        repeat = int(min(MAX_REPEAT, max(MIN_REPEAT, budget / max(first, 1e-7))))
    times = [timed() for _ in range(max(1, repeat))]
    return statistics.median(times), len(times)


def gpu_unavailable():
    """None when ``--device cuda`` can run here, else the sentence saying why not."""
    from .. import cuda  # noqa: PLC0415
    return cuda.unavailable_reason()


def gpu_name():
    """The current GPU's name as CUDA reports it."""
    import cupy  # noqa: PLC0415
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props.get("name", b"unknown GPU")
    return name.decode() if isinstance(name, bytes) else str(name)


def minidl_threads():
    """Threads minidl's C++ kernels use (OpenMP's max), else the CPU count when the extension is missing."""
    try:
        from .. import _C  # noqa: PLC0415
        return int(_C.build_info()["max_threads"])
    except (ImportError, KeyError):
        return os.cpu_count() or 1


def _randn(rng, shape, dtype):
    return np.ascontiguousarray(rng.standard_normal(shape).astype(dtype))


def _pair(v):
    return (v, v)


def _on(device, *arrays):
    """The host arrays on ``device`` (CuPy arrays for "cuda"), for the provider side."""
    return arrays if device == "cpu" else tuple(_cupy().asarray(a) for a in arrays)


def _cupy():
    import cupy  # noqa: PLC0415 -- only with --device cuda
    return cupy


def _torch_on(torch, device, *arrays):
    """The host arrays as PyTorch tensors on ``device``."""
    out = tuple(torch.from_numpy(a) for a in arrays)
    return out if device == "cpu" else tuple(t.to("cuda") for t in out)


# -- recipes: inputs, work, and the calls of each side -----------------------------------------------------------
# Each recipe returns (work, metric, calls) where work[direction] is flops (metric "gflops") or bytes read and
# written (metric "gbps"), and calls(side) gives {direction: zero-argument callable} for side = a provider's
# (forward, backward) functions, the torch module, or "numpy".

def _matmul(case, dtype, rng, device="cpu"):
    m, k, n = case.params["m"], case.params["k"], case.params["n"]
    a, b, g = _randn(rng, (m, k), dtype), _randn(rng, (k, n), dtype), _randn(rng, (m, n), dtype)
    work = {"forward": 2.0 * m * n * k, "backward": 4.0 * m * n * k}   # backward: two GEMMs of the same size

    da, db, dg = _on(device, a, b, g)

    def calls(side):
        if side == "numpy":             # the array module's own GEMM: np.matmul, or cupy.matmul (cuBLAS)
            mm = np.matmul if device == "cpu" else _cupy().matmul
            return {"forward": partial(mm, da, db), "backward": lambda: (mm(dg, db.T), mm(da.T, dg))}
        if not isinstance(side, tuple):
            torch = side
            ta, tb, tg = _torch_on(torch, device, a, b, g)
            # Transposed views: torch's GEMM reads them in place, as minidl's backward does.
            return {"forward": partial(torch.matmul, ta, tb),
                    "backward": lambda: (torch.matmul(tg, tb.t()), torch.matmul(ta.t(), tg))}
        fwd, bwd = side
        return {"forward": partial(fwd, da, db), "backward": partial(bwd, dg, da, db)}
    return work, "gflops", calls


def _conv_out(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def _conv2d(case, dtype, rng, device="cpu"):
    p = case.params
    n, c, h, w = p["x"]
    o, k, s, pad, groups = p["out"], p["kernel"], p["stride"], p["padding"], p["groups"]
    oh, ow = _conv_out(h, k, s, pad), _conv_out(w, k, s, pad)
    x, wt, g = _randn(rng, (n, c, h, w), dtype), _randn(rng, (o, c // groups, k, k), dtype), \
        _randn(rng, (n, o, oh, ow), dtype)
    flops = 2.0 * n * o * oh * ow * (c // groups) * k * k
    work = {"forward": flops, "backward": 2 * flops}      # grad_x and grad_w: one forward's worth each
    geom = (_pair(s), _pair(pad), (1, 1), groups)
    dx, dw, dg = _on(device, x, wt, g)

    def calls(side):
        if side == "numpy":
            return {}
        if not isinstance(side, tuple):
            torch = side
            tx, tw, tg = _torch_on(torch, device, x, wt, g)
            return {"forward": partial(torch.nn.functional.conv2d, tx, tw, None, s, pad, 1, groups),
                    "backward": partial(torch.ops.aten.convolution_backward, tg, tx, tw, None, [s, s], [pad, pad],
                                        [1, 1], False, [0, 0], groups, [True, True, False])}
        fwd, bwd = side
        return {"forward": partial(fwd, dx, dw, *geom), "backward": partial(bwd, dg, dx, dw, *geom)}
    return work, "gflops", calls


def _pool_arrays(case, dtype, rng):
    p = case.params
    n, c, h, w = p["x"]
    k, s, pad = p["kernel"], p["stride"], p["padding"]
    oh, ow = _conv_out(h, k, s, pad), _conv_out(w, k, s, pad)
    return _randn(rng, (n, c, h, w), dtype), _randn(rng, (n, c, oh, ow), dtype), k, s, pad


def _max_pool2d(case, dtype, rng, device="cpu"):
    from ..backends import reference  # noqa: PLC0415
    x, g, k, s, pad = _pool_arrays(case, dtype, rng)
    geom = (_pair(k), _pair(s), _pair(pad), (1, 1), False)
    _, idx = reference.max_pool2d(x, *geom)      # every provider returns these same indices (KERNELS.md)
    dx, dg, didx = _on(device, x, g, idx)
    item = x.itemsize
    work = {"forward": x.size * item + g.size * (item + 8),          # read x; write y and int64 indices
            "backward": g.size * (item + 8) + x.size * item}         # read grad and indices; write grad_x

    def calls(side):
        if side == "numpy":
            return {}
        if not isinstance(side, tuple):
            torch = side
            tx, tg, ti = _torch_on(torch, device, x, g, idx)
            return {"forward": partial(torch.nn.functional.max_pool2d, tx, k, s, pad, return_indices=True),
                    "backward": partial(torch.ops.aten.max_pool2d_with_indices_backward, tg, tx, [k, k], [s, s],
                                        [pad, pad], [1, 1], False, ti)}
        fwd, bwd = side
        return {"forward": partial(fwd, dx, *geom), "backward": partial(bwd, dg, dx, didx, *geom)}
    return work, "gbps", calls


def _avg_pool2d(case, dtype, rng, device="cpu"):
    x, g, k, s, pad = _pool_arrays(case, dtype, rng)
    geom = (_pair(k), _pair(s), _pair(pad), False, True)
    item = x.itemsize
    work = {"forward": (x.size + g.size) * item, "backward": (g.size + x.size) * item}
    dx, dg = _on(device, x, g)

    def calls(side):
        if side == "numpy":
            return {}
        if not isinstance(side, tuple):
            torch = side
            tx, tg = _torch_on(torch, device, x, g)
            return {"forward": partial(torch.nn.functional.avg_pool2d, tx, k, s, pad),
                    "backward": partial(torch.ops.aten.avg_pool2d_backward, tg, tx, [k, k], [s, s], [pad, pad],
                                        False, True, None)}
        fwd, bwd = side
        return {"forward": partial(fwd, dx, *geom), "backward": partial(bwd, dg, dx, *geom)}
    return work, "gbps", calls


def _batch_norm(case, dtype, rng, device="cpu"):
    from ..backends import reference  # noqa: PLC0415
    n, c, h, w = case.params["x"]
    x, g = _randn(rng, (n, c, h, w), dtype), _randn(rng, (n, c, h, w), dtype)
    weight, bias = (1 + 0.1 * _randn(rng, (c,), dtype)), 0.1 * _randn(rng, (c,), dtype)
    momentum, eps = 0.1, 1e-5
    x3, g3 = x.reshape(n, c, h * w), g.reshape(n, c, h * w)      # the kernel's (N, C, L) layout; no copy
    _, save_mean, save_invstd = reference.batch_norm(x3, weight, bias, None, None, True, momentum, eps)
    item = x.itemsize
    # Logical traffic: forward reads x and writes y; backward reads grad and x and writes grad_x. A two-pass
    # implementation reads x more than once; that shows as a lower GB/s, which is the point of the metric.
    work = {"forward": 2 * x.size * item, "backward": 3 * x.size * item}

    def calls(side):
        if side == "numpy":
            return {}
        # Each side gets its own running buffers: the training forward updates them in place on every call.
        rm, rv = np.zeros(c, dtype), np.ones(c, dtype)
        if not isinstance(side, tuple):
            torch = side
            tx, tg, tw, tb, trm, trv = _torch_on(torch, device, x, g, weight, bias, rm, rv)
            _, tmean, tinvstd = torch.native_batch_norm(tx, tw, tb, trm.clone(), trv.clone(), True, momentum, eps)
            return {"forward": partial(torch.nn.functional.batch_norm, tx, trm, trv, tw, tb, True, momentum, eps),
                    "backward": partial(torch.ops.aten.native_batch_norm_backward, tg, tx, tw, trm, trv, tmean,
                                        tinvstd, True, eps, [True, True, True])}
        fwd, bwd = side
        dx3, dg3, dw, db, drm, drv, dmean, dinvstd = _on(device, x3, g3, weight, bias, rm, rv, save_mean, save_invstd)
        return {"forward": partial(fwd, dx3, dw, db, drm, drv, True, momentum, eps),
                "backward": partial(bwd, dg3, dx3, dw, dmean, dinvstd, True)}
    return work, "gbps", calls


RECIPES = {"matmul": _matmul, "conv2d": _conv2d, "max_pool2d": _max_pool2d, "avg_pool2d": _avg_pool2d,
           "batch_norm": _batch_norm}


def import_torch():
    """The torch module, or None when PyTorch is not installed."""
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return None
    return torch


def resolve_providers(providers=None, device="cpu"):
    """The providers to time: all usable on ``device`` by default; a named one that is unusable is an error.

    Example:
        >>> resolve_providers(["numpy"])
        ['numpy']
    """
    if providers is None:
        return backends.usable(device)
    avail = backends.available()
    out = []
    for name in providers:
        if name not in avail:
            raise ValueError(f"bench: unknown provider {name!r}; choose from {', '.join(avail)}")
        if backends.DEVICE_OF_PROVIDER[name] != device.split(":")[0]:
            raise ValueError(f"bench: provider {name!r} serves {backends.DEVICE_OF_PROVIDER[name]} tensors, not "
                             f"{device}; with --device {device} choose from {', '.join(backends.ORDER[device])}")
        if avail[name] is not None:
            raise ValueError(f"bench: provider {name!r} is not usable here: {avail[name]}")
        out.append(name)
    return out


def check_ops(ops, known):
    """Raise a ValueError naming the unknown ops and the valid ones (or saying that none was given)."""
    if not ops:
        raise ValueError(f"bench: no op given; choose from {', '.join(known)}")
    unknown = [op for op in ops if op not in known]
    if unknown:
        raise ValueError(f"bench: unknown op{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"choose from {', '.join(known)}")


def _metric(metric, work, ms):
    """(gflops, gbps) of ``work`` flops or bytes done in ``ms`` milliseconds."""
    rate = work / (ms * 1e-3) / 1e9
    return (rate, None) if metric == "gflops" else (None, rate)


def run_kernels(ops=KERNEL_OPS, providers=None, compare=BASELINES, dtype="float32", quick=False, repeat=None,
                budget=None, tiny=False, progress=None, device="cpu"):
    """Time every kernel in ``ops`` forward and backward for each provider (and the baselines in ``compare``).

    Args:
        ops: kernel names (``shapes.KERNEL_OPS``).
        providers: provider names; default every provider usable on the CPU.
        compare: baselines among ``"torch"`` and ``"numpy"`` (np.matmul, GEMM only); skipped when not installed.
        dtype: "float32" or "float64".
        quick: drop the largest shapes and use a shorter budget.
        repeat: fixed number of timed calls (default: adaptive within ``budget`` seconds per measurement).
        budget: seconds of timed calls per measurement (default 0.5, or 0.2 with ``quick``).
        tiny: smoke-test shapes instead of the real-model ones.
        progress: called with a short string before each case (the CLI prints it to stderr).
        device: "cpu", or "cuda": the cuda providers on CuPy arrays, baselines ``"cupy"`` (cupy.matmul) and
            ``"torch"`` (PyTorch on CUDA, when it sees a GPU), CUDA-event timing. RuntimeError without a GPU.

    Returns:
        A list of ``Result``, grouped by case and direction: providers in dispatch order, then the baselines.

    Example:
        >>> rows = run_kernels(["matmul"], tiny=True, repeat=1)
        >>> sorted({r.provider for r in rows}) >= ['numpy', 'torch']
        True
    """
    check_ops(ops, KERNEL_OPS)
    gpu = device.split(":")[0] == "cuda"
    allowed = GPU_BASELINES if gpu else BASELINES
    unknown = [b for b in compare if b not in allowed]
    if unknown:
        raise ValueError(f"bench: unknown --compare {', '.join(unknown)}; choose from {', '.join(allowed)}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"bench: dtype must be float32 or float64, got {dtype!r}")
    if gpu and gpu_unavailable() is not None:
        raise RuntimeError(f"bench --device cuda: no usable GPU here: {gpu_unavailable()}")
    budget = budget if budget is not None else (0.2 if quick else 0.5)
    providers = resolve_providers(providers, "cuda" if gpu else "cpu")
    torch = import_torch() if "torch" in compare else None
    if gpu and torch is not None and not torch.cuda.is_available():
        torch = None                    # a CPU-only PyTorch: no GPU baseline to compare with
    device = "cuda" if gpu else "cpu"
    results = []
    with torch_threads(torch, minidl_threads()):
        for case in kernel_cases(ops, quick=quick, tiny=tiny):
            if progress:
                progress(f"{case.op} {case.shape} ({case.label})")
            work, metric, calls = RECIPES[case.op](case, np.dtype(dtype), np.random.default_rng(0), device)
            sides = {}
            for name in providers:
                fwd = backends.provider_kernel(name, case.op)
                bwd = backends.provider_kernel(name, case.op + "_backward")
                sides[name] = calls((fwd, bwd)) if fwd is not None and bwd is not None else None
            if case.op == "matmul" and ("cupy" if gpu else "numpy") in compare:
                sides[CUPY_BASELINE if gpu else NUMPY_BASELINE] = calls("numpy")
            if torch is not None:
                sides["torch"] = calls(torch)
            for direction in DIRECTIONS:
                results += _time_direction(case, direction, sides, work[direction], metric, dtype, repeat, budget,
                                           torch if gpu else None, gpu)
    return results


def _time_direction(case, direction, sides, work, metric, dtype, repeat, budget, torch=None, gpu=False):
    rows = []
    for name, fns in sides.items():
        row = Result(case.op, case.shape, case.label, direction, name, dtype)
        if fns is None:
            kernel = case.op if direction == "forward" else case.op + "_backward"
            row.note = f"{name} has no {kernel} kernel; dispatch falls through"
        elif gpu:
            row.ms, row.repeats = measure_cuda(fns[direction], repeat, budget, torch if name == "torch" else None)
        else:
            first = []
            row.ms, row.repeats = measure(fns[direction], repeat, budget, first_call=first)
            row.first_ms = first[0]
            row.gflops, row.gbps = _metric(metric, work, row.ms)
        rows.append(row)
    torch_ms = next((r.ms for r in rows if r.provider == "torch"), None)
    for r in rows:
        if torch_ms is not None and r.ms is not None:
            r.ratio_vs_torch = torch_ms / r.ms
    return rows


class torch_threads:
    """Context manager: PyTorch's intra-op thread count set to ``n`` inside, restored after (no-op without torch).

    Example:
        >>> with torch_threads(torch, 2):
        ...     torch.matmul(a, b)
    """

    def __init__(self, torch, n):
        self.torch, self.n, self.saved = torch, n, None

    def __enter__(self):
        if self.torch is not None:
            self.saved = self.torch.get_num_threads()
            self.torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self.torch is not None:
            self.torch.set_num_threads(self.saved)
        return False


def _cpuinfo():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return {}
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in info:        # the first processor's entry
            info[key.strip()] = value.strip()
    return info


def _clock_ghz(cpu):
    """(GHz, where it came from): /proc/cpuinfo's "cpu MHz", else cpufreq's maximum, else (None, reason)."""
    if cpu.get("cpu MHz"):
        return float(cpu["cpu MHz"]) / 1e3, '/proc/cpuinfo "cpu MHz"'
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", encoding="utf-8") as f:
            return int(f.read()) / 1e6, "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        return None, "clock unknown (no cpu MHz in /proc/cpuinfo, no cpufreq)"


def gemm_peak(dtype="float32"):
    """The machine's theoretical GEMM peak in GFLOP/s and how it was derived.

    peak = cores x SIMD lanes x 2 (an FMA is two flops) x FMA units per core x clock. SIMD comes from
    ``minidl._C.build_info()["simd"]`` (what the kernels were compiled for) or /proc/cpuinfo flags;
    AVX-512 and AVX2 parts are assumed to have 2 FMA units, except AMD Zen 4 (family 25), whose two
    256-bit FMA pipes run an AVX-512 FMA as two halves: one 512-bit FMA per cycle.

    Returns:
        dict with ``gflops`` (None when the clock or SIMD width is unknown), ``cores``, ``lanes``,
        ``fma_units``, ``ghz``, ``cpu`` (model name) and ``derivation`` (a sentence).

    Example:
        >>> gemm_peak()["derivation"]
        '2 cores x 16 float32 lanes (AVX-512, from minidl._C build) x 2 (FMA) x 1 FMA unit(s) ... x 2.60 GHz ...'
    """
    cpu = _cpuinfo()
    flags = set(cpu.get("flags", "").split())
    try:
        from .. import _C  # noqa: PLC0415
        simd = set(_C.build_info().get("simd", []))
        source = "minidl._C build"
    except ImportError:
        simd = {"AVX512F" if "avx512f" in flags else None, "AVX2" if "avx2" in flags else None,
                "FMA" if "fma" in flags else None}
        source = "/proc/cpuinfo flags"
    lanes32, isa = (16, "AVX-512") if "AVX512F" in simd else (8, "AVX2") if "AVX2" in simd else \
        (4, "NEON") if "NEON" in simd else (4, "SSE") if "SSE2" in simd else (None, "unknown SIMD")
    fma = 2 if "FMA" in simd or "AVX512F" in simd or "NEON" in simd else 1
    units = 2 if isa in ("AVX-512", "AVX2") else 1
    zen4 = cpu.get("vendor_id") == "AuthenticAMD" and cpu.get("cpu family") == "25"
    if isa == "AVX-512" and zen4:
        units = 1
    lanes = None if lanes32 is None else (lanes32 if dtype == "float32" else lanes32 // 2)
    cores = minidl_threads()
    ghz, clock_source = _clock_ghz(cpu)
    gflops = None if ghz is None or lanes is None else cores * lanes * fma * units * ghz
    note = " (AMD Zen 4: AVX-512 FMA double-pumped on 256-bit units)" if isa == "AVX-512" and zen4 else \
        " (assumed)" if units == 2 else ""
    derivation = (f"{cores} cores x {lanes} {dtype} lanes ({isa}, from {source}) x {fma} (FMA) x {units} FMA "
                  f"unit(s){note} x {ghz:.2f} GHz ({clock_source})" if gflops else
                  f"peak unknown: {isa}, {clock_source}")
    name = cpu.get("model name", "unknown CPU")
    if cpu.get("cpu family") and cpu.get("model"):
        name += f" (family {cpu['cpu family']} model {cpu['model']}{', Zen 4' if zen4 and isa == 'AVX-512' else ''})"
    return {"gflops": gflops, "cores": cores, "lanes": lanes, "fma_units": units, "ghz": ghz, "cpu": name,
            "derivation": derivation, "measured": measured_fma_peak(dtype, cores)}


def measured_fma_peak(dtype="float32", threads=None, tries=3):
    """The FMA throughput (GFLOP/s) ``threads`` threads reach on this machine now, the best of ``tries``
    measurements of ``minidl._C.fma_peak`` (0.2 s each: the first may run before the cores boost); None without
    the extension. The ceiling a GEMM is judged against, boost clock included, unlike the theoretical peak.

    Example:
        >>> measured_fma_peak("float32", 1) > 0
        True
    """
    try:
        from .. import _C  # noqa: PLC0415
    except ImportError:
        return None
    threads = threads or minidl_threads()
    return max(_C.fma_peak(dtype, threads, 0.2) for _ in range(tries))


def peak_fraction(results, peak):
    """{provider: (best GEMM GFLOP/s, fraction of ``peak`` or None)} for minidl's providers (not the baselines).

    Example:
        >>> peak_fraction(rows, gemm_peak())
        {'native': (180.2, 1.08), 'numpy': (194.9, 1.17)}
    """
    out = {}
    for r in results:
        if r.op == "matmul" and r.gflops and r.provider not in BASELINE_ROWS:
            if r.provider not in out or r.gflops > out[r.provider][0]:
                out[r.provider] = (r.gflops, r.gflops / peak["gflops"] if peak.get("gflops") else None)
    return out


__all__ = ["GPU_BASELINES", "RECORD_KEYS", "Result", "gemm_peak", "gpu_name", "gpu_unavailable", "measure",
           "measure_cuda", "measured_fma_peak", "minidl_threads", "peak_fraction", "run_kernels"]
