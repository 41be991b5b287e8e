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


class Generator:
    """A random source of its own, for the ``generator=`` arguments of ``random_split`` and the samplers.

    As ``torch.Generator``: ``manual_seed`` returns the generator itself, so it can be made and seeded in one
    expression. Unseeded, it starts from fresh OS entropy. ``device`` is accepted for PyTorch's signature; the
    numbers are drawn on the host either way.

    Example:
        >>> g = md.Generator().manual_seed(0)
        >>> train_set, val_set = md.utils.data.random_split(ds, [0.8, 0.2], generator=g)
    """

    def __init__(self, device="cpu"):
        self.device = device
        self._seed = int(np.random.SeedSequence().entropy % 2**63)
        self._np = np.random.default_rng(self._seed)

    def manual_seed(self, seed):
        self._seed = int(seed)
        self._np = np.random.default_rng(self._seed)
        return self

    def seed(self):
        """Reseed from fresh entropy; returns the new seed."""
        return self.manual_seed(int(np.random.SeedSequence().entropy % 2**63))._seed

    def initial_seed(self):
        return self._seed

    def get_state(self):
        """The generator's state (a dict, NumPy's bit-generator state), for ``set_state``."""
        return self._np.bit_generator.state

    def set_state(self, state):
        self._np.bit_generator.state = state
        return self


# --- PyTorch's global-generator functions -------------------------------------------------------------------------
def seed():
    """Seed minidl's generator from fresh OS entropy; returns the seed (``initial_seed`` reads it back)."""
    return manual_seed(int(np.random.SeedSequence().entropy % 2**63))


def initial_seed():
    """The seed the generator was last seeded with (drawn from OS entropy at import when never seeded)."""
    if _state["seed"] is None:
        _state["seed"] = int(np.random.SeedSequence().entropy % 2**63)
        _state["rng"] = np.random.default_rng(_state["seed"])
    return _state["seed"]


def get_rng_state():
    """The generator's state as a uint8 tensor (JSON of NumPy's bit-generator state), for ``set_rng_state``.

    Example:
        >>> s = md.get_rng_state(); a = md.rand(2); md.set_rng_state(s); b = md.rand(2)   # a == b
    """
    import json  # noqa: PLC0415

    from .tensor import Tensor  # noqa: PLC0415
    raw = json.dumps(_state["rng"].bit_generator.state).encode()
    return Tensor._wrap(np.frombuffer(raw, dtype=np.uint8).copy())


def set_rng_state(new_state):
    """Restore a state from ``get_rng_state`` (read as JSON: a state can never run code)."""
    import json  # noqa: PLC0415
    try:
        state = json.loads(bytes(np.asarray(new_state.numpy() if hasattr(new_state, "numpy") else new_state,
                                            dtype=np.uint8)).decode())
        rng = np.random.default_rng()
        rng.bit_generator.state = state
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"set_rng_state: not a state made by get_rng_state ({exc})") from None
    _state["rng"] = rng


__all__ = ["manual_seed", "generator", "Generator", "seed", "initial_seed", "get_rng_state", "set_rng_state"]


# --- issue 14: programs (vis): generator= on the creation functions ---
class drawing_from:
    """Within the block, minidl's random functions draw from ``gen`` (a ``md.Generator``) instead of the global
    generator, advancing ``gen``'s state; ``None`` leaves the global one in use. What ``generator=`` does.

    Example:
        >>> g = md.Generator().manual_seed(0)
        >>> with drawing_from(g): a = md.rand(2)
    """

    def __init__(self, gen):
        if gen is not None and not isinstance(gen, Generator):
            raise TypeError(f"generator must be a minidl.Generator, got {type(gen).__name__}")
        self.gen = gen

    def __enter__(self):
        self.saved = _state["rng"]
        if self.gen is not None:
            _state["rng"] = self.gen._np
        return self

    def __exit__(self, *exc):
        _state["rng"] = self.saved
        return False
