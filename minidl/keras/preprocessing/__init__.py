"""``md.keras.preprocessing``: ``sequence.pad_sequences`` (Keras 2's location)."""
from . import sequence
