"""Core layers: ``Dense``, ``Activation``, ``Flatten``, ``Reshape``, ``Dropout``."""
import math

from ... import nn
from .. import activations, constraints, initializers, regularizers
from .base import LAYER_DTYPES, Layer, check_shape, shape_str


def _dtype(layer):
    return LAYER_DTYPES[layer.dtype_name]


def _transpose(a):
    return a.T


def _need_known(layer, shape, axis, what):
    if shape[axis] is None:
        raise ValueError(f'Layer "{layer.name}": the {what} (axis {axis} of the input shape {shape_str(shape)}) must '
                         "be known to build the layer; give it in input_shape or Input(shape=...)")
    return shape[axis]


class Dense(Layer):
    """``activation(inputs @ kernel + bias)``: a fully connected layer (``md.nn.Linear`` inside).

    As in Keras, an input of rank > 2 is transformed along its last axis only; put a ``Flatten`` before a
    classifier head. Kernel in Keras' layout ``(in, units)`` for ``get_weights``; ``glorot_uniform`` kernel
    and zero bias by default.

    Example:
        >>> layer = md.keras.layers.Dense(64, activation="relu", kernel_regularizer=md.keras.regularizers.l2(1e-4))
        >>> layer(np.zeros((2, 784))).shape
        (2, 64)
    """

    _cast_ints = True

    min_ndim = 2

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"Received an invalid value for `units`, expected a positive integer. Received: "
                             f"units={units}")
        self.units, self.use_bias = units, use_bias
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _weight_shapes(self, input_shape):
        n_in = _need_known(self, input_shape, -1, "last dimension of the inputs to a Dense layer")
        return [(n_in, self.units)] + [(self.units,)] * bool(self.use_bias)

    def build(self, input_shape):
        n_in = _need_known(self, input_shape, -1, "last dimension of the inputs to a Dense layer")
        self.linear = nn.Linear(n_in, self.units, bias=self.use_bias, dtype=_dtype(self))
        self._add_weight("kernel", lambda: self.linear.weight, self.kernel_initializer, _transpose, _transpose,
                         self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self._add_weight("bias", lambda: self.linear.bias, self.bias_initializer, regularizer=self.bias_regularizer,
                             constraint=self.bias_constraint)
        self._axes = {-1: n_in}

    def call(self, inputs):
        return self.activation(self.linear(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


class Activation(Layer):
    """Apply an activation by name: ``Activation("softmax")``."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Flatten(Layer):
    """Flatten every axis but the batch axis (channels-last order, as Keras): ``(N, 7, 7, 32) -> (N, 1568)``."""

    min_ndim = 1

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"The `data_format` argument must be one of 'channels_last', 'channels_first'. "
                             f"Received: {data_format!r}")
        self.data_format = data_format

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:     # Keras: flatten in channels-last order
            inputs = inputs.permute(0, *range(2, inputs.ndim), 1)
        return inputs.reshape(inputs.shape[0], -1)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else math.prod(rest))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshape the non-batch axes to ``target_shape`` (which may hold one -1): ``Reshape((28, 28, 1))``."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)
        if sum(d == -1 for d in self.target_shape) > 1 or any(d == 0 or d < -1 for d in self.target_shape):
            raise ValueError(f"Reshape: target_shape {self.target_shape} may hold positive sizes and at most one -1")

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        target = list(self.target_shape)
        if any(d is None for d in rest):
            return (input_shape[0],) + tuple(None if d == -1 else d for d in target)
        total, known = math.prod(rest), math.prod(d for d in target if d != -1)
        if (-1 in target and total % known) or (-1 not in target and total != known):
            raise ValueError(f'Layer "{self.name}": total size of the new array must be unchanged, input_shape = '
                             f"{list(rest)}, output_shape = {list(self.target_shape)}")
        if -1 in target:
            target[target.index(-1)] = total // known
        return (input_shape[0],) + tuple(target)

    def call(self, inputs):
        shape = self.compute_output_shape((None,) + tuple(inputs.shape[1:]))
        return inputs.reshape(inputs.shape[0], *shape[1:])

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Dropout(Layer):
    """Zero a ``rate`` fraction of the inputs while training, scaling the rest by ``1 / (1 - rate)``; identity in
    ``evaluate``/``predict``. ``noise_shape`` (with 1 on the axes that share a mask) as Keras."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                             f"Received: rate={rate}")
        if noise_shape is not None:
            noise_shape = list(check_shape(noise_shape, f"Dropout {self.name!r} noise_shape"))
        self.rate, self.noise_shape, self.seed = float(rate), noise_shape, seed

    def call(self, inputs):
        if not self.training or self.rate == 0:
            return inputs
        if self.noise_shape is None:
            return nn.functional.dropout(inputs, self.rate, True)
        shape = tuple(s if n is None else n for s, n in zip(inputs.shape, self.noise_shape))
        from ...creation import ones  # noqa: PLC0415
        mask = nn.functional.dropout(ones(*shape, dtype=inputs.dtype, device=inputs.device), self.rate, True)
        return inputs * mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}
