"""Similarity layers: ``CosineSimilarity``."""
from . import functional as F
from .module import Module


class CosineSimilarity(Module):
    """Cosine similarity of two inputs along ``dim`` (each norm floored at ``eps``), with broadcasting.

    Example:
        >>> md.nn.CosineSimilarity(dim=1)(md.randn(4, 8), md.randn(4, 8)).shape
        (4,)
    """

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)
