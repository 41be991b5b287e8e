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
import child_process  # tests/ helper: children import the same minidl

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
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=child_process.CWD, env=child_process.env())
    assert proc.returncode == 0 and "ok 315.0" in proc.stdout, proc.stdout + proc.stderr


# --- geometry: validated in Python before any allocation (item 11) ---------------------------------------------

X = md.ones(1, 1, 4, 4)
W = md.ones(1, 1, 1, 1)
BIG = 2**63  # past int64: once pybind11's "Unable to cast Python instance"

BAD_GEOMETRY = [
    (lambda: F.max_pool2d(X, 2, stride=BIG), r"max_pool2d: stride \(9223372036854775808, 9223372036854775808\) is too large"),
    (lambda: F.avg_pool2d(X, 2, stride=(1, BIG)), r"avg_pool2d: stride \(1, 9223372036854775808\) is too large"),
    (lambda: F.max_pool2d(X, 2, dilation=BIG), r"max_pool2d: dilation .* is too large"),
    (lambda: F.max_pool2d(X, BIG), r"max_pool2d: kernel_size .* is too large"),
    (lambda: F.avg_pool2d(X, 2**31, padding=2**30), r"avg_pool2d: kernel_size .* is too large"),
    (lambda: F.max_pool2d(X, 2.0), r"max_pool2d: kernel_size must be an int or a pair of ints, got 2.0"),
    (lambda: F.max_pool2d(X, True), r"max_pool2d: kernel_size must be an int or a pair of ints, got True"),
    (lambda: F.avg_pool2d(X, (2, 2, 2)), r"avg_pool2d: kernel_size must be an int or a pair of ints"),
    (lambda: F.max_pool2d(X, 0), r"max_pool2d: kernel_size, stride, dilation must be >= 1"),
    (lambda: F.conv2d(X, W, padding=2**30), r"conv2d: padding \(1073741824, 1073741824\) is too large"),  # was NumPy's "array is too big"
    (lambda: F.conv2d(X, W, stride=BIG), r"conv2d: stride .* is too large"),
    (lambda: F.conv2d(X, W, dilation=(1, BIG)), r"conv2d: dilation .* is too large"),
    (lambda: F.conv2d(X, W, padding="same", dilation=2**40), r"conv2d: dilation .* is too large"),
    (lambda: F.conv2d(X, W, padding="full"), r"conv2d: padding must be an int, a pair of ints, 'valid' or 'same'"),
    (lambda: F.conv2d(X, W, groups=BIG), r"conv2d: groups=9223372036854775808 must divide"),
    (lambda: F.conv2d(X, W, groups=1.0), r"conv2d: groups=1.0 must divide"),
    (lambda: F.conv2d(X, W, stride=-1), r"conv2d: stride and dilation must be >= 1"),
    (lambda: F.conv_transpose2d(X, W, stride=BIG), r"conv_transpose2d: stride .* is too large"),  # was "Maximum allowed dimension exceeded"
    (lambda: F.conv_transpose2d(X, W, dilation=BIG), r"conv_transpose2d: dilation .* is too large"),
    (lambda: F.conv_transpose2d(X, W, output_padding=BIG, stride=BIG), r"conv_transpose2d: stride .* is too large"),
    # sizes that fit int64 but no memory: named ValueErrors, not NumPy's MemoryError / "array is too big"
    (lambda: F.conv2d(X, W, padding=2**20), r"conv2d: the output would have shape \(1, 1, 2097156, 2097156\) .*"
                                            r"input \(1, 1, 4, 4\), weight \(1, 1, 1, 1\)"),
    (lambda: F.conv_transpose2d(X, W, stride=2**29, output_padding=2**29 - 1),
     r"conv_transpose2d: the output would have shape \(1, 1, 2147483648, 2147483648\)"),
    (lambda: md.ones(2**20, 1) @ md.ones(1, 2**20),
     r"matmul: the output would have shape \(1048576, 1048576\) .* operands of shapes \(1048576, 1\) and \(1, 1048576\)"),
    (lambda: md.ones(2**12, 1, 2**10, 1) @ md.ones(2**12, 1, 2**10), r"matmul: the output would have shape \(4096, 4096, 1024, 1024\)"),
]


@pytest.mark.parametrize("call,pattern", BAD_GEOMETRY, ids=range(len(BAD_GEOMETRY)))
def test_absurd_geometry_is_a_value_error_naming_op_and_argument(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_numpy_integer_geometry_is_accepted():
    y = F.max_pool2d(X, np.int64(2), stride=(np.int32(2), 2))
    assert y.shape == (1, 1, 2, 2)
    assert F.conv2d(X, W, padding=np.int64(1), groups=np.int64(1)).shape == (1, 1, 6, 6)


X_NP = np.ones((1, 1, 4, 4), np.float32)
W_NP = np.ones((1, 1, 1, 1), np.float32)

# The C++ kernels called directly (bypassing the Python checks) stay a last defense: a ValueError naming the op.
BAD_NATIVE = [
    (lambda: _C.max_pool2d(X_NP, (2, 2), (BIG, 1), (0, 0), (1, 1), False), r"max_pool2d: stride must be a pair"),
    (lambda: _C.avg_pool2d(X_NP, (2, 2), (2, -2**64), (0, 0), False, True), r"avg_pool2d: stride must be a pair"),
    (lambda: _C.max_pool2d_backward(X_NP, X_NP, np.zeros((1, 1, 4, 4), np.int64), (1, BIG), (1, 1), (0, 0), (1, 1),
                                    False), r"max_pool2d_backward: kernel_size must be a pair"),
    (lambda: _C.max_pool2d(np.ones((0, 1, 2**40, 4), np.float32), (3, 3), (1, 1), (1, 1), (1, 1), False),
     r"max_pool2d: input too large"),
    (lambda: _C.conv2d(X_NP, W_NP, (1, 1), (2**30, 2**30), (1, 1), 1), r"conv2d: padding must be .* below 2\^30"),
    (lambda: _C.conv2d(X_NP, W_NP, (1, 1), (2**29, 2**29), (1, 1), 1),
     r"conv2d: the output would have shape \(1, 1, 1073741828, 1073741828\), more than 2\^48 elements"),
    (lambda: _C.conv2d(X_NP, W_NP, (1, 1), (2**22, 2**22), (1, 1), 1), r"conv2d: the output .* GiB of memory"),  # < 2^48, 281 TB
    (lambda: _C.conv2d(X_NP, W_NP, (1, 1), (0, 0), (1, 1), BIG), r"conv2d: groups must be below 2\^63, got 9223372036854775808"),
    (lambda: _C.conv2d(X_NP, W_NP, (1, 1), (0, 0), (1, 1), True), r"conv2d: groups must be an int, got True"),
    (lambda: _C.conv2d(X_NP, W_NP, (1, 1), (0, 0), (1, 1), 1.0), r"conv2d: groups must be an int, got 1.0"),
    (lambda: _C.conv2d_backward(X_NP, X_NP, W_NP, (1, 1), (0, 0), (1, 1), -5), r"conv2d_backward: groups must be >= 1, got -5"),
    (lambda: _C.conv2d(X_NP, np.ones((0, 1, 2**40, 1), np.float32), (1, 1), (0, 0), (1, 1), 1), r"conv2d: kernel too large"),
]


@pytest.mark.parametrize("call,pattern", BAD_NATIVE, ids=range(len(BAD_NATIVE)))
def test_native_kernels_refuse_absurd_geometry(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_native_conv_accepts_numpy_integer_groups():
    assert _C.conv2d(X_NP, W_NP, (1, 1), (0, 0), (1, 1), np.int64(1)).shape == (1, 1, 4, 4)


@pytest.mark.parametrize("call,pattern", [
    (lambda: F.conv2d(X_NP, W), r"conv2d: input must be a Tensor, got ndarray"),
    (lambda: F.conv2d(X, W_NP), r"conv2d: weight must be a Tensor, got ndarray"),
    (lambda: F.conv_transpose2d(X, W, bias=[1.0]), r"conv_transpose2d: bias must be a Tensor, got list"),
    (lambda: F.max_pool2d(X_NP, 2), r"max_pool2d: input must be a Tensor, got ndarray"),
    (lambda: F.avg_pool2d([[1.0]], 2), r"avg_pool2d: input must be a Tensor, got list"),
])
def test_non_tensor_arguments_are_a_type_error_naming_the_op(call, pattern):
    with pytest.raises(TypeError, match=pattern):   # was AttributeError: 'numpy.dtypes.Float32DType' ...
        call()
