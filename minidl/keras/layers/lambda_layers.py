"""``Lambda`` (a Python function as a layer) and ``TimeDistributed`` (a layer applied to every time step)."""
from .base import Layer, check_shape, shape_str


class Lambda(Layer):
    """Wrap a function of Tensors as a layer: ``Lambda(lambda x: x ** 2)``. ``output_shape`` (without the batch
    axis, or a function of the input shape) tells a functional model the shape; without it the function is traced on
    zeros to find it. ``arguments`` are extra keyword arguments to the function.

    A Lambda holds Python code, which a ``.keras`` file does not carry here: saving a model with a Lambda is refused
    with an error naming the layer (write a ``Layer`` subclass and pass it in ``custom_objects`` instead).

    Example:
        >>> md.keras.layers.Lambda(lambda x: x * 2)(np.ones((1, 2))).tolist()
        [[2.0, 2.0]]
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"Lambda {self.name!r}: `function` must be callable, got {function!r:.80}")
        if mask is not None:
            raise ValueError(f"Lambda {self.name!r}: masks are not supported by md.keras (mask={mask!r:.80})")
        if output_shape is not None and not callable(output_shape):
            output_shape = check_shape(output_shape, f"Lambda {self.name!r} output_shape")
        self.function, self._output_shape, self.arguments = function, output_shape, dict(arguments or {})

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def compute_output_shape(self, input_shape):
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        if self._output_shape is not None:
            batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
            return (batch, *self._output_shape)
        import numpy as np  # noqa: PLC0415
        from .base import to_tensor  # noqa: PLC0415

        def zeros(shape):
            return to_tensor(np.zeros([1 if d is None else d for d in shape], dtype=self.dtype_name))
        multi = isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (list, tuple))
        sample = [zeros(s) for s in input_shape] if multi else zeros(input_shape)
        try:
            out = self.function(sample, **self.arguments)
        except Exception as e:
            raise ValueError(f"Lambda {self.name!r}: could not infer its output shape from the input shape "
                             f"{input_shape!r} ({e}); give output_shape=") from e
        batch = input_shape[0][0] if multi else input_shape[0]
        return (batch, *tuple(out.shape[1:]))

    def get_config(self):
        raise ValueError(f"Layer {self.name!r} (Lambda) holds a Python function, which md.keras does not save in a "
                         ".keras file (it would have to run code read from the file). Write a Layer subclass with "
                         "get_config and pass it to load_model in custom_objects instead.")


class TimeDistributed(Layer):
    """Apply ``layer`` to every time step (axis 1) of the input: ``TimeDistributed(Dense(8))`` on ``(batch, steps,
    features)`` gives ``(batch, steps, 8)``. One set of weights, shared by all steps (the wrapped layer's).

    Example:
        >>> layer = md.keras.layers.TimeDistributed(md.keras.layers.Dense(8))
        >>> layer(np.zeros((2, 10, 16))).shape
        (2, 10, 8)
    """

    min_ndim = 3

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"Please initialize `TimeDistributed` layer with a `keras.layers.Layer` instance. "
                             f"Received: {layer!r:.80}")
        super().__init__(**kwargs)
        self.layer = layer

    def _inner(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])

    def _weight_shapes(self, input_shape):
        return ()           # the wrapped layer claims its own when it builds

    def build(self, input_shape):
        self.layer._maybe_build(self._inner(input_shape))

    def compute_output_shape(self, input_shape):
        out = self.layer.compute_output_shape(self._inner(input_shape))
        return (input_shape[0], input_shape[1]) + tuple(out[1:])

    def call(self, inputs):
        n, t = inputs.shape[0], inputs.shape[1]
        was = self.layer.training
        self.layer.train(self.training)
        try:
            out = self.layer(inputs.reshape(n * t, *inputs.shape[2:]))
        finally:
            self.layer.train(was)
        if out.shape[0] != n * t:
            raise ValueError(f"TimeDistributed {self.name!r}: the wrapped layer changed the batch size "
                             f"({shape_str(tuple(inputs.shape))} -> {shape_str(tuple(out.shape))})")
        return out.reshape(n, t, *out.shape[1:])

    # the weights are the wrapped layer's
    def get_weights(self):
        return self.layer.get_weights()

    def set_weights(self, weights):
        self.layer.set_weights(weights)

    def count_params(self):
        return self.layer.count_params()

    def _param_counts(self):
        return self.layer._param_counts()

    @property
    def weight_names(self):
        return self.layer.weight_names

    @property
    def losses(self):
        return self.layer.losses

    def _apply_trainable(self):
        if "layer" in self._modules:
            self.layer.trainable = self._trainable

    def get_config(self):
        return {**super().get_config(), "layer": {"class_name": type(self.layer).__name__,
                                                  "config": self.layer.get_config()}}

    @classmethod
    def from_config(cls, config):
        from ..saving import layer_from_config  # noqa: PLC0415
        config = dict(config)
        spec = config.pop("layer", None)
        if not isinstance(spec, dict):
            raise ValueError(f"TimeDistributed: the config's 'layer' must be a layer config, got {spec!r:.80}")
        return cls(layer_from_config(spec), **config)
