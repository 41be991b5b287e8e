"""Helpers of the `.keras` loading tests (test_keras_saving_safety.py, test_fuzz_keras.py): small real models, a
raw zip writer for archives `zipfile` will not write (duplicated members, forged sizes, bombs), and a child
process with a memory limit and a timeout to load hostile files in."""
import functools
import json
import pathlib
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np

from minidl import keras
from minidl.keras import layers
import child_process  # tests/ helper: children import the same minidl

HERE = pathlib.Path(__file__).resolve().parent
CONFIG, WEIGHTS = "config.json", "model.weights.safetensors"


def small_models():
    """``{name: model}``: a Dense stack, a CNN, an LSTM over embeddings and a functional model with branches, all
    built and compiled (optimizers with and without schedules), seeded."""
    keras.utils.set_random_seed(0)
    dense = keras.Sequential([keras.Input(shape=(6,)), layers.Dense(5, activation="relu"),
                              layers.Dropout(0.1), layers.Dense(3, activation="softmax")])
    dense.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    conv = keras.Sequential([keras.Input(shape=(6, 6, 2)), layers.Conv2D(3, 3, activation="relu", padding="same"),
                             layers.MaxPooling2D(), layers.BatchNormalization(), layers.Flatten(), layers.Dense(2)])
    conv.compile(keras.optimizers.SGD(0.01, momentum=0.9, weight_decay=1e-4), "mse", ["mae"])
    lstm = keras.Sequential([keras.Input(shape=(5,)), layers.Embedding(10, 4), layers.LSTM(3, return_sequences=True),
                             layers.GRU(2), layers.Dense(1, activation="sigmoid")])
    lstm.compile(keras.optimizers.RMSprop(1e-3), "binary_crossentropy", ["accuracy"])
    inp = keras.Input(shape=(4,))
    a, b = layers.Dense(3, name="left")(inp), layers.Dense(3, name="right")(inp)
    out = layers.Dense(2)(layers.Concatenate()([a, layers.Add()([a, b])]))
    functional = keras.Model(inp, out)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=10, decay_rate=0.9)
    functional.compile(keras.optimizers.AdamW(schedule), keras.losses.Huber(delta=0.5))
    return {"dense": dense, "conv": conv, "lstm": lstm, "functional": functional}


def sample_input(model, n=2, seed=0):
    """A batch that ``model`` accepts (integer ids for an Embedding first layer)."""
    rng = np.random.default_rng(seed)
    shape = (n,) + tuple(model.input_shape[1:])
    if isinstance(model.layers[0], layers.Embedding):
        return rng.integers(0, model.layers[0].input_dim, size=shape)
    return rng.normal(size=shape).astype(np.float32)


def members(path):
    """``(config dict, weights bytes)`` of a saved `.keras` file."""
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read(CONFIG)), zf.read(WEIGHTS)


def safetensors_header(blob):
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def safetensors(header, data):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


# --- raw zips -------------------------------------------------------------------------------------------------------
def stored(name, data):
    """A zip entry ``(name, payload, method, crc, size)`` holding ``data`` uncompressed."""
    return name, data, 0, zlib.crc32(data), len(data)


def deflated(name, data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return name, c.compress(data) + c.flush(), 8, zlib.crc32(data), len(data)


@functools.lru_cache(maxsize=None)
def _zero_block(size):
    """Raw deflate of ``size`` zero bytes ending in a full flush, so that copies can follow each other (and any
    full-flushed data) in one stream."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    c.compress(b"\0" * size)
    c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(b"\0" * size) + c.flush(zlib.Z_FULL_FLUSH)       # the steady-state block
    return block


def zero_bomb(name, prefix, zeros, block=16 << 20):
    """A deflated entry of ``prefix`` followed by ``zeros`` zero bytes (a multiple of ``block``), built without ever
    holding the inflated bytes: about 1 MB of zip per GiB."""
    assert zeros % block == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush()       # an empty final block
    crc, chunk = zlib.crc32(prefix), b"\0" * block
    for _ in range(zeros // block):
        crc = zlib.crc32(chunk, crc)
    return name, head + _zero_block(block) * (zeros // block) + tail, 8, crc, len(prefix) + zeros


def raw_zip(entries):
    """The bytes of a zip holding ``entries`` (from ``stored``/``deflated``/``zero_bomb``, possibly edited), in
    order, duplicates allowed."""
    out, central = bytearray(), bytearray()
    for name, payload, method, crc, size in entries:
        n = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(payload), size, len(n), 0)
        out += n + payload
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(payload), size,
                               len(n), 0, 0, 0, 0, 0, offset) + n
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(out), 0)
    return bytes(out + central + eocd)


def keras_file(config, weights):
    """A `.keras` zip's bytes from a config (dict or raw JSON text) and the weights' bytes."""
    text = config if isinstance(config, (str, bytes)) else json.dumps(config)
    text = text.encode() if isinstance(text, str) else text
    return raw_zip([deflated(CONFIG, text), deflated(WEIGHTS, weights)])


# --- a child process ------------------------------------------------------------------------------------------------
def run_child(code, *args, memory=1 << 30, timeout=300):
    """Run ``code`` in a fresh Python with ``RLIMIT_AS`` = ``memory`` bytes and ``timeout`` seconds; return the
    CompletedProcess. The child imports the same minidl as this process (and this folder's helpers)."""
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))\n"
    return subprocess.run([sys.executable, "-c", prelude + code, *map(str, args)], env=child_process.env(),
                          cwd=child_process.CWD, capture_output=True, text=True, timeout=timeout)
