"""Fuzzing `.keras` loading: small real models (a Dense stack, a CNN, an LSTM/GRU stack, a functional model with
branches) are saved, then mutated with a seeded generator (bit flips, truncations, config edits: wrong types, huge
and negative numbers, unknown names, deep nesting, bad node indices; safetensors header edits; zip members missing,
duplicated, renamed or declaring huge sizes) and loaded with ``md.keras.models.load_model``. The only allowed
outcomes are a loaded model or a ValueError naming the file: no other exception, no crash, no hang (a watchdog per
case and a timeout on the child), no memory blow-up (the child runs under RLIMIT_AS).

``pytest --fuzz-budget N`` (or MINIDL_FUZZ_BUDGET=N) runs N times the CI's cases.
"""
import copy
import faulthandler
import json
import sys
import zipfile

import numpy as np

from keras_files import (CONFIG, WEIGHTS, deflated, raw_zip, run_child, safetensors, safetensors_header, small_models,
                         stored)

CASES_PER_MODEL = 30        # times fuzz_budget
CASE_TIMEOUT_S = 60         # the watchdog of one load (a hang ends the child with every thread's traceback)

_HOSTILE = ["x", "", [], {}, None, True, False, 1.5, -1, 0, 10 ** 9, 2 ** 63, -(2 ** 31), 1e308, float("inf"),
            float("nan"), "mro", "__class__", "__init_subclass__", "_private", "Bogus", [None, 2 ** 30],
            {"class_name": "mro", "config": {}}, {"class_name": "Dense", "config": {"units": 10 ** 9}}]


def _slots(tree):
    """Every (container, key) in a JSON tree, found without recursion."""
    out, stack = [], [tree]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            out.append((node, key))
            stack.append(value)
    return out


def _edit_config(rng, config):
    """One or a few random edits of a config dict, in place."""
    slots = _slots(config)
    for _ in range(int(rng.integers(1, 4))):
        node, key = slots[int(rng.integers(len(slots)))]
        kind = rng.integers(6)
        if kind == 0 and isinstance(node, dict):
            node.pop(key, None)
        elif kind == 1 and isinstance(node, dict):
            node["bogus_" + str(key)] = _HOSTILE[int(rng.integers(len(_HOSTILE)))]
        elif kind == 2 and isinstance(node.get(key) if isinstance(node, dict) else node[key], int):
            node[key] = int(rng.choice([-1, 0, 1, 2, 7, 10 ** 6, 2 ** 31, 2 ** 62]))     # sizes and node indices
        elif kind == 3:
            node[key] = f"@@deep{int(rng.choice([50, 150, 5000]))}@@"        # nested lists, see _dumps
        else:
            node[key] = copy.deepcopy(_HOSTILE[int(rng.integers(len(_HOSTILE)))])


def _dumps(config):
    """The JSON text of ``config`` with each ``"@@deepN@@"`` string replaced by lists nested N deep (too deep for
    json.dumps to write)."""
    text = json.dumps(config)
    for depth in (50, 150, 5000):
        text = text.replace(f'"@@deep{depth}@@"', "[" * depth + "]" * depth)
    return text.encode()


def _edit_header(rng, weights):
    header, data = safetensors_header(weights)
    slots = _slots(header)
    node, key = slots[int(rng.integers(len(slots)))]
    node[key] = copy.deepcopy(_HOSTILE[int(rng.integers(len(_HOSTILE)))]) if rng.random() < 0.5 else \
        int(rng.choice([-8, 0, 3, 10 ** 6, 2 ** 40, 2 ** 64 - 1]))
    return safetensors(header, data)


def mutate(rng, blob):
    """A mutated copy of the `.keras` file ``blob`` and a label saying how."""
    config, weights = members_of(blob)
    kind = ["bitflip", "truncate", "config", "config", "config", "header", "members"][int(rng.integers(7))]
    if kind == "bitflip":
        out = bytearray(blob)
        for pos in rng.integers(0, len(out) * 8, size=int(rng.integers(1, 9))):
            out[pos // 8] ^= 1 << int(pos % 8)
        return bytes(out), kind
    if kind == "truncate":
        return blob[:int(rng.integers(len(blob)))], kind
    if kind == "config":
        _edit_config(rng, config)
        return raw_zip([deflated(CONFIG, _dumps(config)), deflated(WEIGHTS, weights)]), kind
    if kind == "header":
        return raw_zip([deflated(CONFIG, json.dumps(config).encode()), deflated(WEIGHTS, _edit_header(rng, weights))]), \
            kind
    text = json.dumps(config).encode()
    entries = [deflated(CONFIG, text), deflated(WEIGHTS, weights)]
    how = int(rng.integers(5))
    if how == 0:
        entries.pop(int(rng.integers(2)))                                    # a member missing
    elif how == 1:
        entries.insert(int(rng.integers(3)), entries[int(rng.integers(2))])   # a member twice
    elif how == 2:
        name, payload, method, crc, size = entries[int(rng.integers(2))]     # a forged declared size
        entries = [e for e in entries if e[0] != name] + [(name, payload, method, crc, int(rng.choice(
            [0, 1, size + 1, 2 ** 31, 2 ** 32 - 1])))]
    elif how == 3:
        entries = [stored(CONFIG, text), (WEIGHTS, weights, 0, 0, len(weights))]    # stored, the CRC wrong
    else:
        entries[int(rng.integers(2))] = deflated("other.bin", b"\0" * 1000)  # a member renamed
    return raw_zip(entries), f"members{how}"


def members_of(blob):
    import io  # noqa: PLC0415
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return json.loads(zf.read(CONFIG)), zf.read(WEIGHTS)


def child_main(folder, seed, cases):
    """Run in the child: mutate and load ``cases`` files per model; print one JSON line per unexpected outcome and a
    final summary line."""
    import pathlib  # noqa: PLC0415

    import minidl.keras as keras  # noqa: PLC0415
    folder = pathlib.Path(folder)
    counts = {"loaded": 0, "ValueError": 0, "bad": 0}
    for model_path in sorted(folder.glob("*.keras")):
        blob = model_path.read_bytes()
        for case in range(cases):
            rng = np.random.default_rng([seed, case, sum(model_path.name.encode())])
            data, how = mutate(rng, blob)
            path = folder / "case.bin"
            path.write_bytes(data)
            faulthandler.dump_traceback_later(CASE_TIMEOUT_S, exit=True)
            try:
                keras.models.load_model(path)
                counts["loaded"] += 1
            except ValueError as e:
                if str(path) in str(e):
                    counts["ValueError"] += 1
                else:
                    counts["bad"] += 1
                    print(json.dumps({"model": model_path.name, "case": case, "how": how, "error": "ValueError "
                                      "without the file's name", "message": str(e)[:500]}))
            except Exception as e:  # noqa: BLE001 -- any other exception is what this fuzzer hunts
                counts["bad"] += 1
                print(json.dumps({"model": model_path.name, "case": case, "how": how, "error": type(e).__name__,
                                  "message": str(e)[:500]}))
            finally:
                faulthandler.cancel_dump_traceback_later()
    print(json.dumps({"summary": counts}))
    sys.stdout.flush()


def test_fuzz_keras_loading(tmp_path, fuzz_budget):
    for name, model in small_models().items():
        model.save(tmp_path / f"{name}.keras")
    cases = CASES_PER_MODEL * fuzz_budget
    code = "import sys, test_fuzz_keras as t\nt.child_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))\n"
    proc = run_child(code, tmp_path, 0, cases, memory=3 << 29, timeout=120 + 2 * cases * 4)
    assert proc.returncode == 0, f"the child died (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    bad = [line for line in lines if "summary" not in line]
    summary = lines[-1]["summary"]
    assert not bad, "\n".join(map(json.dumps, bad[:20]))
    assert summary["ValueError"] + summary["loaded"] == 4 * cases
    assert summary["ValueError"] > cases                 # the mutations reach the checks (most files are rejected)
