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
