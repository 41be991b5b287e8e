"""Shared by the md.keras layer tests: session fixtures and comparisons in Keras' weight layouts."""
import numpy as np
import pytest

import minidl as md
import minidl.keras as keras

RTOL, ATOL = 1e-7, 1e-9


@pytest.fixture(autouse=True)
def fresh_session():
    """Each test starts with float32 and fresh layer names, and leaves float32 behind whatever happens."""
    keras.backend.set_floatx("float32")
    keras.backend.clear_session()
    yield
    keras.backend.set_floatx("float32")


@pytest.fixture
def f64():
    keras.backend.set_floatx("float64")
    yield
    keras.backend.set_floatx("float32")


def to_numpy(t):
    if hasattr(t, "detach"):
        return t.detach().numpy()
    return t.numpy() if isinstance(t, md.Tensor) else np.asarray(t)


def close(got, want, label, rtol=RTOL, atol=ATOL):
    got, want = to_numpy(got), to_numpy(want)
    assert got.shape == want.shape, f"{label}: shape {got.shape}, expected {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=label)


def keras_grads(layer):
    """The gradients of a layer's weights, in Keras' layouts (the layer's own minidl -> Keras conversion)."""
    out = []
    for w in layer._weights:
        grads = [np.zeros(t.shape) if t.grad is None else t.grad.numpy() for t in w.tensors()]
        out.append(np.asarray(w.to_keras(grads[0] if len(grads) == 1 else tuple(grads))))
    return out
