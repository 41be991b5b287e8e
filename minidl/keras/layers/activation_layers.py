"""Keras' activation layers: ``ReLU``, ``LeakyReLU``, ``Softmax``, ``ELU``, ``PReLU`` (md.nn ops underneath)."""
import warnings

import numpy as np

import minidl as md

from ... import nn
from .. import initializers, regularizers
from .base import LAYER_DTYPES, Layer, shape_str


def _non_negative(layer, name, value):
    if value is None or value < 0:
        raise ValueError(f"{name} of a {layer} layer cannot be a negative value. Received: {name}={value}")
    return float(value)


class ReLU(Layer):
    """Rectified linear unit with Keras' three knobs: ``max_value`` where ``x >= max_value``, ``x`` where
    ``threshold <= x < max_value``, ``negative_slope * (x - threshold)`` below ``threshold``.

    Example:
        >>> md.keras.layers.ReLU(max_value=6.0)(np.array([[-1.0, 3.0, 8.0]])).tolist()
        [[0.0, 3.0, 6.0]]
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _non_negative("ReLU", "max_value", max_value)
        self.negative_slope = _non_negative("ReLU", "negative_slope", negative_slope)
        self.threshold = _non_negative("ReLU", "threshold", threshold)

    def call(self, inputs):
        if self.threshold == 0 and self.negative_slope == 0:
            out = md.relu(inputs)
        else:
            out = md.where(inputs >= self.threshold, inputs, (inputs - self.threshold) * self.negative_slope)
        if self.max_value is not None:
            out = md.clamp(out, max=self.max_value)
        return out

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Layer):
    """``x`` for ``x >= 0``, ``negative_slope * x`` below (Keras 3's default slope is 0.3; the old ``alpha=`` name
    is accepted with a warning, as Keras).

    Example:
        >>> md.keras.layers.LeakyReLU()(np.array([[-1.0, 2.0]])).tolist()
        [[-0.30000001192092896, 2.0]]
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.", stacklevel=2)
        super().__init__(**kwargs)
        self.negative_slope = _non_negative("LeakyReLU", "negative_slope", negative_slope)

    def call(self, inputs):
        return nn.functional.leaky_relu(inputs, self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """Softmax over ``axis`` (an int or a list of ints). ``layer(x, mask=m)`` gives masked-out positions (``m``
    False) a large negative logit and a zero output, so they get no probability, as Keras.

    Example:
        >>> md.keras.layers.Softmax()(np.zeros((1, 4))).tolist()
        [[0.25, 0.25, 0.25, 0.25]]
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis

    def call(self, inputs, mask=None):
        if mask is not None:
            keep = (mask if isinstance(mask, md.Tensor) else md.tensor(np.asarray(mask), device=inputs.device)).bool()
            big = -1e9 if inputs.dtype != md.float16 else -3e4
            inputs = md.where(keep, inputs, inputs * 0 + big)
        if isinstance(self.axis, list):
            axes = sorted(a % inputs.ndim for a in self.axis)
            shifted = inputs - inputs.amax(dim=tuple(axes), keepdim=True).detach()
            e = md.exp(shifted)
            out = e / e.sum(dim=tuple(axes), keepdim=True)
        else:
            out = md.softmax(inputs, dim=self.axis)
        return out if mask is None else out * keep.to(out.dtype)     # as Keras: a fully masked row gives zeros

    def forward(self, inputs, mask=None):
        return self.call(inputs, mask=mask)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class ELU(Layer):
    """Exponential linear unit: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    Example:
        >>> md.keras.layers.ELU()(np.array([[0.0, 2.0]])).tolist()
        [[0.0, 2.0]]
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs):
        return nn.functional.elu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """Parametric ReLU: ``x`` for ``x >= 0``, ``alpha * x`` below, with a learned ``alpha`` of the input's shape
    (without the batch axis) that is shared (size 1) along ``shared_axes`` (axes of the full input, batch = 0), as
    Keras. ``alpha`` starts at ``alpha_initializer`` (zeros: a plain ReLU).

    Example:
        >>> layer = md.keras.layers.PReLU(shared_axes=[1, 2])
        >>> layer.build((None, 8, 8, 3)); layer.count_params()
        3
    """

    min_ndim = 2

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        if alpha_constraint is not None:
            raise ValueError(f"PReLU {self.name!r}: alpha_constraint is not supported by md.keras (got "
                             f"{alpha_constraint!r})")
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)
            if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in axes):
                raise ValueError(f"PReLU {self.name!r}: shared_axes must be input axes >= 1 (0 is the batch axis), "
                                 f"got {shared_axes!r}")
            self.shared_axes = axes

    def _param_shape(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or ():
            if a >= len(input_shape):
                raise ValueError(f'Layer "{self.name}": shared axis {a} is out of range for the input shape '
                                 f"{shape_str(input_shape)}")
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f'Layer "{self.name}": PReLU needs every non-shared axis of the input shape to be known, '
                             f"got {shape_str(input_shape)}")
        return tuple(shape)

    def _weight_shapes(self, input_shape):
        return [self._param_shape(input_shape)]

    def build(self, input_shape):
        shape = self._param_shape(input_shape)
        self.alpha = nn.Parameter(md.zeros(*shape, dtype=LAYER_DTYPES[self.dtype_name]))
        self._add_weight("alpha", lambda: self.alpha, self.alpha_initializer, regularizer=self.alpha_regularizer)
        self._axes = {i: d for i, d in enumerate(input_shape) if i >= 1 and d is not None and
                      i not in (self.shared_axes or ())}

    def call(self, inputs):
        return md.relu(inputs) - self.alpha * md.relu(-inputs)

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": regularizers.serialize(self.alpha_regularizer), "alpha_constraint": None,
                "shared_axes": self.shared_axes}
