"""``md.keras.Sequential``: a plain stack of layers, each feeding the next."""
from .backend import unique_name
from .layers.base import InputLayer, KerasTensor, Layer, check_shape, shape_str
from .model import Model
from .saving import MODEL_CLASSES, field, layer_from_config


class Sequential(Model):
    """A linear stack of layers: ``Sequential([layer, ...])`` or ``add`` them one by one.

    The input shape comes from an ``Input(shape=...)`` first entry, an ``input_shape=`` argument of the first
    layer, or the first batch the model sees; with it known, each layer is built (and its shape checked) as it
    is added, and ``summary()`` works before training.

    Example:
        >>> model = md.keras.Sequential([
        ...     md.keras.Input(shape=(28, 28)),
        ...     md.keras.layers.Flatten(),
        ...     md.keras.layers.Dense(128, activation="relu"),
        ...     md.keras.layers.Dropout(0.2),
        ...     md.keras.layers.Dense(10, activation="softmax"),
        ... ])
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> model.fit(x_train, y_train, epochs=5)
    """

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        super().__init__(name=name or unique_name("sequential"), trainable=trainable, **kwargs)
        self._input = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Append a layer (or set the input shape with an ``Input``); built at once when the input shape is known."""
        if isinstance(layer, InputLayer):
            layer = layer.tensor
        if isinstance(layer, KerasTensor):
            if self.layers or self._input is not None:
                raise ValueError("An Input can only be the first entry of a Sequential model")
            self._input = layer.shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"The added layer must be an instance of class Layer. Received: layer={layer!r} of type "
                            f"{type(layer).__name__}.")
        if layer.name in self._modules:
            raise ValueError(f"All layers added to a Sequential model should have unique names. Name {layer.name!r} is "
                             "already the name of a layer in this model. Update the `name` argument to pass a unique "
                             "name.")
        if not self.layers and self._input is None and layer._batch_input_shape is not None:
            self._input = layer._batch_input_shape
        previous = self.output_shape if self.built else None
        self._register_layer(layer)
        self.built = False
        if previous is not None:    # only the new layer needs building: adding n layers stays O(n), not O(n^2)
            self._build_layers([layer], previous)
        elif self._input is not None:
            self.build(self._input)

    def pop(self):
        """Remove the last layer."""
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        last = self.layers[-1]
        del self._modules[last.name]
        if self.built:
            self.output_shape = self.layers[-1].output_shape if self.layers else self._input
        return last

    def build(self, input_shape=None):
        """Build every layer for inputs of ``input_shape`` (batch axis included, ``None`` allowed), following the
        shapes from layer to layer."""
        shape = tuple(input_shape if input_shape is not None else self._input or ())
        if not shape:
            raise ValueError("Sequential.build needs an input shape, e.g. model.build((None, 784))")
        self._input = shape
        self._build_layers(self.layers, shape)

    def _build_layers(self, layers, shape):
        """Build ``layers`` in turn from ``shape`` (the output shape of the layers before them)."""
        for layer in layers:
            try:
                layer._maybe_build(shape)
                layer._check_input(shape)
                shape = layer.compute_output_shape(shape)
            except ValueError as e:
                raise ValueError(f"{e}\n(in Sequential model {self.name!r}, layer {layer.name!r} given input shape "
                                 f"{shape_str(shape)})") from None
            layer.output_shape = shape
        self.built, self.input_shape, self.output_shape = True, self._input, shape

    def _maybe_build(self, input_shape):
        if not self.built:
            self.build(input_shape)

    def call(self, inputs):
        x = inputs
        for layer in self.layers:
            x = layer(x)
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def get_config(self):
        return {"name": self.name, "layers": [layer._serialized() for layer in self.layers],
                "build_input_shape": None if self._input is None else list(self._input)}

    def _serialized(self):
        return {"class_name": "Sequential", "config": self.get_config()}

    @classmethod
    def _from_saved_config(cls, config, custom_objects=None, what="layer config of class 'Sequential'"):
        """The model ``get_config``'s dict describes (checked as untrusted data, see ``saving``)."""
        model = cls(name=field(config, "name", str, what))
        for sub in field(config, "layers", list, what):
            model.add(layer_from_config(sub, custom_objects))
        shape = config.get("build_input_shape")
        if shape is not None and not model.built:
            model.build(check_shape(shape, f"{what} build_input_shape"))
        return model


MODEL_CLASSES["Sequential"] = Sequential
