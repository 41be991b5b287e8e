"""``md.keras.preprocessing.sequence.pad_sequences``: the same function as ``md.keras.utils.pad_sequences``."""
from ...datasets.sequence import pad_sequences

__all__ = ["pad_sequences"]
