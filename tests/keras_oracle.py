"""Keras 3 itself (on its PyTorch backend) as the oracle for md.keras: values, shapes, parameter counts, configs.

Import `keras` from here, never directly: the backend must be chosen before Keras is first imported, and Keras'
default backend (TensorFlow) is not a test dependency.
"""
import os

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402  (after the backend is chosen)

assert keras.backend.backend() == "torch", "keras was imported elsewhere with another backend"


def to_numpy(x):
    """A Keras output (a torch tensor on the torch backend) as a NumPy array."""
    if hasattr(x, "detach"):            # torch's own conversion (np.array(tensor) warns under NumPy 2)
        return x.detach().cpu().numpy()
    return keras.ops.convert_to_numpy(x)
