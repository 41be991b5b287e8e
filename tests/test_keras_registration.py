"""register_keras_serializable, custom_object_scope and get_custom_objects: a .keras file holding your own layer
loads without custom_objects once the class is registered or in scope, as in Keras 3; a file alone never
supplies a class."""
import numpy as np
import pytest

from keras_oracle import keras

from minidl import keras as mk


def _scale_class(register=None):
    class Scale(mk.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}
    return register(Scale) if register else Scale


def _model(cls):
    return mk.Sequential([mk.Input((3,)), mk.layers.Dense(2), cls(factor=3.0)])


def test_a_registered_class_loads_without_custom_objects(tmp_path):
    cls = _scale_class(mk.saving.register_keras_serializable(package="tests_reg"))
    model = _model(cls)
    model.save(tmp_path / "m.keras")
    again = mk.models.load_model(tmp_path / "m.keras")
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(again.layers[1], cls) and again.layers[1].factor == 3.0
    assert mk.saving.get_registered_name(cls) == "tests_reg>Scale"
    assert mk.saving.get_registered_object("tests_reg>Scale") is cls
    assert mk.utils.get_custom_objects()["tests_reg>Scale"] is cls
    assert mk.saving.get_registered_name(mk.layers.Dense) == keras.saving.get_registered_name(keras.layers.Dense)


def test_a_scope_resolves_names_only_inside_it(tmp_path):
    cls = _scale_class()
    cls.__name__ = "ScopedScale"
    model = _model(cls)
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="ScopedScale"):
        mk.models.load_model(tmp_path / "m.keras")
    with mk.saving.custom_object_scope({"ScopedScale": cls}):
        again = mk.models.load_model(tmp_path / "m.keras")
    assert isinstance(again.layers[1], cls)
    with pytest.raises(ValueError, match="ScopedScale"):
        mk.models.load_model(tmp_path / "m.keras")


def test_bad_registrations_are_refused():
    with pytest.raises(ValueError, match="package"):
        mk.saving.register_keras_serializable(package="a>b")
    with pytest.raises(TypeError, match="dicts"):
        mk.utils.CustomObjectScope(["x"])
