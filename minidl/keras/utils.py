"""``md.keras.utils``: ``to_categorical``, ``pad_sequences``, ``set_random_seed``.

Example:
    >>> md.keras.utils.to_categorical([0, 2], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
"""
import random

import numpy as np

from ..datasets.sequence import pad_sequences
from ..random import manual_seed

__all__ = ["pad_sequences", "set_random_seed", "to_categorical"]


def to_categorical(x, num_classes=None):
    """One-hot encode integer labels: shape ``x.shape + (num_classes,)`` (a trailing axis of 1 is dropped first)."""
    x = np.asarray(x)
    if x.size and (x.dtype.kind == "f" and not np.all(x == np.round(x))):
        raise ValueError("to_categorical: labels must be integers")
    x = x.astype(np.int64)
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x[..., 0]
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(f"to_categorical: labels span {int(x.min())}..{int(x.max())}, outside [0, {num_classes})")
    out = np.zeros(x.shape + (num_classes,), np.float32)
    np.put_along_axis(out, x[..., None], 1.0, axis=-1)
    return out


def set_random_seed(seed):
    """Seed Python's, NumPy's global and minidl's generators (weights, dropout, shuffling): repeatable runs."""
    random.seed(seed)
    np.random.seed(seed)
    manual_seed(seed)

# --- issue 15 (kapi): get_file (Keras' cache folder, hash check) ---
from .utils_files import get_file, validate_file  # noqa: E402

__all__ += ["get_file", "validate_file"]

# --- issue 15 (kapi): timeseries_dataset_from_array ---
from .utils_timeseries import timeseries_dataset_from_array  # noqa: E402

__all__ += ["timeseries_dataset_from_array"]

# --- issue 15 (pre): image_dataset_from_directory, text_dataset_from_directory ---
from .utils_datasets import image_dataset_from_directory, text_dataset_from_directory  # noqa: E402

__all__ += ["image_dataset_from_directory", "text_dataset_from_directory"]

# --- issue 15 (fit): Keras 3's PyDataset (and its older name Sequence), read by fit/evaluate/predict ---
from .utils_pydataset import PyDataset, Sequence  # noqa: E402

__all__ += ["PyDataset", "Sequence"]
# --- issue 15 (rnn): plot_model (matplotlib, an optional extra) ---
from .utils_plot import plot_model  # noqa: E402

__all__ += ["plot_model"]

# --- custom training steps: Keras' batch (un)packing helpers ---
from .model_steps import pack_x_y_sample_weight, unpack_x_y_sample_weight  # noqa: E402

__all__ += ["pack_x_y_sample_weight", "unpack_x_y_sample_weight"]
# --- issue 15 campaign: image files (Pillow, optional extra) ---
from .utils_image import array_to_img, img_to_array, load_img, save_img  # noqa: E402

__all__ += ["array_to_img", "img_to_array", "load_img", "save_img"]

# --- Keras 3's registration of your own classes (also in keras.saving) ---
from .object_registration import (CustomObjectScope, custom_object_scope, get_custom_objects,  # noqa: E402
                                  get_registered_name, get_registered_object, register_keras_serializable)

__all__ += ["CustomObjectScope", "custom_object_scope", "get_custom_objects", "get_registered_name",
            "get_registered_object", "register_keras_serializable"]
