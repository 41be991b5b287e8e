"""``md.keras.initializers`` (each name, statistically, on large shapes), seeding, configs and errors; plus the
name lookups and configs of ``md.keras.activations`` and ``md.keras.regularizers``."""
import math

import numpy as np
import pytest

import minidl.keras as keras
from minidl.keras import activations, initializers, regularizers

TRUNC = 0.87962566103423978          # std of a unit normal truncated to [-2, 2]
SHAPE = (300, 200)                   # fan_in 300, fan_out 200: 60,000 draws
FAN_IN, FAN_OUT = 300, 200


@pytest.fixture(autouse=True)
def _float32():
    keras.backend.set_floatx("float32")
    yield
    keras.backend.set_floatx("float32")


def _uniform(limit):
    return ("uniform", limit)


def _truncated(std):
    return ("truncated", std)


EXPECTED = {
    "zeros": ("const", 0.0), "ones": ("const", 1.0), "constant": ("const", 0.0),
    "random_normal": ("normal", 0.05), "normal": ("normal", 0.05),
    "truncated_normal": ("truncated", 0.05 * TRUNC),          # Keras' TruncatedNormal: stddev before truncation
    "random_uniform": _uniform(0.05), "uniform": _uniform(0.05),
    "variance_scaling": _truncated(math.sqrt(1 / FAN_IN)),
    "glorot_uniform": _uniform(math.sqrt(6 / (FAN_IN + FAN_OUT))),
    "glorot_normal": _truncated(math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "he_uniform": _uniform(math.sqrt(6 / FAN_IN)), "he_normal": _truncated(math.sqrt(2 / FAN_IN)),
    "lecun_uniform": _uniform(math.sqrt(3 / FAN_IN)), "lecun_normal": _truncated(math.sqrt(1 / FAN_IN)),
    "orthogonal": ("orthogonal", 1.0), "identity": ("identity", 1.0),
}


def check_distribution(w, kind, p, label):
    """Assert that the draws ``w`` come from ``kind`` with parameter ``p`` (a bound or a final std)."""
    w = np.asarray(w, np.float64)
    if kind == "const":
        np.testing.assert_array_equal(w, p, err_msg=label)
    elif kind == "uniform":       # U(-p, p): bounded by p, reaching it, variance p^2 / 3
        assert np.abs(w).max() <= p * (1 + 1e-6), label
        assert np.abs(w).max() > 0.99 * p, label
        np.testing.assert_allclose(w.var(), p * p / 3, rtol=0.03, err_msg=label)
        assert abs(w.mean()) < 0.02 * p, label
    elif kind == "truncated":     # final std p, cut at two pre-truncation stds = 2 p / TRUNC
        bound = 2 * p / TRUNC
        assert np.abs(w).max() <= bound * (1 + 1e-6), label
        assert np.abs(w).max() > 0.97 * bound, label
        np.testing.assert_allclose(w.std(), p, rtol=0.03, err_msg=label)
        assert abs(w.mean()) < 0.02 * p, label
    elif kind == "normal":        # untruncated: std p, and tails past 2.5 p
        np.testing.assert_allclose(w.std(), p, rtol=0.03, err_msg=label)
        assert np.abs(w).max() > 3 * p, label
        assert abs(w.mean()) < 0.02 * p, label
    elif kind == "orthogonal":
        q = w.reshape(-1, w.shape[-1])
        gram = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
        np.testing.assert_allclose(gram, p * p * np.eye(len(gram)), atol=1e-4, err_msg=label)
    elif kind == "identity":
        np.testing.assert_array_equal(w, p * np.eye(*w.shape), err_msg=label)
    else:
        raise AssertionError(kind)


def test_every_name_has_an_expectation():
    assert set(initializers._NAMES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_initializer_by_name(name):
    keras.utils.set_random_seed(0)
    init = initializers.get(name)
    w = init(SHAPE)
    assert w.shape == SHAPE and w.dtype == np.float32
    check_distribution(w, *EXPECTED[name], name)
    assert init(SHAPE, "float64").dtype == np.float64
    keras.backend.set_floatx("float64")
    assert init((3, 2)).dtype == np.float64


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
                                  "lecun_normal", "variance_scaling"])
def test_conv_fans_count_the_receptive_field(name):
    shape = (3, 3, 40, 60)                     # fan_in 3 * 3 * 40 = 360, fan_out 540
    fan_in, fan_out = 360, 540
    keras.utils.set_random_seed(1)
    kind, _ = EXPECTED[name]
    scale = {"glorot": 2 / (fan_in + fan_out), "he": 2 / fan_in, "lecun": 1 / fan_in, "variance": 1 / fan_in}
    var = scale[name.split("_")[0]]
    p = math.sqrt(3 * var) if kind == "uniform" else math.sqrt(var)
    check_distribution(initializers.get(name)(shape), kind, p, name)


@pytest.mark.parametrize("mode,distribution,kind,p", [
    ("fan_out", "uniform", "uniform", math.sqrt(3 * 2.0 / FAN_OUT)),
    ("fan_avg", "truncated_normal", "truncated", math.sqrt(2.0 / 250)),
    ("fan_in", "untruncated_normal", "normal", math.sqrt(2.0 / FAN_IN)),
])
def test_variance_scaling_modes(mode, distribution, kind, p):
    init = initializers.VarianceScaling(scale=2.0, mode=mode, distribution=distribution, seed=3)
    check_distribution(init(SHAPE), kind, p, f"{mode}/{distribution}")


def test_vector_and_scalar_fans():
    # a 1-D shape has fan_in = fan_out = its size (Keras' compute_fans)
    w = initializers.GlorotUniform(seed=0)((50000,))
    check_distribution(w, "uniform", math.sqrt(6 / 100000), "1-D glorot")


@pytest.mark.parametrize("shape", [(64, 64), (30, 90), (90, 30), (3, 3, 4, 8), (4, 2, 10)])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal(shape, gain):
    w = initializers.Orthogonal(gain=gain, seed=5)(shape)
    assert w.shape == shape
    check_distribution(w, "orthogonal", gain, f"orthogonal {shape}")


def test_random_initializers_with_arguments():
    check_distribution(initializers.RandomNormal(mean=0.0, stddev=0.2, seed=1)(SHAPE), "normal", 0.2, "normal")
    w = initializers.RandomNormal(mean=3.0, stddev=0.1, seed=1)(SHAPE)
    np.testing.assert_allclose(w.mean(), 3.0, atol=0.002)
    w = initializers.TruncatedNormal(mean=1.0, stddev=0.3, seed=1)(SHAPE)
    check_distribution(w - 1.0, "truncated", 0.3 * TRUNC, "truncated with mean")
    w = initializers.RandomUniform(minval=2.0, maxval=5.0, seed=2)(SHAPE)
    assert w.min() >= 2.0 and w.max() <= 5.0
    np.testing.assert_allclose(w.mean(), 3.5, atol=0.02)
    np.testing.assert_array_equal(initializers.Constant(2.5)((3, 4)), np.full((3, 4), 2.5, np.float32))
    np.testing.assert_array_equal(initializers.Identity(gain=3.0)((3, 4)), 3 * np.eye(3, 4))


SEEDED = ["RandomNormal", "TruncatedNormal", "RandomUniform", "VarianceScaling", "GlorotUniform", "GlorotNormal",
          "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal"]


@pytest.mark.parametrize("cls", SEEDED)
def test_seeds(cls):
    make = getattr(initializers, cls)
    a, b, c = make(seed=7)((20, 30)), make(seed=7)((20, 30)), make(seed=8)((20, 30))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # unseeded: md.keras.utils.set_random_seed makes the draws repeatable, and the generator advances
    keras.utils.set_random_seed(11)
    d, e = make()((20, 30)), make()((20, 30))
    keras.utils.set_random_seed(11)
    np.testing.assert_array_equal(make()((20, 30)), d)
    assert not np.array_equal(d, e)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_serialize_round_trip(name):
    init = initializers.get(name)
    config = initializers.serialize(init)
    again = initializers.get(config)
    assert type(again) is type(init) and again.get_config() == init.get_config()
    assert initializers.get(type(init).__name__).get_config() == init.get_config()       # class names work too
    assert initializers.get(name.upper()).get_config() == init.get_config()
    seeded = initializers.get({"class_name": "HeNormal", "config": {"seed": 4}})
    np.testing.assert_array_equal(initializers.get(initializers.serialize(seeded))((5, 5)), seeded((5, 5)))


def test_initializer_lookup_and_errors():
    init = initializers.HeNormal(seed=1)
    assert initializers.get(init) is init
    assert isinstance(initializers.get(initializers.HeNormal), initializers.HeNormal)

    def custom(shape, dtype=None):
        return np.zeros(shape)

    assert initializers.get(custom) is custom
    with pytest.raises(ValueError, match="custom initializer"):
        initializers.serialize(custom)
    for bad in ("he_normall", {"class_name": "Nope"}, 3):
        with pytest.raises(ValueError, match="Could not interpret initializer identifier"):
            initializers.get(bad)
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="distribution"):
        initializers.VarianceScaling(distribution="cauchy")
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="two-dimensional"):
        initializers.Orthogonal()((5,))
    with pytest.raises(ValueError, match="2D"):
        initializers.Identity()((2, 2, 2))


# --- activations and regularizers by name -------------------------------------------------------------------------
def test_activation_lookup():
    assert activations.get(None) is activations.linear
    for name in activations._ALL:
        fn = activations.get(name)
        assert activations.get(activations.serialize(fn)) is fn
    assert activations.get("swish") is activations.silu

    def custom(x):
        return x

    assert activations.get(custom) is custom
    with pytest.raises(ValueError, match="custom activation"):
        activations.serialize(custom)
    for bad in ("Relu", "nope", 3):
        with pytest.raises(ValueError, match="Could not interpret activation"):
            activations.get(bad)


@pytest.mark.parametrize("reg", [regularizers.l1(0.3), regularizers.l2(0.2), regularizers.l1_l2(0.1, 0.4),
                                 regularizers.L1L2(l1=0.5)])
def test_regularizer_serialize_round_trip(reg):
    again = regularizers.get(regularizers.serialize(reg))
    assert type(again) is type(reg) and again.get_config() == reg.get_config()
    assert (again.l1, again.l2) == (reg.l1, reg.l2)
    assert regularizers.serialize(None) is None and regularizers.get(None) is None


def test_regularizer_defaults_and_validation():
    assert (regularizers.l1().l1, regularizers.l2().l2) == (0.01, 0.01)
    assert (regularizers.L1L2().l1, regularizers.L1L2().l2) == (0.0, 0.0)
    assert regularizers.L2(np.float32(0.25)).l2 == 0.25
    for bad in (-0.1, "0.1", True, float("nan")):
        with pytest.raises(ValueError, match="non-negative"):
            regularizers.L1L2(l1=bad)


def test_orthogonal_draws_are_not_sign_biased():
    # Keras multiplies Q by sign(diag(R)) so the draw is uniform over orthogonal matrices; a raw Householder QR
    # gives a first column whose leading entry always has the same sign
    signs = [initializers.Orthogonal(seed=s)((6, 6))[0, 0] > 0 for s in range(60)]
    assert 0.2 < np.mean(signs) < 0.8
