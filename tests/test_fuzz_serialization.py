"""Fuzz md.load with seeded mutations of valid safetensors files: bit flips, truncations, appended junk, edits
of the JSON header (huge, negative, fractional or non-numeric shapes and offsets, overlaps, gaps, wrong or
unknown dtypes, bad metadata, duplicate keys, deep nesting) and forged header lengths.

Every case must load or raise a ValueError naming the file: no other exception, no crash, no hang, and no
allocation beyond what the file's size allows. The whole loop runs in a subprocess with a timeout (a crash or a
hang fails the test; faulthandler prints where it hung)."""
import json
import os
import subprocess
import sys
import textwrap
import child_process  # tests/ helper: children import the same minidl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_CASES = 300

_FUZZER = r'''
import faulthandler, json, os, struct, sys
import numpy as np
import minidl as md

faulthandler.dump_traceback_later(float(sys.argv[3]), exit=True)
folder, cases = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(12)

def peak_rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

# valid files to mutate: several dtypes, 0-d and empty tensors, metadata
seeds = []
for i, state in enumerate([
        {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(4, np.float64), "n": np.array(3)},
        {"e": np.zeros((2, 0), np.float32), "u": np.arange(7, dtype=np.uint8), "k": np.array([True, False]),
         "h": np.ones((2, 2), np.float16), "i": np.arange(3, dtype=np.int32)},
        {"s": np.arange(5, dtype=np.int16), "t": np.arange(6, dtype=np.int8).reshape(2, 3)}]):
    path = os.path.join(folder, f"seed{i}.safetensors")
    md.save(state, path, metadata={"epoch": "3", "note": "x"} if i == 0 else None)
    with open(path, "rb") as f:
        seeds.append(f.read())

def raw_file(entries):
    """A valid file with dtypes NumPy lacks: {name: (dtype, shape, data bytes)}."""
    header, data = {}, b""
    for name, (dtype, shape, chunk) in entries.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(chunk)]}
        data += chunk
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data

seeds += [raw_file({"bf": ("BF16", [2, 2], rng.bytes(8)), "u": ("U32", [3], rng.bytes(12))}),
          raw_file({"q": ("F8_E4M3", [4], rng.bytes(4)), "r": ("F8_E5M2", [], rng.bytes(1))}),
          raw_file({"c": ("C64", [2], rng.bytes(16)), "w": ("U16", [1], rng.bytes(2))}),
          raw_file({"z": ("U64", [1], rng.bytes(8)), "y": ("I8", [2], rng.bytes(2))})]

SAME_SIZE = [["F32", "I32", "U32"], ["F16", "BF16", "I16", "U16"], ["U8", "I8", "BOOL", "F8_E4M3", "F8_E5M2"],
             ["F64", "I64", "U64", "C64"]]
DTYPES = ["F32", "F64", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "U16", "U32", "U64", "BOOL", "F8_E4M3",
          "F8_E5M2", "C64", "F4", "", "f32", 7, None, ["F32"]]
NUMBERS = [-1, 0, 1, 3, 2**31, 2**32 + 1, 2**40, 2**62, 2**63, 2**64 + 5, -2**63, 1.5, 1e308, True, None, "4",
           [2], {"a": 1}]

def split(blob):
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(blob[8:8 + n]), blob[8 + n:]

def join(header, data, raw=None):
    text = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data

def pick(seq):
    return seq[int(rng.integers(len(seq)))]

def edit_header(blob):
    header, data = split(blob)
    names = [k for k in header if k != "__metadata__"]
    name = pick(names)
    entry = header[name]
    kind = int(rng.integers(15))
    if kind == 0:
        entry["shape"] = [pick(NUMBERS) for _ in range(int(rng.integers(0, 4)))]
    elif kind == 1:
        entry["shape"] = [2**40, 2**40, 2**40, 0] if rng.random() < 0.5 else [1] * 70
    elif kind == 2:
        entry["data_offsets"] = [pick(NUMBERS), pick(NUMBERS)]
    elif kind == 3:
        entry["data_offsets"] = entry["data_offsets"][::-1]
    elif kind == 4:                         # overlap another tensor
        other = header[pick(names)]
        entry["data_offsets"] = list(other["data_offsets"])
    elif kind == 5:
        entry["dtype"] = pick(DTYPES)
    elif kind == 6:
        del entry[pick(sorted(entry))]
    elif kind == 7:
        entry["extra"] = 1
    elif kind == 8:
        header[name] = pick([[], "x", 3, None, {"dtype": "F32"}])
    elif kind == 9:
        header["__metadata__"] = pick([{"a": 1}, [1], "m", {"a": None}, {"a": "b" * 1000}])
    elif kind == 10:                        # duplicate key, written by hand
        text = json.dumps(header)
        return join(None, data, (text[:-1] + f', "{name}": ' + json.dumps(entry) + "}").encode())
    elif kind == 11:
        return join(None, data, b"[" * 100_000 + b"]" * 100_000)
    elif kind == 12:
        return join(None, data, pick([b"", b"\xff\xfe{}", b"{", b"null", b"{\"a\": NaN}", b"1" * 5000]))
    elif kind == 13:
        entry["shape"], entry["data_offsets"] = [2**30], [0, 2**32]
    else:                                   # a dtype of the same size: still a valid file
        entry["dtype"] = pick(next((g for g in SAME_SIZE if entry.get("dtype") in g), DTYPES))
    return join(header, data)

def mutate(blob):
    kind = int(rng.integers(6))
    if kind == 0:                           # flip a few bits, mostly in the header
        b = bytearray(blob)
        end = len(b) if rng.random() < 0.3 else min(len(b), 8 + struct.unpack("<Q", blob[:8])[0])
        for _ in range(int(rng.integers(1, 9))):
            b[int(rng.integers(end))] ^= 1 << int(rng.integers(8))
        return bytes(b)
    if kind == 1:
        return blob[:int(rng.integers(len(blob)))]
    if kind == 2:
        return blob + rng.bytes(int(rng.integers(1, 64)))
    if kind == 3:                           # forge the header length
        n = pick([0, 1, 7, len(blob) - 8, len(blob) - 7, len(blob), 2**31, 2**62, 2**64 - 1,
                  100 * 2**20 + 1])
        return struct.pack("<Q", n) + blob[8:]
    return edit_header(blob)

failures, outcomes, biggest = [], {"loaded": 0, "ValueError": 0}, 0
before = peak_rss()
for case in range(cases):
    blob = mutate(pick(seeds))
    path = os.path.join(folder, f"case{case}.safetensors")
    with open(path, "wb") as f:
        f.write(blob)
    try:
        state = md.load(path)
    except ValueError as e:
        outcomes["ValueError"] += 1
        if path not in str(e):
            failures.append(f"case {case}: ValueError without the file name: {e}")
    except Exception as e:  # noqa: BLE001 -- any other exception is the failure this test looks for
        failures.append(f"case {case}: {type(e).__name__}: {str(e)[:300]}")
    else:
        outcomes["loaded"] += 1
        loaded = sum(t.numpy().nbytes for t in state.values())
        biggest = max(biggest, loaded)
        if loaded > 4 * len(blob):          # widening (int8 -> int32) is the most a file may grow
            failures.append(f"case {case}: {len(blob)} bytes loaded as {loaded}")
    os.unlink(path)
print(json.dumps({"failures": failures[:20], "outcomes": outcomes, "grew": peak_rss() - before}))
'''


def test_fuzzed_safetensors_files_load_or_raise_a_value_error_naming_the_file(tmp_path, fuzz_budget):
    cases = BASE_CASES * fuzz_budget
    timeout = 60 + cases // 10
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_FUZZER), str(tmp_path), str(cases),
                           str(timeout - 10)], cwd=child_process.CWD, env=child_process.env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"the fuzzer crashed or hung ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not out["failures"], "\n".join(out["failures"])
    assert out["outcomes"]["ValueError"] > cases // 4 and out["outcomes"]["loaded"] > 0, out["outcomes"]
    assert out["grew"] < 64 * 2**20, f"loading small fuzzed files grew the process by {out['grew']} bytes"
