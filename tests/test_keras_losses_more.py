"""The losses of losses_more.py against Keras 3 itself: values (per-sample and reduced, with sample weights),
gradients against PyTorch's autograd of the same formula, names, configs, and training with them."""
import numpy as np
import pytest
import torch

from keras_oracle import keras, to_numpy

import minidl as md
from minidl import keras as mk

NAMES = ["Hinge", "SquaredHinge", "CategoricalHinge", "KLDivergence", "Poisson", "LogCosh", "CosineSimilarity",
         "MeanSquaredLogarithmicError", "MeanAbsolutePercentageError"]


def _data(name, rng):
    p = rng.uniform(0.05, 1.0, (6, 4)).astype(np.float32)
    if name in ("Hinge", "SquaredHinge"):
        y = rng.integers(0, 2, (6, 4)).astype(np.float32)
        p = p * 2 - 1
    elif name == "CategoricalHinge":
        y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 6)]
    elif name == "KLDivergence":
        y = rng.dirichlet(np.ones(4), 6).astype(np.float32)
        p = p / p.sum(-1, keepdims=True)
    else:
        y = rng.uniform(0.1, 2.0, (6, 4)).astype(np.float32)
    return y, p


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_values_match_keras(name, reduction):
    rng = np.random.default_rng(0)
    y, p = _data(name, rng)
    w = rng.uniform(0, 1, 6).astype(np.float32)
    ours, theirs = getattr(mk.losses, name)(reduction=reduction), getattr(keras.losses, name)(reduction=reduction)
    for sw in (None, w):
        np.testing.assert_allclose(ours(y, md.tensor(p), sample_weight=sw).numpy(),
                                   to_numpy(theirs(y, p, sample_weight=sw)), rtol=1e-5, atol=1e-6)
    assert ours.name == theirs.name


def test_hinge_keeps_minus_one_one_labels():
    y, p = np.array([[-1.0, 1.0]], np.float32), np.array([[0.2, 0.4]], np.float32)
    np.testing.assert_allclose(mk.losses.hinge(y, md.tensor(p)).numpy(), to_numpy(keras.losses.hinge(y, p)))


@pytest.mark.parametrize("name", NAMES)
def test_gradients_match_torch_autograd_of_keras_formula(name):
    rng = np.random.default_rng(1)
    y, p = _data(name, rng)
    x = md.tensor(p.astype(np.float64), requires_grad=True)
    getattr(mk.losses, name)()(y.astype(np.float64), x).backward()
    tp = torch.tensor(p.astype(np.float64), requires_grad=True)
    theirs = getattr(keras.losses, name)()(torch.tensor(y.astype(np.float64)), tp)
    theirs.backward()
    np.testing.assert_allclose(x.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-8)   # Keras: float32 inside


@pytest.mark.parametrize("alias,cls", [("kld", "KLDivergence"), ("msle", "MeanSquaredLogarithmicError"),
                                       ("mape", "MeanAbsolutePercentageError"), ("log_cosh", "LogCosh"),
                                       ("categorical_hinge", "CategoricalHinge")])
def test_names_and_config_round_trip(alias, cls):
    loss = mk.losses.get(alias)
    assert type(loss).__name__ == cls and callable(keras.losses.get(alias))      # Keras knows the alias too
    again = mk.losses.get(mk.losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()


def test_a_model_trains_with_them_by_name():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = np.where(x.sum(1, keepdims=True) > 0, 1.0, -1.0).astype(np.float32)
    model = mk.Sequential([mk.Input((3,)), mk.layers.Dense(1)])
    model.compile(optimizer=mk.optimizers.SGD(0.1), loss="squared_hinge")
    history = model.fit(x, y, epochs=20, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
