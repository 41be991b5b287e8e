"""``md.nn``: functional layers and losses (modules arrive with the nn issue)."""
from . import functional
from . import functional as F  # noqa: N812 -- PyTorch users write F

__all__ = ["F", "functional"]
