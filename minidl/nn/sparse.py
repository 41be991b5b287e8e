"""``Embedding``: a lookup table of learnable vectors."""
from ..autograd.grad_mode import no_grad
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter, empty_parameter


class Embedding(Module):
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by integer indices; initialized N(0, 1).

    Args:
        num_embeddings, embedding_dim: table size.
        padding_idx: this row is initialized to zeros and never receives a gradient.
        max_norm: rows looked up are first renormalized in place to at most this ``norm_type``-norm.

    Example:
        >>> emb = md.nn.Embedding(10, 3, padding_idx=0)
        >>> emb(md.tensor([[1, 2, 0]])).shape
        (1, 3, 3)
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 *, _weight=None, device=None, dtype=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for {num_embeddings} "
                                 "embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        if _weight is None:
            self.weight = empty_parameter(num_embeddings, embedding_dim, device=device, dtype=dtype)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight of shape {tuple(_weight.shape)} does not match "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0):
        """An Embedding around the given 2-D ``embeddings`` (trainable unless ``freeze``)."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {tuple(embeddings.shape)}")
        m = cls(*embeddings.shape, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                _weight=embeddings)
        m.weight.requires_grad = not freeze
        return m

    def forward(self, indices):
        if self.max_norm is not None:
            self._renorm(indices)
        return F.embedding(indices, self.weight, self.padding_idx)

    def _renorm(self, indices):
        with no_grad():
            xp = self.weight._xp
            rows = xp.unique(indices.array.reshape(-1) % self.num_embeddings)
            w = self.weight.array
            norms = (xp.abs(w[rows]) ** self.norm_type).sum(axis=1) ** (1.0 / self.norm_type)
            scale = xp.where(norms > self.max_norm, self.max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
            w[rows] *= scale[:, None]
            self.weight._version += 1

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        return s
