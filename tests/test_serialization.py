"""md.save / md.load / atomic_write: exact shapes, dtypes, metadata, memory bound, permissions, symlinks, killed
writers. Loading hostile files and killing writers happens in subprocesses, so a crash or a hang fails the test."""
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minidl as md
from minidl import serialization
import child_process  # tests/ helper: children import the same minidl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child(code, *args, timeout=120):
    """Run ``code`` in a fresh interpreter with this tree's minidl; its stdout's last line is JSON."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          cwd=child_process.CWD, env=child_process.env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


_LOAD_IN_CHILD = """
    import json, sys
    import minidl as md
    try:
        state = md.load(sys.argv[1])
        print(json.dumps({"ok": {k: [list(v.shape), str(v.dtype)] for k, v in state.items()}}))
    except Exception as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
"""


def _load_in_child(path):
    return _child(_LOAD_IN_CHILD, path)


def _safetensors_file(path, header, data=b""):
    """Write a safetensors file from a header dict (or raw header bytes) and data bytes."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


# ---------------------------------------------------------------- shapes (0-d), BatchNorm, the CLI's files

def test_zero_dim_tensors_and_scalars_keep_their_shape(tmp_path):
    path = tmp_path / "s.safetensors"
    md.save({"t": md.tensor(3.5), "i": md.tensor(7), "g": np.float32(2.5), "a": np.zeros((2, 0, 3)),
             "v": md.ones(1)}, path)
    loaded = md.load(path)
    assert {k: tuple(v.shape) for k, v in loaded.items()} == {"t": (), "i": (), "g": (), "a": (2, 0, 3), "v": (1,)}
    assert loaded["t"].item() == 3.5 and loaded["i"].item() == 7 and loaded["g"].item() == 2.5
    assert loaded["i"].dtype == md.int64


def test_batchnorm_state_round_trips_with_strict_loading(tmp_path):
    md.manual_seed(0)
    bn = md.nn.BatchNorm2d(4)
    for _ in range(3):
        bn(md.randn(8, 4, 5, 5))                # moves the running stats and num_batches_tracked
    path = tmp_path / "bn.safetensors"
    md.save(bn.state_dict(), path)
    other = md.nn.BatchNorm2d(4)
    other.load_state_dict(md.load(path), strict=True)
    for k, v in bn.state_dict().items():
        assert tuple(other.state_dict()[k].shape) == tuple(v.shape)
        np.testing.assert_array_equal(other.state_dict()[k].numpy(), v.numpy())
    assert other.state_dict()["num_batches_tracked"].item() == 3


def test_pytorch_reads_zero_dim_tensors_and_loads_the_batchnorm_state(tmp_path, torch):
    from safetensors.torch import load_file

    md.manual_seed(0)
    bn = md.nn.BatchNorm2d(4)
    bn(md.randn(8, 4, 3, 3))
    path = tmp_path / "bn.safetensors"
    md.save(bn.state_dict(), path)
    state = load_file(str(path))
    assert state["num_batches_tracked"].shape == torch.Size([])
    assert state["num_batches_tracked"].item() == 1
    torch.nn.BatchNorm2d(4).load_state_dict(state, strict=True)


def test_zero_dim_tensors_written_by_pytorch_load_as_zero_dim(tmp_path, torch):
    from safetensors.torch import save_file

    bn = torch.nn.BatchNorm2d(3)
    bn(torch.randn(4, 3, 2, 2))
    save_file(bn.state_dict(), str(tmp_path / "torch_bn.safetensors"))
    mine = md.nn.BatchNorm2d(3)
    mine.load_state_dict(md.load(tmp_path / "torch_bn.safetensors"), strict=True)
    assert tuple(mine.state_dict()["num_batches_tracked"].shape) == () and mine.num_batches_tracked.item() == 1
    np.testing.assert_allclose(mine.running_mean.numpy(), bn.running_mean.numpy())


def test_minidl_train_cnn_save_loads_back_into_the_cnn(tmp_path, capsys):
    from minidl.cli import main
    from minidl.train import command

    path = tmp_path / "cnn.safetensors"
    assert main(["train", "cnn", "--epochs", "1", "--save", str(path), "--quiet"]) == 0
    train, test = command._images("digits", "cnn", 0, None)
    model = command.build("cnn", train)
    model.load_state_dict(md.load(path), strict=True)
    model.eval()
    accuracy = (model(md.tensor(test[0])).numpy().argmax(1) == test[1]).mean()
    assert accuracy > 0.5, "the loaded weights are not the trained ones"


# ---------------------------------------------------------------- dtypes

def _torch_file(torch, tmp_path, dtype, values=(0.0, 1.0, -2.5, 3.0)):
    from safetensors.torch import save_file

    path = tmp_path / f"{str(dtype).split('.')[-1]}.safetensors"
    t = torch.tensor(values).to(dtype)
    save_file({"w": t}, str(path))
    return path, t


@pytest.mark.parametrize("name, want", [("bfloat16", md.float32), ("int8", md.int32), ("int16", md.int32),
                                        ("uint16", md.int32), ("uint32", md.int64), ("float16", md.float16),
                                        ("int32", md.int32), ("int64", md.int64), ("uint8", md.uint8),
                                        ("bool", md.bool), ("float64", md.float64)])
def test_load_widens_dtypes_minidl_lacks_exactly(tmp_path, torch, name, want):
    values = (0.0, 1.0, 2.0, 3.0) if name in ("uint16", "uint32", "uint8", "bool") else (0.0, 1.0, -2.0, 3.0)
    if name == "bfloat16":
        values = (0.0, 1.0, -2.5, 3.0e38, 1.1e-38, float("inf"), 0.1)
    path, t = _torch_file(torch, tmp_path, getattr(torch, name), values)
    loaded = md.load(path)["w"]
    assert loaded.dtype == want
    np.testing.assert_array_equal(loaded.numpy(), t.to(torch.float64 if name != "bool" else torch.bool).numpy())


def test_bfloat16_widening_is_bit_exact(tmp_path, torch):
    from safetensors.torch import save_file

    bits = torch.arange(0, 2**16, dtype=torch.int32).to(torch.int16).view(torch.bfloat16)   # every bf16 pattern
    save_file({"all": bits}, str(tmp_path / "bf.safetensors"))
    got = md.load(tmp_path / "bf.safetensors")["all"].numpy()
    want = bits.float().numpy()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "complex64", "uint64"])
def test_load_refuses_dtypes_it_cannot_represent_naming_file_tensor_and_dtype(tmp_path, torch, name):
    from safetensors.torch import save_file

    path = tmp_path / f"{name}.safetensors"
    save_file({"fine": torch.ones(2), "odd.weight": torch.ones(3).to(getattr(torch, name))}, str(path))
    with pytest.raises(ValueError) as info:
        md.load(path)
    message = str(info.value)
    assert str(path) in message and "'odd.weight'" in message
    assert {"float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2", "complex64": "C64", "uint64": "U64"}[name] in message


def test_load_refuses_an_unknown_dtype_clearly(tmp_path):
    path = _safetensors_file(tmp_path / "u.safetensors", {"w": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}},
                             b"\0")
    with pytest.raises(ValueError, match=r"u\.safetensors.*'w'.*'F4'"):
        md.load(path)


def test_save_refuses_dtypes_safetensors_cannot_store(tmp_path):
    with pytest.raises(TypeError, match=r"entry 'c' has dtype complex64"):
        md.save({"c": np.ones(2, np.complex64)}, tmp_path / "c.safetensors")
    with pytest.raises(TypeError, match=r"entry 'o' has dtype object"):
        md.save({"o": np.array([None, 1])}, tmp_path / "o.safetensors")
    assert not os.listdir(tmp_path)


def test_big_endian_and_strided_arrays_are_stored_as_their_values(tmp_path):
    a = np.arange(12, dtype=">f8").reshape(3, 4)
    md.save({"be": a, "t": a.T, "small": np.arange(5, dtype=np.int8)}, tmp_path / "x.safetensors")
    got = md.load(tmp_path / "x.safetensors")
    np.testing.assert_array_equal(got["be"].numpy(), a)
    np.testing.assert_array_equal(got["t"].numpy(), a.T)
    assert got["small"].dtype == md.int32


# ---------------------------------------------------------------- metadata

def test_metadata_round_trips(tmp_path):
    path = tmp_path / "m.safetensors"
    md.save({"w": md.ones(2)}, path, metadata={"epoch": "3", "note": "ünïcode"})
    assert serialization.load_metadata(path) == {"epoch": "3", "note": "ünïcode"}
    from safetensors import safe_open

    with safe_open(str(path), "numpy") as f:
        assert f.metadata() == {"epoch": "3", "note": "ünïcode"}
    md.save({"w": md.ones(2)}, path)
    assert serialization.load_metadata(path) == {}


def test_metadata_must_be_strings(tmp_path):
    with pytest.raises(TypeError, match=r"metadata must be a dict of str to str; entry 'epoch': 3"):
        md.save({"w": md.ones(2)}, tmp_path / "m.safetensors", metadata={"epoch": 3})
    with pytest.raises(TypeError, match="metadata must be a dict"):
        md.save({"w": md.ones(2)}, tmp_path / "m.safetensors", metadata=["epoch"])
    with pytest.raises(ValueError, match="reserved"):
        md.save({"__metadata__": md.ones(2)}, tmp_path / "m.safetensors")
    assert not os.listdir(tmp_path)


# ---------------------------------------------------------------- memory and declared sizes

_PEAK_CHILD = """
    import json, sys
    import numpy as np
    import minidl as md

    def peak_rss():     # VmHWM: ru_maxrss would carry over the (larger) pytest parent's peak through fork and exec
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

    before = peak_rss()
    state = md.load(sys.argv[1])
    grew = peak_rss() - before
    print(json.dumps({"grew": grew, "sums": {k: float(v.numpy().sum()) for k, v in state.items()}}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the peak RSS from /proc (Linux)")
def test_load_peaks_at_about_the_file_size(tmp_path):
    path = tmp_path / "big.safetensors"
    parts = {f"w{i}": np.full(12_500_000, i + 0.5, np.float32) for i in range(4)}     # 200 MB
    md.save(parts, path)
    del parts
    size = path.stat().st_size
    out = _child(_PEAK_CHILD, path, timeout=300)
    assert out["sums"] == {f"w{i}": (i + 0.5) * 12_500_000 for i in range(4)}
    assert out["grew"] <= 1.5 * size + 32 * 2**20, f"md.load of {size} bytes grew the process by {out['grew']}"


@pytest.mark.parametrize("header, why", [
    ({"w": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 4 * 2**40]}}, "cover"),
    ({"w": {"dtype": "F32", "shape": [2**31, 2**31, 4], "data_offsets": [0, 16]}}, "needs"),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, "cover"),
])
def test_declared_sizes_beyond_the_file_are_refused_before_allocating(tmp_path, header, why):
    path = _safetensors_file(tmp_path / "liar.safetensors", header, b"\0" * 8)
    out = _load_in_child(path)
    assert out.get("error") == "ValueError" and str(path) in out["message"] and why in out["message"], out


def test_header_length_beyond_the_file_is_refused(tmp_path):
    path = tmp_path / "len.safetensors"
    path.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    out = _load_in_child(path)
    assert out.get("error") == "ValueError" and str(path) in out["message"] and "header claims" in out["message"]


# ---------------------------------------------------------------- permissions (without touching the umask)

def test_save_never_touches_the_process_umask_and_gives_the_usual_mode(tmp_path, monkeypatch):
    old = os.umask(0o027)
    try:
        def forbidden(mask):
            raise AssertionError("md.save changed the process umask")

        monkeypatch.setattr(os, "umask", forbidden)
        md.save({"w": md.ones(2)}, tmp_path / "w.safetensors")
        serialization.atomic_write(tmp_path / "blob.bin", b"abc")
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o7777 == 0o640
    assert (tmp_path / "blob.bin").stat().st_mode & 0o7777 == 0o640


def test_overwriting_keeps_the_files_mode(tmp_path):
    path = tmp_path / "w.safetensors"
    md.save({"w": md.ones(2)}, path)
    os.chmod(path, 0o600)
    md.save({"w": md.zeros(2)}, path)
    assert path.stat().st_mode & 0o7777 == 0o600
    np.testing.assert_array_equal(md.load(path)["w"].numpy(), np.zeros(2, np.float32))


# ---------------------------------------------------------------- symlinks

def test_save_writes_through_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "w.safetensors"
    md.save({"w": md.ones(2)}, target)
    link = tmp_path / "latest.safetensors"
    link.symlink_to(target)
    md.save({"w": md.full((3,), 7.0)}, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_array_equal(md.load(target)["w"].numpy(), np.full(3, 7.0, np.float32))
    assert sorted(os.listdir(tmp_path)) == ["latest.safetensors", "real"]
    assert os.listdir(tmp_path / "real") == ["w.safetensors"]


def test_save_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "latest.safetensors"
    link.symlink_to("step-5.safetensors")
    md.save({"w": md.ones(2)}, link)
    assert link.is_symlink() and (tmp_path / "step-5.safetensors").is_file()
    np.testing.assert_array_equal(md.load(link)["w"].numpy(), np.ones(2, np.float32))


# ---------------------------------------------------------------- killed writers' temporary files

_KILLED_WRITER = """
    import os, sys, time
    import numpy as np
    import minidl as md

    def stall(fd):                  # the data is written; stop here, before the rename, until killed
        print("writing", flush=True)
        time.sleep(600)

    os.fsync = stall
    md.save({"w": np.ones(20_000_000, np.float32)}, sys.argv[1])
"""


def _kill_mid_save(path):
    """Start a save of 80 MB into ``path``, SIGKILL it once its data is written but not yet renamed; its pid."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_KILLED_WRITER), str(path)],
                            cwd=child_process.CWD, env=child_process.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready and proc.stdout.readline().strip() == "writing", proc.stderr.read() if not ready else ""
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return proc.pid


def test_next_save_removes_the_temporary_file_of_a_killed_writer_and_nothing_else(tmp_path):
    dead = _kill_mid_save(tmp_path / "w.safetensors")
    leftovers = [n for n in os.listdir(tmp_path) if n.startswith(".minidl-save-")]
    assert len(leftovers) == 1 and not (tmp_path / "w.safetensors").exists()
    assert (tmp_path / leftovers[0]).stat().st_size > 80_000_000           # killed after writing its data
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        host = serialization._host_tag()
        keep = [f".minidl-save-{live.pid}@{host}-abc123.tmp",               # a live writer's file
                f".minidl-save-{os.getpid()}@{host}-abc124.tmp",            # this process's (another thread's)
                f".minidl-save-{dead}@{host}x-abc125.tmp",                  # another host's
                ".minidl-save-oldstyle", "notes.txt"]
        for name in keep:
            (tmp_path / name).write_bytes(b"x")
        os.mkdir(tmp_path / f".minidl-save-{dead}@{host}-dir.tmp")           # not a file
        keep.append(f".minidl-save-{dead}@{host}-dir.tmp")
        md.save({"w": md.ones(2)}, tmp_path / "other.safetensors")
        assert sorted(os.listdir(tmp_path)) == sorted([*keep, "other.safetensors"])
    finally:
        live.kill()
        live.wait()


def test_temporary_file_names_carry_pid_and_host(tmp_path, monkeypatch):
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    md.save({"w": md.ones(2)}, tmp_path / "w.safetensors")
    assert serialization._TMP_RE.match(seen[0]).groups() == (str(os.getpid()), serialization._host_tag())
    if re.fullmatch(r"[A-Za-z0-9.-]+", socket.gethostname()):
        assert serialization._host_tag().split("+")[0] == socket.gethostname()


# ---------------------------------------------------------------- atomic_write (used by md.keras) and errors

def test_atomic_write_replaces_and_cleans_up_on_failure(tmp_path):
    path = tmp_path / "f.bin"
    serialization.atomic_write(path, b"one")
    serialization.atomic_write(str(path), b"two")
    assert path.read_bytes() == b"two"
    with pytest.raises(TypeError):
        serialization.atomic_write(path, 3)
    assert path.read_bytes() == b"two" and os.listdir(tmp_path) == ["f.bin"]


def test_save_into_a_missing_folder_names_the_path_not_a_temporary(tmp_path):
    path = tmp_path / "nope" / "w.safetensors"
    with pytest.raises(FileNotFoundError, match=r"nope/w\.safetensors") as info:
        md.save({"w": md.ones(2)}, path)
    assert ".minidl-save" not in str(info.value)
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        md.save({"w": md.ones(2)}, tmp_path)


def test_saved_file_is_plain_safetensors_with_aligned_tensors(tmp_path):
    path = tmp_path / "a.safetensors"
    md.save({"b": np.ones(3, np.uint8), "f": np.ones(3, np.float64), "h": np.ones(1, np.float16)}, path)
    blob = path.read_bytes()
    n = struct.unpack("<Q", blob[:8])[0]
    assert (8 + n) % 8 == 0
    header = json.loads(blob[8:8 + n])
    assert list(header) == ["b", "f", "h"]                                  # the caller's order
    for entry in header.values():
        size = np.dtype({"U8": "u1", "F64": "f8", "F16": "f2"}[entry["dtype"]]).itemsize
        assert entry["data_offsets"][0] % size == 0
    assert list(md.load(path)) == ["b", "f", "h"]
