"""``md.keras.layers``: Keras' layers, each built on ``md.nn`` modules (see ``base.Layer``).

Example:
    >>> from minidl.keras import layers
    >>> model = md.keras.Sequential([layers.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
    ...                              layers.MaxPooling2D(), layers.Flatten(), layers.Dense(10, activation="softmax")])
"""
from .base import Input, InputLayer, KerasTensor, Layer
from .convolutional import (AveragePooling1D, AveragePooling2D, Conv1D, Conv2D, GlobalAveragePooling1D,
                            GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from .core import Activation, Dense, Dropout, Flatten, Reshape
from .merging import Add, Average, Concatenate, Multiply
from .normalization import BatchNormalization, LayerNormalization
from .recurrent import GRU, LSTM, Embedding, SimpleRNN
from .wrappers import Bidirectional

# Keras' aliases
Convolution1D, MaxPool1D, AvgPool1D = Conv1D, MaxPooling1D, AveragePooling1D
Convolution2D, MaxPool2D, AvgPool2D = Conv2D, MaxPooling2D, AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D = (GlobalAveragePooling1D, GlobalAveragePooling2D,
                                                                      GlobalMaxPooling1D, GlobalMaxPooling2D)

LAYERS = {c.__name__: c for c in (Activation, Add, Average, AveragePooling1D, AveragePooling2D, BatchNormalization,
                                  Bidirectional, Concatenate, Conv1D, Conv2D, Dense, Dropout, Embedding, Flatten, GRU,
                                  GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
                                  GlobalMaxPooling2D, LSTM, LayerNormalization, MaxPooling1D, MaxPooling2D, Multiply,
                                  Reshape, SimpleRNN)}

__all__ = sorted(LAYERS) + ["Input", "InputLayer", "KerasTensor", "Layer", "Convolution1D", "MaxPool1D", "AvgPool1D",
                            "Convolution2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool1D", "GlobalAvgPool2D",
                            "GlobalMaxPool1D", "GlobalMaxPool2D"]
