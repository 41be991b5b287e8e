"""The activations Keras 3 added (celu, glu, hard_shrink, hard_silu, hard_tanh, log_sigmoid, mish, soft_shrink,
sparse_plus, sparse_sigmoid, squareplus, tanh_shrink, threshold, sparsemax) against Keras 3 itself: values, and
gradients against torch autograd through Keras' own formula; by name in a layer."""
import numpy as np
import pytest
import torch

from keras_oracle import keras

import minidl as md
from minidl import keras as mk

CASES = [("celu", {}), ("celu", {"alpha": 0.5}), ("glu", {}), ("hard_shrink", {}), ("hard_shrink", {"threshold": 1.0}),
         ("hard_silu", {}), ("hard_swish", {}), ("hard_tanh", {}), ("log_sigmoid", {}), ("mish", {}),
         ("soft_shrink", {}), ("soft_shrink", {"threshold": 0.2}), ("sparse_plus", {}), ("sparse_sigmoid", {}),
         ("squareplus", {}), ("squareplus", {"b": 1}), ("tanh_shrink", {}),
         ("threshold", {"threshold": 0.3, "default_value": -1.0})]
# sparsemax is not compared with Keras: Keras 3.15's torch backend sums the cumulative sums over the whole support
# when it computes tau, so its rows do not sum to 1; it is checked against the definition below


@pytest.mark.parametrize("name,kwargs", CASES, ids=lambda v: str(v))
def test_values_and_gradients_match_keras(name, kwargs):
    x = np.random.default_rng(0).uniform(-3, 3, (5, 6))
    ours = md.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    y_ours = getattr(mk.activations, name)(ours, **kwargs)
    y_theirs = getattr(keras.activations, name)(theirs, **kwargs)
    np.testing.assert_allclose(y_ours.numpy(), y_theirs.detach().numpy(), rtol=1e-6, atol=1e-7)
    g = np.random.default_rng(1).standard_normal(y_ours.shape)
    (y_ours * md.tensor(g)).sum().backward()
    (y_theirs * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-7)


def _sparsemax_reference(z):
    """Martins & Astudillo (2016), row by row: the support is the k largest entries with 1 + k z_(k) > sum."""
    out = np.zeros_like(z)
    for i, row in enumerate(z):
        srt = np.sort(row)[::-1]
        k = max(j for j in range(1, len(row) + 1) if 1 + j * srt[j - 1] > srt[:j].sum())
        out[i] = np.maximum(row - (srt[:k].sum() - 1) / k, 0)
    return out


@pytest.mark.parametrize("axis", [-1, 0])
def test_sparsemax_values_and_jacobian_match_the_definition(axis):
    z = np.random.default_rng(3).uniform(-1, 1, (4, 5))
    x = md.tensor(z, requires_grad=True)
    y = mk.activations.sparsemax(x, axis=axis)
    want = _sparsemax_reference(z if axis == -1 else z.T)
    np.testing.assert_allclose(y.numpy(), want if axis == -1 else want.T, atol=1e-12)
    g = np.random.default_rng(4).standard_normal(z.shape)
    (y * md.tensor(g)).sum().backward()
    # Jacobian on the support S: I - 1/|S|; zero off it
    s = want > 0 if axis == -1 else want.T > 0
    expect = np.where(s, g - (g * s).sum(axis, keepdims=True) / s.sum(axis, keepdims=True), 0.0)
    np.testing.assert_allclose(x.grad.numpy(), expect, atol=1e-12)


def test_sparsemax_rows_are_distributions_with_zeros():
    y = mk.activations.sparsemax(md.tensor(np.array([[3.0, 1.0, 0.2], [0.1, 0.1, 0.1]]))).numpy()
    np.testing.assert_allclose(y.sum(-1), 1.0)
    assert y[0, 2] == 0 and np.allclose(y[1], 1 / 3)


@pytest.mark.parametrize("name", ["mish", "hard_swish", "log_sigmoid", "sparsemax"])
def test_by_name_in_a_saved_layer(name, tmp_path):
    model = mk.Sequential([mk.Input((4,)), mk.layers.Dense(3, activation=name)])
    x = np.random.default_rng(2).standard_normal((2, 4)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(mk.models.load_model(tmp_path / "m.keras").predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)
