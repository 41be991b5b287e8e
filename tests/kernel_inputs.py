"""Inputs shared by the provider test modules (native, numba): pool/norm arrays with ties and NaNs on demand."""
import numpy as np


def random_input(seed, shape, dtype, ties=False, nans=0):
    """Random input; ``ties`` rounds to a few values so windows hold equal maxima; ``nans`` NaNs at random places."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if ties:
        x = np.round(x)
    flat = x.reshape(-1)
    if flat.size and nans:
        flat[rng.integers(0, flat.size, nans)] = np.nan
    return x.astype(dtype)
