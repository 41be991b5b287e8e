"""The fused CUDA attention kernels (csrc/cuda/attention.cu), run on the CPU through the emulated build of the same
source (``_C_cuda_emu``, tests/cuda_emu/build.py) and the Python glue the GPU provider uses
(minidl/backends/_cuda_glue_attention.py), against the NumPy reference ``reference.attention`` / ``attention_backward``.
MINIDL_CUDA_EMU_SANITIZE=address,undefined selects the ASan+UBSan build, as in test_cuda_emu.py (.ci/run runs this
file that way).

Geometries reach the kernels' edges: the block's 32-row tiles and the 32-column (float32) / 16-column (float64) key
tiles cut mid-way (L != S, neither a multiple), head sizes across the 64 / 32-column shared-memory stages and past
the 128 / 64 output columns one block computes (more blocks on gridDim.z), masks of every broadcast shape with -inf
entries and fully masked rows, and causal with L < S and L > S (key or query tiles skipped).
"""
import os
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cuda_emu import build as emu_build
from minidl.backends import _cuda_glue_attention as fused
from minidl.backends import reference
from minidl.backends._cuda_glue import Glue

DTYPES = [np.float32, np.float64]
SANITIZE = os.environ.get("MINIDL_CUDA_EMU_SANITIZE") or None
MASKS = ["none", "1x1", "Bx1", "1xH", "BxH", "Bx1x1"]


@pytest.fixture(scope="module")
def glue():
    try:
        subprocess.run([emu_build.compiler(), "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no C++ compiler to build the emulated CUDA module: {exc}")
    return Glue(emu_build.load(SANITIZE), np, lambda a: a.ctypes.data, 0)


def _tol(dtype, scale=1.0, terms=1):
    """float32: the kernel accumulates in float32 in another order than the float64 reference. Gradients near zero
    come from cancellations (dS = P (dP - D) of sums over Ev), so the absolute part grows with the scale and the
    square root of the number of terms summed."""
    grow = max(1.0, scale) * np.sqrt(terms)
    return dict(rtol=2e-4, atol=2e-5 + 2e-6 * grow) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12 * grow)


def _mask(rng, kind, b, h, length, s, dtype, full_rows=True):
    """An additive mask of broadcast shape ``kind`` with random -inf entries and (``full_rows``) some rows all -inf."""
    if kind == "none":
        return None
    mb = b if kind in ("Bx1", "BxH", "Bx1x1") else 1
    mh = h if kind in ("1xH", "BxH") else 1
    mask = rng.standard_normal((mb, mh, 1 if kind == "Bx1x1" else length, s)).astype(dtype)
    mask[rng.random(mask.shape) < 0.25] = -np.inf
    if kind == "Bx1x1":         # a key-padding row shared by every query (the glue broadcasts it)
        if full_rows:
            mask[0] = -np.inf
    elif full_rows:
        mask[0, 0, length // 2] = -np.inf          # one row masked in one (batch, head) slot
        mask[..., length - 1, :] = -np.inf         # the last row masked everywhere
    return mask


def _check(glue, b, h, length, s, e, ev, kind, causal, dtype, seed=0, scale=None, full_rows=True):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((b, h, length, e)).astype(dtype)
    k = rng.standard_normal((b, h, s, e)).astype(dtype)
    v = rng.standard_normal((b, h, s, ev)).astype(dtype)
    mask = _mask(rng, kind, b, h, length, s, dtype, full_rows)
    scale = 1.0 / np.sqrt(e) if scale is None else scale
    out, lse = fused.attention(glue, q, k, v, mask, causal, scale)
    assert out.shape == (b, h, length, ev) and lse.shape == (b, h, length) and out.dtype == lse.dtype == dtype
    # the reference in float64 on the same (rounded) inputs: the float32 kernel is checked against exact values
    up = [None if a is None else a.astype(np.float64) for a in (q, k, v, mask)]
    ref_out, ref_lse = reference.attention(*up, causal, scale)
    np.testing.assert_allclose(out, ref_out, **_tol(dtype))
    np.testing.assert_allclose(lse, ref_lse, **_tol(dtype))  # -inf exactly where the reference has it
    grad = rng.standard_normal(out.shape).astype(dtype)
    got = fused.attention_backward(glue, grad, q, k, v, out, lse, mask, causal, scale)
    want = reference.attention_backward(grad.astype(np.float64), *up[:3], ref_out, ref_lse, up[3], causal, scale)
    tol = _tol(dtype, scale, max(length, s) * max(e, ev))
    for name, g, w, like in zip(("dq", "dk", "dv"), got, want, (q, k, v)):
        assert g.shape == like.shape and g.dtype == dtype, name
        np.testing.assert_allclose(g, w, err_msg=name, **tol)
    return out, lse, got


# (B, H, L, S, E, Ev)
SHAPES = [
    (1, 1, 1, 1, 1, 1),
    (2, 3, 5, 7, 8, 6),          # L < S, everything inside one tile
    (1, 2, 37, 33, 16, 9),       # L > S, both past one tile
    (1, 1, 33, 65, 64, 64),      # E at the float32 stage width, S across three float32 key tiles
    (1, 1, 20, 17, 128, 128),    # E = Ev = 128: two stages, one (float32) or two (float64) output blocks
    (1, 1, 9, 11, 130, 129),     # past 128: several output blocks in both dtypes
    (2, 2, 40, 3, 4, 5),         # S tiny, L across two tiles
    (1, 1, 70, 40, 7, 3),        # causal L > S: rows past S see every key
    (1, 1, 40, 70, 5, 33),       # causal L < S: key tiles past the diagonal skipped
    (1, 1, 28, 1, 2, 65),        # one key: dk is a pure cancellation (P = 1, dP = D)
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention_listed_shapes(glue, shape, causal, dtype):
    kind = MASKS[sum(shape) % len(MASKS)]  # every broadcast shape over the list, each with -inf and full rows
    _check(glue, *shape, kind, causal, dtype, seed=sum(shape))


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_attention_every_mask_shape(glue, kind, causal):
    _check(glue, 2, 3, 35, 18, 12, 10, kind, causal, np.float64, seed=7)


@settings(max_examples=12 if SANITIZE else 30, deadline=None)  # the sanitizer build runs ~5x slower (CI time)
@given(b=st.integers(1, 2), h=st.integers(1, 3), length=st.integers(1, 70), s=st.integers(1, 70),
       e=st.sampled_from([1, 2, 3, 8, 15, 31, 32, 33, 64, 65, 100, 128]),
       ev=st.sampled_from([1, 4, 17, 32, 63, 64, 65, 128, 129]), kind=st.sampled_from(MASKS),
       causal=st.booleans(), dtype=st.sampled_from(DTYPES), scale=st.floats(0.05, 2.0),
       full_rows=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_attention_drawn_shapes(glue, b, h, length, s, e, ev, kind, causal, dtype, scale, full_rows, seed):
    if b * h * length * s * (e + ev) > 60_000:  # keep each example to a few emulated blocks
        length = max(1, length // 4)
    _check(glue, b, h, length, s, e, ev, kind, causal, dtype, seed=seed, scale=scale, full_rows=full_rows)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_fully_masked_rows_give_zero_and_no_gradient(glue, dtype):
    b, h, length, s = 1, 2, 34, 20
    mask = np.zeros((1, h, length, s), dtype=dtype)
    mask[:, :, [0, 17, 33]] = -np.inf           # rows in both query tiles
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal((b, h, length, 6)).astype(dtype), rng.standard_normal((b, h, s, 6)).astype(dtype)
    v = rng.standard_normal((b, h, s, 5)).astype(dtype)
    out, lse = fused.attention(glue, q, k, v, mask, False, 0.5)
    assert np.all(out[:, :, [0, 17, 33]] == 0) and np.all(np.isneginf(lse[:, :, [0, 17, 33]]))
    assert np.all(np.isfinite(out)) and np.isfinite(np.delete(lse, [0, 17, 33], axis=2)).all()
    grad = np.zeros_like(out)
    grad[:, :, [0, 17, 33]] = 1.0               # only the masked rows carry a gradient
    dq, dk, dv = fused.attention_backward(glue, grad, q, k, v, out, lse, mask, False, 0.5)
    assert not dq.any() and not dk.any() and not dv.any()


@pytest.mark.parametrize("need", [(True, False, False), (False, True, False), (False, False, True),
                                  (False, True, True), (False, False, False)], ids=str)
def test_backward_skips_unwanted_gradients(glue, need):
    rng = np.random.default_rng(5)
    q, k = rng.standard_normal((2, 1, 9, 4)), rng.standard_normal((2, 1, 13, 4))
    v, mask = rng.standard_normal((2, 1, 13, 3)), rng.standard_normal((1, 1, 9, 13))
    out, lse = reference.attention(q, k, v, mask, True, 0.7)
    grad = rng.standard_normal(out.shape)
    got = fused.attention_backward(glue, grad, q, k, v, out, lse, mask, True, 0.7, need=need)
    want = reference.attention_backward(grad, q, k, v, out, lse, mask, True, 0.7)
    for wanted, g, w in zip(need, got, want):
        if wanted:
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
        else:
            assert g is None


def test_reverse_thread_order_gives_the_same_result(glue, monkeypatch):
    # the emulator runs each block's threads in reverse: a missing barrier would read another order's data
    monkeypatch.setenv("MINIDL_EMU_ORDER", "reverse")
    _check(glue, 1, 2, 35, 40, 70, 20, "BxH", True, np.float64, seed=11)
    _check(glue, 1, 1, 35, 19, 9, 130, "1x1", False, np.float32, seed=12)


def test_rows_without_keys_in_the_kernel(glue):
    # S == 0 (the op never sends it; the kernel still gives every row out = 0, lse = -inf, and zero dq)
    q, k, v = np.ones((1, 1, 3, 2)), np.ones((1, 1, 0, 2)), np.ones((1, 1, 0, 4))
    out, lse = fused.attention(glue, q, k, v, None, False, 1.0)
    assert out.shape == (1, 1, 3, 4) and not out.any() and np.isneginf(lse).all()
    dq, dk, dv = fused.attention_backward(glue, np.ones_like(out), q, k, v, out, lse, None, False, 1.0)
    assert not dq.any() and dk.shape == (1, 1, 0, 2) and dv.shape == (1, 1, 0, 4)


def test_attention_rejects_bad_arguments(glue):
    ext, q = glue.ext, np.zeros((2, 3, 4, 5))
    p = glue.ptr(q)
    with pytest.raises(ValueError, match=r"attention: mask leading dimensions \(2, 2\) must be 1 or the batch"):
        ext.attention(p, p, p, p, False, 1.0, p, p, "float64", 2, 3, 4, 4, 5, 5, 2, 2, 0)
    with pytest.raises(ValueError, match="attention: sizes must be >= 0"):
        ext.attention(p, p, p, 0, False, 1.0, p, p, "float64", 2, 3, -4, 4, 5, 5, 1, 1, 0)
    with pytest.raises(ValueError, match="attention: k is a null pointer"):
        ext.attention(p, 0, p, 0, False, 1.0, p, p, "float64", 2, 3, 4, 4, 5, 5, 1, 1, 0)
    with pytest.raises(ValueError, match="attention: unsupported dtype float16"):
        ext.attention(p, p, p, 0, False, 1.0, p, p, "float16", 2, 3, 4, 4, 5, 5, 1, 1, 0)
    with pytest.raises(ValueError, match="attention_backward: delta is a null pointer"):
        ext.attention_backward(p, p, p, p, p, p, 0, False, 1.0, p, 0, 0, 0, "float64", 2, 3, 4, 4, 5, 5, 1, 1, 0)


def test_cuda_provider_entries_have_the_reference_signatures():
    # ops_cuda.py imports only where a GPU is usable; its attention entries are read from the source instead
    import ast
    import inspect

    import minidl.backends as backends_pkg
    path = os.path.join(os.path.dirname(backends_pkg.__file__), "ops_cuda.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    defs = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    for name in ("attention", "attention_backward"):
        args = defs[name].args
        got = [a.arg for a in args.args]
        want = list(inspect.signature(getattr(reference, name)).parameters)
        assert got == want, name
        assert [ast.literal_eval(d) for d in args.defaults] == [
            p.default for p in inspect.signature(getattr(reference, name)).parameters.values()
            if p.default is not inspect.Parameter.empty], name


def test_real_extension_attention_fails_cleanly_without_a_gpu():
    try:
        from minidl import _C_cuda
    except ImportError as exc:
        pytest.skip(f"minidl._C_cuda is not built here: {exc}")
    if _C_cuda.status().startswith("ok"):
        pytest.skip("a GPU is usable here: the no-GPU path is not exercised")
    if not hasattr(_C_cuda, "attention"):
        pytest.skip("minidl._C_cuda was built before the attention kernels (rebuild it)")
    with pytest.raises(RuntimeError, match="^attention: cuda"):  # the launch error names the kernel
        _C_cuda.attention(8, 8, 8, 0, True, 0.5, 8, 8, "float32", 1, 2, 3, 4, 5, 6, 1, 1, 0)
    with pytest.raises(RuntimeError, match="^attention_backward: cuda"):
        _C_cuda.attention_backward(8, 8, 8, 8, 8, 8, 0, False, 0.5, 8, 8, 8, 8, "float64", 1, 2, 3, 4, 5, 6, 1, 1, 0)
