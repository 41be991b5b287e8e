"""``BatchNormalization`` and ``LayerNormalization`` with Keras' arguments, on the parameters of ``md.nn``'s
``BatchNorm1d`` / ``LayerNorm`` and ``F.batch_norm`` / ``F.layer_norm``."""
from ... import nn
from .. import constraints, initializers, regularizers
from .base import Layer, shape_str
from .core import _dtype


class BatchNormalization(Layer):
    """Normalize over every axis but ``axis`` (default -1: the channels of ``(N, H, W, C)`` images or the
    features of ``(N, F)``) with the batch statistics while training and the moving averages otherwise.

    Keras' conventions: ``momentum=0.99`` is the weight of the old moving average (PyTorch's 0.01),
    ``epsilon=1e-3``; weights ``gamma, beta`` (trainable) and ``moving_mean, moving_variance`` (not trainable).
    The moving variance is updated with the biased batch variance, as Keras (PyTorch uses the unbiased one). A layer
    with ``trainable=False`` runs in inference mode even inside ``fit``, as Keras.

    Example:
        >>> bn = md.keras.layers.BatchNormalization()
        >>> bn(np.random.rand(8, 4, 4, 3), training=True).shape
        (8, 4, 4, 3)
    """

    _cast_ints = True

    min_ndim = 2

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise TypeError(f"BatchNormalization: axis must be one int, got {axis!r}")
        self.axis, self.momentum, self.epsilon, self.center, self.scale = axis, momentum, epsilon, center, scale
        self.inits = {k: initializers.get(v) for k, v in (("beta", beta_initializer), ("gamma", gamma_initializer),
                                                          ("moving_mean", moving_mean_initializer),
                                                          ("moving_variance", moving_variance_initializer))}
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def _weight_shapes(self, input_shape):
        ndim = len(input_shape)
        channels = input_shape[self.axis] if -ndim <= self.axis < ndim else None
        if channels is None:
            return ()                   # build says what is wrong
        return [(channels,)] * (bool(self.scale) + bool(self.center) + 2)

    def build(self, input_shape):
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(f'Layer "{self.name}": axis {self.axis} is out of range for inputs of shape '
                             f"{shape_str(input_shape)} (the batch axis cannot be normalized over)")
        self._axis = self.axis % ndim
        channels = input_shape[self._axis]
        if channels is None:
            raise ValueError(f'Layer "{self.name}": axis {self.axis} of the input shape {shape_str(input_shape)} must '
                             "be known")
        self.bn = nn.BatchNorm1d(channels, eps=self.epsilon, momentum=1.0 - self.momentum, dtype=_dtype(self))
        if self.scale:
            self._add_weight("gamma", lambda: self.bn.weight, self.inits["gamma"], regularizer=self.gamma_regularizer,
                             constraint=self.gamma_constraint)
        else:
            self.bn.weight.requires_grad_(False)       # stays 1
        if self.center:
            self._add_weight("beta", lambda: self.bn.bias, self.inits["beta"], regularizer=self.beta_regularizer,
                             constraint=self.beta_constraint)
        else:
            self.bn.bias.requires_grad_(False)         # stays 0
        self._add_weight("moving_mean", lambda: self.bn.running_mean, self.inits["moving_mean"], trainable=False)
        self._add_weight("moving_variance", lambda: self.bn.running_var, self.inits["moving_variance"],
                         trainable=False)
        self._axes = {self._axis: channels}

    def call(self, inputs):
        ndim = inputs.ndim
        perm = [0, self._axis] + [i for i in range(1, ndim) if i != self._axis]
        x = inputs.permute(*perm) if perm != list(range(ndim)) else inputs
        if ndim > 4:
            x = x.reshape(x.shape[0], x.shape[1], -1)
        training = self.training and self._trainable        # Keras: a frozen BatchNormalization runs in inference
        n = x.numel() // x.shape[1] if x.shape[1] else 0
        if training and n == 1:
            y = self._single_value(x)
        else:
            old_var = self.bn.running_var.array.copy() if training else None
            y = nn.functional.batch_norm(x, self.bn.running_mean, self.bn.running_var, self.bn.weight, self.bn.bias,
                                         training, 1.0 - self.momentum, self.epsilon)
        if training and n > 1:
            # F.batch_norm moved the variance toward the unbiased batch variance (PyTorch's rule); Keras uses the
            # biased one: new = m * old + (1 - m) * var * (n - 1) / n, i.e. this correction of PyTorch's result.
            rv = self.bn.running_var
            rv.array[...] = rv.array * ((n - 1) / n) + old_var * (self.momentum / n)
        if ndim > 4:
            y = y.reshape(*[inputs.shape[i] for i in perm])
        if perm == list(range(ndim)):
            return y
        inverse = [perm.index(i) for i in range(ndim)]
        return y.permute(*inverse)

    def _single_value(self, x):
        """One value per channel while training (a batch of one sample, e.g. the last batch of an epoch): Keras
        normalizes it to 0 (its variance is 0) and outputs ``beta``; the moving variance decays toward 0."""
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        y = (x - x) * self.bn.weight.reshape(*shape) + self.bn.bias.reshape(*shape)
        rm, rv = self.bn.running_mean, self.bn.running_var
        rm.array[...] = rm.array * self.momentum + x.array.reshape(-1).astype(rm.array.dtype) * (1.0 - self.momentum)
        rv.array[...] = rv.array * self.momentum
        return y

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                **{f"{k}_initializer": initializers.serialize(v) for k, v in self.inits.items()},
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}


def set_affine_args(layer, beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer,
                    beta_constraint, gamma_constraint):
    """The initializers, regularizers and constraints of a normalization layer's ``beta`` and ``gamma``."""
    layer.beta_initializer = initializers.get(beta_initializer)
    layer.gamma_initializer = initializers.get(gamma_initializer)
    layer.beta_regularizer = regularizers.get(beta_regularizer)
    layer.gamma_regularizer = regularizers.get(gamma_regularizer)
    layer.beta_constraint = constraints.get(beta_constraint)
    layer.gamma_constraint = constraints.get(gamma_constraint)


def affine_config(layer):
    """Those six, as a config holds them."""
    return {"beta_initializer": initializers.serialize(layer.beta_initializer),
            "gamma_initializer": initializers.serialize(layer.gamma_initializer),
            "beta_regularizer": regularizers.serialize(layer.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(layer.gamma_regularizer),
            "beta_constraint": constraints.serialize(layer.beta_constraint),
            "gamma_constraint": constraints.serialize(layer.gamma_constraint)}


class LayerNormalization(Layer):
    """Normalize each sample over ``axis`` (default -1, the features; an int or a list of axes), with its own mean
    and biased variance, then scale by ``gamma`` and shift by ``beta`` (weights of the normalized axes' shape).

    Keras' defaults: ``epsilon=1e-3`` (PyTorch's ``LayerNorm`` uses 1e-5), ``gamma`` ones, ``beta`` zeros. Runs
    ``F.layer_norm`` over the trailing axes (the normalized axes are moved to the end first when they are not).

    Example:
        >>> ln = md.keras.layers.LayerNormalization()
        >>> ln(np.random.rand(2, 5, 8)).shape
        (2, 5, 8)
    """

    _cast_ints = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and axis and all(isinstance(a, int) for a in axis):
            axis = list(axis)
        elif not isinstance(axis, int):
            raise TypeError(f"Expected an int or a list/tuple of ints for the argument 'axis', but received: {axis!r}")
        self.axis, self.epsilon, self.center, self.scale = axis, epsilon, center, scale
        set_affine_args(self, beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer,
                        beta_constraint, gamma_constraint)

    def _normalized_axes(self, ndim):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if not -ndim <= a < ndim:
                raise ValueError(f'Layer "{self.name}": invalid axis: {a} (inputs have rank {ndim})')
        axes = sorted(a % ndim for a in axes)
        if len(set(axes)) != len(axes):
            raise ValueError(f'Layer "{self.name}": duplicate axis: {tuple(self.axis)}')
        if 0 in axes:
            raise ValueError(f'Layer "{self.name}": axis {self.axis} includes the batch axis 0, which cannot be '
                             "normalized over")
        return axes

    def _weight_shapes(self, input_shape):
        shape = tuple(input_shape[a] for a in self._normalized_axes(len(input_shape)))
        if any(d is None for d in shape):
            return ()                   # build says what is wrong
        return [shape] * (bool(self.scale) + bool(self.center))

    def build(self, input_shape):
        ndim = len(input_shape)
        self._axes_sorted = self._normalized_axes(ndim)
        shape = tuple(input_shape[a] for a in self._axes_sorted)
        if any(d is None for d in shape):
            raise ValueError(f'Layer "{self.name}": the normalized axes {self._axes_sorted} of the input shape '
                             f"{shape_str(input_shape)} must be known")
        self.ln = nn.LayerNorm(shape, eps=self.epsilon, dtype=_dtype(self))
        if self.scale:
            self._add_weight("gamma", lambda: self.ln.weight, self.gamma_initializer,
                             regularizer=self.gamma_regularizer,
                             constraint=self.gamma_constraint)
        else:
            self.ln.weight.requires_grad_(False)        # unused: call passes no scale
        if self.center:
            self._add_weight("beta", lambda: self.ln.bias, self.beta_initializer, regularizer=self.beta_regularizer,
                             constraint=self.beta_constraint)
        else:
            self.ln.bias.requires_grad_(False)          # unused: call passes no shift
        self._axes = {a: d for a, d in zip(self._axes_sorted, shape)}
        self._ndim = ndim

    def _check_input(self, shape):
        super()._check_input(shape)
        if self.built and len(shape) != self._ndim:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self._ndim}, found ndim={len(shape)}. Full shape received: {shape_str(shape)}")

    def call(self, inputs):
        ndim, axes = inputs.ndim, self._axes_sorted
        rest = [i for i in range(ndim) if i not in axes]
        perm = rest + axes
        moved = perm != list(range(ndim))
        x = inputs.permute(*perm) if moved else inputs
        y = nn.functional.layer_norm(x, self.ln.normalized_shape, self.ln.weight if self.scale else None,
                                     self.ln.bias if self.center else None, self.epsilon)
        if not moved:
            return y
        return y.permute(*[perm.index(i) for i in range(ndim)])

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, **affine_config(self)}
