"""md.keras offers the names Keras 3 offers in its function namespaces, apart from a short list it refuses on
purpose (each with its reason), so a program written against Keras finds what it imports."""
import pytest

from keras_oracle import keras

from minidl import keras as mk

NOT_OFFERED = {
    "initializers": {"STFT", "STFTInitializer", "stft"},                         # signal-processing kernels
    "regularizers": {"OrthogonalRegularizer", "orthogonal_regularizer"},
    "losses": {"BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "CategoricalGeneralizedCrossEntropy",
               "CTC", "Circle", "Dice", "Tversky", "binary_focal_crossentropy", "categorical_focal_crossentropy",
               "categorical_generalized_cross_entropy", "ctc", "circle", "dice", "tversky"},
    "activations": set(),
    "constraints": set(),
}


@pytest.mark.parametrize("namespace", sorted(NOT_OFFERED))
def test_keras_names_are_offered(namespace):
    theirs = {n for n in dir(getattr(keras, namespace)) if not n.startswith("_")}
    ours = getattr(mk, namespace)
    assert sorted(n for n in theirs - NOT_OFFERED[namespace] if not hasattr(ours, n)) == []


def test_lowercase_initializer_names_are_the_classes():
    assert mk.initializers.he_normal is mk.initializers.HeNormal
    assert mk.initializers.get(mk.initializers.serialize(mk.initializers.glorot_uniform(seed=3))).get_config() == \
        mk.initializers.GlorotUniform(seed=3).get_config()


def test_backend_functions_answer_as_keras():
    for dtypes in (("float32", "int64"), ("float16", "int64"), ("bool", "int8"), ("uint8", "int8")):
        assert mk.backend.result_type(*dtypes) == keras.backend.result_type(*dtypes)
    for d in ("float32", "int32", float, int, bool, "uint8"):
        assert mk.backend.standardize_dtype(d) == keras.backend.standardize_dtype(d)
    assert mk.backend.epsilon() == keras.backend.epsilon()
    assert mk.backend.image_data_format() == keras.backend.image_data_format() == "channels_last"
    assert mk.backend.is_keras_tensor(mk.Input((3,))) and not mk.backend.is_keras_tensor(3)


def test_image_data_format_sets_the_default_of_image_layers():
    mk.backend.set_image_data_format("channels_first")
    try:
        conv, pad = mk.layers.Conv2D(4, 3), mk.layers.ZeroPadding2D(1)
    finally:
        mk.backend.set_image_data_format("channels_last")
    assert conv.data_format == pad.data_format == "channels_first"
    assert conv.compute_output_shape((None, 2, 8, 8)) == (None, 4, 6, 6)
    assert mk.layers.Conv2D(4, 3).data_format == "channels_last"
    with pytest.raises(ValueError, match="data_format"):
        mk.backend.set_image_data_format("nhwc")


def test_backend_names_are_offered():
    theirs = {n for n in dir(keras.backend) if not n.startswith("_")}
    assert sorted(n for n in theirs if not hasattr(mk.backend, n)) == []
