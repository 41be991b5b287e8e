"""Seeded fuzz of the native kernels, called directly (``minidl._C``) and through the public ops.

Each case draws an op (matmul, conv2d, max_pool2d, avg_pool2d, batch_norm), random shapes (0- and 1-size dims
included), a dtype and geometry; most cases are valid and must match the NumPy reference provider, forward and
backward; the rest are mutated (mismatched shapes, wrong dtypes, non-contiguous arrays for the raw kernels,
negative / huge / non-int geometry, a non-Tensor) and must raise ValueError or TypeError naming the op.

The loop runs in a subprocess (``python tests/test_fuzz_kernels.py CASES SEED``) under a timeout, so a segfault or
a hang fails the test with the seed and the case in the message. ``pytest --fuzz-budget N`` runs N times the cases.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import child_process  # tests/ helper: children import the same minidl

BASE_CASES = 200          # per seed at fuzz budget 1: a few seconds
SEEDS = (0, 1)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("seed", SEEDS)
def test_fuzz_native_kernels(seed, fuzz_budget):
    pytest.importorskip("minidl._C", reason="the native extension is not built")
    cases = BASE_CASES * fuzz_budget
    env = child_process.env(OMP_NUM_THREADS="2")
    try:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), str(cases), str(seed)], capture_output=True,
                              text=True, env=env, timeout=60 + cases * 2)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"fuzz seed {seed} hung (no result after {exc.timeout} s); last output:\n{(exc.stdout or '')[-3000:]}")
    last = proc.stdout.strip().splitlines()[-1:] or ["{}"]
    assert proc.returncode == 0, (f"fuzz seed {seed} died with code {proc.returncode} (a crash: the last case started "
                                  f"is printed last)\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    summary = json.loads(last[0])
    assert summary["cases"] == cases and summary["valid"] > cases // 3 and summary["invalid"] > cases // 10, summary
    assert not summary["failures"], "\n".join(summary["failures"][:20])


# ---------------------------------------------------------------------------------------------------------------------
# The fuzzer (runs in the subprocess)

FLOATS = (np.float32, np.float64)
BAD_DTYPES = (np.int64, np.float16, np.int32, np.bool_)
# geometry that no layer may accept: below the minimum, past the 2^30 bound, past int64, not an int
HUGE = (2**31, 2**62, 2**63, 2**64, -2**63 - 1)
NOT_INT = (1.5, "2", None, True)


def _random(rng, shape, dtype, special=False):
    from kernel_inputs import random_input  # noqa: PLC0415 -- tests/ is on sys.path in the subprocess
    ties = special and rng.random() < 0.5
    nans = int(rng.integers(0, 3)) if special and rng.random() < 0.3 else 0
    return random_input(int(rng.integers(2**31)), shape, dtype, ties=ties, nans=nans)


def _strided(rng, a):
    """The same values in a non-contiguous array (a view of a larger one)."""
    big = np.empty(a.shape[:-1] + (a.shape[-1] * 2,), a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


def _close(got, want, dtype, what):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or got.dtype != want.dtype:
        return [f"{what}: got {got.dtype}{got.shape}, reference {want.dtype}{want.shape}"]
    if got.dtype.kind in "iub":
        return [] if np.array_equal(got, want) else [f"{what}: integer results differ"]
    tol = 2e-4 if dtype == np.float32 else 1e-9
    scale = max(1.0, float(np.nanmax(np.abs(want), initial=0.0)))
    if not np.allclose(got, want, rtol=tol, atol=tol * scale, equal_nan=True):
        bad = np.nanmax(np.abs(got.astype(np.float64) - want), initial=0.0)
        return [f"{what}: max difference {bad:.3g} (scale {scale:.3g})"]
    return []


class Case:
    """One fuzz case: ``native()`` calls minidl._C, ``public()`` the ops layer; each returns a list of problems."""

    def __init__(self, op, desc, valid):
        self.op, self.desc, self.valid = op, desc, valid


def _check_error(op, exc):
    """An allowed error names the op; anything else is a problem."""
    if isinstance(exc, (ValueError, TypeError)) and op in str(exc):
        return []
    return [f"{type(exc).__name__} without the op name or of the wrong kind: {str(exc)[:300]}"]


def _run(case, fn):
    """Run fn (returns problems); a valid case must not raise, an invalid one must raise a documented error.
    ``valid=None`` (an empty output the raw kernels may return or refuse): a documented error or no problem."""
    try:
        problems = fn()
    except Exception as exc:  # noqa: BLE001 -- every exception is judged
        if case.valid:
            return [f"valid call raised {type(exc).__name__}: {str(exc)[:300]}"]
        return _check_error(case.op, exc)
    if case.valid is False:
        return ["invalid call did not raise"]
    return problems


def _empty_pool(x, y, backward):
    """An empty pooling output (the reference provider does not handle these; the ops layer never asks): its batch
    and channels are x's, and the gradient of nothing is zero."""
    problems = [] if y.shape[:2] == x.shape[:2] else [f"empty output of shape {y.shape} for x of shape {x.shape}"]
    gx = backward(np.zeros(y.shape, x.dtype))
    return problems + ([] if gx.shape == x.shape and not gx.any() else ["gradient of an empty output is not zero"])


# --- per-op generators: each returns (desc, valid, native_fn, public_fn) ----------------------------------------

def _mutate_dtype(rng, arrays, which):
    bad = BAD_DTYPES[rng.integers(len(BAD_DTYPES))]
    arrays[which] = arrays[which].astype(bad)
    return f"{which} as {np.dtype(bad).name}"


def gen_matmul(rng):
    import minidl as md  # noqa: PLC0415
    from minidl.backends import reference as ref  # noqa: PLC0415
    from minidl import _C  # noqa: PLC0415
    dtype = FLOATS[rng.integers(2)]
    dims = [0, 1, 1, 2, 3, 5, 16, 33]
    m, k, n = (dims[rng.integers(len(dims))] for _ in range(3))
    if rng.random() < 0.1:
        k = int(rng.choice([4096, 20000, 70000]))      # skinny, long K: the GEMV / split-K paths
        m, n = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    batch = None if rng.random() < 0.6 else int(rng.integers(0, 4))
    lead = () if batch is None else (batch,)
    arr = {"a": _random(rng, lead + (m, k), dtype), "b": _random(rng, lead + (k, n), dtype),
           "g": _random(rng, lead + (m, n), dtype)}
    mutation = rng.choice(["none"] * 6 + ["inner", "batch", "dtype", "mixed", "strided", "ndim", "not_tensor"])
    valid_native = valid_public = True
    desc = f"matmul a{arr['a'].shape} b{arr['b'].shape} {np.dtype(dtype).name} mutation={mutation}"
    if mutation == "inner":
        arr["b"] = _random(rng, lead + (k + 1, n), dtype)
        valid_native = valid_public = False
    elif mutation == "batch" and batch is not None:
        arr["b"] = _random(rng, (batch + 2, k, n), dtype)
        valid_native = valid_public = False        # batch + 2 and batch broadcast only when batch == 1
        valid_public = batch == 1
    elif mutation == "dtype":
        desc += " " + _mutate_dtype(rng, arr, "a")
        arr["b"] = arr["b"].astype(arr["a"].dtype)
        valid_native = valid_public = False        # but integer matmul is allowed in the ops layer: below
    elif mutation == "mixed":
        arr["b"] = arr["b"].astype(np.float32 if dtype == np.float64 else np.float64)
        valid_native = valid_public = False
    elif mutation == "strided":
        arr["a"] = _strided(rng, arr["a"])
        valid_native = arr["a"].flags.c_contiguous   # a view of an empty array is contiguous
    elif mutation == "ndim":
        arr["a"] = arr["a"].reshape((1, 1) + arr["a"].shape)
        valid_native = False                       # the ops layer broadcasts (1, 1, [B,] M, K) @ ([B,] K, N)
    elif mutation == "not_tensor":
        valid_native = True

    def native():
        a, b, g = arr["a"], arr["b"], arr["g"]
        problems = _close(_C.matmul(a, b), ref.matmul(a, b), dtype, "matmul")
        ga, gb = _C.matmul_backward(g, a, b)
        ra, rb = ref.matmul_backward(g, a, b)
        return problems + _close(ga, ra, dtype, "matmul grad_a") + _close(gb, rb, dtype, "matmul grad_b")

    def public():
        a, b = arr["a"], arr["b"]
        if mutation == "not_tensor":
            md.matmul(a, md.tensor(b))
        if mutation == "dtype" and np.dtype(a.dtype).kind in "iub":
            # integer matmul is supported (no kernel, no gradient): it must match NumPy exactly
            got = md.matmul(md.tensor(a), md.tensor(b)).numpy()
            return [] if np.array_equal(got, np.matmul(a, b)) else ["integer matmul differs from NumPy"]
        return _public_compare(lambda ta, tb: md.matmul(ta, tb), [a, b], dtype, "matmul")

    if mutation == "dtype" and np.dtype(arr["a"].dtype).kind in "iub":
        valid_public = True
    if mutation == "not_tensor":
        valid_public = False
    return desc, valid_native, valid_public, native, public


def _public_compare(fn, arrays, dtype, op, grad_seed=0):
    """fn on Tensors made from arrays: native dispatch vs the forced NumPy provider, outputs and input gradients."""
    import minidl as md  # noqa: PLC0415
    results = []
    for provider in (None, "numpy"):
        with md.backends.use(provider):
            ts = [md.tensor(np.array(a), requires_grad=np.dtype(a.dtype).kind == "f") for a in arrays]
            out = fn(*ts)
            out = out[0] if isinstance(out, tuple) else out
            rng = np.random.default_rng(grad_seed)
            if out.requires_grad:
                out.backward(md.tensor(rng.standard_normal(out.shape).astype(out.numpy().dtype)))
            results.append([out.numpy()] + [t.grad.numpy() if t.grad is not None else None for t in ts])
    problems = []
    for i, (got, want) in enumerate(zip(*results)):
        if (got is None) != (want is None):
            problems.append(f"{op} public: gradient {i} present on one provider only")
        elif got is not None:
            problems += _close(got, want, dtype, f"{op} public {'output' if i == 0 else f'grad {i - 1}'}")
    return problems


def _bad_geometry(rng, lo):
    """A geometry value no layer accepts (lo: the smallest valid value)."""
    choices = [lo - 1, lo - 5, *HUGE, *NOT_INT, (1,), (1, 1, 1)]
    v = choices[rng.integers(len(choices))]
    return v if isinstance(v, tuple) or rng.random() < 0.5 else (1 if lo else 0, v)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def gen_conv2d(rng):
    import minidl as md  # noqa: PLC0415
    from minidl.backends import reference as ref  # noqa: PLC0415
    from minidl.backends.geometry import output_size  # noqa: PLC0415
    from minidl import _C  # noqa: PLC0415
    F = md.nn.functional
    dtype = FLOATS[rng.integers(2)]
    groups = int(rng.choice([1, 1, 2, 3]))
    n = int(rng.choice([0, 1, 2, 3]))
    cg, og = int(rng.integers(0 if rng.random() < 0.05 else 1, 4)), int(rng.integers(1, 4))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    h, w = int(rng.integers(1, 10)), int(rng.integers(1, 10))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    arr = {"x": _random(rng, (n, cg * groups, h, w), dtype), "w": _random(rng, (og * groups, cg, kh, kw), dtype)}
    geom = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    fits = all(output_size(s, k, st, p, d) >= 1 for s, k, st, p, d in zip((h, w), (kh, kw), stride, padding, dilation))
    mutation = rng.choice(["none"] * 6 + ["channels", "dtype", "mixed", "strided", "ndim", "geometry", "groups",
                                          "not_tensor"])
    valid_native = valid_public = fits
    if mutation == "channels":
        arr["w"] = _random(rng, (og * groups, cg + 1, kh, kw), dtype)
        valid_native = valid_public = False
    elif mutation == "dtype":
        _mutate_dtype(rng, arr, "x")
        arr["w"] = arr["w"].astype(arr["x"].dtype)
        valid_native = valid_public = False
    elif mutation == "mixed":
        arr["w"] = arr["w"].astype(np.float32 if dtype == np.float64 else np.float64)
        valid_native = valid_public = False
    elif mutation == "strided":
        arr["x"] = _strided(rng, arr["x"])
        valid_native = valid_native if arr["x"].flags.c_contiguous else False   # an empty view is contiguous
    elif mutation == "ndim":
        arr["x"] = arr["x"][0] if n else arr["x"].reshape(-1)
        valid_native = False
        valid_public = valid_public and n > 0        # (C, H, W) is accepted unbatched
    elif mutation == "geometry":
        name = str(rng.choice(["stride", "padding", "dilation"]))
        lo = 0 if name == "padding" else 1
        geom[name] = _bad_geometry(rng, lo)
        valid_native = valid_public = False
        if name == "padding" and rng.random() < 0.3:
            geom[name] = (2**29, 2**29)                # below the 2^30 bound, but the output has > 2^48 elements
            valid_native = None if n == 0 else False   # ... unless it is empty: the raw kernel may return it
    elif mutation == "groups":
        geom["groups"] = rng.choice([0, -1, 2**63, 1.0, "1", True, None, og * groups + 1])  # O + 1 never divides O
        valid_native = valid_public = False
    elif mutation == "not_tensor":
        valid_public = False
    desc = (f"conv2d x{arr['x'].shape} {arr['x'].dtype} w{arr['w'].shape} {arr['w'].dtype} {geom} "
            f"mutation={mutation}")

    def native():
        x, wt = arr["x"], arr["w"]
        st, pd, dl, gr = geom["stride"], geom["padding"], geom["dilation"], geom["groups"]
        y = _C.conv2d(x, wt, st, pd, dl, gr)
        problems = _close(y, ref.conv2d(x, wt, st, pd, dl, gr), dtype, "conv2d")
        g = _random(rng, y.shape, dtype)
        got, want = _C.conv2d_backward(g, x, wt, st, pd, dl, gr), ref.conv2d_backward(g, x, wt, st, pd, dl, gr)
        return problems + _close(got[0], want[0], dtype, "conv2d grad_x") + _close(got[1], want[1], dtype,
                                                                                 "conv2d grad_w")

    def public():
        if mutation == "not_tensor":
            return F.conv2d(arr["x"], md.tensor(arr["w"]), **geom)
        return _public_compare(lambda tx, tw: F.conv2d(tx, tw, **geom), [arr["x"], arr["w"]], dtype, "conv2d")

    return desc, valid_native, valid_public, native, public


def gen_pool(rng, op):
    import minidl as md  # noqa: PLC0415
    from minidl.backends import reference as ref  # noqa: PLC0415
    from minidl.backends.geometry import output_size  # noqa: PLC0415
    from minidl import _C  # noqa: PLC0415
    F = md.nn.functional
    is_max = op == "max_pool2d"
    dtype = FLOATS[rng.integers(2)]
    n, c = int(rng.choice([0, 1, 2, 3])), int(rng.choice([0, 1, 2, 3]))
    h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    p = (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1)))
    d = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) if is_max else (1, 1)
    ceil_mode, count_include_pad = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    arr = {"x": _random(rng, (n, c, h, w), dtype, special=True)}
    geom = {"kernel_size": k, "stride": s, "padding": p, "dilation": d}
    fits = all(output_size(sz, kk, ss, pp, dd, ceil_mode) >= 1 for sz, kk, ss, pp, dd in zip((h, w), k, s, p, d))
    mutation = rng.choice(["none"] * 6 + ["dtype", "strided", "ndim", "geometry", "not_tensor"])
    valid_public = fits
    valid_native = True if fits else None      # the raw kernels may return the empty output
    if mutation == "dtype":
        _mutate_dtype(rng, arr, "x")
        valid_native = valid_public = False
    elif mutation == "strided":
        arr["x"] = _strided(rng, arr["x"])
        valid_native = valid_native if arr["x"].flags.c_contiguous else False   # an empty view is contiguous
    elif mutation == "ndim":
        arr["x"] = arr["x"].reshape((1,) + arr["x"].shape)
        valid_native = valid_public = False
    elif mutation == "geometry":
        name = str(rng.choice(["kernel_size", "stride", "padding"] + (["dilation"] if is_max else [])))
        geom[name] = _bad_geometry(rng, 0 if name == "padding" else 1)
        if name == "padding" and rng.random() < 0.5:
            geom[name] = (k[0] // 2 + 1, 0)            # more than half the kernel
        valid_native = valid_public = False
        if geom["stride"] is None:
            valid_public = fits                        # the ops layer's default: stride = kernel_size
    elif mutation == "not_tensor":
        valid_public = False
    desc = f"{op} x{arr['x'].shape} {arr['x'].dtype} {geom} ceil={ceil_mode} pad_count={count_include_pad} " \
           f"mutation={mutation}"

    def native():
        x = arr["x"]
        kk, ss, pp, dd = geom["kernel_size"], geom["stride"], geom["padding"], geom["dilation"]
        if is_max:
            y, idx = _C.max_pool2d(x, kk, ss, pp, dd, ceil_mode)
            if y.size == 0:
                return _empty_pool(x, y, lambda g: _C.max_pool2d_backward(g, x, idx, kk, ss, pp, dd, ceil_mode))
            ry, ridx = ref.max_pool2d(x, kk, ss, pp, dd, ceil_mode)
            g = _random(rng, y.shape, dtype)
            return (_close(y, ry, dtype, op) + _close(idx, ridx, dtype, op + " indices")
                    + _close(_C.max_pool2d_backward(g, x, idx, kk, ss, pp, dd, ceil_mode),
                             ref.max_pool2d_backward(g, x, ridx, kk, ss, pp, dd, ceil_mode), dtype, op + " grad"))
        y = _C.avg_pool2d(x, kk, ss, pp, ceil_mode, count_include_pad)
        if y.size == 0:
            return _empty_pool(x, y, lambda g: _C.avg_pool2d_backward(g, x, kk, ss, pp, ceil_mode, count_include_pad))
        g = _random(rng, y.shape, dtype)
        return (_close(y, ref.avg_pool2d(x, kk, ss, pp, ceil_mode, count_include_pad), dtype, op)
                + _close(_C.avg_pool2d_backward(g, x, kk, ss, pp, ceil_mode, count_include_pad),
                         ref.avg_pool2d_backward(g, x, kk, ss, pp, ceil_mode, count_include_pad), dtype, op + " grad"))

    def public():
        kw = {k_: v for k_, v in geom.items() if is_max or k_ != "dilation"}
        kw.update({"ceil_mode": ceil_mode} if is_max else {"ceil_mode": ceil_mode,
                                                             "count_include_pad": count_include_pad})
        fn = F.max_pool2d if is_max else F.avg_pool2d
        if mutation == "not_tensor":
            return fn(arr["x"], **kw)
        return _public_compare(lambda tx: fn(tx, **kw), [arr["x"]], dtype, op)

    return desc, valid_native, valid_public, native, public


def gen_batch_norm(rng):
    import minidl as md  # noqa: PLC0415
    from minidl.backends import reference as ref  # noqa: PLC0415
    from minidl import _C  # noqa: PLC0415
    F = md.nn.functional
    op = "batch_norm"
    dtype = FLOATS[rng.integers(2)]
    n, c, length = int(rng.choice([0, 1, 2, 5])), int(rng.integers(1, 5)), int(rng.choice([1, 2, 7]))
    training, with_running = bool(rng.random() < 0.6), bool(rng.random() < 0.7)
    if not training:
        with_running = True
    momentum, eps = float(rng.choice([0.1, 0.5, 1.0])), float(rng.choice([1e-5, 1e-3]))
    arr = {"x": _random(rng, (n, c, length), dtype), "weight": _random(rng, (c,), dtype),
           "bias": _random(rng, (c,), dtype), "rm": _random(rng, (c,), dtype),
           "rv": np.abs(_random(rng, (c,), dtype)) + dtype(0.5)}
    mutation = rng.choice(["none"] * 6 + ["weight", "dtype", "mixed", "strided", "ndim", "running"])
    # one value per channel while training has no variance: the ops layer refuses it, the kernel gives NaN as PyTorch
    valid_native, valid_public = True, not (training and n * length == 1)
    if mutation == "weight":
        arr["weight"] = _random(rng, (c + 1,), dtype)
        valid_native = valid_public = False
    elif mutation == "dtype":
        _mutate_dtype(rng, arr, "x")
        valid_native = valid_public = False
    elif mutation == "mixed":
        arr["weight"] = arr["weight"].astype(np.float32 if dtype == np.float64 else np.float64)
        valid_native = valid_public = False
    elif mutation == "strided":
        arr["x"] = _strided(rng, arr["x"])
        valid_native = valid_native if arr["x"].flags.c_contiguous else False   # an empty view is contiguous
    elif mutation == "ndim":
        arr["x"] = arr["x"].reshape(-1)
        valid_native = valid_public = False
    elif mutation == "running":
        arr["rm"] = _random(rng, (c + 2,), dtype)
        valid_native, valid_public = valid_native and not with_running, valid_public and not with_running
    desc = (f"batch_norm x{arr['x'].shape} {arr['x'].dtype} training={training} running={with_running} "
            f"momentum={momentum} mutation={mutation}")

    def native():
        x, wt, b = arr["x"], arr["weight"], arr["bias"]
        rm = arr["rm"].copy() if with_running else None
        rv = arr["rv"].copy() if with_running else None
        rm2 = None if rm is None else rm.copy()
        rv2 = None if rv is None else rv.copy()
        got = _C.batch_norm(x, wt, b, rm, rv, training, momentum, eps)
        want = ref.batch_norm(x, wt, b, rm2, rv2, training, momentum, eps)
        problems = []
        for i, name in enumerate(("y", "save_mean", "save_invstd")):
            problems += _close(got[i], want[i], dtype, f"batch_norm {name}")
        if with_running:
            problems += _close(rm, rm2, dtype, "batch_norm running_mean") + _close(rv, rv2, dtype,
                                                                                  "batch_norm running_var")
        g = _random(rng, x.shape, dtype)
        gb = _C.batch_norm_backward(g, x, wt, got[1], got[2], training)
        rb = ref.batch_norm_backward(g, x, wt, want[1], want[2], training)
        for i, name in enumerate(("grad_x", "grad_weight", "grad_bias")):
            problems += _close(gb[i], rb[i], dtype, f"batch_norm {name}")
        return problems

    def public():
        rm = md.tensor(arr["rm"].copy()) if with_running else None
        rv = md.tensor(arr["rv"].copy()) if with_running else None
        return _public_compare(lambda tx, tw, tb: F.batch_norm(tx, rm, rv, tw, tb, training, momentum, eps),
                               [arr["x"], arr["weight"], arr["bias"]], dtype, op)

    return desc, valid_native, valid_public, native, public


GENERATORS = {"matmul": gen_matmul, "conv2d": gen_conv2d, "max_pool2d": lambda r: gen_pool(r, "max_pool2d"),
              "avg_pool2d": lambda r: gen_pool(r, "avg_pool2d"), "batch_norm": gen_batch_norm}


def fuzz(cases, seed):
    import warnings  # noqa: PLC0415
    warnings.simplefilter("ignore", RuntimeWarning)   # NaN inputs and empty reductions in the reference
    rng = np.random.default_rng(seed)
    ops = list(GENERATORS)
    failures, valid, invalid = [], 0, 0
    for i in range(cases):
        op = ops[rng.integers(len(ops))]
        desc, valid_native, valid_public, native, public = GENERATORS[op](rng)
        print(f"case {i}: {desc}", flush=True)       # the last line printed names the case that crashed or hung
        for layer, ok, fn in (("native", valid_native, native), ("public", valid_public, public)):
            problems = _run(Case(op, desc, ok), fn)
            valid, invalid = valid + (ok is not False), invalid + (ok is False)
            failures += [f"seed {seed} case {i} [{layer}] {desc}: {p}" for p in problems]
    return {"cases": cases, "valid": valid // 2, "invalid": invalid // 2, "failures": failures}


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    print(json.dumps(fuzz(int(sys.argv[1]), int(sys.argv[2]))))
