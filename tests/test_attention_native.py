"""The native fused attention kernels (minidl._C.attention / attention_backward, csrc/cpu/attention.cpp) against the
composed reference (minidl.backends.reference): hypothesis-drawn batch, heads, lengths (L != S, sizes off the tile
grid), feature sizes, every mask broadcast pattern with -inf entries and fully masked rows, causal with L < S and
L > S, both dtypes, several thread counts and tile sizes; and bad input to the raw bindings raises, never crashes."""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import child_process
from minidl.backends import ops_native, reference

_C = pytest.importorskip("minidl._C")
if not hasattr(_C, "attention"):
    pytest.skip("the compiled extension predates the attention kernels", allow_module_level=True)

RTOL = {np.float32: 1e-4, np.float64: 1e-10}
EPS = {np.float32: 1e-6, np.float64: 1e-14}    # the absolute part: a few ulps of the summed terms' size
MASKS = ("none", "shared", "per_batch", "per_head", "key_padding")


class threads:
    """Run the block with OpenMP limited to n threads (restored after)."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.before = _C.max_threads()
        _C.set_num_threads(self.n)

    def __exit__(self, *exc):
        _C.set_num_threads(self.before)
        return False


def _mask(rng, kind, B, H, L, S, dtype, masked_rows):
    """An additive mask of the given broadcast pattern with random -inf entries; `masked_rows` rows all -inf."""
    if kind == "none":
        return None
    shape = {"shared": (1, 1, L, S), "per_batch": (B, 1, L, S), "per_head": (B, H, L, S),
             "key_padding": (B, 1, 1, S)}[kind]     # key_padding: one row read for every query (ML = 1)
    m = rng.standard_normal(shape)
    m[rng.random(shape) < 0.3] = -np.inf
    for r in masked_rows:
        m[..., r % shape[2], :] = -np.inf
    return m.astype(dtype)


def _operands(rng, B, H, L, S, E, Ev, dtype):
    return [rng.standard_normal(s).astype(dtype) for s in ((B, H, L, E), (B, H, S, E), (B, H, S, Ev), (B, H, L, Ev))]


def _close(got, want, dtype, what, size=1.0):
    """got (the kernel's, in dtype) against want (the reference evaluated in float64 on the same operands): relative
    tolerance RTOL, absolute EPS * size where size bounds the terms summed (gradients that cancel to ~0 keep the
    rounding error of those terms)."""
    assert got.dtype == dtype and got.shape == want.shape, what
    assert got.flags.c_contiguous, what
    np.testing.assert_allclose(got, want, err_msg=what, rtol=RTOL[dtype], atol=EPS[dtype] * size)


def _check(q, k, v, g, mask, causal, scale, need=(True, True, True)):
    """Native forward and backward against the reference on the same operands."""
    dtype = q.dtype.type
    up = [None if a is None else a.astype(np.float64) for a in (q, k, v, g, mask)]
    size = (1 + scale) * np.sqrt(max(k.shape[2], q.shape[2]) * max(q.shape[3], v.shape[3], 1))
    out, lse = _C.attention(q, k, v, mask, causal, scale)
    rout, rlse = reference.attention(up[0], up[1], up[2], up[4], causal, scale)
    _close(out, rout, dtype, "out", size)
    np.testing.assert_array_equal(np.isneginf(lse), np.isneginf(rlse))
    _close(np.where(np.isneginf(lse), 0, lse), np.where(np.isneginf(rlse), 0, rlse), dtype, "lse", size)
    grads = _C.attention_backward(g, q, k, v, out, lse, mask, causal, scale, list(need))
    want = reference.attention_backward(up[3], up[0], up[1], up[2], rout, rlse, up[4], causal, scale, need)
    for name, got, ref, asked in zip(("dq", "dk", "dv"), grads, want, need):
        if asked:
            _close(got, ref, dtype, name, size)
        else:
            assert got is None, name
    return out, lse, grads


@settings(max_examples=30, deadline=None)
@given(B=st.integers(1, 3), H=st.integers(1, 3), L=st.integers(1, 70), S=st.integers(1, 70), E=st.integers(1, 80),
       Ev=st.integers(1, 80), mask=st.sampled_from(MASKS), causal=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), n_threads=st.sampled_from([1, 2, 3]),
       scale=st.floats(0.05, 2.0), masked_rows=st.lists(st.integers(0, 69), max_size=3), seed=st.integers(0, 2**31))
def test_matches_reference_on_drawn_shapes(B, H, L, S, E, Ev, mask, causal, dtype, n_threads, scale, masked_rows,
                                           seed):
    rng = np.random.default_rng(seed)
    q, k, v, g = _operands(rng, B, H, L, S, E, Ev, dtype)
    m = _mask(rng, mask, B, H, L, S, dtype, masked_rows)
    with threads(n_threads):
        _check(q, k, v, g, m, causal, scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("L,S", [(200, 333), (333, 200), (257, 257), (1, 300), (300, 1)])
def test_causal_long_rows_several_tiles(dtype, L, S):
    """Lengths spanning several query tiles and key blocks, with partial last tiles, both orders of L and S."""
    rng = np.random.default_rng(L * 1000 + S)
    q, k, v, g = _operands(rng, 2, 2, L, S, 64, 48, dtype)
    for n in (1, 2):
        with threads(n):
            out, lse, _ = _check(q, k, v, g, None, True, 0.125)
    if L > S:   # causal, top-left aligned: every row sees key 0
        assert np.isfinite(lse).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fully_masked_rows_give_zero_output_and_no_gradient(dtype):
    rng = np.random.default_rng(1)
    q, k, v, g = _operands(rng, 2, 3, 9, 11, 5, 7, dtype)
    m = np.zeros((2, 1, 9, 11), dtype)
    m[0, 0, 4] = -np.inf            # row 4 of batch 0 sees nothing
    m[1, 0, :, 3:] = -np.inf        # batch 1 sees keys 0..2 only
    out, lse, (dq, dk, dv) = _check(q, k, v, g, m, False, 0.4)
    assert (out[0, :, 4] == 0).all() and np.isneginf(lse[0, :, 4]).all()
    assert (dq[0, :, 4] == 0).all()
    assert (dk[1, :, 3:] == 0).all() and (dv[1, :, 3:] == 0).all()


@pytest.mark.parametrize("need", [(True, False, False), (False, True, False), (False, False, True),
                                  (False, True, True), (False, False, False)])
def test_need_selects_gradients(need):
    rng = np.random.default_rng(2)
    q, k, v, g = _operands(rng, 1, 2, 40, 90, 16, 24, np.float64)
    m = _mask(rng, "per_head", 1, 2, 40, 90, np.float64, [5])
    with threads(2):
        _check(q, k, v, g, m, True, 0.3, need)


@pytest.mark.parametrize("tiles", ["16,8", "40,24", "256,512"])
def test_tile_sizes_do_not_change_results(tiles):
    """MINIDL_ATTENTION_TILES is read once per process, so other tile sizes run in a subprocess."""
    import subprocess
    import sys
    code = ("import numpy as np; import test_attention_native as t\n"
            "rng = np.random.default_rng(3)\n"
            "for dt in (np.float32, np.float64):\n"
            "    q, k, v, g = t._operands(rng, 2, 2, 77, 101, 33, 20, dt)\n"
            "    m = t._mask(rng, 'per_batch', 2, 2, 77, 101, dt, [0, 9])\n"
            "    for causal in (False, True):\n"
            "        t._check(q, k, v, g, m, causal, 0.2)\n"
            "        t._check(q, k, v, g, None, causal, 0.2)\n"
            "print('ok')\n")
    # child_process: the installed minidl and tests/ on the path, run from a folder without a source tree
    res = subprocess.run([sys.executable, "-c", code], env=child_process.env(MINIDL_ATTENTION_TILES=tiles),
                         cwd=child_process.CWD, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


def test_provider_functions_use_the_extension_and_make_operands_contiguous():
    rng = np.random.default_rng(4)
    q, k, v, g = _operands(rng, 2, 2, 13, 17, 8, 8, np.float32)
    qs = np.asfortranarray(q)
    out, lse = ops_native.attention(qs, k, v, None, True, 0.5)
    rout, rlse = reference.attention(q, k, v, None, True, 0.5)
    _close(out, rout, np.float32, "out")
    dq, dk, dv = ops_native.attention_backward(g, qs, k, v, out, lse, None, True, 0.5, (True, True, True))
    want = reference.attention_backward(g, q, k, v, rout, rlse, None, True, 0.5)
    for got, ref in zip((dq, dk, dv), want):
        _close(got, ref, np.float32, "grad")


def _bad_calls():
    f, d = np.float32, np.float64
    q, k, v = np.zeros((1, 2, 3, 4), f), np.zeros((1, 2, 5, 4), f), np.zeros((1, 2, 5, 6), f)
    return [
        ("q must be 4-D", lambda: _C.attention(q[0], k, v, None, False, 1.0)),
        ("must be (B, H, S, E)", lambda: _C.attention(q, k[:, :, :, :3].copy(), v, None, False, 1.0)),
        ("must be (B, H, S, Ev)", lambda: _C.attention(q, k, v[:, :, :4].copy(), None, False, 1.0)),
        ("must be (B, H, S, E)", lambda: _C.attention(q, np.zeros((1, 3, 5, 4), f), v, None, False, 1.0)),
        ("dtypes differ", lambda: _C.attention(q, k.astype(d), v, None, False, 1.0)),
        ("float32 or float64", lambda: _C.attention(q.astype(np.int32), k, v, None, False, 1.0)),
        ("C-contiguous", lambda: _C.attention(q[:, :, ::-1], k, v, None, False, 1.0)),
        ("mask must be", lambda: _C.attention(q, k, v, np.zeros((1, 1, 3, 4), f), False, 1.0)),
        ("mask must be", lambda: _C.attention(q, k, v, np.zeros((2, 1, 3, 5), f), False, 1.0)),
        ("mask must be 4-D", lambda: _C.attention(q, k, v, np.zeros((3, 5), f), False, 1.0)),
        ("dtypes differ", lambda: _C.attention(q, k, v, np.zeros((1, 1, 3, 5), d), False, 1.0)),
        ("scale must be finite", lambda: _C.attention(q, k, v, None, False, float("nan"))),
        ("grad must be", lambda: _C.attention_backward(np.zeros((1, 2, 3, 5), f), q, k, v, np.zeros((1, 2, 3, 6), f),
                                                       np.zeros((1, 2, 3), f), None, False, 1.0)),
        ("lse must be", lambda: _C.attention_backward(np.zeros((1, 2, 3, 6), f), q, k, v, np.zeros((1, 2, 3, 6), f),
                                                      np.zeros((1, 2, 4), f), None, False, 1.0)),
        ("lse must be 3-D", lambda: _C.attention_backward(np.zeros((1, 2, 3, 6), f), q, k, v,
                                                          np.zeros((1, 2, 3, 6), f), np.zeros((2, 3), f), None, False,
                                                          1.0)),
        ("need must hold 3", lambda: _C.attention_backward(np.zeros((1, 2, 3, 6), f), q, k, v,
                                                           np.zeros((1, 2, 3, 6), f), np.zeros((1, 2, 3), f), None,
                                                           False, 1.0, [True])),
    ]


@pytest.mark.parametrize("match,call", _bad_calls(), ids=[c[0] for c in _bad_calls()])
def test_bad_input_to_the_raw_binding_raises(match, call):
    with pytest.raises(ValueError, match=re.escape(match)) as info:
        call()
    assert "attention" in str(info.value)


def test_zero_sizes_do_not_crash():
    """The op never sends zero-size dimensions, but the raw binding must survive them."""
    f = np.float64
    out, lse = _C.attention(np.zeros((1, 1, 3, 2), f), np.zeros((1, 1, 0, 2), f), np.zeros((1, 1, 0, 4), f), None,
                            False, 1.0)
    assert out.shape == (1, 1, 3, 4) and (out == 0).all() and np.isneginf(lse).all()
    out, lse = _C.attention(np.zeros((0, 2, 3, 2), f), np.zeros((0, 2, 5, 2), f), np.zeros((0, 2, 5, 4), f), None,
                            True, 1.0)
    assert out.shape == (0, 2, 3, 4) and lse.shape == (0, 2, 3)
    q, k, v = np.ones((1, 1, 3, 0), f), np.ones((1, 1, 5, 0), f), np.arange(10.0).reshape(1, 1, 5, 2)
    out, lse = _C.attention(q, k, v, None, False, 1.0)
    np.testing.assert_allclose(out, np.broadcast_to(v.mean(axis=2, keepdims=True), out.shape))
    dq, dk, dv = _C.attention_backward(np.ones_like(out), q, k, v, out, lse, None, False, 1.0)
    assert dq.shape == q.shape and dk.shape == k.shape
    np.testing.assert_allclose(dv, np.full(v.shape, 3 / 5))
