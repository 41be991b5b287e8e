"""``MultiheadAttention`` and ``F.multi_head_attention_forward``, with PyTorch's parameters, masks and layouts.

The heads are computed batch-first, (N, H, L, head_dim), whatever the caller's layout: the projections of a
sequence-first input are transposed views, so no layout costs a copy of the score matrix, and the attention itself
is ``F.scaled_dot_product_attention`` (the fused kernel) unless the weights are asked for (``need_weights``), when it
is composed so that the (N, H, L, S) weights exist to be returned.
"""
import math

import numpy as np

from .. import dtypes
from ..creation import zeros
from ..ops import cat
from ..tensor import Tensor
from . import functional as F
from . import init
from .linear import Linear
from .module import Module
from .parameter import empty_parameter

__all__ = ["MultiheadAttention", "multi_head_attention_forward"]


def _as_tensor(x):
    return x if x is None or isinstance(x, Tensor) else Tensor._from(np.asarray(x))


def canonical_mask(mask, name, dtype, op):
    """A mask as an additive float mask of ``dtype``: a bool mask's True (masked out, PyTorch's MHA convention)
    becomes -inf and False 0; a float mask is added as it is (cast to ``dtype``)."""
    mask = _as_tensor(mask)
    if mask is None:
        return None
    if mask.dtype == dtypes.bool_:
        xp = mask._xp
        return Tensor._wrap(xp.where(mask.array, -np.inf, 0.0).astype(dtype.np))
    if not mask.dtype.is_floating_point:
        raise TypeError(f"{op}: only bool and floating {name} are supported, got {name} of dtype {mask.dtype}")
    return mask if mask.dtype == dtype else mask.to(dtype)


def _check_shapes(op, query, key, value, key_padding_mask, attn_mask, num_heads):
    """PyTorch's rules for batched (3-D query) and unbatched (2-D query) calls; returns whether batched."""
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise ValueError(f"{op}: a batched (3-D) query needs 3-D key and value, got query {query.shape}, "
                             f"key {key.shape}, value {value.shape}")
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise ValueError(f"{op}: with a batched query, key_padding_mask must be 2-D (N, S), got shape "
                             f"{key_padding_mask.shape}")
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise ValueError(f"{op}: with a batched query, attn_mask must be 2-D (L, S) or 3-D (N*num_heads, L, S), "
                             f"got shape {attn_mask.shape}")
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise ValueError(f"{op}: an unbatched (2-D) query needs 2-D key and value, got query {query.shape}, "
                             f"key {key.shape}, value {value.shape}")
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise ValueError(f"{op}: with an unbatched query, key_padding_mask must be 1-D (S,), got shape "
                             f"{key_padding_mask.shape}")
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise ValueError(f"{op}: with an unbatched query, attn_mask must be 2-D (L, S) or 3-D "
                                 f"(num_heads, L, S), got shape {attn_mask.shape}")
            want = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.ndim == 3 and tuple(attn_mask.shape) != want:
                raise ValueError(f"{op}: with an unbatched query the 3-D attn_mask must have shape {want}, got "
                                 f"{attn_mask.shape}")
        return False
    raise ValueError(f"{op}: query must be an unbatched 2-D or a batched 3-D tensor, got shape {query.shape}")


def _split_heads(x, num_heads):
    """(N, S, E) -> (N, H, S, E // H)."""
    n, s, e = x.shape
    return x.reshape(n, s, num_heads, e // num_heads).permute(0, 2, 1, 3)


def _attention(op, query, key, value, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
               dropout_p, out_proj_weight, out_proj_bias, training, key_padding_mask, need_weights, attn_mask,
               q_proj_weight, k_proj_weight, v_proj_weight, static_k, static_v, average_attn_weights, is_causal,
               batch_first):
    """The one body of ``multi_head_attention_forward`` and ``MultiheadAttention.forward``; ``in_proj_weight``
    None means separate q/k/v projection weights."""
    query, key, value = _as_tensor(query), _as_tensor(key), _as_tensor(value)
    key_padding_mask, attn_mask = _as_tensor(key_padding_mask), _as_tensor(attn_mask)
    self_attention, shared_kv = query is key and key is value, key is value
    batched = _check_shapes(op, query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:                      # one sequence: a batch of one, batch-first
        query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
        key_padding_mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(0)
    elif not batch_first:                # (L, N, E) -> (N, L, E) views
        query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
    bsz, tgt_len, embed_dim = query.shape
    src_len = key.shape[1]
    if embed_dim % num_heads:
        raise ValueError(f"{op}: embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
    head_dim = embed_dim // num_heads
    if key.shape[:2] != value.shape[:2]:
        raise ValueError(f"{op}: key {key.shape} and value {value.shape} must agree in batch and sequence length")
    if query.shape[0] != key.shape[0]:
        raise ValueError(f"{op}: query {query.shape} and key {key.shape} have different batch sizes")
    if key_padding_mask is not None and tuple(key_padding_mask.shape) != (bsz, src_len):
        raise ValueError(f"{op}: key_padding_mask must have shape {(bsz, src_len)} (N, S), got "
                         f"{tuple(key_padding_mask.shape)}")

    dtype = query.dtype
    key_padding_mask = canonical_mask(key_padding_mask, "key_padding_mask", dtype, op)
    if is_causal and attn_mask is None:
        raise RuntimeError(f"{op}: is_causal is a hint that attn_mask is the causal mask; pass attn_mask too (for "
                           "example nn.Transformer.generate_square_subsequent_mask(L))")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None                 # the kernel applies the causal mask itself
    else:
        attn_mask = canonical_mask(attn_mask, "attn_mask", dtype, op)
        if key_padding_mask is not None:
            is_causal = False            # attn_mask (the causal one) is merged with the padding below
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise ValueError(f"{op}: the 2-D attn_mask should have shape {(tgt_len, src_len)} (L, S), got "
                                 f"{tuple(attn_mask.shape)}")
            attn_mask = attn_mask.reshape(1, 1, tgt_len, src_len)
        else:
            want = (bsz * num_heads, tgt_len, src_len)
            if tuple(attn_mask.shape) != want:
                raise ValueError(f"{op}: the 3-D attn_mask should have shape {want} (N*num_heads, L, S), got "
                                 f"{tuple(attn_mask.shape)}")
            attn_mask = attn_mask.reshape(bsz, num_heads, tgt_len, src_len)

    # input projections (one GEMM for self-attention, as PyTorch's packed projection)
    if in_proj_weight is not None:
        if query.shape[-1] != in_proj_weight.shape[1] or key.shape[-1] != embed_dim or value.shape[-1] != embed_dim:
            raise ValueError(f"{op}: query {query.shape}, key {key.shape} and value {value.shape} must all end in "
                             f"embed_dim {in_proj_weight.shape[1]}")
        if self_attention:
            q, k, v = F.linear(query, in_proj_weight, in_proj_bias).chunk(3, dim=-1)
        else:
            b = [None] * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
            q = F.linear(query, in_proj_weight[:embed_dim], b[0])
            if shared_kv:
                b_kv = None if in_proj_bias is None else in_proj_bias[embed_dim:]
                k, v = F.linear(key, in_proj_weight[embed_dim:], b_kv).chunk(2, dim=-1)
            else:
                k = F.linear(key, in_proj_weight[embed_dim:2 * embed_dim], b[1])
                v = F.linear(value, in_proj_weight[2 * embed_dim:], b[2])
    else:
        b = [None] * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
        for name, x, w in (("query", query, q_proj_weight), ("key", key, k_proj_weight),
                           ("value", value, v_proj_weight)):
            if x.shape[-1] != w.shape[1]:
                raise ValueError(f"{op}: {name} of shape {tuple(x.shape)} must end in {w.shape[1]} (the "
                                 f"{name[0]}_proj_weight's in-features)")
        q = F.linear(query, q_proj_weight, b[0])
        k = F.linear(key, k_proj_weight, b[1])
        v = F.linear(value, v_proj_weight, b[2])

    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise ValueError(f"{op}: bias_k/bias_v cannot be combined with static_k/static_v")
        k = _cat(1, k, bias_k.reshape(1, 1, embed_dim).expand(bsz, 1, embed_dim))
        v = _cat(1, v, bias_v.reshape(1, 1, embed_dim).expand(bsz, 1, embed_dim))
        attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
    elif (bias_k is None) != (bias_v is None):
        raise ValueError(f"{op}: bias_k and bias_v must be given together")
    q = _split_heads(q, num_heads)
    k = _static(op, static_k, "static_k", bsz, num_heads, head_dim) if static_k is not None else \
        _split_heads(k, num_heads)
    v = _static(op, static_v, "static_v", bsz, num_heads, head_dim) if static_v is not None else \
        _split_heads(v, num_heads)
    if add_zero_attn:
        pad = zeros(bsz, num_heads, 1, head_dim, dtype=dtype, device=q.device)
        k, v = _cat(2, k, pad), _cat(2, v, pad)
        attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
    src_len = k.shape[2]
    if key_padding_mask is not None:
        key_padding_mask = key_padding_mask.reshape(bsz, 1, 1, src_len)
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask
    if not training:
        dropout_p = 0.0

    if need_weights:
        scores = (q * (1.0 / math.sqrt(head_dim))) @ k.transpose(-2, -1)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = F.softmax(scores, dim=-1)
        if dropout_p > 0.0:
            weights = F.dropout(weights, dropout_p)
        out = weights @ v
    else:
        weights = None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p,
                                             is_causal=bool(is_causal))
    out = out.permute(0, 2, 1, 3).reshape(bsz, tgt_len, embed_dim)
    out = F.linear(out, out_proj_weight, out_proj_bias)
    if weights is not None and average_attn_weights:
        weights = weights.mean(dim=1)
    if not batched:
        out = out.squeeze(0)
        weights = None if weights is None else weights.squeeze(0)
    elif not batch_first:
        out = out.transpose(0, 1)
    return out, weights


def _cat(dim, a, b):
    return cat([a, b], dim=dim)


def _static(op, x, name, bsz, num_heads, head_dim):
    x = _as_tensor(x)
    if x.ndim != 3 or x.shape[0] != bsz * num_heads or x.shape[2] != head_dim:
        raise ValueError(f"{op}: {name} must have shape (N*num_heads, S, head_dim) = ({bsz * num_heads}, S, "
                         f"{head_dim}), got {tuple(x.shape)}")
    return x.reshape(bsz, num_heads, x.shape[1], head_dim)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """Multi-head attention as a function of its weights, sequence-first, with PyTorch's signature.

    Args:
        query, key, value: (L, N, E), (S, N, kdim), (S, N, vdim), or unbatched (L, E), (S, kdim), (S, vdim).
        embed_dim_to_check: E, checked against the query.
        num_heads: number of heads H (E must be divisible by it).
        in_proj_weight, in_proj_bias: the packed (3E, E) projection and its (3E,) bias (or None).
        bias_k, bias_v: (1, 1, E) key/value rows appended to the sequence, or None.
        add_zero_attn: append a zero key/value row after the projection.
        dropout_p: dropout on the attention weights while ``training``.
        out_proj_weight, out_proj_bias: the (E, E) output projection and its bias.
        key_padding_mask: (N, S) bool (True = ignore that key) or float (added).
        need_weights: also return the attention weights (computed without the fused kernel).
        attn_mask: (L, S) or (N*H, L, S); bool (True = not allowed to attend) or float (added).
        use_separate_proj_weight: use ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight`` instead of the packed
            weight.
        static_k, static_v: precomputed (N*H, S, E/H) keys/values used instead of projecting ``key``/``value``.
        average_attn_weights: average the returned weights over heads.
        is_causal: a hint that ``attn_mask`` is the causal mask.

    Returns:
        (output (L, N, E), weights (N, L, S) or (N, H, L, S), or None).

    Example:
        >>> mha = md.nn.MultiheadAttention(8, 2)
        >>> x = md.randn(5, 3, 8)
        >>> out, w = F.multi_head_attention_forward(x, x, x, 8, 2, mha.in_proj_weight, mha.in_proj_bias, None,
        ...     None, False, 0.0, mha.out_proj.weight, mha.out_proj.bias)
        >>> out.shape, w.shape
        ((5, 3, 8), (3, 5, 5))
    """
    op = "multi_head_attention_forward"
    if query.shape[-1] != embed_dim_to_check:
        raise ValueError(f"{op}: expected query of embedding size {embed_dim_to_check}, got shape {query.shape}")
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise ValueError(f"{op}: use_separate_proj_weight=True needs q_proj_weight, k_proj_weight and "
                             "v_proj_weight")
        in_proj_weight = None
    elif in_proj_weight is None:
        raise ValueError(f"{op}: in_proj_weight is None; pass it or use_separate_proj_weight=True")
    return _attention(op, query, key, value, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                      dropout_p, out_proj_weight, out_proj_bias, training, key_padding_mask, need_weights,
                      attn_mask, q_proj_weight, k_proj_weight, v_proj_weight, static_k, static_v,
                      average_attn_weights, is_causal, batch_first=False)


class NonDynamicallyQuantizableLinear(Linear):
    """The ``Linear`` of ``MultiheadAttention.out_proj`` (PyTorch's class name, so pickles and safe-global lists
    that name it keep working); computes exactly as ``Linear``.

    Example:
        >>> md.nn.MultiheadAttention(8, 2).out_proj.weight.shape
        (8, 8)
    """


class MultiheadAttention(Module):
    """Multi-head attention, ``out_proj(concat_h softmax(Q_h K_h^T / sqrt(d) + mask) V_h)``, as PyTorch's.

    Parameters under PyTorch's names and shapes: ``in_proj_weight`` (3E, E) when kdim == vdim == E, else
    ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim); ``in_proj_bias`` (3E,);
    ``out_proj`` a Linear(E, E); ``bias_k``/``bias_v`` (1, 1, E) with ``add_bias_kv``. A state dict of
    ``torch.nn.MultiheadAttention`` loads as it is.

    Args:
        embed_dim: E, the model dimension; num_heads: H (E must be divisible by H).
        dropout: dropout on the attention weights while training.
        bias: biases on the input and output projections.
        add_bias_kv: learn a key and a value row appended to every sequence.
        add_zero_attn: append a zero key/value row.
        kdim, vdim: feature sizes of key and value (default E).
        batch_first: inputs and output are (N, L, E) instead of (L, N, E).

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns ``(output, weights or None)``; masks: bool True = masked
    out, or float added to the scores; attn_mask (L, S) or (N*H, L, S); key_padding_mask (N, S); unbatched (L, E)
    inputs too. With ``need_weights=False`` the fused ``F.scaled_dot_product_attention`` does the work.

    Example:
        >>> mha = md.nn.MultiheadAttention(16, 4, batch_first=True)
        >>> x = md.randn(2, 5, 16)
        >>> out, weights = mha(x, x, x)
        >>> out.shape, weights.shape
        ((2, 5, 16), (2, 5, 5))
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be positive, got embed_dim="
                             f"{embed_dim} and num_heads={num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads, self.dropout, self.batch_first = num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        kw = {"device": device, "dtype": dtype}
        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty_parameter(3 * embed_dim, embed_dim, **kw)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = empty_parameter(embed_dim, embed_dim, **kw)
            self.k_proj_weight = empty_parameter(embed_dim, self.kdim, **kw)
            self.v_proj_weight = empty_parameter(embed_dim, self.vdim, **kw)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = empty_parameter(3 * embed_dim, **kw)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = empty_parameter(1, 1, embed_dim, **kw)
            self.bias_v = empty_parameter(1, 1, embed_dim, **kw)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        """Attend from ``query`` to ``key``/``value``; returns ``(output, weights or None)`` (see the class)."""
        return _attention(type(self).__name__, query, key, value, self.num_heads, self.in_proj_weight,
                          self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
                          self.out_proj.weight, self.out_proj.bias, self.training, key_padding_mask, need_weights,
                          attn_mask, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight, None, None,
                          average_attn_weights, is_causal, self.batch_first)
