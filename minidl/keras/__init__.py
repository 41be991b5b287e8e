"""``md.keras``: the Keras API on minidl's own engine (no TensorFlow, JAX or PyTorch underneath).

``import minidl.keras as keras`` runs the programs of Keras tutorials: ``Sequential`` stacks or functional
``Model(inputs, outputs)`` of ``keras.layers``, ``compile`` with Keras' names, ``fit``/``evaluate``/``predict``,
``summary``, ``save``/``keras.models.load_model``, callbacks, ``keras.datasets`` and ``keras.utils``. Each layer holds
``md.nn`` modules and trains with minidl's autograd, kernels and ``md.optim``. Images are channels-last
``(N, H, W, C)`` as in Keras; weights use Keras' initializers, layouts (``get_weights``) and parameter counts.

Example:
    >>> import minidl.keras as keras
    >>> model = keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(32, activation="relu"),
    ...                           keras.layers.Dense(10, activation="softmax")])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> history = model.fit(x_train, y_train, epochs=20, validation_split=0.1)
    >>> loss, acc = model.evaluate(x_test, y_test)
"""
from . import (activations, backend, callbacks, datasets, initializers, layers, losses, metrics, models, optimizers,
               preprocessing, regularizers, utils)
from .layers import Input
from .model import Model
from .sequential import Sequential

__all__ = ["Input", "Model", "Sequential", "activations", "backend", "callbacks", "datasets", "initializers", "layers",
           "losses", "metrics", "models", "optimizers", "preprocessing", "regularizers", "utils"]

# --- issue 15 (kapi): keras.Layer, keras.Variable, keras.ops, keras.random at the top, as Keras 3 ---
from . import ops, random  # noqa: E402
from .layers import Layer  # noqa: E402
from .variables import Variable  # noqa: E402

__all__ += ["Layer", "Variable", "ops", "random"]

from . import constraints  # noqa: E402

__all__ += ["constraints"]
