"""``md.models``: one ready-made network per classic family, built from ``md.nn`` layers.

Example:
    >>> model = md.models.CNN(in_channels=1, num_classes=10, image_size=8)
    >>> model(md.randn(4, 1, 8, 8)).shape
    (4, 10)
"""
from .autoencoder import Autoencoder, ConvAutoencoder
from .cnn import CNN
from .gpt import GPT
from .mlp import MLP
from .rnn import RNNClassifier

__all__ = ["MLP", "CNN", "RNNClassifier", "Autoencoder", "ConvAutoencoder", "GPT"]
