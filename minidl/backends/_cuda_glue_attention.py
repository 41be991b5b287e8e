"""Python side of the fused CUDA attention kernels (csrc/cuda/attention.cu), on top of a ``_cuda_glue.Glue``.

Written once and used twice, like the rest of the glue: provider "cuda" (``ops_cuda.py``, CuPy arrays and
``minidl._C_cuda``) and the emulated tests (NumPy arrays and ``_C_cuda_emu``). The signatures are those of
``minidl.backends.reference.attention`` / ``attention_backward``; the op (``minidl/ops/attention.py``) has
validated the shapes, so only the geometry is read here. Outputs and the backward's (B, H, L) workspace come
from ``glue.xp``.
"""


def _geometry(q, v, k, mask):
    b, h, length, e = q.shape
    s, ev = k.shape[2], v.shape[3]
    mb, mh = (1, 1) if mask is None else mask.shape[:2]
    return b, h, length, s, e, ev, mb, mh


def _prepare(glue, dtype, *arrays):
    """C-contiguous arrays of ``dtype`` (None stays None)."""
    return [None if a is None else glue.xp.ascontiguousarray(a, dtype=dtype) for a in arrays]


def _full_rows(glue, mask, length):
    """The mask with one row per query: the contract allows a shared row (MB, MH, 1, S) that the CUDA kernels,
    which index mask rows by query, do not take yet (the native kernel reads it through a zero row stride)."""
    if mask is None or mask.shape[2] == length:
        return mask
    return glue.xp.broadcast_to(mask, mask.shape[:2] + (length, mask.shape[3]))


def attention(glue, q, k, v, mask, is_causal, scale):
    """``(out, lse)`` of ``reference.attention`` by the fused kernel.

    >>> import numpy as np  # doctest: +SKIP
    >>> out, lse = attention(glue, q, k, v, None, True, 0.125)  # doctest: +SKIP
    """
    xp, dtype = glue.xp, q.dtype
    q, k, v, mask = _prepare(glue, dtype, q, k, v, _full_rows(glue, mask, q.shape[2]))
    b, h, length, s, e, ev, mb, mh = _geometry(q, v, k, mask)
    out = xp.empty((b, h, length, ev), dtype=dtype)
    lse = xp.empty((b, h, length), dtype=dtype)
    glue.ext.attention(glue.ptr(q), glue.ptr(k), glue.ptr(v), glue._ptr_or_null(mask), bool(is_causal),
                       float(scale), glue.ptr(out), glue.ptr(lse), dtype.name, b, h, length, s, e, ev, mb, mh,
                       glue._stream())
    return out, lse


def attention_backward(glue, grad, q, k, v, out, lse, mask, is_causal, scale, need=(True, True, True)):
    """``(dq, dk, dv)`` of ``reference.attention_backward`` by the fused kernels; one not in ``need`` is None.

    >>> dq, dk, dv = attention_backward(glue, grad, q, k, v, out, lse, None, False, 0.125)  # doctest: +SKIP
    """
    xp, dtype = glue.xp, q.dtype
    grad, q, k, v, out, lse, mask = _prepare(glue, dtype, grad, q, k, v, out, lse, _full_rows(glue, mask, q.shape[2]))
    b, h, length, s, e, ev, mb, mh = _geometry(q, v, k, mask)
    dq, dk, dv = glue._wanted(need, q, k, v)
    if dq is None and dk is None and dv is None:
        return dq, dk, dv
    delta = xp.empty((b, h, length), dtype=dtype) if dq is not None or dk is not None else None
    glue.ext.attention_backward(glue.ptr(grad), glue.ptr(q), glue.ptr(k), glue.ptr(v), glue.ptr(out), glue.ptr(lse),
                                glue._ptr_or_null(mask), bool(is_causal), float(scale), glue._ptr_or_null(dq),
                                glue._ptr_or_null(dk), glue._ptr_or_null(dv), glue._ptr_or_null(delta), dtype.name,
                                b, h, length, s, e, ev, mb, mh, glue._stream())
    return dq, dk, dv
