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
    """Kernels whose parameter names differ from the reference's (test_backends skips an unloadable provider)."""
    import inspect  # noqa: PLC0415
    from minidl.backends import kernel_names  # noqa: PLC0415
    return [k for k in kernel_names() if not hasattr(nc, k)
            or list(inspect.signature(getattr(nc, k)).parameters) != list(inspect.signature(getattr(ref, k)).parameters)]


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
    return report, _signature_mismatches(nc, ref)


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
    print(json.dumps({"mode": MODE, "seconds": round(time.perf_counter() - start, 2), "kernels": result,
                      "signature_mismatches": mismatches}))
