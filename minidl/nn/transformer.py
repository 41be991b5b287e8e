"""The Transformer layers of "Attention Is All You Need" with PyTorch's semantics and state-dict names:
``TransformerEncoderLayer``, ``TransformerDecoderLayer``, ``TransformerEncoder``, ``TransformerDecoder`` and
``Transformer``.

Every attention block calls ``MultiheadAttention`` with ``need_weights=False``, so it runs on the fused
``F.scaled_dot_product_attention``; a float mask equal to the causal mask is recognised (as PyTorch does) and
handed to the kernel as ``is_causal`` instead of a mask array.
"""
import copy

import numpy as np

from .. import dtypes
from ..creation import tensor
from . import functional as F
from . import init
from .attention_layer import MultiheadAttention, canonical_mask
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

__all__ = ["Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerEncoderLayer"]


def _activation(op, activation):
    if isinstance(activation, str):
        fn = {"relu": F.relu, "gelu": F.gelu}.get(activation)
        if fn is None:
            raise ValueError(f"{op}: activation should be 'relu' or 'gelu' (or a callable), not {activation!r}")
        return fn
    if not callable(activation):
        raise TypeError(f"{op}: activation must be 'relu', 'gelu' or a callable, got {type(activation).__name__}")
    return activation


def _square_subsequent_mask(sz, device=None, dtype=None):
    dtype = dtypes.get_default_dtype() if dtype is None else dtypes.to_dtype(dtype)
    return tensor(np.triu(np.full((sz, sz), -np.inf), 1).astype(dtype.np), device=device)


def _seq_len(src, batch_first):
    return src.shape[0] if src.ndim == 2 else src.shape[1 if batch_first else 0]


def _detect_causal(mask, is_causal, size):
    """PyTorch's rule: an explicit ``is_causal`` wins; with None, a mask equal to the square causal mask (-inf above
    the diagonal, 0 elsewhere, or its bool form) counts as causal."""
    if is_causal is not None or mask is None:
        return bool(is_causal)
    if tuple(mask.shape) != (size, size):
        return False
    upper = np.triu(np.ones((size, size), dtype=bool), 1)
    m = np.asarray(mask.detach().cpu().numpy())
    if m.dtype == np.bool_:
        return bool(np.array_equal(m, upper))
    return bool(np.all(np.isneginf(m[upper])) and np.all(m[~upper] == 0))


def _clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual connection and a LayerNorm (after the
    residual, or before the block with ``norm_first=True``).

    Submodules under PyTorch's names: ``self_attn`` (MultiheadAttention), ``linear1``, ``dropout``, ``linear2``,
    ``norm1``, ``norm2``, ``dropout1``, ``dropout2``.

    Args:
        d_model: feature size; nhead: heads; dim_feedforward: hidden size of the feed-forward block.
        dropout: dropout probability; activation: "relu", "gelu" or a callable (a Module is registered).
        layer_norm_eps: LayerNorm epsilon; batch_first: (N, L, E) instead of (L, N, E);
        norm_first: pre-norm; bias: biases in the linear and LayerNorm layers.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``.

    Example:
        >>> layer = md.nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, batch_first=True)
        >>> layer(md.randn(2, 7, 16)).shape
        (2, 7, 16)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(type(self).__name__, activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        """Encode ``src`` (L, N, E), (N, L, E) with batch_first, or unbatched (L, E)."""
        if src.ndim not in (2, 3) or src.shape[-1] != self.self_attn.embed_dim:
            raise ValueError(f"{type(self).__name__}(d_model={self.self_attn.embed_dim}): src must be (L, N, "
                             f"{self.self_attn.embed_dim}), (N, L, {self.self_attn.embed_dim}) or unbatched, got "
                             f"shape {src.shape}")
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's output (``memory``), then a feed-forward block, each with a
    residual connection and a LayerNorm (post- or, with ``norm_first``, pre-norm).

    Submodules under PyTorch's names: ``self_attn``, ``multihead_attn``, ``linear1``, ``dropout``, ``linear2``,
    ``norm1``-``norm3``, ``dropout1``-``dropout3``. Arguments as ``TransformerEncoderLayer``.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``.

    Example:
        >>> layer = md.nn.TransformerDecoderLayer(d_model=16, nhead=4, dim_feedforward=32)
        >>> layer(md.randn(5, 2, 16), md.randn(7, 2, 16)).shape
        (5, 2, 16)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                 **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(type(self).__name__, activation)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        """Decode ``tgt`` attending to ``memory`` (layouts as the encoder layer's)."""
        d = self.self_attn.embed_dim
        if tgt.ndim not in (2, 3) or tgt.shape[-1] != d or memory.ndim != tgt.ndim or memory.shape[-1] != d:
            raise ValueError(f"{type(self).__name__}(d_model={d}): tgt and memory must both be 3-D (batched) or 2-D "
                             f"(unbatched) and end in {d}, got tgt {tgt.shape} and memory {memory.shape}")
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, is_causal=is_causal,
                           need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` applied in turn (``layers.0``, ``layers.1``, ...), then the
    optional ``norm``.

    ``enable_nested_tensor`` and ``mask_check`` are kept for PyTorch compatibility; minidl has no nested tensors,
    so padded positions are computed like the others (PyTorch's inference fast path returns zeros there).
    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``: with ``is_causal=None`` a ``mask`` equal
    to the causal mask is detected and run as ``is_causal``.

    Example:
        >>> layer = md.nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32)
        >>> encoder = md.nn.TransformerEncoder(layer, num_layers=2)
        >>> encoder(md.randn(7, 2, 16), mask=md.nn.Transformer.generate_square_subsequent_mask(7)).shape
        (7, 2, 16)
    """

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: encoder_layer must be a Module, got {type(encoder_layer).__name__}")
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        """Run every layer on ``src`` with the same masks."""
        if src_key_padding_mask is not None:
            src_key_padding_mask = canonical_mask(src_key_padding_mask, "src_key_padding_mask", src.dtype,
                                                  type(self).__name__)
        batch_first = getattr(getattr(self.layers[0], "self_attn", None), "batch_first", False) if self.layers \
            else False
        is_causal = _detect_causal(mask, is_causal, _seq_len(src, batch_first))
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=mask, is_causal=is_causal, src_key_padding_mask=src_key_padding_mask)
        return output if self.norm is None else self.norm(output)


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer`` applied in turn to ``tgt`` with the same ``memory``, then the
    optional ``norm``.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    tgt_is_causal=None, memory_is_causal=False)``.

    Example:
        >>> layer = md.nn.TransformerDecoderLayer(d_model=16, nhead=4, dim_feedforward=32, batch_first=True)
        >>> decoder = md.nn.TransformerDecoder(layer, num_layers=2)
        >>> decoder(md.randn(2, 5, 16), md.randn(2, 7, 16)).shape
        (2, 5, 16)
    """

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        if not isinstance(decoder_layer, Module):
            raise TypeError(f"TransformerDecoder: decoder_layer must be a Module, got {type(decoder_layer).__name__}")
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        """Run every layer on ``tgt`` attending to ``memory``."""
        batch_first = getattr(getattr(self.layers[0], "self_attn", None), "batch_first", False) if self.layers \
            else False
        tgt_is_causal = _detect_causal(tgt_mask, tgt_is_causal, _seq_len(tgt, batch_first))
        output = tgt
        for mod in self.layers:
            output = mod(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                         tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                         tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return output if self.norm is None else self.norm(output)


class Transformer(Module):
    """The encoder-decoder Transformer: ``encoder`` (``num_encoder_layers`` layers and a final LayerNorm) and
    ``decoder`` likewise, every matrix initialized Xavier-uniform, as PyTorch's (same state-dict names, so a
    ``torch.nn.Transformer`` state dict loads as it is).

    Args:
        d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout, activation,
        layer_norm_eps, batch_first, norm_first, bias: as the layers'.
        custom_encoder, custom_decoder: modules used instead of the built ones.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
    memory_is_causal=False)`` returns the decoder's output, shaped as ``tgt``.

    Example:
        >>> model = md.nn.Transformer(d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
        ...                           dim_feedforward=32)
        >>> src, tgt = md.randn(10, 3, 16), md.randn(6, 3, 16)
        >>> model(src, tgt, tgt_mask=model.generate_square_subsequent_mask(6)).shape
        (6, 3, 16)
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation=F.relu, custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self._reset_parameters()
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def _reset_parameters(self):
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        """Encode ``src`` and decode ``tgt`` against it; returns (T, N, E) ((N, T, E) with batch_first)."""
        if src.ndim != tgt.ndim or src.ndim not in (2, 3):
            raise ValueError(f"Transformer: src and tgt must both be 3-D (batched) or 2-D (unbatched), got src "
                             f"{src.shape} and tgt {tgt.shape}")
        b = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[b] != tgt.shape[b]:
            raise ValueError(f"Transformer: the batch sizes of src {src.shape} and tgt {tgt.shape} (dim {b}) must be "
                             "equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(f"Transformer: the feature sizes of src {src.shape} and tgt {tgt.shape} must equal "
                             f"d_model={self.d_model}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """The (sz, sz) causal mask: -inf above the diagonal (future positions), 0 on and below it.

        Example:
            >>> md.nn.Transformer.generate_square_subsequent_mask(3).tolist()
            [[0.0, -inf, -inf], [0.0, 0.0, -inf], [0.0, 0.0, 0.0]]
        """
        return _square_subsequent_mask(sz, device=device, dtype=dtype)

