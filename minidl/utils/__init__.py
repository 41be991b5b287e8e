"""``md.utils``: laid out as ``torch.utils`` (``md.utils.data``).

Example:
    >>> from minidl.utils.data import DataLoader, random_split
"""
from . import checkpoint, data

__all__ = ["checkpoint", "data"]
