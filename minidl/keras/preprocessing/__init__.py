"""``md.keras.preprocessing``: ``sequence.pad_sequences`` (Keras 2's location)."""
from . import sequence

# --- issue 15 (pre): the datasets from directories, where Keras 3 also exports them ---
from ..utils_datasets import image_dataset_from_directory, text_dataset_from_directory  # noqa: E402

__all__ = ["image_dataset_from_directory", "sequence", "text_dataset_from_directory"]
