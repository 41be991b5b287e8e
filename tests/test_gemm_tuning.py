"""The GEMM's run-time blocking (detected, overridden) and the fused linear kernels (issue 13, GEMM parts).

Blocking: whatever KC/MC/NC the model or a user picks, products stay correct -- odd and tiny blocks, shapes that
are not multiples of the micro-tile, transposed operands, and both the packed-B and the B-in-place paths.
Linear: the native kernels against the reference on hypothesis shapes, the output masks, gradcheck of F.linear
and PyTorch as the oracle.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.backends import reference
from minidl.ops.linalg import Linear
from native_ext import import_native
import child_process  # tests/ helper: children import the same minidl

F = md.nn.functional
_C = import_native()
TOL = {np.float32: 2e-5, np.float64: 1e-12}


@pytest.fixture
def blocking():
    """Set the GEMM blocking for one test, restoring the model's afterwards."""
    yield _C.set_gemm_blocking
    _C.set_gemm_blocking(0, 0, 0)


def _close(got, want, dtype, scale=None):
    scale = np.abs(want).max(initial=0.0) + 1.0 if scale is None else scale
    assert got.shape == want.shape and got.dtype == dtype
    # the rounding error of a sum is bounded relative to sum |a_ik| |b_kj| (the scale)
    err = np.abs(got.astype(np.float64) - want) / scale
    assert err.max(initial=0.0) <= TOL[dtype], f"relative error {err.max():.3g}"


def _operands(rng, m, k, n, dtype):
    return (rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype),
            rng.standard_normal((m, n)).astype(dtype))


# ---------------------------------------------------------------------------------------------------------------------
# detected blocking

def test_detected_blocking_is_sane():
    info = _C.gemm_blocking()
    caches = info["caches"]
    assert 4 << 10 <= caches["l1d"] <= caches["l2"] and caches["l1d_ways"] >= 1 and caches["l3_sharing"] >= 1
    assert info["source"] == "model" or os.environ.get("MINIDL_GEMM_BLOCKING")
    for name, dt in (("float32", np.float32), ("float64", np.float64)):
        blk, model = info[name], info["model_" + name]
        item = np.dtype(dt).itemsize
        # the B micro-panel fits L1, the packed A block L2, the packed B panel this core's L3 share
        assert 8 <= model["kc"] and model["kc"] * blk["nr"] * item <= caches["l1d"]
        assert model["mc"] % blk["mr"] == 0 and model["mc"] * model["kc"] * item <= caches["l2"]
        assert model["nc"] % blk["nr"] == 0
        assert model["kc"] * model["nc"] * item <= max(caches["l3"] // caches["l3_sharing"], caches["l2"])
        assert (blk["mr"], blk["nr"]) == tuple(_C.build_info()["gemm_blocking"][name][k] for k in ("mr", "nr"))
    assert "KC=" in _C.build_info()["gemm"]


def test_info_reports_the_blocking():
    from minidl.cli import info_lines
    text = "\n".join(info_lines())
    assert "gemm_blocking=" in text and "model_float32" in text


def test_fma_peak_is_positive():
    assert _C.fma_peak("float32", 1, 0.01) > 0
    with pytest.raises(ValueError, match="^fma_peak: dtype"):
        _C.fma_peak("int8", 1, 0.01)


def test_set_blocking_rounds_and_restores(blocking):
    mr, nr = (_C.gemm_blocking()["float32"][k] for k in ("mr", "nr"))
    info = blocking(1, 1, 1)
    assert info["source"] == "set_gemm_blocking"
    assert (info["float32"]["kc"], info["float32"]["mc"], info["float32"]["nc"]) == (1, mr, nr)
    info = blocking(0, 0, 0)
    assert info["source"] == "model"
    assert all(info["float32"][k] == info["model_float32"][k] for k in ("kc", "mc", "nc"))
    with pytest.raises(ValueError, match="^set_gemm_blocking: "):
        blocking(-1, 0, 0)


# ---------------------------------------------------------------------------------------------------------------------
# correctness under any blocking

BLOCKINGS = [(1, 1, 1), (3, 7, 17), (5, 1, 40), (17, 13, 1), (64, 30, 48), (1000, 1000, 1000)]
SHAPES = [(1, 1, 1), (7, 5, 3), (13, 33, 17), (6, 16, 16), (64, 100, 37), (29, 1, 50), (3, 2, 70), (70, 45, 2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("blk", BLOCKINGS)
def test_products_correct_for_any_blocking(blocking, blk, dtype):
    blocking(*blk)
    rng = np.random.default_rng(sum(blk))
    for m, k, n in SHAPES:
        a, b, g = _operands(rng, m, k, n, dtype)
        _close(_C.matmul(a, b), a @ b, dtype, np.abs(a) @ np.abs(b) + 1)
        ga, gb = _C.matmul_backward(g, a, b)
        _close(ga, g @ b.T, dtype, np.abs(g) @ np.abs(b.T) + 1)
        _close(gb, a.T @ g, dtype, np.abs(a.T) @ np.abs(g) + 1)
        w = np.ascontiguousarray(b.T)                       # linear: x @ w^T with w (N, K)
        bias = rng.standard_normal(n).astype(dtype)
        _close(_C.linear(a, w, bias), a @ b + bias, dtype, np.abs(a) @ np.abs(b) + np.abs(bias) + 1)


@pytest.mark.parametrize("blk", [(2, 6, 16), (33, 12, 32), (40, 312, 1000)])
def test_large_product_with_small_blocks_many_rounds(blocking, blk):
    # two threads; many jc x pc rounds: the two packed-B buffers and counters alternate (the last blocking reads
    # B in place, K in several slabs)
    blocking(*blk)
    rng = np.random.default_rng(1)
    a, b, _ = _operands(rng, 150, 130, 170, np.float64)
    _close(_C.matmul(a, b), a @ b, np.float64)
    _close(_C.matmul(np.ascontiguousarray(b.T), np.ascontiguousarray(a.T)), b.T @ a.T, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", [(64, 784, 128), (64, 1000, 256), (40, 300, 1024), (7, 2048, 128)])
def test_power_of_two_row_strides(m, k, n, dtype):
    # B rows 128/256 elements apart alias in L1 and are read in place with KC set by what L2 holds; 1024 elements
    # apart (4 KiB for float32) they map to one L1 set and B is packed. Each way the product is exact.
    rng = np.random.default_rng(m + k + n)
    a, b, g = _operands(rng, m, k, n, dtype)
    _close(_C.matmul(a, b), a @ b, dtype, np.abs(a) @ np.abs(b) + 1)
    ga, gb = _C.matmul_backward(g, a, b)
    _close(ga, g @ b.T, dtype, np.abs(g) @ np.abs(b.T) + 1)
    _close(gb, a.T @ g, dtype, np.abs(a.T) @ np.abs(g) + 1)


def test_environment_variable_sets_the_blocking():
    code = ("from minidl import _C; import numpy as np; i = _C.gemm_blocking(); "
            "print(i['source'], i['float64']['kc'], i['float64']['mc'] % i['float64']['mr'], i['float64']['nc']); "
            "a = np.random.rand(37, 41); b = np.random.rand(41, 29); "
            "print(abs(_C.matmul(a, b) - a @ b).max() < 1e-12)")
    # the child imports the minidl these tests import (the installed one under CI), never the checkout's
    out = subprocess.run([sys.executable, "-c", code], env=child_process.env(MINIDL_GEMM_BLOCKING="5,7,9"),
                         cwd=child_process.CWD, capture_output=True, text=True, check=True).stdout
    source, kc, mc_rem, nc = out.split()[:4]
    assert (source, kc, mc_rem) == ("MINIDL_GEMM_BLOCKING", "5", "0") and int(nc) >= 9
    assert out.split()[4] == "True"


# ---------------------------------------------------------------------------------------------------------------------
# linear kernels: native against the reference

dims = st.integers(0, 70)


@settings(max_examples=25, deadline=None)
@given(m=dims, k=dims, n=dims, with_bias=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       need=st.tuples(st.booleans(), st.booleans(), st.booleans()), seed=st.integers(0, 2**31 - 1))
def test_linear_native_matches_reference(m, k, n, with_bias, dtype, need, seed):
    rng = np.random.default_rng(seed)
    x, w, g = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (n, k), (m, n)))
    bias = rng.standard_normal(n).astype(dtype) if with_bias else None
    scale = np.abs(x) @ np.abs(w.T) + (0 if bias is None else np.abs(bias)) + 1
    _close(_C.linear(x, w, bias), reference.linear(x, w, bias), dtype, scale)
    got = _C.linear_backward(g, x, w, *need)
    want = reference.linear_backward(g, x, w, need)
    scales = (np.abs(g) @ np.abs(w) + 1, np.abs(g.T) @ np.abs(x) + 1, np.abs(g).sum(0) + 1)
    for flag, gv, wv, sv in zip(need, got, want, scales):
        assert (gv is None) == (wv is None) == (not flag)
        if flag:
            _close(gv, wv, dtype, sv)


def test_linear_reads_non_contiguous_input_through_the_wrapper():
    from minidl.backends import ops_native
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 14))[:, ::2]                  # strided view: the wrapper makes it contiguous
    w = rng.standard_normal((7, 14))[:, 1::2]
    _close(ops_native.linear(x, w, None), x @ w.T, np.float64)


def test_linear_kernel_rejects_mismatched_operands():
    x, w = np.ones((3, 4)), np.ones((5, 6))
    with pytest.raises(ValueError, match="^linear: "):
        _C.linear(x, w)
    with pytest.raises(ValueError, match="^linear: bias"):
        _C.linear(x, np.ones((5, 4)), np.ones(4))
    with pytest.raises(ValueError, match="^linear_backward: grad"):
        _C.linear_backward(np.ones((3, 4)), x, np.ones((5, 4)))


@pytest.mark.parametrize("need", [(True, False), (False, True), (False, False)])
def test_matmul_backward_output_mask(need):
    rng = np.random.default_rng(3)
    a, b, g = _operands(rng, 5, 6, 7, np.float64)
    for got in (_C.matmul_backward(g, a, b, *need), reference.matmul_backward(g, a, b, need)):
        assert (got[0] is None) == (not need[0]) and (got[1] is None) == (not need[1])
        if need[0]:
            _close(got[0], g @ b.T, np.float64)
        if need[1]:
            _close(got[1], a.T @ g, np.float64)


def test_matmul_backward_computes_only_what_is_needed():
    # a frozen operand gets no gradient, and the kernel is asked for only the other one
    calls = []
    real = md.backends.kernels.matmul_backward

    def spy(grad, a, b, need=(True, True)):
        calls.append(tuple(need))
        return real(grad, a, b, need)

    a = md.randn(4, 3)
    b = md.randn(3, 5, requires_grad=True)
    md.backends.kernels.matmul_backward = spy
    try:
        (a @ b).sum().backward()
    finally:
        md.backends.kernels.matmul_backward = real
    assert calls == [(False, True)] and a.grad is None and b.grad.shape == (3, 5)


# ---------------------------------------------------------------------------------------------------------------------
# F.linear: the Linear Function, gradients, fallbacks

def _node_name(t):
    return t._node.name if t._node is not None else None


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,), (0, 4)])
def test_f_linear_matches_torch(shape, with_bias):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    xv, wv, bv = rng.standard_normal(shape), rng.standard_normal((3, 4)), rng.standard_normal(3)
    x, w = md.tensor(xv, requires_grad=True), md.tensor(wv, requires_grad=True)
    b = md.tensor(bv, requires_grad=True) if with_bias else None
    y = F.linear(x, w, b)
    assert _node_name(y) == "Linear"
    (y * y).sum().backward()
    tx, tw = torch.tensor(xv, requires_grad=True), torch.tensor(wv, requires_grad=True)
    tb = torch.tensor(bv, requires_grad=True) if with_bias else None
    ty = torch.nn.functional.linear(tx, tw, tb)
    (ty * ty).sum().backward()
    np.testing.assert_allclose(y.array, ty.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(x.grad.array, tx.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(w.grad.array, tw.grad.numpy(), atol=1e-12)
    if with_bias:
        np.testing.assert_allclose(b.grad.array, tb.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("with_bias", [True, False])
def test_f_linear_gradcheck(with_bias):
    rng = np.random.default_rng(5)
    x = md.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    w = md.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    args = (x, w, md.tensor(rng.standard_normal(5), requires_grad=True)) if with_bias else (x, w)
    assert md.autograd.gradcheck(lambda *t: F.linear(*t), args)


def test_f_linear_second_order_composes():
    # create_graph: the backward is expressed with differentiable ops, so a gradient of a gradient is right
    rng = np.random.default_rng(6)
    w = md.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    b = md.tensor(rng.standard_normal(2), requires_grad=True)

    def input_grad(x):
        return md.autograd.grad(F.linear(x, w, b).sigmoid().sum(), x, create_graph=True)[0]

    assert md.autograd.gradcheck(input_grad, (md.tensor(rng.standard_normal((3, 4)), requires_grad=True),))


def test_f_linear_output_mask():
    calls = []
    real = md.backends.kernels.linear_backward

    def spy(grad, x, w, need=(True, True, True)):
        calls.append(tuple(need))
        return real(grad, x, w, need)

    x = md.randn(4, 3)
    w = md.randn(2, 3, requires_grad=True)
    b = md.randn(2)
    md.backends.kernels.linear_backward = spy
    try:
        F.linear(x, w, b).sum().backward()
    finally:
        md.backends.kernels.linear_backward = real
    assert calls == [(False, True, False)] and x.grad is None and b.grad is None and w.grad.shape == (2, 3)


def test_f_linear_falls_back_without_the_kernel():
    # the numba provider has no linear kernel: F.linear composes matmul and add there
    x, w, b = md.randn(4, 3), md.randn(2, 3, requires_grad=True), md.randn(2)
    want = F.linear(x, w, b).array
    if md.backends.available().get("numba") is not None:
        pytest.skip("numba provider unavailable here")
    with md.backends.use("numba"):
        assert not md.backends.supports("linear")
        y = F.linear(x, w, b)
        assert _node_name(y) not in (None, "Linear")
    np.testing.assert_allclose(y.array, want, rtol=1e-5, atol=1e-5)


def test_f_linear_other_dtypes_and_bias_shapes_compose():
    x, w = md.randn(4, 3), md.randn(2, 3, requires_grad=True)
    assert _node_name(F.linear(x, w, md.randn(1, 2))) not in (None, "Linear")   # a broadcast bias composes
    assert Linear.__name__ == _node_name(F.linear(x, w, md.randn(2)))
