"""Keras' regression losses align ranks and then broadcast the target against the output (a target (N, 1) for an
output (N, T, 1)); the crossentropies keep requiring equal shapes. Values hand-computed in NumPy."""
import numpy as np
import pytest

import minidl as md
from minidl import keras
from minidl.keras import losses


def _np_aligned(t, p):
    if t.ndim == p.ndim + 1 and t.shape[-1] == 1:
        t = t[..., 0] if p.ndim > 1 else t
        p = p[..., None] if p.ndim == 1 else p
    elif p.ndim == t.ndim + 1 and p.shape[-1] == 1:
        p = p[..., 0] if t.ndim > 1 else p
        t = t[..., None] if t.ndim == 1 else t
    return t, p


@pytest.mark.parametrize("t_shape,p_shape", [((2, 1), (2, 5, 1)), ((2,), (2, 1)), ((2, 1), (2,)), ((2, 3), (2, 3)),
                                             ((2, 1, 4), (2, 3, 4)), ((3, 1), (3, 4))])
def test_regression_losses_broadcast_as_keras(t_shape, p_shape):
    rng = np.random.default_rng(0)
    t, p = rng.standard_normal(t_shape), rng.standard_normal(p_shape)
    ta, pa = _np_aligned(t, p)
    d = ta - pa
    expected = {"mean_squared_error": (d * d).mean(-1), "mean_absolute_error": np.abs(d).mean(-1),
                "huber": np.where(np.abs(d) <= 1, 0.5 * d * d, np.abs(d) - 0.5).mean(-1)}
    for name, want in expected.items():
        got = getattr(losses, name)(t, md.tensor(p)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=name)


def test_a_sequence_model_trains_against_one_target_per_sample():
    md.manual_seed(0)
    x = np.random.default_rng(1).standard_normal((64, 5, 3)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None].astype(np.float32)            # (N, 1) against an output (N, 5, 1)
    model = keras.Sequential([keras.Input(shape=(5, 3)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_crossentropies_still_want_equal_shapes():
    with pytest.raises(ValueError, match=r"binary_crossentropy: arguments `target` and `output` must have the same "
                                         r"shape. Received: target.shape=\(4, 3\), output.shape=\(4, 1\)"):
        losses.binary_crossentropy(np.zeros((4, 3)), md.zeros(4, 1))
    with pytest.raises(ValueError, match=r"mean_squared_error: .*target.shape=\(2, 3\), output.shape=\(2, 4\)"):
        losses.mean_squared_error(np.ones((2, 3)), md.ones(2, 4))
