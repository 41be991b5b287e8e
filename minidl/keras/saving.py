"""Saving and loading Keras models: one ``.keras`` zip holding ``config.json`` (architecture, compile arguments)
and ``model.weights.safetensors`` (weights keyed ``layer_name/weight_name`` in Keras' layouts; in a subclassed
model the attribute path stands for the name).

Files are written atomically (temp file + rename) and checked on load: a file that is not such a zip, a missing
member, bad JSON, an unknown layer, or a missing or mis-shaped weight raises ``ValueError`` naming the file.
"""
import io
import json
import os
import zipfile

import numpy as np

from ..serialization import _safetensors, atomic_write

FORMAT = "minidl-keras/1"
CONFIG, WEIGHTS = "config.json", "model.weights.safetensors"


def layer_config(layer):
    from .model import Model  # noqa: PLC0415
    from .sequential import Sequential  # noqa: PLC0415
    if isinstance(layer, Sequential):
        class_name = "Sequential"
    elif isinstance(layer, Model):
        class_name = "Functional" if layer._graph is not None else type(layer).__name__
    else:
        class_name = type(layer).__name__
    return {"class_name": class_name, "config": layer.get_config()}


def functional_config(model):
    ins, outs, order, multi_in, multi_out = model._graph
    ids = {id(t): i for i, t in enumerate(ins)}
    layers, layer_ids, nodes = [], {}, []
    for t in order:
        if id(t.layer) not in layer_ids:
            layer_ids[id(t.layer)] = len(layers)
            layers.append(layer_config(t.layer))
        ids[id(t)] = len(ids)
        nodes.append({"layer": layer_ids[id(t.layer)], "inputs": [ids[id(p)] for p in t.parents]})
    return {"name": model.name, "layers": layers, "nodes": nodes, "multi_input": multi_in, "multi_output": multi_out,
            "inputs": [{"shape": list(t.shape), "dtype": t.dtype} for t in ins], "outputs": [ids[id(t)] for t in outs]}


def layer_from_config(spec, custom_objects=None):
    from .layers import LAYERS  # noqa: PLC0415
    from .sequential import Sequential  # noqa: PLC0415
    class_name, config = spec["class_name"], dict(spec["config"])
    if class_name == "Sequential":
        model = Sequential(name=config["name"])
        for sub in config["layers"]:
            model.add(layer_from_config(sub, custom_objects))
        if config.get("build_input_shape") and not model.built:
            model.build(tuple(config["build_input_shape"]))
        return model
    if class_name == "Functional":
        return functional_from_config(config, custom_objects)
    cls = (custom_objects or {}).get(class_name) or LAYERS.get(class_name)
    if cls is None:
        raise ValueError(f"Unknown layer: {class_name!r}. Please ensure you are using a `md.keras` layer, or pass "
                         "your own class in custom_objects={'%s': %s}" % (class_name, class_name))
    return cls.from_config(config)


def functional_from_config(config, custom_objects=None):
    from .layers.base import Input  # noqa: PLC0415
    from .model import Model  # noqa: PLC0415
    layers = [layer_from_config(spec, custom_objects) for spec in config["layers"]]
    tensors = [Input(batch_shape=tuple(i["shape"]), dtype=i["dtype"]) for i in config["inputs"]]
    for node in config["nodes"]:
        args = [tensors[i] for i in node["inputs"]]
        tensors.append(layers[node["layer"]](args if len(args) > 1 else args[0]))
    ins = tensors[:len(config["inputs"])]
    outs = [tensors[i] for i in config["outputs"]]
    return Model(ins if config["multi_input"] else ins[0], outs if config["multi_output"] else outs[0],
                 name=config["name"])


def _weighted_layers(model):
    """(path, layer) for each layer with weights; the path is the layer's place in the model: its name in a
    Sequential or functional model, its attribute (``encoder/dense``) in a subclassed one, so two instances of the
    same model class match whatever names the session gave their layers."""
    from .layers.base import Layer  # noqa: PLC0415
    for path, module in model.named_modules():
        if isinstance(module, Layer) and module._weights:
            yield path.replace(".", "/"), module


def _weights_dict(model):
    return {f"{path}/{w.name}": np.ascontiguousarray(w.read()) for path, layer in _weighted_layers(model)
            for w in layer._weights}


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
    st, _ = _safetensors()
    model._require_built("save")
    config = {"format": FORMAT, "model": layer_config(model), "compile_config": model._compile_config}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(CONFIG, json.dumps(config, indent=1))
        zf.writestr(WEIGHTS, st.save(_weights_dict(model)))
    atomic_write(filepath, buf.getvalue())


def save_weights(model, filepath, overwrite=True):
    filepath = os.fspath(filepath)
    if filepath.endswith(".h5"):
        raise ValueError("save_weights: HDF5 (.h5) files need h5py, which md.keras does not use; save to a "
                         "'.weights.safetensors' path (readable by the safetensors library)")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save_weights: {filepath} exists and overwrite=False")
    st, _ = _safetensors()
    model._require_built("save_weights")
    atomic_write(filepath, st.save(_weights_dict(model)))


def _apply_weights(model, arrays, source):
    for path, layer in _weighted_layers(model):
        for w in layer._weights:
            key = f"{path}/{w.name}"
            if key not in arrays:
                raise ValueError(f"{source}: weight {key!r} is missing (the file holds {sorted(arrays)[:8]}...)")
            try:
                w.write(arrays[key], layer)
            except ValueError as e:
                raise ValueError(f"{source}: {e}") from None


def _read_weights(blob, source):
    st, error = _safetensors()
    try:
        return {k: np.array(v) for k, v in st.load(blob).items()}
    except (error, ValueError, OverflowError) as exc:
        raise ValueError(f"{source} holds corrupt weights (not valid safetensors): {exc}") from None


def load_weights(model, filepath):
    filepath = os.fspath(filepath)
    if filepath.endswith(".keras"):
        _, blob = _read_archive(filepath)
    else:
        with open(filepath, "rb") as f:
            blob = f.read()
    model._require_built("load_weights")
    _apply_weights(model, _read_weights(blob, filepath), filepath)


def _read_archive(filepath):
    try:
        with zipfile.ZipFile(filepath) as zf:
            names = set(zf.namelist())
            missing = {CONFIG, WEIGHTS} - names
            if missing:
                raise ValueError(f"{filepath} is not a md.keras model file: it lacks {', '.join(sorted(missing))}")
            raw_config, blob = zf.read(CONFIG), zf.read(WEIGHTS)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{filepath} is not a valid .keras file (corrupt or truncated zip): {e}") from None
    try:
        config = json.loads(raw_config)
    except ValueError as e:
        raise ValueError(f"{filepath}: config.json is not valid JSON: {e}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT or "model" not in config:
        raise ValueError(f"{filepath}: config.json is not a {FORMAT} model config")
    return config, blob


def load_model(filepath, custom_objects=None, compile=True):  # noqa: A002 -- Keras' argument name
    """Rebuild a model saved with ``model.save(path)``: architecture, weights and (when ``compile``) the compile
    arguments.

    Example:
        >>> model = md.keras.models.load_model("mnist.keras")
        >>> model.predict(x_test[:5])
    """
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"File not found: filepath={filepath}. Please ensure the file is an accessible "
                                "`.keras` zip file.")
    config, blob = _read_archive(filepath)
    try:
        model = layer_from_config(config["model"], custom_objects)
    except (KeyError, TypeError) as e:
        raise ValueError(f"{filepath}: the model config is invalid ({type(e).__name__}: {e})") from None
    if not model.built:
        raise ValueError(f"{filepath}: the saved model has no input shape, so its weights cannot be placed")
    _apply_weights(model, _read_weights(blob, filepath), filepath)
    if compile and config.get("compile_config"):
        cc = config["compile_config"]
        model.compile(optimizer=cc["optimizer"], loss=cc["loss"], metrics=cc["metrics"])
    return model
