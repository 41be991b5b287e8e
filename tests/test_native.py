"""The C++ extension minidl._C: matmul on shapes crossing its blocking and threading, its own argument checks, the
allocator and OpenMP settings. Values on drawn shapes, for every provider: tests/test_kernels.py.

Skipped with the build's reason when minidl._C is not importable, except under CI (see native_ext.py).
"""
import threading

import numpy as np
import pytest
from native_ext import import_native

_C = import_native()

DTYPES = [np.float32, np.float64]


def _arrays(seed, dtype, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, size=s).astype(dtype) for s in shapes]


def _assert_product_close(got, a, b, dtype):
    """got == a @ b within the classic bound |error| <= ~K eps (|a| @ |b|), from a float64 reference.

    The bound grows with K, the summation length, as float32 accumulation error does.
    """
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = np.matmul(a64, b64)
    k = a.shape[-1]
    eps = np.finfo(dtype).eps
    bound = 2 * (k + 2) * eps * np.matmul(np.abs(a64), np.abs(b64)) + np.finfo(dtype).tiny
    assert got.dtype == dtype
    assert got.shape == want.shape
    assert got.flags.c_contiguous
    err = np.abs(got.astype(np.float64) - want)
    worst = np.unravel_index(np.argmax(err - bound), err.shape) if err.size else None
    assert np.all(err <= bound), f"max excess at {worst}: got {got[worst]}, want {want[worst]} (K={k})"


# Larger shapes that cross every block boundary (MC, KC, NC), the multi-threaded paths, and
# both batched strategies (whole products per thread, and one product split across threads).
@pytest.mark.parametrize("shape", [
    (337, 513, 65), (1, 1000, 1), (3, 17, 2100), (2000, 3, 5), (64, 784, 128), (200, 257, 300), (20, 2100, 300),
    (100, 600, 1000),
    (4, 64, 64, 64), (3, 300, 300, 300), (7, 15, 33, 17), (2, 1, 500, 1),
], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_matmul_large_shapes(shape, dtype):
    *lead, m, k, n = shape
    lead = tuple(lead)
    grad, a, b = _arrays(sum(shape), dtype, lead + (m, n), lead + (m, k), lead + (k, n))
    _assert_product_close(_C.matmul(a, b), a, b, dtype)
    grad_a, grad_b = _C.matmul_backward(grad, a, b)
    _assert_product_close(grad_a, grad, np.swapaxes(b, -1, -2), dtype)
    _assert_product_close(grad_b, np.swapaxes(a, -1, -2), grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_empty_inner_dimension_gives_zeros(dtype):
    a, b = np.ones((3, 0), dtype), np.ones((0, 4), dtype)
    np.testing.assert_array_equal(_C.matmul(a, b), np.zeros((3, 4), dtype))
    grad_a, grad_b = _C.matmul_backward(np.ones((3, 4), dtype), a, b)
    assert grad_a.shape == (3, 0) and grad_b.shape == (0, 4)
    grad_a, grad_b = _C.matmul_backward(np.ones((2, 3, 4), dtype), np.ones((2, 3, 5), dtype), np.ones((2, 5, 4), dtype))
    np.testing.assert_array_equal(grad_a, np.full((2, 3, 5), 4, dtype))
    np.testing.assert_array_equal(grad_b, np.full((2, 5, 4), 3, dtype))


def test_concurrent_calls_from_python_threads():
    # The GIL is released during the compute, so calls overlap; each must still be right.
    a, b = _arrays(0, np.float32, (4, 150, 260), (4, 260, 90))
    want = _C.matmul(a, b)
    errors = []

    def work():
        for _ in range(5):
            if not np.array_equal(_C.matmul(a, b), want):
                errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def _f32(*shape):
    return np.ones(shape, np.float32)


@pytest.mark.parametrize("args, message", [
    ((_f32(3), _f32(3, 2)), "2-D"),
    ((_f32(1, 2, 3, 4), _f32(1, 2, 4, 5)), "2-D"),
    ((_f32(2, 3), _f32(2, 3, 4)), "must be 2-D"),
    ((_f32(2, 3), _f32(4, 5)), "inner dimensions differ"),
    ((_f32(2, 2, 3), _f32(3, 3, 4)), "batch sizes differ"),
    ((_f32(2, 3), np.ones((3, 4), np.float64)), "dtypes differ"),
    ((np.ones((2, 3), np.int64), np.ones((3, 4), np.int64)), "float32 or float64"),
    ((np.ones((2, 3), np.float16), np.ones((3, 4), np.float16)), "float32 or float64"),
    ((_f32(3, 2).T, _f32(3, 4)), "C-contiguous"),
    ((_f32(2, 3), _f32(3, 8)[:, ::2]), "C-contiguous"),
], ids=["1-D", "4-D", "ndim-mismatch", "inner", "batch", "mixed-dtype", "int64", "float16", "transposed",
        "strided"])
def test_matmul_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=f"^matmul: .*{message}"):
        _C.matmul(*args)


@pytest.mark.parametrize("grad, message", [
    (_f32(2, 5), "grad has shape"),
    (_f32(2, 4, 1), "grad must be 2-D"),
    (np.ones((2, 4), np.float64), "dtypes differ"),
    (_f32(4, 2).T, "C-contiguous"),
], ids=["shape", "ndim", "dtype", "non-contiguous"])
def test_matmul_backward_rejects_bad_arguments(grad, message):
    with pytest.raises(ValueError, match=f"^matmul_backward: .*{message}"):
        _C.matmul_backward(grad, _f32(2, 3), _f32(3, 4))


def test_build_info_reports_threads_and_simd():
    info = _C.build_info()
    assert {"compiler", "openmp", "max_threads", "simd", "gemm"} <= set(info)
    assert info["max_threads"] >= 1
    assert isinstance(info["simd"], list)


def test_tune_allocator_reports_what_it_set_and_rejects_bad_thresholds():
    info = _C.tune_allocator(32 << 20, 512 << 20)
    assert "allocator" in info
    if info["allocator"] == "glibc":
        assert info["mmap_threshold"] == 32 << 20 and info["trim_threshold"] == 512 << 20
    with pytest.raises(ValueError, match="tune_allocator: thresholds must be positive"):
        _C.tune_allocator(0, 1)


def test_malloc_tuning_can_be_turned_off():
    import os
    import subprocess
    import sys

    import tempfile

    import minidl

    # the subprocess must import this same minidl, not a source tree that happens to be the working directory
    root = os.path.dirname(os.path.dirname(os.path.abspath(minidl.__file__)))
    code = "from minidl.backends import ops_native; print(ops_native.ALLOCATOR)"
    env = dict(os.environ, MINIDL_MALLOC_TUNING="0", PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=tempfile.gettempdir())
    assert out.stdout.strip() == "None"


@pytest.mark.parametrize("env, want", [({}, "10000"), ({"GOMP_SPINCOUNT": "5"}, "5"),
                                       ({"OMP_WAIT_POLICY": "active"}, "None")])
def test_import_bounds_openmp_spinning_unless_the_user_chose(env, want):
    import os
    import subprocess
    import sys
    import tempfile

    import minidl

    root = os.path.dirname(os.path.dirname(os.path.abspath(minidl.__file__)))
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    code = "import os, minidl; print(os.environ.get('GOMP_SPINCOUNT'))"
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env, "PYTHONPATH": root}, capture_output=True,
                         text=True, check=True, cwd=tempfile.gettempdir())
    assert out.stdout.strip() == want


def test_equal_dtypes_that_are_other_objects_are_accepted():
    # a dtype rebuilt by pickle (or spelled with an explicit native byte order) equals float32 without being
    # NumPy's float32 object; the kernels compare types, not objects (a non-native byte order is still refused)
    import pickle
    a = pickle.loads(pickle.dumps(np.ones((2, 3), np.float32)))
    b = np.ones((3, 2), np.dtype("=f4"))
    np.testing.assert_array_equal(_C.matmul(a, b), np.full((2, 2), 3.0, np.float32))
    with pytest.raises(ValueError, match="float32 or float64"):
        _C.matmul(np.ones((2, 3), ">f4"), b)
