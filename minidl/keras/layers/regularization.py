"""Keras' noise and channel-dropout layers: ``GaussianNoise``, ``GaussianDropout``, ``SpatialDropout1D/2D``. Each is
the identity outside training (``evaluate``/``predict``, or a call without ``training=True``)."""
import math

import minidl as md

from ... import nn
from .base import Layer
from .reshaping import _format


def _rate(rate):
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
        raise ValueError(f"Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                         f"Received: rate={rate}")
    return float(rate)


class GaussianNoise(Layer):
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` while training.

    Example:
        >>> layer = md.keras.layers.GaussianNoise(0.1)
        >>> layer(np.ones((2, 3)), training=True).shape
        (2, 3)
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(stddev, (int, float)) or isinstance(stddev, bool) or stddev < 0:
            raise ValueError(f"Invalid value received for argument `stddev`. Expected a float value >= 0. "
                             f"Received: stddev={stddev}")
        self.stddev, self.seed = float(stddev), seed

    def call(self, inputs):
        if not self.training or self.stddev == 0:
            return inputs
        return inputs + md.randn_like(inputs) * self.stddev

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiply the inputs by Gaussian noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))`` while
    training.

    Example:
        >>> md.keras.layers.GaussianDropout(0.2)(np.ones((2, 3))).tolist()      # inference: identity
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = _rate(rate), seed

    def call(self, inputs):
        if not self.training or not 0 < self.rate < 1:
            return inputs
        return inputs * (md.randn_like(inputs) * math.sqrt(self.rate / (1 - self.rate)) + 1)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class _SpatialDropout(Layer):
    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = _rate(rate), seed

    def call(self, inputs):
        if not self.training or self.rate == 0:
            return inputs
        shape = self._noise_shape(inputs)
        mask = nn.functional.dropout(md.ones(*shape, dtype=inputs.dtype, device=inputs.device), self.rate, True)
        return inputs * mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class SpatialDropout1D(_SpatialDropout):
    """Drop whole feature channels of a ``(batch, steps, channels)`` input while training (one draw per sample and
    channel, shared by all steps), scaling the rest by ``1 / (1 - rate)``.

    Example:
        >>> md.keras.layers.SpatialDropout1D(0.5)(np.ones((2, 4, 3)), training=True).shape
        (2, 4, 3)
    """

    ndim = 3

    def _noise_shape(self, x):
        return (x.shape[0], 1, x.shape[2])


class SpatialDropout2D(_SpatialDropout):
    """Drop whole feature maps of an image batch while training (one draw per sample and channel), scaling the rest
    by ``1 / (1 - rate)``.

    Example:
        >>> md.keras.layers.SpatialDropout2D(0.5)(np.ones((2, 4, 4, 3)), training=True).shape
        (2, 4, 4, 3)
    """

    ndim = 4

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed, **kwargs)
        self.data_format = _format(data_format)

    def _noise_shape(self, x):
        if self.data_format == "channels_last":
            return (x.shape[0], 1, 1, x.shape[3])
        return (x.shape[0], x.shape[1], 1, 1)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
