"""Session state of ``md.keras``: the default float type and the counters behind automatic layer names."""
import re

import numpy as np

_state = {"floatx": "float32", "names": {}}


def floatx():
    """The float dtype layers create weights in and inputs are cast to (``"float32"``, as Keras)."""
    return _state["floatx"]


def set_floatx(value):
    """Set the default float type: ``"float32"`` or ``"float64"``.

    Example:
        >>> md.keras.backend.set_floatx("float64")   # gradient checks in double precision
    """
    if value not in ("float32", "float64"):
        raise ValueError(f"Unknown `floatx` value: {value!r}. Expected one of {{'float32', 'float64'}}")
    _state["floatx"] = value


def clear_session():
    """Reset the automatic names: the next ``Dense`` is called ``dense`` again (``keras.backend.clear_session``)."""
    _state["names"].clear()


def snake_case(name):
    """``"MaxPooling2D"`` -> ``"max_pooling2d"``, Keras' rule for default layer names."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """``base`` the first time, then ``base_1``, ``base_2``, ... for the rest of the session."""
    count = _state["names"].get(base, 0)
    _state["names"][base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def float_array(x):
    """``x`` as an array of floatx when it holds floats (Keras casts float inputs; integer ones stay integers)."""
    a = np.asarray(x)
    return a.astype(floatx(), copy=False) if a.dtype.kind in "fb" else a
