"""The C++ extension's conv2d and conv2d_backward on shapes that take its threaded paths, its scratch reuse, and
its argument checks. Values on drawn geometries and edge cases, for every provider: tests/test_kernels.py.

Skipped with the build's reason when minidl._C is not importable, except under CI (see native_ext.py).
"""
import threading

import numpy as np
import pytest
from native_ext import import_native

_C = import_native()

from minidl.backends import reference  # noqa: E402



@pytest.fixture(autouse=True, scope="module")
def _im2col_only():
    """These bounds are the im2col + GEMM path's (a sum of products per output); Winograd's own bound and the
    choice between the two are tested in test_conv_fast.py."""
    previous = _C.conv2d_algorithm("im2col")
    yield
    _C.conv2d_algorithm(previous)


DTYPES = [np.float32, np.float64]


def _inputs(seed, dtype, x_shape, w_shape, out_shape):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, size=s).astype(dtype) for s in (x_shape, w_shape, out_shape)]


def _assert_close(name, got, want, bound, dtype):
    """got == want (float64 reference) within ``bound`` elementwise."""
    assert got.dtype == dtype, f"{name}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert got.shape == want.shape, f"{name}: shape {got.shape}, expected {want.shape}"
    assert got.flags.c_contiguous, f"{name} is not C-contiguous"
    err = np.abs(got.astype(np.float64) - want)
    if err.size:
        worst = np.unravel_index(np.argmax(err - bound), err.shape)
        assert np.all(err <= bound), (f"{name}: max excess at {worst}: got {got[worst]}, want {want[worst]}, "
                                      f"bound {bound[worst]}")


def _check(x, w, grad, stride, padding, dilation, groups):
    """Native forward and backward vs the reference evaluated in float64.

    Each output is a sum of products; its rounding error in the input dtype is at most about
    (terms) * eps * (the same sum over absolute values), which the reference gives when run on |x|, |w|, |grad|.
    """
    dtype = x.dtype.type
    geom = (stride, padding, dilation, groups)
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, grad))
    abs_args = (np.abs(x64), np.abs(w64))
    eps, tiny = np.finfo(dtype).eps, np.finfo(dtype).tiny
    n, o, oh, ow = grad.shape
    _, cg, kh, kw = w.shape
    terms = cg * kh * kw + (o // groups) * kh * kw + n * oh * ow + 2

    y = _C.conv2d(x, w, *geom)
    _assert_close("y", y, reference.conv2d(x64, w64, *geom), 2 * terms * eps * reference.conv2d(*abs_args, *geom) + tiny,
                  dtype)
    grad_x, grad_w = _C.conv2d_backward(grad, x, w, *geom)
    want_x, want_w = reference.conv2d_backward(g64, x64, w64, *geom)
    bound_x, bound_w = reference.conv2d_backward(np.abs(g64), *abs_args, *geom)
    _assert_close("grad_x", grad_x, want_x, 2 * terms * eps * bound_x + tiny, dtype)
    _assert_close("grad_w", grad_w, want_w, 2 * terms * eps * bound_w + tiny, dtype)


# The cases every strategy run must contain: (x shape, w shape, stride, padding, dilation, groups).
EDGE_CASES = {
    "1x1-direct": ((2, 6, 5, 7), (4, 6, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    "1x1-stride2": ((2, 6, 9, 8), (4, 6, 1, 1), (2, 2), (0, 0), (1, 1), 1),
    "1x1-padded": ((2, 3, 4, 5), (5, 3, 1, 1), (1, 1), (1, 2), (1, 1), 1),
    "1x1-grouped": ((3, 6, 5, 5), (4, 3, 1, 1), (1, 1), (0, 0), (1, 1), 2),
    "7x7-stride2-pad3": ((2, 3, 17, 15), (5, 3, 7, 7), (2, 2), (3, 3), (1, 1), 1),
    "7x7-exact-fit": ((1, 2, 7, 7), (3, 2, 7, 7), (1, 1), (0, 0), (1, 1), 1),
    "stride-gt-kernel": ((2, 3, 11, 10), (4, 3, 2, 2), (4, 3), (0, 1), (1, 1), 1),
    "padding-ge-kernel": ((2, 2, 3, 4), (3, 2, 3, 2), (1, 2), (3, 2), (1, 1), 1),
    "dilation": ((2, 3, 13, 12), (4, 3, 3, 3), (1, 2), (2, 1), (3, 2), 1),
    "depthwise": ((3, 8, 9, 9), (8, 1, 3, 3), (1, 1), (1, 1), (1, 1), 8),
    "depthwise-multiplier": ((2, 4, 8, 7), (12, 1, 5, 3), (2, 1), (2, 1), (1, 2), 4),
    "groups-3": ((2, 9, 6, 6), (6, 3, 3, 3), (1, 1), (1, 1), (1, 1), 3),
    "batch-0": ((0, 3, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "batch-0-1x1": ((0, 3, 8, 8), (4, 3, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    "batch-1": ((1, 3, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "1x1-input": ((2, 3, 1, 1), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "single-row": ((2, 2, 1, 9), (3, 2, 1, 4), (1, 2), (0, 1), (1, 2), 1),
    "no-output-channels": ((2, 3, 5, 5), (0, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
}


# Shapes big enough for the threaded paths: whole samples per thread (even and long batches), one
# sample at a time with threaded GEMMs and parallel im2col/col2im (batch 1, batch 3 on 2 threads),
# im2col in several chunks of output positions (K * positions larger than the cache-sized chunk), and
# the 1x1 path that reads x directly.
LARGE = {
    "resnet-like-batch4": ((4, 64, 30, 30), (64, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "batch1-threaded-gemm": ((1, 48, 40, 36), (80, 48, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "batch3-uneven": ((3, 32, 33, 31), (40, 32, 3, 3), (2, 1), (1, 1), (1, 1), 1),
    "batch9-7x7-stride2": ((9, 3, 64, 64), (32, 3, 7, 7), (2, 2), (3, 3), (1, 1), 1),
    "1x1-bottleneck": ((4, 128, 28, 28), (48, 128, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    "1x1-batch1": ((1, 256, 28, 28), (64, 256, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    "grouped-dilated": ((6, 32, 24, 24), (64, 8, 3, 3), (1, 1), (2, 2), (2, 2), 4),
    "depthwise-large": ((8, 64, 28, 28), (64, 1, 3, 3), (1, 1), (1, 1), (1, 1), 64),
}


@pytest.mark.parametrize("case", LARGE.values(), ids=LARGE.keys())
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_conv2d_large_shapes(case, dtype):
    x_shape, w_shape, stride, padding, dilation, groups = case
    out = reference.conv2d(np.zeros(x_shape[:2] + (1, 1)), np.zeros(w_shape[:2] + (1, 1)), (1, 1), (0, 0), (1, 1),
                           groups).shape[:2]
    (h, w_), (kh, kw) = x_shape[2:], w_shape[2:]
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w_ + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    x, w, grad = _inputs(sum(x_shape), dtype, x_shape, w_shape, out + (oh, ow))
    _check(x, w, grad, stride, padding, dilation, groups)


def test_repeated_calls_reuse_scratch_and_stay_right():
    # A big call then a small one then the big one again: the per-thread scratch is reused, never stale.
    big = _inputs(1, np.float32, (4, 16, 20, 20), (8, 16, 3, 3), (4, 8, 20, 20))
    small = _inputs(2, np.float32, (2, 3, 5, 5), (4, 3, 3, 3), (2, 4, 3, 3))
    first = _C.conv2d_backward(big[2], big[0], big[1], (1, 1), (1, 1), (1, 1), 1)
    _C.conv2d_backward(small[2], small[0], small[1], (1, 1), (0, 0), (1, 1), 1)
    again = _C.conv2d_backward(big[2], big[0], big[1], (1, 1), (1, 1), (1, 1), 1)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_concurrent_calls_from_python_threads():
    # The GIL is released during the compute and scratch is per thread: overlapping calls stay right.
    x, w, grad = _inputs(3, np.float32, (4, 16, 24, 24), (32, 16, 3, 3), (4, 32, 24, 24))
    want = _C.conv2d(x, w, (1, 1), (1, 1), (1, 1), 1), _C.conv2d_backward(grad, x, w, (1, 1), (1, 1), (1, 1), 1)
    errors = []

    def work():
        for _ in range(3):
            y = _C.conv2d(x, w, (1, 1), (1, 1), (1, 1), 1)
            gx, gw = _C.conv2d_backward(grad, x, w, (1, 1), (1, 1), (1, 1), 1)
            if not (np.array_equal(y, want[0]) and np.array_equal(gx, want[1][0]) and np.array_equal(gw, want[1][1])):
                errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ---------------------------------------------------------------------------------------------------------------------
# through the provider layer and autograd

# ---------------------------------------------------------------------------------------------------------------------
# argument checks

def _f32(*shape):
    return np.ones(shape, np.float32)


GOOD = dict(x=_f32(2, 4, 8, 8), w=_f32(6, 2, 3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=2)

BAD = {
    "x-3d": (dict(x=_f32(4, 8, 8)), "x must be 4-D"),
    "w-2d": (dict(w=_f32(6, 18)), "w must be 4-D"),
    "mixed-dtype": (dict(w=np.ones((6, 2, 3, 3), np.float64)), "dtypes differ"),
    "int64": (dict(x=np.ones((2, 4, 8, 8), np.int64), w=np.ones((6, 2, 3, 3), np.int64)), "float32 or float64"),
    "float16": (dict(x=np.ones((2, 4, 8, 8), np.float16), w=np.ones((6, 2, 3, 3), np.float16)), "float32 or float64"),
    "non-contiguous": (dict(x=_f32(2, 4, 8, 16)[..., ::2]), "C-contiguous"),
    "channels-not-divisible": (dict(groups=3), "divisible by groups"),
    "w-channels": (dict(w=_f32(6, 3, 3, 3)), r"w.shape\[1\] must be"),
    "out-channels-not-divisible": (dict(w=_f32(5, 2, 3, 3)), "divisible by groups"),
    "groups-0": (dict(groups=0), "groups must be >= 1"),
    "empty-kernel": (dict(w=_f32(6, 2, 0, 3)), "at least 1x1"),
    "kernel-too-large": (dict(w=_f32(6, 2, 11, 3)), "output would be empty"),
    "dilation-too-large": (dict(dilation=(5, 1)), "output would be empty"),
    "stride-0": (dict(stride=(0, 1)), "stride must be a pair"),
    "padding-negative": (dict(padding=(-1, 0)), "padding must be a pair"),
    "dilation-0": (dict(dilation=(1, 0)), "dilation must be a pair"),
    "stride-int": (dict(stride=1), "stride must be a pair"),
    "stride-triple": (dict(stride=(1, 1, 1)), "stride must be a pair"),
    "stride-float": (dict(stride=(1.0, 1)), "stride must be a pair"),
    "padding-huge": (dict(padding=(2**70, 0)), "padding must be a pair"),
}


@pytest.mark.parametrize("change, message", BAD.values(), ids=BAD.keys())
def test_conv2d_rejects_bad_arguments(change, message):
    args = {**GOOD, **change}
    with pytest.raises(ValueError, match=f"^conv2d: .*{message}"):
        _C.conv2d(**args)
    # The backward checks the same things first (grad is only compared afterwards).
    with pytest.raises(ValueError, match=f"^conv2d_backward: .*{message}"):
        _C.conv2d_backward(_f32(2, 6, 8, 8), **args)


def test_conv2d_messages_name_the_shapes():
    with pytest.raises(ValueError, match=r"^conv2d: .*x \(2, 4, 8, 8\), w \(6, 3, 3, 3\)"):
        _C.conv2d(**{**GOOD, "w": _f32(6, 3, 3, 3)})


@pytest.mark.parametrize("grad, message", [
    (_f32(2, 6, 8, 7), r"grad has shape \(2, 6, 8, 7\), expected the output shape \(2, 6, 8, 8\)"),
    (_f32(1, 6, 8, 8), "grad has shape"),
    (_f32(2, 6, 64), "grad must be 4-D"),
    (np.ones((2, 6, 8, 8), np.float64), "dtypes differ"),
    (_f32(2, 6, 8, 16)[..., ::2], "C-contiguous"),
], ids=["spatial", "batch", "ndim", "dtype", "non-contiguous"])
def test_conv2d_backward_rejects_bad_grad(grad, message):
    with pytest.raises(ValueError, match=f"^conv2d_backward: .*{message}"):
        _C.conv2d_backward(grad, **GOOD)
