"""Scaled dot-product attention as one op over the fused ``attention``/``attention_backward`` kernels.

The fused providers tile the queries and keys with an online softmax, so the (L, S) score matrix is never built;
they save only the output and one log-sum-exp per query row for the backward. The op does what the kernels do not:
PyTorch's argument handling (any leading batch axes, bool or additive masks broadcast over batch and heads, grouped
query attention), validation, zero sizes, and a composed path for attention dropout, for masks that need a gradient
and for the derivative of the backward (create_graph=True).
"""
import math

import numpy as np

from .. import backends
from ..autograd.function import Function, recomputed_grads
from ..autograd.grad_mode import is_grad_enabled
from ..backends import kernels
from ..tensor import Tensor
from .conv import _check_float, _check_tensors
from .elementwise import where
from .reduce import softmax

OP = "scaled_dot_product_attention"


def _arr(t):
    return t._xp.ascontiguousarray(t.array)


def _composed(q, k, v, mask, is_causal, scale, dropout_p=0.0):
    """The same attention from differentiable ops on (..., L, E) tensors; builds the score matrix."""
    from ..nn.functional import dropout
    s = (q @ k.transpose(-2, -1)) * scale
    if mask is not None:
        s = s + mask
    if is_causal:
        seen = np.tril(np.ones(s.shape[-2:], dtype=bool))
        s = where(Tensor(q._xp.asarray(seen), device=q.device), s, -math.inf)
    # a row that sees no key gives 0 (PyTorch's CPU result), not softmax's NaN: its scores become a harmless 0
    dead = q._xp.isneginf(s.array.max(axis=-1, keepdims=True)) if s.shape[-1] else None
    if dead is not None and dead.any():
        s = where(Tensor._wrap(dead), 0.0, s)
    p = softmax(s, -1)
    if dead is not None and dead.any():
        p = p * Tensor._wrap((~dead).astype(p.array.dtype))
    if dropout_p > 0.0:
        p = dropout(p, dropout_p, training=True)
    return p @ v


class Attention(Function):
    """Fused attention on (B, H, L, E) tensors; ``mask`` an additive array (MB, MH, L, S) or None."""

    @staticmethod
    def forward(ctx, q, k, v, mask, is_causal, scale):
        out, lse = kernels.attention(_arr(q), _arr(k), _arr(v), mask, is_causal, scale)
        ctx.save_for_backward(q, k, v)
        ctx.out, ctx.lse, ctx.mask, ctx.is_causal, ctx.scale = out, lse, mask, is_causal, scale
        return Tensor._wrap(out)

    @staticmethod
    def backward(ctx, grad):
        q, k, v = ctx.saved_tensors
        need = tuple(ctx.needs_input_grad[:3])
        if is_grad_enabled():       # create_graph: the gradients must have a graph of their own
            mask = None if ctx.mask is None else Tensor._wrap(ctx.mask)
            return recomputed_grads(lambda a, b, c: _composed(a, b, c, mask, ctx.is_causal, ctx.scale), (q, k, v),
                                    need, grad) + (None, None, None)
        grads = kernels.attention_backward(_arr(grad), _arr(q), _arr(k), _arr(v), ctx.out, ctx.lse, ctx.mask,
                                           ctx.is_causal, ctx.scale, need)
        return tuple(None if g is None or not n else Tensor._wrap(g) for g, n in zip(grads, need)) + (None,) * 3


def _kernel_mask(mask, lead, L, S, dtype):
    """The additive mask as the kernels take it, (MB, MH, ML, S), broadcasting only the axes it must (a key-padding
    mask keeps ML = 1: one row of S for every query).

    ``lead`` are the query's leading axes; with two or more, the last is the heads axis (H) and the rest fold into
    the batch (B); with one it is the batch and H = 1.
    """
    m = mask.array
    m = m.reshape((1,) * (len(lead) + 2 - m.ndim) + m.shape)
    xp = mask._xp
    ml = 1 if m.shape[-2] == 1 else L
    if len(lead) == 0:
        return xp.ascontiguousarray(xp.broadcast_to(m, (1, 1, ml, S)), dtype=dtype)
    heads = lead[-1] if len(lead) >= 2 else 1
    batch_axes = lead[:-1] if len(lead) >= 2 else lead
    mh = heads if len(lead) >= 2 and m.shape[-3] != 1 else 1
    m_batch = m.shape[:len(batch_axes)]
    mb = 1 if all(d == 1 for d in m_batch) else math.prod(batch_axes)
    target = (batch_axes if mb > 1 else (1,) * len(batch_axes)) + ((mh,) if len(lead) >= 2 else ()) + (ml, S)
    return xp.ascontiguousarray(xp.broadcast_to(m, target), dtype=dtype).reshape(mb, mh, ml, S)


def _additive(attn_mask, like):
    """A bool mask (True = attend) as 0/-inf of the query's dtype; a float mask as is."""
    if attn_mask.dtype.is_floating_point:
        return attn_mask
    if attn_mask.dtype.name != "bool":
        raise TypeError(f"{OP}: attn_mask must be bool or of the query's float dtype, got {attn_mask.dtype.name}")
    xp = attn_mask._xp
    add = xp.where(attn_mask.array, xp.asarray(0, dtype=like.dtype.np), xp.asarray(-np.inf, dtype=like.dtype.np))
    return Tensor(add, device=attn_mask.device)


def _check(query, key, value, attn_mask, dropout_p, enable_gqa):
    _check_tensors(OP, query=query, key=key, value=value, attn_mask=attn_mask)
    _check_float(OP, query, key, value)
    shapes = f"query {query.shape}, key {key.shape}, value {value.shape}"
    if not query.ndim == key.ndim == value.ndim or query.ndim < 2:
        raise ValueError(f"{OP}: query, key and value must have the same number of dimensions (>= 2), got {shapes}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{OP}: query and key must have the same embedding size (last axis), got {shapes}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{OP}: key and value must have the same sequence length (axis -2), got {shapes}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{OP}: dropout_p must be in [0, 1], got {dropout_p}")
    if enable_gqa and query.ndim >= 3:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hk != hv or hk == 0 or hq % hk:
            raise ValueError(f"{OP}: with enable_gqa the query heads (axis -3) must be a multiple of the key/value "
                             f"heads, which must agree, got {shapes}")
    if attn_mask is not None:
        L, S = query.shape[-2], key.shape[-2]
        full = query.shape[:-2] + (L, S)
        try:
            ok = attn_mask.ndim <= len(full) and np.broadcast_shapes(attn_mask.shape, full) == full
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{OP}: attn_mask of shape {attn_mask.shape} does not broadcast to the scores' shape "
                             f"{full} ({shapes})")


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, as PyTorch's ``F.scaled_dot_product_attention``.

    query (..., L, E), key (..., S, E), value (..., S, Ev) with the same leading axes (with ``enable_gqa``, key and
    value may have fewer heads on axis -3, shared by groups of query heads). ``attn_mask`` broadcasts to
    (..., L, S): bool (True = take part) or a float added to the scores. ``is_causal`` hides key j from query i
    when j > i (on top of attn_mask). ``scale`` defaults to 1/sqrt(E). A query that sees no key gives 0.
    ``dropout_p`` drops attention probabilities (pass 0 in evaluation, as PyTorch).

    Runs the fused ``attention`` kernel (no L x S matrix) unless dropout is on or the mask needs a gradient.

    Example:
        >>> q = k = v = md.randn(2, 4, 16, 8)          # (batch, heads, length, head size)
        >>> md.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).shape
        (2, 4, 16, 8)
    """
    dropout_p = float(dropout_p)
    _check(query, key, value, attn_mask, dropout_p, enable_gqa)
    E = query.shape[-1]
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        group = query.shape[-3] // key.shape[-3]
        key, value = key.repeat_interleave(group, dim=-3), value.repeat_interleave(group, dim=-3)
    lead = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    L, S, Ev = query.shape[-2], key.shape[-2], value.shape[-1]
    query, key, value = (t if t.shape[:-2] == lead else t.expand(*lead, *t.shape[-2:]) for t in (query, key, value))
    mask = None if attn_mask is None else _additive(attn_mask, query)
    if S == 0:      # no key at all: every row is empty
        return (query.sum(-1, keepdim=True) * 0.0 + (key.sum() + value.sum()) * 0.0).expand(*lead, L, Ev)
    fused = (dropout_p == 0.0 and not (mask is not None and mask.requires_grad) and min(lead + (L, E, Ev), default=1)
             and backends.supports("attention", query.device))
    if not fused:
        return _composed(query, key, value, mask, is_causal, scale, dropout_p)
    B = math.prod(lead[:-1]) if len(lead) >= 2 else (lead[0] if lead else 1)
    H = lead[-1] if len(lead) >= 2 else 1
    mask_arr = None if mask is None else _kernel_mask(mask, lead, L, S, query.dtype.np)
    out = Attention.apply(query.reshape(B, H, L, E), key.reshape(B, H, S, E), value.reshape(B, H, S, Ev),
                          mask_arr, bool(is_causal), scale)
    return out.reshape(*lead, L, Ev)
