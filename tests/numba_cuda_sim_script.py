"""Run every numba_cuda kernel in the Numba CUDA simulator against the reference; print a JSON summary.

Run as a script (``python tests/numba_cuda_sim_script.py [sim|ptx]``) in a fresh process: the simulator must be
enabled before numba is first imported, which a pytest process may already have done. ``ptx`` instead compiles
every kernel to PTX with ``numba.cuda.compile_ptx`` (needs NVRTC, no GPU).
"""
import json
import os
import sys
import time

MODE = sys.argv[1] if len(sys.argv) > 1 else "sim"
if MODE == "sim":
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import numpy as np  # noqa: E402


def _signature_mismatches(nc, ref):
    """Kernels whose parameter names differ from the reference's (test_backends skips an unloadable provider).
    A backward kernel's trailing output mask ``need`` is allowed before the reference has it."""
    import inspect  # noqa: PLC0415
    from minidl.backends import kernel_names  # noqa: PLC0415

    def params(f):
        return list(inspect.signature(f).parameters)
    return [k for k in kernel_names() if hasattr(nc, k)
            and params(getattr(nc, k)) not in (params(getattr(ref, k)), params(getattr(ref, k)) + ["need"])]


def _defined(nc):
    """The kernels this provider implements (a provider may leave a kernel out: dispatch then falls through)."""
    from minidl.backends import kernel_names  # noqa: PLC0415
    return [k for k in kernel_names() if hasattr(nc, k)]


def masked(check, kernel, dtype, fn, full, *args):
    """The output mask ``need``: each gradient alone equals the full computation's, the other one is None."""
    for need in ((True, False), (False, True)):
        got = fn(*args, need=need)
        check(kernel, dtype, tuple(g for g in got if g is not None), tuple(f for f, w in zip(full, need) if w))
        assert sum(g is None for g in got) == 1, f"{kernel}: need={need} gave {[type(g).__name__ for g in got]}"


def _sim():
    from minidl.backends import ops_numba_cuda as nc  # noqa: PLC0415
    from minidl.backends import reference as ref  # noqa: PLC0415

    rng = np.random.default_rng(0)
    report = {}

    def check(kernel, dtype, got, want):
        tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
        entry = report.setdefault(kernel, {"cases": 0, "failures": []})
        entry["cases"] += 1
        got = got if isinstance(got, tuple) else (got,)
        want = want if isinstance(want, tuple) else (want,)
        try:
            assert len(got) == len(want)
            for g, w in zip(got, want):
                assert type(g) is np.ndarray and g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype)
                if w.dtype == np.int64:
                    np.testing.assert_array_equal(g, w)
                else:
                    np.testing.assert_allclose(g, w, equal_nan=True, **tol)
        except AssertionError as e:
            entry["failures"].append(f"{np.dtype(dtype).name}: {str(e).strip()[:300]}")

    def rand(shape, dtype):
        return rng.standard_normal(shape).astype(dtype)

    for dt in (np.float32, np.float64):
        for sa, sb in [((5, 7), (7, 3)), ((17, 9), (9, 20)), ((2, 3, 4), (2, 4, 5))]:
            a, b = rand(sa, dt), rand(sb, dt)
            check("matmul", dt, nc.matmul(a, b), ref.matmul(a, b))
            g = rand(ref.matmul(a, b).shape, dt)
            check("matmul_backward", dt, nc.matmul_backward(g, a, b), ref.matmul_backward(g, a, b))
            masked(check, "matmul_backward", dt, nc.matmul_backward, ref.matmul_backward(g, a, b), g, a, b)
        for m, k, n in [(5, 7, 3), (17, 9, 20), (1, 4, 6)]:
            x, w, bias, g = rand((m, k), dt), rand((n, k), dt), rand(n, dt), rand((m, n), dt)
            check("linear", dt, nc.linear(x, w, bias), ref.linear(x, w, bias))
            check("linear_backward", dt, nc.linear_backward(g, x, w), ref.linear_backward(g, x, w))

        x = rand((1, 2, 5, 5), dt)
        for ws, geo in [((3, 2, 3, 3), ((1, 1), (0, 0), (1, 1), 1)),       # 1x2x5x5 -> 3, k3
                        ((4, 1, 3, 3), ((2, 2), (1, 1), (1, 1), 2)),       # stride, padding, groups
                        ((3, 2, 2, 2), ((1, 2), (1, 0), (2, 1), 1))]:      # dilation
            w = rand(ws, dt)
            check("conv2d", dt, nc.conv2d(x, w, *geo), ref.conv2d(x, w, *geo))
            g = rand(ref.conv2d(x, w, *geo).shape, dt)
            check("conv2d_backward", dt, nc.conv2d_backward(g, x, w, *geo), ref.conv2d_backward(g, x, w, *geo))
            masked(check, "conv2d_backward", dt, nc.conv2d_backward, ref.conv2d_backward(g, x, w, *geo), g, x, w, *geo)

        x = rand((1, 2, 5, 6), dt)
        x[0, 1, 2, 2] = np.nan
        x[0, 0, 1, 1] = x[0, 0, 1, 2] = 9.0                                 # a tie
        for geo in [((2, 2), (2, 2), (0, 0), (1, 1), False), ((3, 3), (2, 1), (1, 1), (1, 1), True),
                    ((2, 2), (1, 2), (1, 0), (2, 2), True)]:
            y, idx = ref.max_pool2d(x, *geo)
            check("max_pool2d", dt, nc.max_pool2d(x, *geo), (y, idx))
            g = rand(y.shape, dt)
            check("max_pool2d_backward", dt, nc.max_pool2d_backward(g, x, idx, *geo),
                  ref.max_pool2d_backward(g, x, idx, *geo))
        for geo in [((2, 2), (2, 2), (0, 0), False, True), ((3, 3), (2, 2), (1, 1), True, False),
                    ((3, 2), (2, 2), (1, 1), True, True)]:
            y = ref.avg_pool2d(x, *geo)
            check("avg_pool2d", dt, nc.avg_pool2d(x, *geo), y)
            g = rand(y.shape, dt)
            check("avg_pool2d_backward", dt, nc.avg_pool2d_backward(g, x, *geo), ref.avg_pool2d_backward(g, x, *geo))

        x = (rand((3, 2, 4), dt) * 2 + 1).astype(dt)
        w, b, g = rand(2, dt), rand(2, dt), rand(x.shape, dt)
        for training, running in [(True, True), (False, True), (True, False), (False, False)]:
            rm, rv = rand(2, dt), (rng.random(2) + 0.5).astype(dt)
            rm2, rv2 = rm.copy(), rv.copy()
            got = nc.batch_norm(x, w, b, rm if running else None, rv if running else None, training, 0.1, 1e-5)
            want = ref.batch_norm(x, w, b, rm2 if running else None, rv2 if running else None, training, 0.1, 1e-5)
            check("batch_norm", dt, got + (rm, rv), want + (rm2, rv2))                 # running stats in place
            check("batch_norm_backward", dt, nc.batch_norm_backward(g, x, w, want[1], want[2], training),
                  ref.batch_norm_backward(g, x, w, want[1], want[2], training))
        _sim_elementwise(nc, ref, check, rand, dt)
    return report, _signature_mismatches(nc, ref)


def _sim_elementwise(nc, ref, check, rand, dt):
    """The issue-13 kernels (the provider serves the reference bodies): run them through the provider anyway."""
    for shape in [(3, 4), (2, 3, 5), (7,)]:
        x, g = rand(shape, dt), rand(shape, dt)
        for op in ref.UNARY_OPS:
            a = abs(x) + 0.5 if op in ("log", "sqrt") else x
            check("unary", dt, nc.unary(a, op), ref.unary(a, op))
            check("unary_backward", dt, nc.unary_backward(g, a, op), ref.unary_backward(g, a, op))
        for op in ref.BINARY_OPS:
            check("binary", dt, nc.binary(x, g[..., :1] + 3, op), ref.binary(x, g[..., :1] + 3, op))
        dims = (0,) if len(shape) == 1 else (0, len(shape) - 1)
        check("reduce_sum", dt, nc.reduce_sum(x, dims), ref.reduce_sum(x, dims))
        for f in ("softmax", "log_softmax"):
            y = getattr(ref, f)(x, 0)
            check(f, dt, getattr(nc, f)(x, 0), y)
            check(f + "_backward", dt, getattr(nc, f + "_backward")(g, y, 0), getattr(ref, f + "_backward")(g, y, 0))
    x = rand((6, 4), dt)
    t = np.array([0, 3, 1, -100, 2, 2])
    for w, eps in [(None, 0.0), (abs(rand(4, dt)) + 0.5, 0.1), (None, 1.0)]:
        loss, stats = ref.cross_entropy(x, t, w, -100, eps)
        check("cross_entropy", dt, nc.cross_entropy(x, t, w, -100, eps), (loss, stats))
        g = rand(6, dt)
        check("cross_entropy_backward", dt, nc.cross_entropy_backward(g, x, stats, t, w, -100, eps),
              ref.cross_entropy_backward(g, x, stats, t, w, -100, eps))


CC = (7, 5)  # the compute capability the ptx check compiles for


def _ptx():
    import numba  # noqa: PLC0415
    from numba import cuda, types  # noqa: PLC0415
    cuda.is_available = lambda: True        # no GPU needed to compile; the provider refuses to load otherwise
    from numba.cuda import dispatcher  # noqa: PLC0415

    class _NoGpu:
        compute_capability = CC

    # NOTE: numba-cuda compiles a kernel's device functions for the current device's compute capability, which
    # needs the CUDA driver; with no GPU, name the target of compile_ptx instead.
    dispatcher.get_current_device = lambda: _NoGpu()
    from minidl.backends import ops_numba_cuda as nc  # noqa: PLC0415

    report = {}
    i64, b1 = types.int64, types.boolean
    for name, dt in (("float32", numba.float32), ("float64", numba.float64)):
        a2, a3, a4 = dt[:, ::1], dt[:, :, ::1], dt[:, :, :, ::1]
        ix3 = types.int64[:, :, ::1]
        sigs = {
            "matmul": (nc._MATMUL[np.dtype(name)], (a3, a3, a3, b1, b1)),
            "max_pool_fwd": (nc._max_pool_fwd, (a3, a3, ix3) + (i64,) * 8),
            "max_pool_bwd": (nc._max_pool_bwd, (a3, ix3, a2)),
            "avg_pool_fwd": (nc._avg_pool_fwd, (a3, a3) + (i64,) * 6 + (b1,)),
            "avg_pool_bwd": (nc._avg_pool_bwd, (a3, a3) + (i64,) * 6 + (b1,)),
            "bn_fwd": (nc._bn_fwd, (a3, dt[::1], dt[::1], dt[::1], dt[::1], b1, b1, types.float64, types.float64,
                                    a3, dt[::1], dt[::1])),
            "bn_bwd": (nc._bn_bwd, (a3, a3, dt[::1], dt[::1], dt[::1], b1, a3, dt[::1], dt[::1])),
            "im2col": (nc._im2col, (a4, a3) + (i64,) * 11),
            "col2im": (nc._col2im, (a3, a4) + (i64,) * 11),
        }
        for kname, (kern, sig) in sigs.items():
            ptx, _ = cuda.compile_ptx(kern.py_func, sig, cc=CC)
            report[f"{kname}/{name}"] = {"ok": ".entry" in ptx, "bar_sync": "bar.sync" in ptx}
    return report, []


if __name__ == "__main__":
    start = time.perf_counter()
    result, mismatches = _sim() if MODE == "sim" else _ptx()
    defined = None
    if MODE == "sim":
        from minidl.backends import ops_numba_cuda  # noqa: PLC0415
        defined = _defined(ops_numba_cuda)
    print(json.dumps({"mode": MODE, "seconds": round(time.perf_counter() - start, 2), "kernels": result,
                      "signature_mismatches": mismatches, "defined": defined}))
