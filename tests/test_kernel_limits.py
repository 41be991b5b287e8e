"""Kernels at the edges of their shapes and sizes: skinny products with a long inner dimension, geometry too
large to allocate, values past int64. Each case here once went wrong (issue 12, items 11 and 13)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minidl as md
from native_ext import import_native

F = md.nn.functional
_C = import_native()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout whose minidl the subprocess imports


def _reference_products(a, b, g):
    """(c, grad_a, grad_b) of c = a @ b in float64, and the matching scales sum |x| |y| for the tolerance."""
    a64, b64, g64 = (v.astype(np.float64) for v in (a, b, g))
    bt, at = np.swapaxes(b64, -1, -2), np.swapaxes(a64, -1, -2)
    return [(a64 @ b64, np.abs(a64) @ np.abs(b64)), (g64 @ bt, np.abs(g64) @ np.abs(bt)),
            (at @ g64, np.abs(at) @ np.abs(g64))]


def _assert_close(got, want, scale, dtype, what):
    # float64-accumulated reference; the kernel's rounding error is bounded relative to sum |a_ik| |b_kj|
    rel = 2e-6 if dtype == np.float32 else 1e-13
    assert got.shape == want.shape and got.dtype == dtype, (what, got.shape, got.dtype)
    worst = float(np.max(np.abs(got - want) / (scale + 1.0), initial=0.0))
    assert worst <= rel, f"{what}: relative error {worst:.3g} > {rel}"


# M = N = 1 with K = 2^24 is the case of the issue (a dot product); the others cover GEMV from either side, the
# K-split of a small GEMM, and products whose backward is an outer product.
SKINNY = [(1, 1 << 24, 1), (1, 40_000, 1), (3, 50_000, 1), (1, 50_000, 5), (8, 1 << 17, 8), (2, 70_000, 3),
          (33, 100_000, 2), (1, 3, 100_000), (100_000, 3, 1), (1, 1, 5000), (1, 0, 1), (2, 0, 3)]


# float64 only where it costs little memory: float32 covers the 2^24 case
@pytest.mark.parametrize("m,k,n,dtype", [(*s, np.float32) for s in SKINNY] +
                         [(*s, np.float64) for s in SKINNY if s[0] * s[1] * s[2] < 1 << 24])
def test_skinny_matmul_and_backward_match_float64(m, k, n, dtype):
    rng = np.random.default_rng(m * 7 + k * 3 + n)
    a, b, g = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (k, n), (m, n)))
    got = [_C.matmul(a, b), *_C.matmul_backward(g, a, b)]
    for name, out, (want, scale) in zip(("c", "grad_a", "grad_b"), got, _reference_products(a, b, g)):
        _assert_close(out, want, scale, dtype, f"{name} of ({m}, {k}) @ ({k}, {n})")


def test_skinny_batched_matmul_matches_float64():
    rng = np.random.default_rng(5)
    for shapes in [((4, 1, 30_000), (4, 30_000, 1)), ((3, 1, 20_000), (3, 20_000, 7)), ((5, 6, 20_000), (5, 20_000, 1))]:
        a, b = (rng.standard_normal(s).astype(np.float32) for s in shapes)
        g = rng.standard_normal(a.shape[:2] + b.shape[2:]).astype(np.float32)
        got = [_C.matmul(a, b), *_C.matmul_backward(g, a, b)]
        for out, (want, scale) in zip(got, _reference_products(a, b, g)):
            _assert_close(out, want, scale, np.float32, f"batched {shapes}")


def test_skinny_matmul_through_the_public_op_and_autograd():
    rng = np.random.default_rng(11)
    a_np, b_np = rng.standard_normal((1, 1 << 20)), rng.standard_normal((1 << 20,))
    a = md.tensor(a_np.astype(np.float32), requires_grad=True)
    b = md.tensor(b_np.astype(np.float32), requires_grad=True)
    y = md.matmul(a, b)                      # (1,) : a row vector times a vector
    y.sum().backward()
    assert y.shape == (1,)
    np.testing.assert_allclose(y.numpy(), a_np @ b_np, rtol=0, atol=2e-6 * float((np.abs(a_np) @ np.abs(b_np))[0]))
    np.testing.assert_array_equal(a.grad.numpy(), b_np.astype(np.float32)[None, :])
    np.testing.assert_array_equal(b.grad.numpy(), a_np.astype(np.float32)[0])


@pytest.mark.slow
def test_matmul_inner_dimension_past_int32_finishes_correctly():
    """K = 2^31 + 5: every index past 2^31 must be 64-bit. The operands are anonymous private mappings, so the
    17 GB of zeros cost no memory; the few nonzeros sit at both ends and just past 2^31. In a subprocess with a
    timeout: the old GEMM needed minutes for this shape, and a 32-bit index would crash or give a wrong value."""
    script = textwrap.dedent("""
        import mmap, numpy as np
        from minidl import _C
        K = 2**31 + 5
        def zeros(shape):
            buf = mmap.mmap(-1, K * 4, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            return np.frombuffer(buf, dtype=np.float32).reshape(shape)
        a, b = zeros((1, K)), zeros((K, 1))
        for k, va, vb in [(0, 1.0, 2.0), (2**31 - 1, 3.0, 5.0), (2**31, 7.0, 11.0), (K - 1, 13.0, 17.0)]:
            a[0, k], b[k, 0] = va, vb
        c = _C.matmul(a, b)
        assert c.shape == (1, 1) and float(c[0, 0]) == 2 + 15 + 77 + 221, c
        print("ok", float(c[0, 0]))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0 and "ok 315.0" in proc.stdout, proc.stdout + proc.stderr
