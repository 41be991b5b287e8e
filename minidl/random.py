"""minidl's random source: one seeded NumPy generator (and CuPy's, once GPU tensors are made)."""
import numpy as np

_state = {"rng": np.random.default_rng(), "seed": None}


def manual_seed(seed):
    """Seed every random source minidl uses (creation functions, dropout, shuffling, init).

    Example:
        >>> md.manual_seed(0); a = md.rand(2); md.manual_seed(0); b = md.rand(2)   # a == b
    """
    seed = int(seed)
    _state["rng"], _state["seed"] = np.random.default_rng(seed), seed
    import sys  # noqa: PLC0415
    # CuPy's generator too, for user code that draws from it (minidl itself samples on the host and copies, so a
    # seed gives the same numbers on either device). Only with a usable GPU: cupy.random.seed touches the device.
    if sys.modules.get("cupy") is not None:
        from .device import cuda_is_available  # noqa: PLC0415
        if cuda_is_available():
            sys.modules["cupy"].random.seed(seed)
    return seed


def generator():
    """The NumPy ``Generator`` behind minidl's random functions."""
    return _state["rng"]
