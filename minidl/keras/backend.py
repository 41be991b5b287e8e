"""Session state of ``md.keras``: the default float type and the counters behind automatic layer names."""
import re

import numpy as np

_state = {"floatx": "float32", "names": {}, "epsilon": 1e-7, "image_data_format": "channels_last", "uid": {}}


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


def backend():
    """The name of the engine underneath: ``"minidl"`` (Keras answers "tensorflow", "jax" or "torch")."""
    return "minidl"


def epsilon():
    """The fuzz factor Keras adds in divisions (``1e-7``)."""
    return _state["epsilon"]


def set_epsilon(value):
    _state["epsilon"] = float(value)


def image_data_format():
    """The ``data_format`` that image layers take when given none: ``"channels_last"`` unless set.

    Example:
        >>> md.keras.backend.set_image_data_format("channels_first")   # Conv2D(...) now expects (N, C, H, W)
    """
    return _state["image_data_format"]


def set_image_data_format(data_format):
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. "
                         f"Received: data_format={data_format!r}")
    _state["image_data_format"] = data_format


def get_uid(prefix=""):
    """1, 2, 3, ... per prefix for the rest of the session."""
    _state["uid"][prefix] = _state["uid"].get(prefix, 0) + 1
    return _state["uid"][prefix]


def standardize_dtype(dtype):
    """A dtype (NumPy, minidl, Python type or name) as Keras' dtype name: ``"float32"``, ``"int64"``, ``"bool"``."""
    if dtype is None:
        return floatx()
    name = getattr(dtype, "name", None)
    if dtype is float:
        return "float32"
    if dtype is int:
        return "int32"          # Keras' spelling of a Python int
    if dtype is bool:
        return "bool"
    return str(np.dtype(name if isinstance(name, str) else dtype))


def is_float_dtype(dtype):
    return standardize_dtype(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype):
    return standardize_dtype(dtype).startswith(("int", "uint"))


def result_type(*dtypes):
    """The dtype Keras' promotion gives: integers with floats take the widest float present (``float32`` and
    ``int64`` give ``float32``, not NumPy's ``float64``); otherwise NumPy's rule (Keras' own lattice differs from it
    for a few mixes, e.g. ``int32`` with ``int64``, where Keras answers ``int32``)."""
    names = [standardize_dtype(d) for d in dtypes]
    floats = [n for n in names if is_float_dtype(n)]
    if floats:
        return max(floats, key=lambda n: np.dtype(n).itemsize)
    return str(np.result_type(*[np.dtype(n) for n in names]))


def is_keras_tensor(x):
    """Whether ``x`` is a symbolic tensor of a functional model (``keras.Input`` or a layer called on one)."""
    from .layers.base import KerasTensor  # noqa: PLC0415
    return isinstance(x, KerasTensor)
