"""minidl's CUDA kernels, executed on the CPU: the same csrc/cuda sources built with the emulation
header into ``_C_cuda_emu`` (tests/cuda_emu/build.py), driven through the same Python glue as the
GPU provider, compared with the NumPy reference on small edge-case geometries.

``MINIDL_CUDA_EMU_SANITIZE=address,undefined`` runs them on the ASan+UBSan build (python must then
have the sanitizer runtime in LD_PRELOAD; .ci/run does this).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from cuda_emu import build as emu_build
from minidl.backends import reference
from minidl.backends._cuda_glue import Glue

SANITIZE = os.environ.get("MINIDL_CUDA_EMU_SANITIZE") or None
DTYPES = [np.float32, np.float64]


def _compiler_or_skip():
    try:
        subprocess.run([emu_build.compiler(), "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no C++ compiler to build the emulated CUDA module: {exc}")


@pytest.fixture(scope="session")
def emu():
    _compiler_or_skip()
    return emu_build.load(SANITIZE)


@pytest.fixture(scope="session")
def glue(emu):
    return Glue(emu, np, lambda a: a.ctypes.data, 0)


@pytest.fixture(scope="session")
def bugs():
    _compiler_or_skip()
    return emu_build.load(SANITIZE, bugs=True)


def _tol(dtype, k=1):
    return dict(rtol=1e-4, atol=1e-5 * max(k, 1)) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12 * max(k, 1))


def test_emulated_module_reports_itself(emu):
    assert emu.emulated is True
    assert emu.status().startswith("ok: emulated")
    assert emu.device_count() == 1


# -- matmul ---------------------------------------------------------------------------------------

MATMUL_SHAPES = [  # (batch or None, m, k, n): tile-sized, ragged edges, degenerate, batched
    (None, 64, 16, 64), (None, 70, 33, 65), (None, 1, 1, 1), (None, 3, 17, 130), (None, 129, 5, 2),
    (None, 5, 0, 7), (None, 0, 3, 4), (3, 17, 19, 23), (2, 1, 40, 1),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", MATMUL_SHAPES, ids=str)
def test_matmul_forward_and_backward(glue, shape, dtype):
    rng = np.random.default_rng(0)
    batch, m, k, n = shape
    lead = () if batch is None else (batch,)
    a = rng.standard_normal(lead + (m, k)).astype(dtype)
    b = rng.standard_normal(lead + (k, n)).astype(dtype)
    c = glue.matmul(a, b)
    assert c.dtype == dtype and c.shape == lead + (m, n)
    np.testing.assert_allclose(c, reference.matmul(a, b), **_tol(dtype, k))
    grad = rng.standard_normal(lead + (m, n)).astype(dtype)
    ga, gb = glue.matmul_backward(grad, a, b)
    ra, rb = reference.matmul_backward(grad, a, b)
    np.testing.assert_allclose(ga, ra, **_tol(dtype, n))
    np.testing.assert_allclose(gb, rb, **_tol(dtype, m))


# The kernel loads 16-byte vectors (float4 / double2) from an operand whose rows are unit-stride
# with a row stride that is a multiple of the width and an aligned base, and stores C that way when
# n is a multiple; everything else takes the scalar path. The forward's A is vectorized iff k is a
# multiple of the width (4 floats, 2 doubles), B and C iff n is; the backward's grad_a reads b
# transposed (scalar) and grad (vector iff n is), grad_b reads a transposed and grad.
VEC_SHAPES = [  # (batch or None, m, k, n)
    (None, 64, 64, 64), (None, 67, 20, 68), (3, 33, 12, 40),            # all vector, ragged m, batched
    (2, 65, 18, 66),                                                    # double2 yes, float4 no
    (None, 5, 4, 3), (None, 6, 3, 8), (2, 7, 6, 5), (None, 9, 130, 2),  # vector and scalar mixed
] + [(None, 7, kk, nn) for kk in range(1, 6) for nn in range(1, 6)] + [(2, 3, kk, kk) for kk in range(1, 6)]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", VEC_SHAPES, ids=str)
def test_matmul_vector_and_scalar_paths(glue, shape, dtype):
    test_matmul_forward_and_backward(glue, shape, dtype)


def _misaligned(shape, dtype, rng):
    """A C-contiguous view one element past a 16-byte-aligned base: its own base is misaligned."""
    size = int(np.prod(shape))
    store = np.empty(size + 4, dtype=dtype)
    start = (-store.ctypes.data % 16) // store.itemsize + 1   # aligned + one element
    view = store[start:start + size].reshape(shape)
    view[...] = rng.standard_normal(shape)
    assert view.ctypes.data % 16 != 0 and view.flags.c_contiguous
    return view


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("which", ["a", "b", "grad", "all"])
@pytest.mark.parametrize("shape", [(None, 20, 16, 24), (2, 9, 8, 12), (None, 64, 64, 64)], ids=str)
def test_matmul_misaligned_operands_fall_back(glue, shape, which, dtype):
    # shapes that would vectorize; a misaligned base must send that operand down the scalar path
    # (the sanitizer build reports a misaligned float4/double2 access as a UBSan error)
    rng = np.random.default_rng(3)
    batch, m, k, n = shape
    lead = () if batch is None else (batch,)
    def make(name, s):
        return _misaligned(s, dtype, rng) if which in (name, "all") else rng.standard_normal(s).astype(dtype)
    a, b, grad = make("a", lead + (m, k)), make("b", lead + (k, n)), make("grad", lead + (m, n))
    np.testing.assert_allclose(glue.matmul(a, b), reference.matmul(a, b), **_tol(dtype, k))
    ga, gb = glue.matmul_backward(grad, a, b)
    ra, rb = reference.matmul_backward(grad, a, b)
    np.testing.assert_allclose(ga, ra, **_tol(dtype, n))
    np.testing.assert_allclose(gb, rb, **_tol(dtype, m))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_matmul_misaligned_output(emu, dtype):
    # C itself one element off alignment, with n a multiple of the width: scalar stores, right values
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((10, 8)).astype(dtype), rng.standard_normal((8, 12)).astype(dtype)
    c = _misaligned((10, 12), dtype, rng)
    emu.matmul(a.ctypes.data, b.ctypes.data, c.ctypes.data, np.dtype(dtype).name, 1, 10, 8, 12, 0)
    np.testing.assert_allclose(c, a @ b, **_tol(dtype, 8))


def test_matmul_rejects_bad_dtype_and_sizes(emu):
    with pytest.raises(ValueError, match="matmul: unsupported dtype float16"):
        emu.matmul(1, 1, 1, "float16", 1, 1, 1, 1, 0)
    with pytest.raises(ValueError, match="matmul: sizes must be non-negative"):
        emu.matmul(1, 1, 1, "float32", 1, -1, 1, 1, 0)
    with pytest.raises(ValueError, match="matmul: a is a null pointer"):
        emu.matmul(0, 1, 1, "float32", 1, 2, 2, 2, 0)


# -- pooling --------------------------------------------------------------------------------------

POOL_CASES = [  # (x shape, kernel, stride, padding, dilation, ceil_mode)
    ((2, 3, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((1, 2, 7, 9), (3, 2), (2, 3), (1, 1), (1, 1), True),
    ((1, 1, 5, 5), (2, 2), (1, 1), (0, 0), (1, 1), False),      # overlapping windows
    ((2, 2, 8, 6), (3, 3), (2, 1), (1, 0), (2, 2), True),       # dilation
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0), (1, 1), False),
    ((1, 3, 17, 33), (2, 4), (2, 3), (1, 2), (1, 1), True),     # several blocks of outputs
    ((0, 2, 4, 4), (2, 2), (2, 2), (0, 0), (1, 1), False),      # empty batch
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_max_pool2d(glue, case, dtype):
    shape, k, s, p, d, ceil = case
    rng = np.random.default_rng(1)
    # few distinct values: ties, whose first occurrence must win
    x = rng.integers(-3, 4, size=shape).astype(dtype)
    y, idx = glue.max_pool2d(x, k, s, p, d, ceil)
    ry, ridx = reference.max_pool2d(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)
    assert idx.dtype == np.int64
    grad = rng.standard_normal(y.shape).astype(dtype)
    gx = glue.max_pool2d_backward(grad, x, idx, k, s, p, d, ceil)
    np.testing.assert_allclose(gx, reference.max_pool2d_backward(grad, x, ridx, k, s, p, d, ceil), **_tol(dtype, 9))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_max_pool2d_nan_wins(glue, dtype):
    x = np.arange(2 * 1 * 4 * 4, dtype=dtype).reshape(2, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    x[0, 0, 1, 1] = np.nan
    x[1, 0, 2, 3] = -np.inf
    args = ((2, 2), (2, 2), (0, 0), (1, 1), False)
    y, idx = glue.max_pool2d(x, *args)
    ry, ridx = reference.max_pool2d(x, *args)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", [c for c in POOL_CASES if c[4] == (1, 1)], ids=str)
def test_avg_pool2d(glue, case, count_include_pad, dtype):
    shape, k, s, p, _, ceil = case
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    y = glue.avg_pool2d(x, k, s, p, ceil, count_include_pad)
    np.testing.assert_allclose(y, reference.avg_pool2d(x, k, s, p, ceil, count_include_pad), **_tol(dtype, 9))
    grad = rng.standard_normal(y.shape).astype(dtype)
    gx = glue.avg_pool2d_backward(grad, x, k, s, p, ceil, count_include_pad)
    np.testing.assert_allclose(gx, reference.avg_pool2d_backward(grad, x, k, s, p, ceil, count_include_pad),
                               **_tol(dtype, 9))


# -- the emulator catches what a CPU would forgive ----------------------------------------------

def test_emulator_runs_shuffles_and_barriers(bugs):
    x = [float(i) for i in range(64)]
    assert bugs.tree_sum(x, True) == sum(x)
    assert bugs.warp_sum([float(i) for i in range(32)]) == [496.0] * 32


def test_missing_syncthreads_gives_wrong_result(bugs):
    # unwritten shared memory reads as NaN (the emulator poisons it before every block)
    x = [float(i) for i in range(64)]
    assert bugs.tree_sum(x, False) != sum(x)


@pytest.mark.parametrize("fn, message", [
    ("early_return", "early_return: cudaErrorLaunchFailure.*divergent __syncthreads"),
    ("divergent_shuffle", "divergent_shuffle: cudaErrorLaunchFailure.*exited lanes"),
    ("bad_config", "bad_config: cudaErrorInvalidConfiguration"),
])
def test_emulator_turns_bugs_into_errors(bugs, fn, message):
    with pytest.raises(RuntimeError, match=message):
        getattr(bugs, fn)()


@pytest.mark.skipif(SANITIZE is None or "address" not in SANITIZE,
                    reason="needs the sanitizer build (MINIDL_CUDA_EMU_SANITIZE=address,undefined)")
@pytest.mark.parametrize("fn, report", [("oob_global", "AddressSanitizer: heap-buffer-overflow"),
                                        ("oob_shared", "runtime error: index 64 out of bounds")])
def test_sanitizer_catches_out_of_bounds(fn, report):
    # in a child process: the sanitizer aborts it
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); from cuda_emu import build; "
            f"build.load({SANITIZE!r}, bugs=True).{fn}()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and report in proc.stderr, proc.stderr[-2000:]


# -- the real extension, where nvcc built it ------------------------------------------------------

def test_real_extension_imports_and_reports_no_gpu_cleanly():
    try:
        from minidl import _C_cuda
    except ImportError as exc:
        pytest.skip(f"minidl._C_cuda is not built here: {exc}")
    status = _C_cuda.status()
    assert _C_cuda.emulated is False
    if status.startswith("ok"):
        pytest.skip("a GPU is usable here: the no-GPU path is not exercised")
    assert status.startswith("no usable GPU: ") and _C_cuda.device_count() == 0
    with pytest.raises(RuntimeError, match="^matmul: cuda"):  # a launch error names the kernel
        _C_cuda.matmul(8, 8, 8, "float32", 1, 2, 2, 2, 0)
    import minidl as md
    assert "no usable GPU" in md.backends.available()["cuda"]
