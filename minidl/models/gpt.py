"""A small decoder-only transformer (GPT): token and learned position embeddings, pre-norm causal self-attention
blocks, a final LayerNorm and a language-model head that shares its weight with the token embedding."""
import math

import numpy as np

from .. import nn
from ..autograd.grad_mode import no_grad
from ..nn import functional as F
from ..tensor import Tensor


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"GPT: {name} must be an int >= 1, got {value!r}")


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position ``t`` sees only positions ``<= t``.

    One ``Linear(n_embd, 3 * n_embd)`` gives queries, keys and values (in that order along the last dim), the heads
    run through ``F.scaled_dot_product_attention(..., is_causal=True)`` and a ``Linear(n_embd, n_embd)`` mixes them.

    Example:
        >>> attn = CausalSelfAttention(n_embd=32, n_head=4)
        >>> attn(md.randn(2, 7, 32)).shape
        (2, 7, 32)
    """

    def __init__(self, n_embd, n_head, dropout=0.0, bias=True):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"CausalSelfAttention: n_embd {n_embd} is not divisible by n_head {n_head}")
        self.n_embd, self.n_head, self.dropout = n_embd, n_head, float(dropout)
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x):
        b, t, c = x.shape
        h = self.n_head
        # (B, T, 3C) -> (3, B, H, T, C/H): one permute, then q, k, v are contiguous slices of the first axis
        qkv = self.qkv(x).reshape(b, t, 3, h, c // h).permute(2, 0, 3, 1, 4).contiguous()
        q, k, v = qkv[0], qkv[1], qkv[2]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(b, t, c)
        return self.resid_drop(self.proj(y))


class MLP(nn.Module):
    """``Linear(n_embd, 4 n_embd)``, GELU, ``Linear(4 n_embd, n_embd)``, dropout: the position-wise feed-forward part.

    Example:
        >>> MLP(16)(md.randn(2, 3, 16)).shape
        (2, 3, 16)
    """

    def __init__(self, n_embd, dropout=0.0, bias=True):
        super().__init__()
        self.fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.act = nn.GELU()
        self.proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.proj(self.act(self.fc(x))))


class Block(nn.Module):
    """One pre-norm transformer block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``.

    Example:
        >>> Block(n_embd=32, n_head=4)(md.randn(2, 5, 32)).shape
        (2, 5, 32)
    """

    def __init__(self, n_embd, n_head, dropout=0.0, bias=True):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, bias)
        self.ln2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """A decoder-only transformer language model over ``vocab_size`` tokens and contexts up to ``block_size``.

    Token embedding plus a learned position embedding, ``n_layer`` pre-norm causal blocks (``n_head`` heads of
    width ``n_embd // n_head``, a 4x GELU MLP), a final LayerNorm and a bias-free head whose weight *is* the token
    embedding's (one Parameter, ``head.weight is tok_emb.weight``). Weights start as GPT-2's: normal(0, 0.02), the
    residual projections scaled by ``1 / sqrt(2 n_layer)``, biases 0, LayerNorms 1 and 0.

    ``forward(idx, targets=None)`` takes int64 token ids ``(B, T)`` with ``T <= block_size`` and returns
    ``(logits, loss)``: logits ``(B, T, vocab_size)``, and the mean cross-entropy of the logits against
    ``targets`` ``(B, T)`` over the positions whose target is not ``ignore_index`` (-100), or None without targets.
    ``config`` is the dict of constructor arguments (``GPT(**model.config)`` builds the same architecture).

    Example:
        >>> model = GPT(vocab_size=12, block_size=16, n_layer=2, n_head=4, n_embd=32)
        >>> logits, loss = model(md.randint(0, 12, (3, 10)), targets=md.randint(0, 12, (3, 10)))
        >>> logits.shape
        (3, 10, 12)
        >>> model.generate(md.tensor([[1, 2, 3]]), max_new_tokens=4, greedy=True).shape
        (1, 7)
    """

    ignore_index = -100

    def __init__(self, vocab_size, block_size, n_layer=2, n_head=4, n_embd=64, dropout=0.0, bias=True):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("block_size", block_size), ("n_layer", n_layer),
                            ("n_head", n_head), ("n_embd", n_embd)):
            _check_positive(name, value)
        if n_embd % n_head:
            raise ValueError(f"GPT: n_embd {n_embd} is not divisible by n_head {n_head}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"GPT: dropout must be in [0, 1), got {dropout!r}")
        self.config = dict(vocab_size=int(vocab_size), block_size=int(block_size), n_layer=int(n_layer),
                           n_head=int(n_head), n_embd=int(n_embd), dropout=float(dropout), bias=bool(bias))
        self.vocab_size, self.block_size = int(vocab_size), int(block_size)
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([Block(n_embd, n_head, dropout, bias) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, bias=bias)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight          # weight tying: one Parameter, two uses
        self._init_weights(n_layer)

    def _init_weights(self, n_layer):
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, 0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        for block in self.blocks:        # each block adds two projections to the residual stream
            nn.init.normal_(block.attn.proj.weight, 0.0, 0.02 / math.sqrt(2 * n_layer))
            nn.init.normal_(block.mlp.proj.weight, 0.0, 0.02 / math.sqrt(2 * n_layer))

    def _check_idx(self, idx, what="idx"):
        if not isinstance(idx, Tensor):
            raise TypeError(f"GPT: {what} must be a Tensor of int64 token ids, got {type(idx).__name__}")
        if idx.ndim != 2 or idx.dtype.is_floating_point:
            raise ValueError(f"GPT: {what} must be integer token ids of shape (batch, time), got {idx.dtype} "
                             f"of shape {tuple(idx.shape)}")

    def forward(self, idx, targets=None):
        self._check_idx(idx)
        b, t = idx.shape
        if t > self.block_size:
            raise ValueError(f"GPT: sequence length {t} is longer than block_size {self.block_size} "
                             f"(input of shape {tuple(idx.shape)})")
        if t == 0:
            raise ValueError(f"GPT: got an empty sequence (input of shape {tuple(idx.shape)})")
        pos = Tensor._wrap(np.arange(t, dtype=np.int64)).to(idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        if targets is None:
            return logits, None
        self._check_idx(targets, "targets")
        if tuple(targets.shape) != (b, t):
            raise ValueError(f"GPT: targets of shape {tuple(targets.shape)} do not match idx of shape {(b, t)}")
        loss = F.cross_entropy(logits.reshape(b * t, self.vocab_size), targets.reshape(b * t),
                               ignore_index=self.ignore_index)
        return logits, loss

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, greedy=False, generator=None):
        """Append ``max_new_tokens`` tokens to each row of ``idx`` (B, T), one at a time, and return (B, T + new).

        Each step feeds the last ``block_size`` tokens (older ones are cropped), takes the logits of the last
        position and either picks the argmax (``greedy=True``) or samples from ``softmax(logits / temperature)``
        restricted to the ``top_k`` most likely tokens (all when None). Runs in eval mode under ``no_grad`` and
        restores the model's mode. ``generator``: an ``md.Generator`` or NumPy Generator for the draws (default:
        md's global generator).

        Example:
            >>> out = model.generate(md.tensor([[3, 1, 4]]), max_new_tokens=5, temperature=0.8, top_k=3)
        """
        self._check_idx(idx)
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) \
                or max_new_tokens < 0:
            raise ValueError(f"GPT.generate: max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
        if idx.shape[1] == 0:
            raise ValueError(f"GPT.generate: the prompt is empty (idx of shape {tuple(idx.shape)})")
        if not greedy:
            if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
                raise ValueError(f"GPT.generate: temperature must be a finite number > 0, got {temperature!r}")
            if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                                      or top_k < 1):
                raise ValueError(f"GPT.generate: top_k must be an int >= 1 or None, got {top_k!r}")
        rng = _numpy_generator(generator)
        was_training = self.training
        self.eval()
        tokens = np.array(idx.cpu().numpy(), dtype=np.int64)
        try:
            with no_grad():
                for _ in range(int(max_new_tokens)):
                    context = Tensor._wrap(np.ascontiguousarray(tokens[:, -self.block_size:])).to(idx.device)
                    logits, _ = self(context)
                    last = np.asarray(logits[:, -1, :].cpu().numpy(), dtype=np.float64)
                    nxt = last.argmax(-1) if greedy else _sample(last, temperature, top_k, rng)
                    tokens = np.concatenate([tokens, nxt.astype(np.int64)[:, None]], axis=1)
        finally:
            self.train(was_training)
        return Tensor._wrap(tokens).to(idx.device)


def _sample(logits, temperature, top_k, rng):
    """One draw per row from ``softmax(logits / temperature)`` kept to the ``top_k`` largest logits."""
    z = logits / temperature
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.sort(z, axis=-1)[:, -top_k][:, None]
        z = np.where(z < kth, -np.inf, z)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    u = rng.random(len(p))[:, None]
    return np.minimum((p.cumsum(-1) < u).sum(-1), p.shape[-1] - 1)


def _numpy_generator(generator):
    """The NumPy Generator to draw from: md's global one (``md.manual_seed``), an ``md.Generator``'s own state, or a
    NumPy Generator as given."""
    from .. import random as md_random  # noqa: PLC0415

    if generator is None:
        return md_random.generator()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, md_random.Generator):
        return generator._np
    raise TypeError(f"GPT.generate: generator must be a minidl.Generator or numpy Generator, got "
                    f"{type(generator).__name__}")


CHECKPOINT_FORMAT = "minidl.gpt"
CHECKPOINT_VERSION = 1
_CONFIG_KEYS = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias")


def save_checkpoint(model, path, vocab, **info):
    """Write ``model`` (weights and ``config``), its character vocabulary and ``info`` (plain values: the task, the
    held-out accuracy, ...) to ``path`` in one safetensors file, atomically (``md.save``).

    ``vocab`` is the string whose i-th character is token i; it must have ``model.config["vocab_size"]`` distinct
    characters. :func:`load_checkpoint` reads it back.

    Example:
        >>> save_checkpoint(model, "gpt.safetensors", vocab="0123456789+=", task="addition", digits=3)
    """
    from ..serialization import save  # noqa: PLC0415

    if not isinstance(model, GPT):
        raise TypeError(f"save_checkpoint: expected a GPT, got {type(model).__name__}")
    _check_vocab(vocab, model.config["vocab_size"], "save_checkpoint")
    save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": dict(model.config),
          "vocab": vocab, "info": dict(info), "model": model.state_dict()}, path)


def _check_vocab(vocab, size, where):
    if not isinstance(vocab, str) or len(vocab) != size or len(set(vocab)) != len(vocab):
        raise ValueError(f"{where}: the vocabulary must be a string of {size} distinct characters (one per token), "
                         f"got {vocab!r}")


def load_checkpoint(path, device="cpu"):
    """``(model, vocab, info)`` from a file written by :func:`save_checkpoint` (``minidl train gpt --save``).

    The file is read with ``md.load`` (nothing in it runs); a damaged file, a file of another kind, or weights that
    do not fit the stored configuration are a ``ValueError`` naming the file and what is wrong. The model comes
    back in eval mode.

    Example:
        >>> model, vocab, info = load_checkpoint("gpt.safetensors")
    """
    from ..serialization import load  # noqa: PLC0415

    obj = load(path, device=device)
    what = f"{path} is not a GPT checkpoint written by minidl (minidl train gpt --save)"
    if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT:
        keys = sorted(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"{what}: it holds {keys}, without format {CHECKPOINT_FORMAT!r}")
    if obj.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{what}: format version {obj.get('version')!r}, this minidl reads {CHECKPOINT_VERSION}")
    config, vocab, info, state = (obj.get(k) for k in ("config", "vocab", "info", "model"))
    if not isinstance(config, dict) or sorted(config) != sorted(_CONFIG_KEYS):
        raise ValueError(f"{what}: its config {config!r} does not hold exactly {', '.join(_CONFIG_KEYS)}")
    if not isinstance(state, dict) or not isinstance(info, dict):
        raise ValueError(f"{what}: the model weights or the info are missing")
    try:
        _check_vocab(vocab, config["vocab_size"], str(path))
        model = GPT(**config)
        model.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as exc:
        detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise ValueError(f"{what}: {detail}") from None
    return model.to(device).eval(), vocab, info
