"""Saving and loading Keras models: one ``.keras`` zip holding ``config.json`` (architecture, compile arguments)
and ``model.weights.safetensors`` (weights keyed ``layer_name/weight_name`` in Keras' layouts; in a subclassed
model the attribute path stands for the name).

A compiled model's file also holds its optimizer's state (``saving_optimizer``: ``optimizer/...`` tensors in the
weights member and ``config.json``'s ``optimizer_state``), so ``fit`` resumes exactly after ``load_model``.

Files are written atomically (temp file + rename). Loading treats the file as untrusted data:

- every failure to load it is a ``ValueError`` naming the file (the cause chained); a missing file stays
  ``FileNotFoundError``;
- names in the config (layers, activations, initializers, regularizers, optimizers, schedules, losses, metrics,
  dtypes) are looked up in explicit registries of public classes and functions only, and keyword arguments are
  checked against the constructors' signatures: nothing else in Python is reachable from a file;
- memory stays bounded by what the file holds: ``config.json`` may inflate to at most ``CONFIG_LIMIT`` bytes, a
  zip member may not declare more bytes than its compressed data can inflate to, the weights' safetensors header
  is checked as ``md.load`` checks a file (``minidl._safetensors``: at most ``MAX_HEADER`` bytes, tensors that
  tile the member exactly, dtypes minidl loads exactly), and the layers rebuilt from the config may not claim more
  weight values than the file's tensors hold before they allocate them (``layers.base.weight_budget``); the
  tensors are read in chunks only once names and shapes match the model.
"""
import collections
import contextlib
import io
import json
import math
import os
import struct
import time
import zipfile
import zlib

from .. import _safetensors as st
from ..serialization import atomic_write
from ..serialization import save as save_safetensors
from ._config import check_kwargs
from .saving_optimizer import optimizer_state, optimizer_wanted, restore_optimizer_state

FORMAT = "minidl-keras/1"
CONFIG, WEIGHTS = "config.json", "model.weights.safetensors"
CONFIG_LIMIT = 16 << 20         # bytes of config.json (a 1,000-layer model needs about 1 MB)
MAX_DEPTH = 100                 # nesting of the config's JSON (each nested model adds about 4)
MAX_LAYERS = 20_000             # layer configs in a file, nested ones included
MAX_NODES = 100_000             # layer calls in a functional model's graph
_DEFLATE_RATIO = 1032           # deflate's largest possible expansion (zlib's technical details)
# what the zip module raises for a corrupt archive or member (all of them become a ValueError naming the file)
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, NotImplementedError,
               RuntimeError, struct.error, UnicodeDecodeError)


# --- configs ---------------------------------------------------------------------------------------------------------
# the model classes a config may name besides layers (``Sequential``, ``Functional``); each registers itself here
MODEL_CLASSES = {}


def layer_config(layer):
    return layer._serialized()


def field(config, key, kinds, what):
    value = config.get(key) if isinstance(config, dict) else None
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
        raise ValueError(f"{what}: {key!r} must be {_kind_names(kinds)}, got {value!r:.80}")
    return value


def _as_tuple(kinds):
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _kind_names(kinds):
    return " or ".join({list: "a list", dict: "a dict", str: "a string", int: "an int", bool: "true or false",
                        type(None): "null"}[k] for k in _as_tuple(kinds))


def config_index(value, size, what):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise ValueError(f"{what} must be an int in [0, {size}), got {value!r:.80}")
    return value


def layer_from_config(spec, custom_objects=None):
    """The layer (or model) a ``{"class_name": ..., "config": {...}}`` dict describes. Classes come from
    ``md.keras.layers.LAYERS``, ``MODEL_CLASSES`` (``Sequential``, ``Functional``), or ``custom_objects`` (a dict
    given by the caller); the config's arguments are checked against the class's constructor first.

    Example:
        >>> layer_from_config({"class_name": "Dense", "config": {"units": 4}})
    """
    from .layers import LAYERS  # noqa: PLC0415
    class_name = field(spec, "class_name", str, "layer config")
    what = f"layer config of class {class_name!r}"
    config = dict(field(spec, "config", dict, what))
    if class_name in MODEL_CLASSES:
        return MODEL_CLASSES[class_name]._from_saved_config(config, custom_objects, what)
    custom = get_registered_object(class_name, custom_objects)
    if custom is None and isinstance(spec, dict) and isinstance(spec.get("registered_name"), str):
        custom = get_registered_object(spec["registered_name"], custom_objects)
    if custom is not None:               # the caller's own class (custom_objects, a scope, the registry): trusted
        return custom.from_config(config)
    cls = LAYERS.get(class_name)
    if cls is None:
        raise ValueError(f"Unknown layer: {class_name!r}. Please ensure you are using a `md.keras` layer, or pass "
                         "your own class in custom_objects={'%s': %s}" % (class_name, class_name))
    check_kwargs(cls, config, what)
    try:
        return cls.from_config(config)
    except TypeError as e:                  # a value the constructor cannot use (e.g. a string where a number goes)
        raise ValueError(f"{what}: {e}") from e


def _check_structure(config, source):
    """Bound the config's nesting, layer count and node count before anything is built (iteratively: a deeply
    nested file cannot exhaust the stack here)."""
    stack, layers, nodes = [(config, 1)], 0, 0
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"{source}: config.json is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            layers += "class_name" in value and isinstance(value.get("config"), dict)
            nodes += len(value["nodes"]) if isinstance(value.get("nodes"), list) else 0
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    if layers > MAX_LAYERS or nodes > MAX_NODES:
        raise ValueError(f"{source}: config.json describes {layers} layer configs and {nodes} layer calls; "
                         f"md.keras loads at most {MAX_LAYERS} and {MAX_NODES}")


# --- weights: writing ------------------------------------------------------------------------------------------------
def _weighted_layers(model):
    """(path, layer) for each layer with weights; the path is the layer's place in the model: its name in a
    Sequential or functional model, its attribute (``encoder/dense``) in a subclassed one, so two instances of the
    same model class match whatever names the session gave their layers."""
    from .layers.base import Layer  # noqa: PLC0415
    for path, module in model.named_modules():
        if isinstance(module, Layer) and module._weights:
            yield path.replace(".", "/"), module


def _weights_dict(model):
    return {f"{path}/{w.name}": w.read() for path, layer in _weighted_layers(model) for w in layer._weights}


def _check_path(filepath, suffix, what):
    filepath = os.fspath(filepath)
    if not filepath.endswith(suffix):
        raise ValueError(f"Invalid filepath extension for saving {what}. Please add a `{suffix}` extension. Received: "
                         f"filepath={filepath}")
    return filepath


def save_model(model, filepath, overwrite=True):
    filepath = _check_path(filepath, ".keras", "a model (the native .keras format)")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save: {filepath} exists and overwrite=False")
    model._require_built("save")
    config = {"format": FORMAT, "model": layer_config(model), "compile_config": model._compile_config}
    opt_meta, opt_tensors = optimizer_state(model) if model._compile_config is not None else (None, {})
    if opt_meta is not None:
        config["optimizer_state"] = opt_meta
    size, write = st.writer({**_weights_dict(model), **opt_tensors})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(CONFIG, json.dumps(config, indent=1))
        with zf.open(_new_member(WEIGHTS, size), "w") as member:    # streamed: no second copy of the weights
            write(member)
    atomic_write(filepath, buf.getvalue())


def _new_member(name, size):
    """A deflated zip entry of ``size`` bytes, dated now (as ``writestr`` dates them); knowing the size lets
    zipfile pick zip64 for members over 2 GiB."""
    info = zipfile.ZipInfo(name, time.localtime()[:6])
    info.compress_type, info.file_size = zipfile.ZIP_DEFLATED, size
    return info


def save_weights(model, filepath, overwrite=True):
    filepath = os.fspath(filepath)
    if filepath.endswith(".h5") and not filepath.endswith(".weights.h5"):
        raise ValueError("save_weights: a '.h5' path must end in '.weights.h5' (Keras 3's weights file; whole-model "
                         "HDF5 files are not written), or use '.weights.safetensors'")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save_weights: {filepath} exists and overwrite=False")
    model._require_built("save_weights")
    if filepath.endswith(".weights.h5"):
        from .saving_h5 import save_weights_h5  # noqa: PLC0415
        return save_weights_h5(model, filepath)
    save_safetensors(_weights_dict(model), filepath)


# --- weights: reading ------------------------------------------------------------------------------------------------
class _WeightsReader:
    """A safetensors stream of ``size`` bytes whose header is read and checked first (``minidl._safetensors``:
    names, dtypes, shapes, offsets that tile the data exactly), so that the model can be built within the weight
    budget ``values`` and tensors are read only once the caller knows it wants them."""

    def __init__(self, stream, size, source, what):
        self.stream, self.source, self.what = stream, source, what
        _, self.entries, _ = st.read_header(stream, size, what)
        st.check_loadable(self.entries, what)
        self.values = sum(math.prod(shape) for _, shape, _, _ in self.entries.values())

    def read(self, wanted):
        """``{name: array}`` of the tensors named in ``wanted`` (``{name: shape}``), after checking that each is
        present with that shape; the others are read past."""
        for name, shape in wanted.items():
            if name not in self.entries:
                raise ValueError(f"{self.source}: weight {name!r} is missing (the file holds "
                                 f"{sorted(self.entries)[:8]}...)")
            if self.entries[name][1] != tuple(shape):
                raise ValueError(f"{self.source}: weight {name!r} has shape {self.entries[name][1]} in the file; "
                                 f"the model's has shape {tuple(shape)}")
        return st.read_tensors(self.stream, self.entries, self.what, wanted)


def _model_weights(model):
    """``{key: (layer, weight)}`` of a built model, keyed as in the file."""
    return {f"{path}/{w.name}": (layer, w) for path, layer in _weighted_layers(model) for w in layer._weights}


def _apply_weights(model, arrays, source):
    for key, (layer, w) in _model_weights(model).items():
        try:
            w.write(arrays[key], layer)
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None


def _load_weights_from(model, reader, source, extra=None):
    """Read the model's weights (and the ``extra`` tensors, ``{name: shape}``) and set the weights; returns what
    was read."""
    weights = _model_weights(model)
    wanted = {key: w.read().shape for key, (_, w) in weights.items()}
    arrays = reader.read({**wanted, **(extra or {})})
    _apply_weights(model, arrays, source)
    return arrays


# --- archives --------------------------------------------------------------------------------------------------------
def _guarded(source, fn, *args):
    """``fn(*args)`` with every failure to read ``source`` turned into a ValueError naming it (the cause chained);
    MemoryError and KeyboardInterrupt pass through."""
    try:
        return fn(*args)
    except MemoryError:
        raise
    except ValueError as e:
        if source in str(e):
            raise
        raise ValueError(f"{source}: {e}") from e
    except _ZIP_ERRORS as e:
        raise ValueError(f"{source} is not a valid .keras file (corrupt or truncated zip): {type(e).__name__}: "
                         f"{e}") from e
    except Exception as e:
        raise ValueError(f"{source} cannot be loaded ({type(e).__name__}: {e})") from e


def _open_archive(f, size, source):
    """The zip and its two members' infos, checked: no duplicates, deflate or stored only, no encryption, each member
    inside the file and declaring no more bytes than its compressed data can hold."""
    try:
        zf = zipfile.ZipFile(f)
        infos = zf.infolist()
    except _ZIP_ERRORS as e:
        raise ValueError(f"{source} is not a valid .keras file (corrupt or truncated zip): {type(e).__name__}: "
                         f"{e}") from e
    counts = collections.Counter(i.filename for i in infos)
    missing = [n for n in (CONFIG, WEIGHTS) if n not in counts]
    if missing:
        raise ValueError(f"{source} is not a md.keras model file: it lacks {', '.join(missing)}")
    twice = sorted(n for n, c in counts.items() if c > 1)
    if twice:
        raise ValueError(f"{source} is not a valid .keras file: the zip holds {', '.join(twice)} more than once")
    members = {i.filename: i for i in infos}
    for name in (CONFIG, WEIGHTS):
        _check_member(members[name], size, source)
    return zf, members[CONFIG], members[WEIGHTS]


def _check_member(info, size, source):
    what = f"{source}: zip member {info.filename}"
    if info.flag_bits & 0x1:
        raise ValueError(f"{what} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"{what} uses compression method {info.compress_type}; md.keras reads stored or deflated "
                         "members")
    if info.header_offset + info.compress_size > size:
        raise ValueError(f"{what} extends past the end of the file (corrupt or truncated zip)")
    most = info.compress_size if info.compress_type == zipfile.ZIP_STORED else \
        info.compress_size * _DEFLATE_RATIO + 1024
    if info.file_size > most:
        raise ValueError(f"{what} declares {info.file_size} bytes, more than its {info.compress_size} compressed "
                         "bytes can hold (corrupt zip)")


def _read_config(zf, info, source):
    if info.file_size > CONFIG_LIMIT:
        raise ValueError(f"{source}: config.json declares {info.file_size} bytes; md.keras reads at most "
                         f"{CONFIG_LIMIT}")
    with zf.open(info) as m:
        raw = m.read(CONFIG_LIMIT + 1)
    if len(raw) != info.file_size:
        raise ValueError(f"{source}: config.json inflates to {len(raw)} bytes, not the {info.file_size} its zip entry "
                         "declares (corrupt zip)")
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{source}: config.json is not valid JSON: {e}") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT or not isinstance(config.get("model"), dict):
        raise ValueError(f"{source}: config.json is not a {FORMAT} model config")
    _check_structure(config, source)
    return config


def _compile_from_config(model, cc, source):
    if not isinstance(cc, dict):
        raise ValueError(f"{source}: compile_config must be a dict")
    metrics, weights = cc.get("metrics"), cc.get("loss_weights")
    if not _names_only(metrics, str):
        raise ValueError(f"{source}: compile_config's metrics must be names (in lists or dicts), got {metrics!r:.80}")
    if not _names_only(weights, (int, float)):
        raise ValueError(f"{source}: compile_config's loss_weights must be numbers, got {weights!r:.80}")
    if not isinstance(cc.get("optimizer"), (str, dict)) or not isinstance(cc.get("loss"), (str, dict, list)):
        raise ValueError(f"{source}: compile_config's optimizer and loss must be names or configs")
    model.compile(optimizer=cc["optimizer"], loss=cc["loss"], loss_weights=weights, metrics=metrics)


def _names_only(value, kinds, depth=0):
    """True for None or ``kinds`` values, in lists or dicts (by output name) nested at most twice."""
    if value is None or (isinstance(value, kinds) and not isinstance(value, bool)):
        return True
    if depth < 2 and isinstance(value, list):
        return all(_names_only(v, kinds, depth + 1) for v in value)
    if depth < 2 and isinstance(value, dict):
        return all(isinstance(k, str) and _names_only(v, kinds, depth + 1) for k, v in value.items())
    return False


def _load_model(f, source, custom_objects, compile_):
    from .layers.base import weight_budget  # noqa: PLC0415
    zf, config_info, weights_info = _open_archive(f, os.fstat(f.fileno()).st_size, source)
    config = _read_config(zf, config_info, source)
    with zf.open(weights_info) as stream:
        reader = _WeightsReader(stream, weights_info.file_size, source, f"{source}: member {WEIGHTS}")
        with weight_budget(reader.values, source):
            model = layer_from_config(config["model"], custom_objects)
        if not model.built:
            raise ValueError(f"{source}: the saved model has no input shape, so its weights cannot be placed")
        resume = compile_ and config.get("compile_config") and config.get("optimizer_state") is not None
        extra = optimizer_wanted(model, reader.entries, source) if resume else {}
        arrays = _load_weights_from(model, reader, source, extra)
    if compile_ and config.get("compile_config"):
        _compile_from_config(model, config["compile_config"], source)
        if resume:
            restore_optimizer_state(model, config["optimizer_state"], {k: arrays[k] for k in extra}, source)
    return model


def load_model(filepath, custom_objects=None, compile=True):  # noqa: A002 -- Keras' argument name
    """Rebuild a model saved with ``model.save(path)``: architecture, weights and (when ``compile``) the compile
    arguments. A file that cannot be loaded is a ``ValueError`` naming it (see the module's notes on what loading
    never does).

    Example:
        >>> model = md.keras.models.load_model("mnist.keras")
        >>> model.predict(x_test[:5])
    """
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"File not found: filepath={filepath}. Please ensure the file is an accessible "
                                "`.keras` zip file.")
    with open(filepath, "rb") as f:
        return _guarded(filepath, _load_model, f, filepath, custom_objects, compile)


def _load_weights(model, f, source):
    if source.endswith(".keras"):
        zf, _, info = _open_archive(f, os.fstat(f.fileno()).st_size, source)
        opened, size, what = zf.open(info), info.file_size, f"{source}: member {WEIGHTS}"
    else:
        opened, size, what = contextlib.nullcontext(f), os.fstat(f.fileno()).st_size, source
    with opened as stream:
        _load_weights_from(model, _WeightsReader(stream, size, source, what), source)


def load_weights(model, filepath):
    """Load weights saved by ``save_weights`` (or inside a ``.keras`` file) into the built ``model``; every tensor is
    read and checked before any weight changes."""
    filepath = os.fspath(filepath)
    model._require_built("load_weights")
    if filepath.endswith(".weights.h5"):
        from .saving_h5 import load_weights_h5  # noqa: PLC0415
        return _guarded(filepath, load_weights_h5, model, filepath)
    with open(filepath, "rb") as f:
        _guarded(filepath, _load_weights, model, f, filepath)


# --- Keras 3's registration of your own classes (object_registration.py), under keras.saving as in Keras ---
from .object_registration import (CustomObjectScope, custom_object_scope, get_custom_objects,  # noqa: E402
                                  get_registered_name, get_registered_object, register_keras_serializable)

__all__ = ["load_model", "save_model", "save_weights", "load_weights", "CustomObjectScope", "custom_object_scope",
           "get_custom_objects", "get_registered_name", "get_registered_object", "register_keras_serializable"]
