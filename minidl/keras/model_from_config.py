"""Keras' ``Model.from_config(config, custom_objects=None)`` and ``Sequential.from_config``: the inverse of
``get_config`` for functional and Sequential models (layers, then their calls), with the caller's own layer classes
given by ``custom_objects``; a subclassed model's own ``get_config`` dict goes to its constructor, as Keras."""


def install(model_class, sequential_class):
    """Give ``model_class`` and ``sequential_class`` Keras' ``from_config`` class methods."""

    def from_config(cls, config, custom_objects=None):
        """Rebuild a model from ``get_config()``'s dict (a fresh model: new weights, same architecture);
        ``custom_objects`` maps class names of your own layers to the classes.

        Example:
            >>> inputs = md.keras.Input(shape=(4,))
            >>> model = md.keras.Model(inputs, md.keras.layers.Dense(2)(inputs))
            >>> again = md.keras.Model.from_config(model.get_config())
            >>> again.count_params() == model.count_params()
            True
        """
        if not isinstance(config, dict):
            raise ValueError(f"{cls.__name__}.from_config expects the dict get_config() returns, got "
                             f"{type(config).__name__}")
        if issubclass(cls, sequential_class):
            return cls._from_saved_config(config, custom_objects, f"{cls.__name__} config")
        if cls is model_class or ("layers" in config and "nodes" in config):
            return model_class._from_saved_config(config, custom_objects)
        return cls(**config)

    model_class.from_config = classmethod(from_config)
    sequential_class.from_config = classmethod(from_config)
