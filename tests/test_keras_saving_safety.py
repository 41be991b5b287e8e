"""Loading hostile `.keras` files: names resolve only through registries, every failure is a ValueError naming the
file, and memory stays bounded by what the file holds (checked in a child process under RLIMIT_AS)."""
import copy
import json
import struct
import zipfile

import numpy as np
import pytest

import minidl.keras as keras
from keras_files import (CONFIG, WEIGHTS, deflated, keras_file, members, raw_zip, run_child, safetensors,
                         safetensors_header, small_models, stored, zero_bomb)
from minidl.keras import layers


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def _load_error(path, *, cause=None):
    """The ValueError loading ``path`` raises; it must name the file (and chain ``cause`` when given)."""
    with pytest.raises(ValueError) as info:
        keras.models.load_model(path)
    assert str(path) in str(info.value)
    if cause is not None:
        assert isinstance(info.value.__cause__, cause), repr(info.value.__cause__)
    return str(info.value)


@pytest.fixture
def saved(tmp_path):
    """A saved model touching every kind of name a file can hold: layers (a Bidirectional wrapper too), an
    activation, initializers, a regularizer, dtypes, an optimizer with a schedule, a loss and metrics."""
    model = keras.Sequential([keras.Input(shape=(3, 4)), layers.Bidirectional(layers.SimpleRNN(2)),
                              layers.Dense(2, activation="tanh", kernel_regularizer=keras.regularizers.l2(1e-3))])
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    model.compile(keras.optimizers.Adam(schedule), keras.losses.MeanSquaredError(), ["mae"])
    model.save(tmp_path / "good.keras")
    config, weights = members(tmp_path / "good.keras")
    return config, weights


# where a file names something, as (label, function that puts `name` there)
def _layer(c):
    return c["model"]["config"]["layers"][1]


PLACES = {
    "schedule": lambda c, n: c["compile_config"]["optimizer"]["config"].update(
        learning_rate={"class_name": n, "config": {}}),
    "optimizer": lambda c, n: c["compile_config"]["optimizer"].update(class_name=n),
    "optimizer string": lambda c, n: c["compile_config"].update(optimizer=n),
    "layer": lambda c, n: _layer(c).update(class_name=n),
    "wrapped layer": lambda c, n: c["model"]["config"]["layers"][0]["config"]["layer"].update(class_name=n),
    "activation": lambda c, n: _layer(c)["config"].update(activation=n),
    "initializer": lambda c, n: _layer(c)["config"].update(kernel_initializer={"class_name": n, "config": {}}),
    "initializer string": lambda c, n: _layer(c)["config"].update(bias_initializer=n),
    "regularizer": lambda c, n: _layer(c)["config"].update(kernel_regularizer={"class_name": n, "config": {}}),
    "loss": lambda c, n: c["compile_config"].update(loss={"class_name": n, "config": {}}),
    "loss string": lambda c, n: c["compile_config"].update(loss=n),
    "metric": lambda c, n: c["compile_config"].update(metrics=[n]),
    "dtype": lambda c, n: _layer(c)["config"].update(dtype=n),
}
HOSTILE = ["mro", "__init_subclass__", "__class__", "__subclasses__", "_private", "__globals__"]
BASES = {"schedule": "LearningRateSchedule", "optimizer": "Optimizer", "layer": "Layer", "wrapped layer": "Dense",
         "initializer": "Initializer", "regularizer": "Regularizer", "loss": "Loss", "dtype": "DType"}


@pytest.mark.parametrize("place", sorted(PLACES))
def test_a_file_can_name_only_registered_classes_and_functions(saved, tmp_path, place):
    config, weights = saved
    names = HOSTILE + ([BASES[place]] if place in BASES else [])
    for name in names:
        hostile = copy.deepcopy(config)
        PLACES[place](hostile, name)
        path = tmp_path / f"{place.replace(' ', '_')}-{name}.keras"
        path.write_bytes(keras_file(hostile, weights))
        assert name in _load_error(path), (place, name)


def test_schedules_and_dtypes_are_looked_up_in_registries_not_namespaces():
    with pytest.raises(ValueError, match="'mro'"):
        keras.optimizers.Adam.from_config({"learning_rate": {"class_name": "mro", "config": {}}})
    with pytest.raises(ValueError, match="__init_subclass__"):
        keras.optimizers.get({"class_name": "Adam", "config": {
            "learning_rate": {"class_name": "__init_subclass__", "config": {}}}})
    assert sorted(keras.optimizers.SCHEDULES) == ["CosineDecay", "ExponentialDecay", "PiecewiseConstantDecay"]
    with pytest.raises(ValueError, match="unknown dtype '__class__'"):
        layers.Dense(2, dtype="__class__")
    assert layers.Dense(2, dtype=keras.layers.base.LAYER_DTYPES["float64"]).dtype_name == "float64"
    with pytest.raises(ValueError, match="unknown dtype"):
        keras.Input(shape=(2,), dtype="mro")


# --- every failure is a ValueError naming the file --------------------------------------------------------------------
def _functional(tmp_path):
    inp = keras.Input(shape=(4,))
    out = layers.Dense(2)(layers.Dense(3)(inp))
    keras.Model(inp, out).save(tmp_path / "f.keras")
    return members(tmp_path / "f.keras")


@pytest.mark.parametrize("edit,expect", [
    (lambda m: m["nodes"][1].update(inputs=[7]), "node 1 input must be an int in \\[0, 2\\), got 7"),
    (lambda m: m["nodes"][1].update(inputs=[-1]), "got -1"),
    (lambda m: m["nodes"][0].update(layer=5), "node 0 'layer' must be an int in \\[0, 2\\)"),
    (lambda m: m["nodes"][0].update(layer=True), "must be an int"),
    (lambda m: m["nodes"][0].update(inputs="0"), "'inputs' must be a list"),
    (lambda m: m["nodes"][0].update(inputs=[]), "has no inputs"),
    (lambda m: m.update(outputs=[9]), "output must be an int"),
    (lambda m: m.update(inputs=[{"shape": [None, -4], "dtype": "float32"}]), "shape must be a list"),
    (lambda m: m.update(inputs=[{"shape": [None, 4], "dtype": "complex128"}]), "unknown dtype 'complex128'"),
    (lambda m: m.update(multi_output="yes"), "'multi_output' must be true or false"),
    (lambda m: m["layers"][0]["config"].update(units="3"), "units"),
    (lambda m: m["layers"][0]["config"].update(units=-3), "units"),
    (lambda m: m["layers"][0]["config"].update(use_bias="yes"), "'use_bias' must be true or false"),
    (lambda m: m["layers"][0]["config"].update(frobnicate=1), "unknown argument 'frobnicate'"),
    (lambda m: m["layers"][0]["config"].pop("units"), "missing required argument 'units'"),
    (lambda m: m["layers"][0]["config"].update(name="a.b"), "without '.'"),
    (lambda m: m["layers"][0]["config"].update(name=["x"]), "name"),
    (lambda m: m["layers"][0]["config"].update(kernel_initializer={"class_name": "Constant", "config": {"v": 1}}),
     "unknown argument 'v'"),
    (lambda m: m["layers"][0]["config"].update(batch_input_shape=[None, 2 ** 40]), "batch_input_shape"),
    (lambda m: m["layers"].__setitem__(0, "Dense"), "'class_name' must be a string"),
    # a Dense called on two tensors, with a huge size: its planned weight shape must not become tuple * 10**9
    (lambda m: (m["nodes"][1].update(inputs=[0, 1]), m["layers"][1]["config"].update(units=10 ** 9)),
     "cannot be built for the input shape"),
])
def test_bad_functional_configs_are_value_errors_naming_the_file(tmp_path, edit, expect):
    config, weights = _functional(tmp_path)
    edit(config["model"]["config"])
    path = tmp_path / "bad.keras"
    path.write_bytes(keras_file(config, weights))
    msg = _load_error(path)
    assert __import__("re").search(expect, msg), msg


def test_bad_compile_configs_and_deep_nesting_are_value_errors(saved, tmp_path):
    config, weights = saved
    edits = {
        "unknown optimizer keyword": (lambda c: c["compile_config"]["optimizer"]["config"].update(bogus=1),
                                      "unknown argument 'bogus'"),
        "string hyperparameter": (lambda c: c["compile_config"]["optimizer"]["config"].update(beta_1="x"),
                                  "'beta_1' must be a number"),
        "schedule keyword": (lambda c: c["compile_config"]["optimizer"]["config"]["learning_rate"]["config"].update(
            x=1), "unknown argument 'x'"),
        "schedule type": (lambda c: c["compile_config"]["optimizer"]["config"]["learning_rate"]["config"].update(
            decay_steps="two"), "ExponentialDecay"),
        "loss keyword": (lambda c: c["compile_config"]["loss"]["config"].update(delta=1.0), "unknown argument 'delta'"),
        "metrics type": (lambda c: c["compile_config"].update(metrics="mae"), "metrics"),
        "bad format": (lambda c: c.update(format="keras-v3"), "is not a minidl-keras/1 model config"),
    }
    for label, (edit, expect) in edits.items():
        bad = copy.deepcopy(config)
        edit(bad)
        path = tmp_path / f"{label.replace(' ', '_')}.keras"
        path.write_bytes(keras_file(bad, weights))
        assert expect in _load_error(path), label
    inner = json.dumps(config["model"])
    for depth, expect in ((200, "nested deeper than 100"), (100_000, "not valid JSON")):
        text = '{"class_name": "Sequential", "config": {"name": "s", "layers": [' * depth + inner + "]}}" * depth
        path = tmp_path / f"deep{depth}.keras"
        path.write_bytes(keras_file('{"format": "minidl-keras/1", "model": ' + text + "}", weights))
        assert expect in _load_error(path)


def test_corrupt_archives_are_value_errors_with_the_cause_chained(saved, tmp_path):
    config, weights = saved
    text = json.dumps(config).encode()
    good = deflated(CONFIG, text)
    name, payload, method, crc, size = good
    cases = {
        # a broken deflate stream (the CRC would also fail; zlib fails first)
        "zlib": ([(name, payload[:5] + b"\xff" * 40 + payload[45:], method, crc, size), stored(WEIGHTS, weights)],
                 "corrupt or truncated zip", None),
        # the deflate stream ends before the declared size: EOFError in zipfile
        "eof": ([(name, payload[: len(payload) // 2], method, crc, size), stored(WEIGHTS, weights)],
                "corrupt or truncated zip", None),
        # a compression method zipfile does not implement (NotImplementedError there)
        "method": ([(name, payload, 99, crc, size), stored(WEIGHTS, weights)], "compression method 99", None),
        "crc": ([(name, payload, method, crc ^ 1, size), stored(WEIGHTS, weights)], "corrupt or truncated zip",
                zipfile.BadZipFile),
        "duplicate": ([good, good, stored(WEIGHTS, weights)], "config.json more than once", None),
        "missing": ([good], "lacks model.weights.safetensors", None),
        "declared too big": ([(name, payload, method, crc, 2 ** 31), stored(WEIGHTS, weights)], "declares", None),
        "stored size lie": ([good, (WEIGHTS, weights, 0, 0, len(weights) + 5)], "declares", None),
    }
    for label, (entries, expect, cause) in cases.items():
        path = tmp_path / f"{label.replace(' ', '_')}.keras"
        path.write_bytes(raw_zip(entries))
        assert expect in _load_error(path, cause=cause), label
    blob = raw_zip([good, stored(WEIGHTS, weights)])
    encrypted = bytearray(blob)
    encrypted[6] |= 1                                        # the local header's "encrypted" flag...
    central = blob.index(b"PK\x01\x02")
    encrypted[central + 8] |= 1                              # ...and the central directory's
    (tmp_path / "enc.keras").write_bytes(bytes(encrypted))
    assert "encrypted" in _load_error(tmp_path / "enc.keras")
    for cut in (0, 10, len(blob) // 2, len(blob) - 30):
        (tmp_path / f"cut{cut}.keras").write_bytes(blob[:cut])
        _load_error(tmp_path / f"cut{cut}.keras")


def test_corrupt_weights_headers_are_value_errors(saved, tmp_path):
    # the weights member is checked by the same code as md.load's files (minidl._safetensors), so its messages
    # name the member and say what is wrong as md.load's do
    config, weights = saved
    header, data = safetensors_header(weights)
    key = next(iter(header))
    span = header[key]["data_offsets"][1] - header[key]["data_offsets"][0]
    edits = {
        "dtype": (lambda h: h[key].update(dtype="F4"), "has dtype 'F4', which minidl does not know"),
        "refused dtype": (lambda h: h[key].update(dtype="F8_E4M3", shape=[span]),
                          "has dtype F8_E4M3, which minidl cannot load"),
        "shape": (lambda h: h[key].update(shape=[-1]), "has shape"),
        "offsets": (lambda h: h[key].update(data_offsets=[0, 10 ** 12]), "span 1000000000000"),
        "hole": (lambda h: h.update(extra={"dtype": "F32", "shape": [1], "data_offsets": [10 ** 6, 10 ** 6 + 4]}),
                 "starts at byte"),
        "not a dict": (lambda h: h.__setitem__(key, [1, 2]), "is not a {dtype, shape, data_offsets} record"),
        "missing weight": (lambda h: h.__setitem__("renamed", h.pop(key)), "is missing"),
        # refused since the weights share md.load's checks (md.keras' own reader let these through)
        "extra field": (lambda h: h[key].update(note="x"), "is not a {dtype, shape, data_offsets} record"),
        "bad metadata": (lambda h: h.update(__metadata__={"epoch": 3}), "__metadata__ is not an object of strings"),
        "too many dims": (lambda h: h[key].update(shape=[1] * 63 + h[key]["shape"]), "want at most 64 sizes"),
    }
    for label, (edit, expect) in edits.items():
        h = copy.deepcopy(header)
        edit(h)
        path = tmp_path / f"{label.replace(' ', '_')}.keras"
        path.write_bytes(keras_file(config, safetensors(h, data)))
        msg = _load_error(path)
        assert expect in msg, (label, msg)
        assert "member model.weights.safetensors" in msg or label == "missing weight", (label, msg)
    text = json.dumps(header)
    twice = (text[:-1] + f", {json.dumps(key)}: " + json.dumps(header[key]) + "}").encode()
    utf16 = text.encode("utf-16")

    def raw(head):                                           # a header json.dumps would not write
        return struct.pack("<Q", len(head)) + head + data

    for label, blob, expect in (("huge header", struct.pack("<Q", 2 ** 62) + weights[8:], "header claims"),
                                ("short", weights[:5], "fewer than the 8 of the header length"),
                                ("trailing", weights + b"\0" * 8, "the tensors cover"),
                                ("not json", struct.pack("<Q", 4) + b"{{{{", "not valid JSON"),
                                ("duplicate key", raw(twice), "appears twice"),
                                ("utf16 header", raw(utf16), "not valid JSON")):
        path = tmp_path / f"{label.replace(' ', '_')}.keras"
        path.write_bytes(keras_file(config, blob))
        assert expect in _load_error(path), label


def test_weights_in_bf16_and_small_ints_load_widened_exactly(tmp_path):
    # md.load's dtype table serves .keras files too: BF16 widens exactly to float32 (md.keras' own reader refused it)
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2, name="d")])
    model.save(tmp_path / "f32.keras")
    config, weights = members(tmp_path / "f32.keras")
    header, data = safetensors_header(weights)
    parts, offset, h = [], 0, {}
    for name, entry in header.items():
        values = np.frombuffer(data[entry["data_offsets"][0]:entry["data_offsets"][1]], "<f4")
        top = (values.view("<u4") >> 16).astype("<u2").tobytes()          # bfloat16: the top half of a float32
        h[name] = {"dtype": "BF16", "shape": entry["shape"], "data_offsets": [offset, offset + len(top)]}
        parts.append(top)
        offset += len(top)
    (tmp_path / "bf16.keras").write_bytes(keras_file(config, safetensors(h, b"".join(parts))))
    loaded = keras.models.load_model(tmp_path / "bf16.keras")
    for got, want in zip(loaded.get_weights(), model.get_weights()):
        truncated = (np.asarray(want, np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)
        np.testing.assert_array_equal(got, truncated)


def test_load_weights_changes_nothing_when_the_file_is_bad(saved, tmp_path):
    config, weights = saved
    model = keras.models.load_model(tmp_path / "good.keras")
    before = model.get_weights()
    name, payload, method, crc, size = deflated(WEIGHTS, weights)
    path = tmp_path / "badcrc.keras"                            # the CRC is checked only after the last byte
    path.write_bytes(raw_zip([deflated(CONFIG, json.dumps(config).encode()), (name, payload, method, crc ^ 1, size)]))
    with pytest.raises(ValueError, match="badcrc.keras"):
        model.load_weights(path)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# --- bounded memory ------------------------------------------------------------------------------------------------------
_CHILD = """
import sys
import minidl.keras as keras
for path in sys.argv[1:]:
    try:
        keras.models.load_model(path)
        print("LOADED", path)
    except ValueError as e:
        print("ValueError", path in str(e), path, str(e)[:300].replace(chr(10), " "))
    except MemoryError:
        print("MemoryError", path)
status = open("/proc/self/status").read()
print("VmHWM", int(status.split("VmHWM:")[1].split()[0]) // 1024)
"""


def test_bombs_and_huge_configs_are_rejected_within_a_memory_limit(tmp_path):
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, name="d")])
    model.save(tmp_path / "small.keras")
    config, weights = members(tmp_path / "small.keras")
    head = json.dumps(config).encode()
    gib = 1 << 30
    files = {
        # config.json: valid JSON text followed by 1 GiB of zeros, in a 1 MB zip
        "config_bomb": raw_zip([zero_bomb(CONFIG, head, gib), deflated(WEIGHTS, weights)]),
        # the weights member: the model's real tensors, then 1 GiB of zeros
        "weights_bomb": raw_zip([deflated(CONFIG, head), zero_bomb(WEIGHTS, weights, gib)]),
    }
    for label, edit in {"units": lambda c: c["config"]["layers"][0]["config"].update(units=10 ** 9),
                        "input": lambda c: c["config"]["layers"][0]["config"].update(
                            batch_input_shape=[None, 2 ** 30]),
                        "build_shape": lambda c: c["config"].update(build_input_shape=[None, 2 ** 30])}.items():
        bad = copy.deepcopy(config)
        edit(bad["model"])
        files[label] = keras_file(bad, weights)
    for label, layer in {"embedding": layers.Embedding(10 ** 9, 64), "conv": layers.Conv2D(10 ** 5, 99),
                         "lstm": layers.LSTM(10 ** 5)}.items():
        bad = copy.deepcopy(config)
        spec = bad["model"]["config"]["layers"]
        shape = {"embedding": [None, 7], "conv": [None, 99, 99, 3], "lstm": [None, 5, 4]}[label]
        spec.insert(0, {"class_name": type(layer).__name__, "config": layer.get_config()})
        bad["model"]["config"]["build_input_shape"] = shape
        spec[1]["config"].pop("batch_input_shape", None)
        files[label] = keras_file(bad, weights)
    paths = []
    for label, blob in files.items():
        assert len(blob) < 2 << 20
        (tmp_path / f"{label}.keras").write_bytes(blob)
        paths.append(tmp_path / f"{label}.keras")
    proc = run_child(_CHILD, *paths, memory=gib, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for path in paths:
        line = next(s for s in lines if f" {path}" in s)
        assert line.startswith("ValueError True"), line
    peak_mib = int(lines[-1].split()[1])
    assert peak_mib < 512, proc.stdout                       # nothing was inflated or allocated at scale


# --- the weight shapes planned before building match what build makes ------------------------------------------------
@pytest.mark.parametrize("make,shape", [
    (lambda: layers.Dense(7), (5,)),
    (lambda: layers.Dense(7, use_bias=False), (3, 5)),
    (lambda: layers.Conv2D(8, (3, 2)), (9, 9, 4)),
    (lambda: layers.Conv2D(6, 3, groups=2, use_bias=False), (9, 9, 4)),
    (lambda: layers.Conv2D(6, 3, data_format="channels_first"), (4, 9, 9)),
    (lambda: layers.Conv1D(5, 3, padding="causal"), (10, 4)),
    (lambda: layers.BatchNormalization(), (6, 6, 5)),
    (lambda: layers.BatchNormalization(axis=1, center=False), (5, 3)),
    (lambda: layers.LayerNormalization(axis=[1, 2], scale=False), (3, 4, 5)),
    (lambda: layers.Embedding(100, 16), (10,)),
    (lambda: layers.SimpleRNN(6), (4, 3)),
    (lambda: layers.LSTM(6, use_bias=False), (4, 3)),
    (lambda: layers.GRU(6), (4, 3)),
    (lambda: layers.Bidirectional(layers.GRU(3)), (4, 3)),
    (lambda: layers.Flatten(), (4, 3)),
    (lambda: layers.MaxPooling2D(), (4, 4, 3)),
])
def test_planned_weight_shapes_match_the_built_weights(make, shape):
    layer = make()
    planned = layer._weight_shapes((None,) + shape)
    layer(keras.Input(shape=shape))
    own = [w.read().shape for w in layer._weights]
    assert [tuple(s) for s in planned] == own


def test_round_trips_of_real_models_still_work(tmp_path):
    for name, model in small_models().items():
        path = tmp_path / f"{name}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        x = np.random.default_rng(0).normal(size=(2,) + tuple(model.input_shape[1:]))
        if name == "lstm":
            x = np.abs(x * 3).astype(int) % 10
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
        assert type(loaded.optimizer) is type(model.optimizer)


def test_a_functional_model_thousands_of_layers_deep_builds_and_loads(tmp_path):
    # the graph walk and the reconstruction keep explicit stacks: no recursion limit at 1,500 layers
    inp = keras.Input(shape=(2,))
    x = inp
    for _ in range(1500):
        x = layers.Dense(2)(x)
    model = keras.Model(inp, x)
    model.save(tmp_path / "deep.keras")
    loaded = keras.models.load_model(tmp_path / "deep.keras")
    probe = np.ones((1, 2), np.float32)
    np.testing.assert_array_equal(loaded.predict(probe, verbose=0), model.predict(probe, verbose=0))
