"""Every kernel x every usable provider against the reference (minidl/backends/reference.py), forward and backward,
on hypothesis-drawn geometries and on named edge cases; and every op gradchecked in float64 with each provider forced.

``KERNELS`` has one row per kernel pair (``name`` and ``name_backward``): how to draw the forward's arguments, how
to build the backward's from them, and how to compare. Adding a kernel is adding a row. Each provider runs on its
own copies of the arguments, some of them non-contiguous; its outputs, and any argument it updates in place (the
running statistics of batch_norm), are compared with the reference's. Provider-specific tests (threading, large
shapes crossing block sizes, argument errors) stay in tests/test_native*.py and tests/test_numba_provider.py; the
reference itself is checked against PyTorch and finite differences in tests/test_reference_kernels.py.

Besides the usable CPU providers, the table runs ``cuda-emulated``: minidl's CUDA kernels compiled for the CPU
(tests/cuda_emu) behind the GPU provider's own glue (minidl/backends/_cuda_glue.py), as tests/test_cuda_emu.py does.
"""
import functools
import inspect
import os
import subprocess
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl import backends
from minidl.backends import reference
from minidl.backends._cuda_glue import Glue
from minidl.testing import assert_gradcheck, conv2d_geometries, pool2d_geometries

from kernel_inputs import random_input as values  # normal values; ties and NaNs on demand

DTYPES = [np.float32, np.float64]
SEEDS = st.integers(0, 2**32 - 1)
# numpy *is* the reference; every other usable CPU provider is checked against it, and the emulated CUDA kernels
EMULATED = "cuda-emulated"
PROVIDERS = [p for p in backends.usable("cpu") if p != "numpy"] + [EMULATED]


@pytest.fixture(autouse=True, scope="module")
def _im2col_convolutions():
    """The table's bound for conv2d is that of a sum of products, which im2col + GEMM meets; the native provider may
    instead pick Winograd F(4x4,3x3) for a 3x3 stride-1 geometry by timing it, whose transforms round more. That
    choice would make these tests depend on the machine's timing, so the native convolutions run as im2col here;
    Winograd is checked against its own float64 bound in tests/test_conv_fast.py."""
    if "native" not in PROVIDERS:
        yield
        return
    from minidl import _C  # noqa: PLC0415 -- only where the native provider is usable
    previous = _C.conv2d_algorithm("im2col")
    try:
        yield
    finally:
        _C.conv2d_algorithm(previous)


@functools.lru_cache(maxsize=None)
def _emulated_glue():
    from cuda_emu import build  # noqa: PLC0415 -- tests/ helper; building it needs a C++ compiler
    try:
        subprocess.run([build.compiler(), "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no C++ compiler to build the emulated CUDA module: {exc}")
    return Glue(build.load(os.environ.get("MINIDL_CUDA_EMU_SANITIZE") or None), np, lambda a: a.ctypes.data, 0)


def kernel_of(provider, kernel):
    """``provider``'s implementation of ``kernel``, or None; the emulated CUDA module is built on first use."""
    if provider == EMULATED:
        return getattr(_emulated_glue(), kernel, None) if hasattr(Glue, kernel) else None
    return backends.provider_kernel(provider, kernel)


def has_kernel(provider, kernel):
    """Whether ``provider`` implements ``kernel``, without building anything (for collection)."""
    return hasattr(Glue, kernel) if provider == EMULATED else backends.provider_kernel(provider, kernel) is not None


# ---------------------------------------------------------------------------------------------------------------------
# inputs

def strided(a):
    """The same values as a non-contiguous view (every other element of a bigger buffer)."""
    if not isinstance(a, np.ndarray) or a.size <= 1:
        return a
    out = np.empty(a.shape + (2,), dtype=a.dtype)[..., 0]
    out[...] = a
    return out


def _copy(args, layout="C"):
    return [strided(a) if layout == "strided" else a.copy() if isinstance(a, np.ndarray) else a for a in args]


# ---------------------------------------------------------------------------------------------------------------------
# comparison

@dataclass(frozen=True)
class Exact:
    """Outputs equal bit for bit (NaN where the reference has NaN): selections, no arithmetic."""

    def bound(self, kernel, args, want, dtype):
        return 0


@dataclass(frozen=True)
class Sums:
    """Outputs that are sums of products: |error| <= 2 (terms + 2) eps (the kernel on |inputs|), the classic bound
    of a float sum of ``terms`` terms, from the reference on absolute values. For kernels linear in each floating
    input (matmul, conv, pooling and their backwards)."""

    terms: Callable

    def bound(self, kernel, args, want, dtype):
        absolute = [np.abs(a) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args]
        scale = getattr(reference, kernel)(*absolute)
        eps, tiny = np.finfo(dtype).eps, np.finfo(dtype).tiny
        factor = 2 * (self.terms(args) + 2) * eps
        return [factor * np.asarray(s, np.float64) + tiny if isinstance(s, np.ndarray) and s.dtype.kind == "f" else 0
                for s in (scale if isinstance(scale, tuple) else (scale,))]


@dataclass(frozen=True)
class Close:
    """rtol/atol by dtype, for kernels whose rounding has no simple bound (normalizations)."""

    float32: tuple = (1e-3, 1e-3)
    float64: tuple = (1e-7, 1e-8)

    def bound(self, kernel, args, want, dtype):
        rtol, atol = self.float32 if dtype == np.float32 else self.float64
        return [rtol * np.abs(np.asarray(w, np.float64)) + atol if isinstance(w, np.ndarray) and w.dtype.kind == "f"
                else 0 for w in (want if isinstance(want, tuple) else (want,))]


def assert_matches(what, got, want, bound):
    """got == want within ``bound`` (per output), same shape and dtype, fresh C-contiguous arrays."""
    got_t, want_t = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    assert isinstance(got_t, tuple) and len(got_t) == len(want_t), f"{what}: {len(want_t)} outputs expected"
    bounds = bound if isinstance(bound, list) else [bound] * len(want_t)
    for i, (g, w, b) in enumerate(zip(got_t, want_t, bounds)):
        name = f"{what}[{i}]"
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"{name}: shape {g.shape}, reference {w.shape}"
        assert g.dtype == w.dtype, f"{name}: dtype {g.dtype}, reference {w.dtype}"
        assert g.flags.c_contiguous, f"{name} is not C-contiguous"
        if w.dtype.kind != "f":
            np.testing.assert_array_equal(g, w, err_msg=name)
            continue
        nan = np.isnan(w)
        np.testing.assert_array_equal(np.isnan(g), nan, err_msg=f"{name}: NaNs differ")
        inf = np.isinf(w)
        np.testing.assert_array_equal(g[inf], w[inf], err_msg=f"{name}: infinities differ")
        finite = ~(nan | inf)
        with np.errstate(invalid="ignore"):                # inf - inf where both are inf: checked above
            err = np.abs(g.astype(np.float64) - w.astype(np.float64))
        b = np.broadcast_to(np.asarray(b, np.float64), w.shape)
        bad = finite & ~(err <= b)
        if bad.any():
            at = tuple(np.argwhere(bad)[0])
            raise AssertionError(f"{name}: {bad.sum()} elements out of bound; first at {at}: got {g[at]!r}, "
                                 f"reference {w[at]!r}, bound {b[at]!r}")


# ---------------------------------------------------------------------------------------------------------------------
# the table

def _first_output(out):
    return out[0] if isinstance(out, tuple) else out


def _grad_then_args(args, out, grad):
    return (grad, *args)


@dataclass(frozen=True)
class Row:
    """One kernel pair. ``cases(dtype)``: a strategy of the forward's argument tuples; ``examples``: named
    functions ``dtype -> args`` run for every provider too; ``backward``: ``(args, reference output, grad) ->
    the backward's arguments`` (default ``(grad, *args)``), or None for a kernel without one; ``compare``:
    ``Exact()``, ``Sums(terms)`` or ``Close(...)`` (``backward_compare`` when the backward differs);
    ``max_examples``: the hypothesis budget under the default "ci" profile (30 examples), scaled with the
    profile's (``HYPOTHESIS_PROFILE=dev`` runs a third of it, ``thorough`` ten times)."""

    kernel: str
    cases: Callable
    compare: object
    backward: Optional[Callable] = _grad_then_args
    backward_compare: object = None
    examples: dict = field(default_factory=dict)
    max_examples: int = 40


# -- matmul: sizes around the GEMM's register tiles (float32 AVX-512: 14 x 32, AVX2: 6 x 16) and cache blocks
EDGE = [0, 1, 2, 5, 6, 7, 13, 14, 15, 16, 17, 31, 32, 33, 47]
_dims = st.one_of(st.sampled_from(EDGE), st.integers(0, 70))
_inner = st.one_of(st.sampled_from(EDGE + [255, 256, 257, 300]), st.integers(0, 70))


@st.composite
def matmul_cases(draw, dtype):
    batch, m, k, n, seed = draw(st.sampled_from([None, 0, 1, 3])), draw(_dims), draw(_inner), draw(_dims), draw(SEEDS)
    lead = () if batch is None else (batch,)
    return values(seed, lead + (m, k), dtype), values(seed + 1, lead + (k, n), dtype)


def _matmul_terms(args):
    return max(args[-2].shape[-1], args[-2].shape[-2], args[-1].shape[-1])    # K forward, N or M backward


def _nan_inf_matmul(dtype):
    a, b = np.ones((20, 40), dtype), np.ones((40, 50), dtype)
    a[3, 7], b[5, 9] = np.nan, np.inf
    return a, b


# -- linear: x (M, K) @ w (N, K)^T + bias (N,) or no bias; its backward takes (grad, x, w)
@st.composite
def linear_cases(draw, dtype):
    m, k, n, seed, bias = draw(_dims), draw(_inner), draw(_dims), draw(SEEDS), draw(st.booleans())
    return values(seed, (m, k), dtype), values(seed + 1, (n, k), dtype), (values(seed + 2, (n,), dtype) if bias
                                                                          else None)


def _linear_terms(args):
    backward = args[2] is not None and args[2].ndim == 2          # (grad, x, w) rather than (x, w, bias)
    x, w = (args[1], args[2]) if backward else (args[0], args[1])
    return max(x.shape[0], x.shape[1], w.shape[0]) + 1     # K forward (+ the bias), N or M backward


def _linear_backward(args, out, grad):
    return grad, args[0], args[1]


# -- scatter_add_rows: grad (n, d) rows added into rows index[i] of a (rows, d) zero array; repeats, empty rows
@st.composite
def scatter_add_rows_cases(draw, dtype):
    n, d, rows, seed = draw(st.integers(0, 60)), draw(_dims), draw(st.integers(1, 20)), draw(SEEDS)
    index = np.random.default_rng(seed).integers(0, rows, n).astype(np.int64)
    return values(seed, (n, d), dtype), index, rows


def _scatter_terms(args):
    return max(1, int(np.bincount(args[1]).max()) if args[1].size else 1)   # the most repeats of one row


# -- conv2d
def _conv_terms(args):
    x, w, (ph, pw), groups = args[-6], args[-5], args[-3], args[-1]     # forward and backward alike
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    return cg * kh * kw + (o // groups) * kh * kw + n * (h + 2 * ph) * (wd + 2 * pw)


@st.composite
def conv2d_cases(draw, dtype):
    g = draw(st.one_of(conv2d_geometries(), conv2d_geometries(max_batch=5, max_channels=12, max_size=20, max_kernel=7,
                                                              max_stride=4, max_dilation=3)))
    seed = draw(SEEDS)
    return (values(seed, g.x_shape, dtype), values(seed + 1, g.w_shape, dtype), g.stride, g.padding, g.dilation,
            g.groups)


def conv_case(x_shape, w_shape, stride, padding, dilation, groups, nan_at=None):
    """An explicit conv2d case as ``dtype -> args``; ``nan_at`` puts a NaN into x there."""
    def make(dtype):
        x = values(len(str(x_shape + w_shape)), x_shape, dtype)
        if nan_at is not None:
            x[nan_at] = np.nan
        return x, values(1, w_shape, dtype), stride, padding, dilation, groups
    return make


CONV_EXAMPLES = {
    "1x1-direct": conv_case((2, 6, 5, 7), (4, 6, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    "1x1-stride2": conv_case((2, 6, 9, 8), (4, 6, 1, 1), (2, 2), (0, 0), (1, 1), 1),
    "1x1-padded": conv_case((2, 3, 4, 5), (5, 3, 1, 1), (1, 1), (1, 2), (1, 1), 1),
    "1x1-grouped": conv_case((3, 6, 5, 5), (4, 3, 1, 1), (1, 1), (0, 0), (1, 1), 2),
    "1x1-stride-past-kernel": conv_case((2, 6, 13, 11), (4, 6, 1, 1), (3, 3), (0, 0), (1, 1), 1),
    "7x7-stride2-pad3": conv_case((2, 3, 17, 15), (5, 3, 7, 7), (2, 2), (3, 3), (1, 1), 1),
    "7x7-exact-fit": conv_case((1, 2, 7, 7), (3, 2, 7, 7), (1, 1), (0, 0), (1, 1), 1),
    "5x5-dilated-grouped": conv_case((2, 6, 13, 11), (12, 3, 5, 5), (1, 2), (2, 2), (2, 1), 2),
    "stride-gt-kernel": conv_case((2, 3, 11, 10), (4, 3, 2, 2), (4, 3), (0, 1), (1, 1), 1),
    "padding-ge-kernel": conv_case((2, 2, 3, 4), (3, 2, 3, 2), (1, 2), (3, 2), (1, 1), 1),
    "dilation": conv_case((2, 3, 13, 12), (4, 3, 3, 3), (1, 2), (2, 1), (3, 2), 1),
    "depthwise": conv_case((3, 8, 9, 9), (8, 1, 3, 3), (1, 1), (1, 1), (1, 1), 8),
    "depthwise-stride2": conv_case((2, 6, 13, 11), (6, 1, 3, 3), (2, 2), (1, 1), (1, 1), 6),
    "depthwise-multiplier": conv_case((2, 4, 8, 7), (12, 1, 5, 3), (2, 1), (2, 1), (1, 2), 4),
    "groups-3": conv_case((2, 9, 6, 6), (6, 3, 3, 3), (1, 1), (1, 1), (1, 1), 3),
    "batch-0": conv_case((0, 3, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "batch-0-1x1": conv_case((0, 3, 8, 8), (4, 3, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    "batch-1": conv_case((1, 3, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "1x1-input": conv_case((2, 3, 1, 1), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "single-row": conv_case((2, 2, 1, 9), (3, 2, 1, 4), (1, 2), (0, 1), (1, 2), 1),
    "no-output-channels": conv_case((2, 3, 5, 5), (0, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "nan-input": conv_case((1, 1, 6, 6), (1, 1, 3, 3), (1, 1), (1, 1), (1, 1), 1, nan_at=(0, 0, 2, 3)),
}


# -- pooling
def _max_args(g):
    return g.kernel_size, g.stride, g.padding, g.dilation, g.ceil_mode


def _avg_args(g):
    return g.kernel_size, g.stride, g.padding, g.ceil_mode, g.count_include_pad


@st.composite
def max_pool2d_cases(draw, dtype):
    g = draw(pool2d_geometries(max_kernel=7, max_size=13))
    x = values(draw(SEEDS), g.x_shape, dtype, ties=draw(st.booleans()), nans=draw(st.integers(0, 3)))
    return (x, *_max_args(g))


@st.composite
def avg_pool2d_cases(draw, dtype):
    g = draw(pool2d_geometries(max_kernel=7, max_size=13, max_dilation=1))
    return (values(draw(SEEDS), g.x_shape, dtype), *_avg_args(g))


def _max_pool_backward(args, out, grad):
    return (grad, args[0], out[1], *args[1:])          # the reference's indices


def _pool_terms(args):
    kh, kw = args[-5]                                   # kernel_size, in all four signatures
    return kh * kw


def _special_pool_input(dtype):
    return np.array([[[[1, np.nan, 3], [np.nan, 2, 3], [-np.inf, -np.inf, 0]]]], dtype)


MAX_POOL_EXAMPLES = {   # NaN: the last NaN in window order wins; ties: the first maximum; -inf windows: the first tap
    "nan-ties-2x2": lambda dt: (_special_pool_input(dt), (2, 2), (1, 1), (0, 0), (1, 1), False),
    "nan-ties-3x3-ceil": lambda dt: (_special_pool_input(dt), (3, 3), (2, 2), (1, 1), (1, 1), True),
    "nan-ties-dilated-ceil": lambda dt: (_special_pool_input(dt), (2, 2), (2, 2), (1, 1), (2, 2), True),
    "window-without-input": lambda dt: (np.arange(4, dtype=dt).reshape(1, 1, 2, 2), (2, 2), (1, 1), (1, 1), (3, 3),
                                        False),
}
AVG_POOL_EXAMPLES = {   # ceil_mode windows hanging past the padded edge divide by fewer elements
    f"ceil-past-padding-{k}-cip{cip}": (lambda dt, k=k, cip=cip: (values(3, (1, 2, 4, 5), dt), k, (2, k[1]), (1, 1),
                                                                   True, cip))
    for k in [(3, 3), (2, 3)] for cip in (True, False)
}


# -- batch_norm
@st.composite
def batch_norm_cases(draw, dtype):
    n, c, length = draw(st.integers(0, 5)), draw(st.integers(1, 6)), draw(st.integers(0, 40))
    training, buffers = draw(st.booleans()), draw(st.booleans())
    if not training and not buffers and n * length == 0:
        buffers = True
    momentum, offset = draw(st.sampled_from([0.0, 0.1, 1.0])), draw(st.sampled_from([0.0, 1.0, 1e3]))
    rng = np.random.default_rng(draw(SEEDS))
    x = (rng.standard_normal((n, c, length)) * 2 + offset).astype(dtype)
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    rm = rng.standard_normal(c).astype(dtype) if buffers else None
    rv = rng.uniform(0.5, 2, c).astype(dtype) if buffers else None
    return x, w, b, rm, rv, training, momentum, 1e-5


def _batch_norm_backward(args, out, grad):
    return grad, args[0], args[1], out[1], out[2], args[5]


# float32 inputs near 1e3 carry ~6e-5 of rounding each: after (x - mean) / std and the weight, two summation orders
# differ by a few 1e-4 in absolute terms
_BN = Close(float32=(1e-3, 2e-3), float64=(1e-7, 1e-8))

KERNELS = [
    Row("matmul", matmul_cases, Sums(_matmul_terms), examples={"nan-inf": _nan_inf_matmul}, max_examples=90),
    Row("linear", linear_cases, Sums(_linear_terms), _linear_backward, max_examples=60),
    Row("scatter_add_rows", scatter_add_rows_cases, Sums(_scatter_terms), None, max_examples=60),
    Row("conv2d", conv2d_cases, Sums(_conv_terms), examples=CONV_EXAMPLES, max_examples=300),
    Row("max_pool2d", max_pool2d_cases, Exact(), _max_pool_backward, Sums(_pool_terms), MAX_POOL_EXAMPLES, 300),
    Row("avg_pool2d", avg_pool2d_cases, Sums(_pool_terms), examples=AVG_POOL_EXAMPLES, max_examples=300),
    Row("batch_norm", batch_norm_cases, _BN, _batch_norm_backward, max_examples=200),
]


# ---------------------------------------------------------------------------------------------------------------------
# the checks

def _pairs(with_examples=False):
    out = []
    for row in KERNELS:
        for p in PROVIDERS:
            if not has_kernel(p, row.kernel):
                continue
            names = row.examples if with_examples else [None]
            out += [pytest.param(row, p, name, id=f"{row.kernel}-{p}" + (f"-{name}" if name else "")) for name in names]
    return out


def check(row, provider, args, dtype, layout="C"):
    """The provider's forward and backward of ``row`` on ``args`` against the reference's, in-place updates too."""
    ref_args = _copy(args)
    want = getattr(reference, row.kernel)(*ref_args)
    mine = _copy(args, layout)
    got = kernel_of(provider, row.kernel)(*mine)
    what = f"{row.kernel} ({provider}, {np.dtype(dtype).name}, {layout})"
    assert_matches(what, got, want, row.compare.bound(row.kernel, args, want, dtype))
    for i, (a, b) in enumerate(zip(mine, ref_args)):
        if not isinstance(b, np.ndarray):
            continue
        # inputs stay untouched; buffers updated in place (batch_norm's running statistics) match the reference's
        updated = not np.array_equal(b, args[i], equal_nan=True)
        bound = Close().bound(row.kernel, args, b, dtype)[0] if updated else 0
        assert_matches(f"{what}, argument {i} after the call", np.ascontiguousarray(a), b, bound)
    if row.backward is None:
        return
    kernel = row.kernel + "_backward"
    grad = values(7, _first_output(want).shape, dtype)
    bargs = row.backward(_copy(args), want, grad)
    bwant = getattr(reference, kernel)(*_copy(bargs))
    bgot = kernel_of(provider, kernel)(*_copy(bargs, layout))
    compare = row.backward_compare or row.compare
    assert_matches(f"{kernel} ({provider}, {np.dtype(dtype).name}, {layout})", bgot, bwant,
                   compare.bound(kernel, bargs, bwant, dtype))


@pytest.mark.parametrize("row, provider, _", _pairs())
def test_kernel_matches_reference_on_drawn_cases(row, provider, _):
    @settings(max_examples=max(1, row.max_examples * settings.default.max_examples // 30), deadline=None)
    @given(data=st.data(), dtype=st.sampled_from(DTYPES), layout=st.sampled_from(["C", "strided"]))
    def run(data, dtype, layout):
        check(row, provider, data.draw(row.cases(dtype), label="args"), dtype, layout)
    run()


@pytest.mark.parametrize("row, provider, example", _pairs(with_examples=True))
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_kernel_matches_reference_on_named_cases(row, provider, example, dtype):
    check(row, provider, row.examples[example](dtype), dtype)


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if has_kernel(p, "max_pool2d_backward")])
def test_max_pool2d_backward_drops_forged_indices(provider):
    # Windows with no input element carry an index outside the plane; forged ones must not write out of bounds.
    x, grad = np.zeros((1, 2, 3, 3)), np.ones((1, 2, 2, 2))
    idx = np.array([[[[0, 9], [-1, 2**40]], [[8, 8], [-(2**62), 4]]]], dtype=np.int64)
    geom = ((2, 2), (1, 1), (0, 0), (1, 1), False)
    got = kernel_of(provider, "max_pool2d_backward")(grad, x, idx, *geom)
    np.testing.assert_array_equal(got, reference.max_pool2d_backward(grad, x, idx, *geom))
    assert got[0, 0].reshape(-1)[0] == 1 and got[0, 1].reshape(-1)[8] == 2 and got.sum() == 4


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if has_kernel(p, "batch_norm")])
def test_batch_norm_updates_buffers_it_cannot_write_directly(provider):
    x = values(1, (4, 3, 5), np.float64)
    w, b = np.ones(3), np.zeros(3)
    base = np.zeros((3, 2))
    rm, rv = base[:, 0], np.ones(3, np.float32)         # a strided view; another dtype
    want_rm, want_rv = np.zeros(3), np.ones(3)
    reference.batch_norm(x, w, b, want_rm, want_rv, True, 0.1, 1e-5)
    kernel_of(provider, "batch_norm")(x, w, b, rm, rv, True, 0.1, 1e-5)
    np.testing.assert_allclose(base[:, 0], want_rm, rtol=1e-12)
    np.testing.assert_allclose(rv, want_rv, rtol=1e-6)


# backward kernels with two gradients take the output mask ``need``: forward arguments to try it on
MASKED = {"matmul": lambda dt: (values(0, (2, 3, 4), dt), values(1, (2, 4, 5), dt)),
          "conv2d": CONV_EXAMPLES["dilation"]}


def _masked_backwards():
    out = []
    for row in KERNELS:
        kernel = row.kernel + "_backward"
        for p in PROVIDERS + ["numpy"]:
            fn = getattr(Glue, kernel, None) if p == EMULATED else backends.provider_kernel(p, kernel)
            if row.kernel in MASKED and fn is not None and "need" in inspect.signature(fn).parameters:
                out.append(pytest.param(row, p, id=f"{kernel}-{p}"))
    return out


@pytest.mark.parametrize("row, provider", _masked_backwards())
@pytest.mark.parametrize("need", [(True, False), (False, True), (False, False)], ids=str)
def test_backward_output_mask(row, provider, need):
    # A gradient nobody wants may be skipped (None) or computed; a wanted one is the full gradient.
    args = MASKED[row.kernel](np.float64)
    want = getattr(reference, row.kernel)(*_copy(args))
    bargs = row.backward(_copy(args), want, values(7, _first_output(want).shape, np.float64))
    full = backends.provider_kernel("numpy", row.kernel + "_backward")(*_copy(bargs))
    got = kernel_of(provider, row.kernel + "_backward")(*_copy(bargs), need=need)
    for wanted, g, f in zip(need, got, full):
        if wanted:
            np.testing.assert_allclose(g, f, rtol=1e-10, atol=1e-12)
        else:
            assert g is None or np.allclose(g, f, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------------------
# gradchecks of the ops in float64, each provider forced (numpy included): (function, input shapes, kernels it runs)

F = md.nn.functional


def _bn(training, buffers):
    def run(t, w, b):
        rm, rv = (md.zeros(3, dtype=md.float64), md.ones(3, dtype=md.float64)) if buffers else (None, None)
        return F.batch_norm(t, rm, rv, w, b, training=training)
    return run


GRADCHECKS = {
    "matmul": (lambda a, b: a @ b, [(3, 5), (5, 4)], "matmul"),
    "matmul-batched": (lambda a, b: md.matmul(a, b), [(2, 3, 5), (2, 5, 4)], "matmul"),
    "conv2d-pad1": (lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1), [(2, 4, 7, 6), (6, 4, 3, 2), (6,)],
                    "conv2d"),
    "conv2d-stride2-pad1": (lambda x, w: F.conv2d(x, w, stride=2, padding=1), [(2, 4, 7, 6), (3, 4, 3, 3)], "conv2d"),
    "conv2d-stride2-dilation2": (lambda x, w, b: F.conv2d(x, w, b, stride=2, dilation=2),
                                 [(2, 4, 7, 6), (6, 4, 3, 2), (6,)], "conv2d"),
    "conv2d-grouped": (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), groups=2),
                       [(2, 4, 7, 6), (6, 2, 3, 2), (6,)], "conv2d"),
    "conv2d-grouped-dilated": (lambda x, w: F.conv2d(x, w, padding=(1, 0), dilation=(1, 2), groups=2),
                               [(2, 4, 7, 6), (4, 2, 2, 3)], "conv2d"),
    "conv2d-same": (lambda x, w, b: F.conv2d(x, w, b, padding="same", dilation=(1, 2)),
                    [(2, 4, 7, 6), (6, 4, 3, 2), (6,)], "conv2d"),
    "max_pool2d-ceil": (lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True), [(2, 3, 7, 6)], "max_pool2d"),
    "max_pool2d-dilated": (lambda t: F.max_pool2d(t, 2, 1, dilation=2), [(2, 3, 7, 6)], "max_pool2d"),
    "avg_pool2d-ceil-nopad": (lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                              [(2, 3, 7, 6)], "avg_pool2d"),
    "avg_pool2d-rect": (lambda t: F.avg_pool2d(t, (2, 3), (1, 2), (1, 0)), [(2, 3, 7, 6)], "avg_pool2d"),
    "batch_norm-train": (_bn(True, True), [(2, 3, 7, 6), (3,), (3,)], "batch_norm"),
    "batch_norm-eval": (_bn(False, True), [(2, 3, 7, 6), (3,), (3,)], "batch_norm"),
    "batch_norm-2d-no-buffers": (_bn(True, False), [(5, 3), (3,), (3,)], "batch_norm"),
}


@pytest.mark.parametrize("provider, name", [
    pytest.param(p, name, id=f"{name}-{p}") for name, (_, _, kernel) in GRADCHECKS.items()
    for p in backends.usable("cpu") if backends.provider_kernel(p, kernel) is not None])
def test_gradcheck_op_with_provider_forced(provider, name):
    fn, shapes, kernel = GRADCHECKS[name]
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal(s) for s in shapes]
    with backends.use(provider), backends.trace() as log:
        assert_gradcheck(fn, *inputs)
    # the forward may be the fused variant (conv2d with its bias: conv2d_bias) where the provider has one
    fused = kernel + "_bias"
    runs = {(kernel if r.kernel == fused else r.kernel, r.provider) for r in log
            if r.kernel in (kernel, fused, kernel + "_backward")}
    assert runs == {(kernel, provider), (kernel + "_backward", provider)}
