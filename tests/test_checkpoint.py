"""md.save / md.load of whole checkpoints as PyTorch programs write them (nested dicts of state dicts, epochs, lists,
arrays; to paths and file objects), and md.load of PyTorch's own torch.save files without PyTorch and without running
anything from the file."""
import io
import math
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import minidl as md
from minidl import serialization

import child_process

torch = pytest.importorskip("torch")


def _tiny_training(model_cls, steps, state=None):
    """A model and Adam after ``steps`` steps from a fixed start (optionally resumed from ``state``)."""
    md.manual_seed(0)
    model = model_cls()
    opt = md.optim.Adam(model.parameters(), lr=0.01)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
    rng = np.random.default_rng(1)
    for _ in range(steps):
        x = md.tensor(rng.standard_normal((8, 4)).astype(np.float32))
        loss = (model(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, opt


def _mlp():
    return md.nn.Sequential(md.nn.Linear(4, 5), md.nn.ReLU(), md.nn.Linear(5, 2))


def test_nested_checkpoint_round_trips(tmp_path):
    w = md.randn(3, 2, requires_grad=True)
    ck = {"epoch": 7, "best": 0.25, "history": [1.5, math.inf, -math.inf], "nan": math.nan, "name": "run-1",
          "flags": (True, False, None), 3: "int key", (1, "a"): "tuple key", "arr": np.arange(6).reshape(2, 3),
          "scalar": np.float32(2.5), "big": 2**70, "dtype": md.float64, "device": md.device("cpu"),
          "w": w, "same": w, "param": md.nn.Parameter(md.ones(2)), "frozen": md.nn.Parameter(md.ones(1), False),
          "half": md.ones(2, dtype=md.float16), "zero_d": md.tensor(4), "empty": md.zeros(0, 3), "nested": {"a": [{}]}}
    md.save(ck, tmp_path / "ck.pt")
    back = md.load(tmp_path / "ck.pt")
    assert set(back) == set(ck)
    assert back["epoch"] == 7 and back["best"] == 0.25 and back["history"] == [1.5, math.inf, -math.inf]
    assert math.isnan(back["nan"]) and back["name"] == "run-1" and back["flags"] == (True, False, None)
    assert back[3] == "int key" and back[(1, "a")] == "tuple key" and back["big"] == 2**70
    np.testing.assert_array_equal(back["arr"], ck["arr"])
    assert isinstance(back["arr"], np.ndarray) and back["arr"].dtype == ck["arr"].dtype
    assert back["scalar"] == 2.5 and back["dtype"] is md.float64 and back["device"] == "cpu"
    np.testing.assert_array_equal(back["w"].numpy(), w.detach().numpy())
    assert back["w"].requires_grad and back["same"] is back["w"]                   # stored once, one object
    assert isinstance(back["param"], md.nn.Parameter) and back["param"].requires_grad
    assert isinstance(back["frozen"], md.nn.Parameter) and not back["frozen"].requires_grad
    assert back["half"].dtype == md.float16 and back["zero_d"].shape == () and back["zero_d"].item() == 4
    assert back["empty"].shape == (0, 3) and back["nested"] == {"a": [{}]}


def test_resuming_from_a_checkpoint_continues_exactly(tmp_path):
    straight, _ = _tiny_training(_mlp, 6)
    model, opt = _tiny_training(_mlp, 3)
    md.save({"epoch": 3, "model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "resume.pth")
    state = md.load(tmp_path / "resume.pth")
    assert state["epoch"] == 3
    # the resumed run replays steps 4-6 with the same batches as the straight run's 4-6
    md.manual_seed(0)
    model2 = _mlp()
    opt2 = md.optim.Adam(model2.parameters(), lr=0.01)
    model2.load_state_dict(state["model"])
    opt2.load_state_dict(state["optimizer"])
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((8, 4)).astype(np.float32) for _ in range(6)]
    for x in batches[3:]:
        loss = (model2(md.tensor(x)) ** 2).mean()
        opt2.zero_grad()
        loss.backward()
        opt2.step()
    for a, b in zip(straight.state_dict().values(), model2.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_file_objects_and_plain_state_dicts(tmp_path):
    model = _mlp()
    buf = io.BytesIO()
    md.save({"model": model.state_dict(), "step": 1}, buf)
    buf.seek(0)
    assert md.load(buf)["step"] == 1
    # a flat state dict stays a plain safetensors file: PyTorch's safetensors reader opens it
    path = tmp_path / "flat.safetensors"
    md.save(model.state_dict(), path, metadata={"epoch": "2"})
    safetensors_torch = pytest.importorskip("safetensors.torch")
    theirs = safetensors_torch.load_file(str(path))
    assert sorted(theirs) == sorted(model.state_dict())
    assert serialization.load_metadata(path) == {"epoch": "2"}
    with open(path, "rb") as f:
        assert sorted(md.load(f)) == sorted(model.state_dict())
    md.save({"x": [md.ones(1)]}, tmp_path / "nested.st", metadata={"note": "hi"})
    assert serialization.load_metadata(tmp_path / "nested.st") == {"note": "hi"}     # the structure stays hidden


def test_what_cannot_be_saved_is_refused_by_name(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store a function at \['fn'\].*pickling it failed"):
        md.save({"fn": lambda x: x}, tmp_path / "x.pt")
    with pytest.raises(TypeError, match="the key .* is a frozenset"):
        md.save({frozenset(): 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="reserved"):
        md.save({"a": [1]}, tmp_path / "x.pt", metadata={"minidl.checkpoint": "x"})
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(TypeError, match="map_location as a function"):
        md.load(tmp_path / "x.pt", map_location=lambda s, loc: s)


def test_a_whole_model_is_saved_and_loads_only_with_weights_only_false(tmp_path):
    # as torch.save(model) / torch.load(path, weights_only=False): PyTorch programs save whole modules
    model, opt = _mlp(), None
    opt = md.optim.Adam(model.parameters(), lr=0.01)
    x = md.randn(4, 4)
    model(x).sum().backward()
    opt.step()
    md.save({"model": model, "optimizer": opt, "epoch": 3}, tmp_path / "whole.pt")
    with pytest.raises(pickle.UnpicklingError, match=r"holds a pickled .*Sequential at \['model'\].*"
                                                     r"weights_only=False"):
        md.load(tmp_path / "whole.pt")
    with pytest.raises(pickle.UnpicklingError):
        md.load(tmp_path / "whole.pt", weights_only=True)
    back = md.load(tmp_path / "whole.pt", weights_only=False)
    assert back["epoch"] == 3 and isinstance(back["model"], md.nn.Sequential)
    np.testing.assert_array_equal(back["model"](x).detach().numpy(), model(x).detach().numpy())
    assert back["optimizer"].state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    md.save(model, tmp_path / "model.pt")
    np.testing.assert_array_equal(md.load(tmp_path / "model.pt", weights_only=False)(x).detach().numpy(),
                                  model(x).detach().numpy())


def _torch_checkpoint(path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(3 * 4 * 4, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(2, 1, 6, 6)).sum().backward()
    opt.step()
    torch.save({"epoch": 4, "model": net.state_dict(), "optimizer": opt.state_dict(), "loss": 0.5,
                "arr": np.linspace(0, 1, 5), "shape": torch.Size([2, 3]), "dtype": torch.float16,
                "bf16": torch.tensor([1.5, -2.25], dtype=torch.bfloat16), "long": torch.arange(4),
                "view": torch.arange(10.0)[2:8:2], "param": torch.nn.Parameter(torch.ones(2))}, path)
    return net


def test_pytorch_checkpoints_load_without_pytorch(tmp_path):
    path = tmp_path / "torch.pth"
    net = _torch_checkpoint(path)
    # a child process where `import torch` fails: minidl must not need PyTorch to read the file
    code = ("import sys; sys.modules['torch'] = None\n"
            "import numpy as np, minidl as md\n"
            f"ck = md.load({str(path)!r}, map_location='cpu', weights_only=True)\n"
            "np.savez(sys.argv[1], **{k: v.numpy() for k, v in ck['model'].items()}, "
            "epoch=ck['epoch'], arr=ck['arr'], bf16=ck['bf16'].numpy(), long=ck['long'].numpy(), "
            "view=ck['view'].numpy(), shape=np.array(ck['shape']), mom=ck['optimizer']['state'][0]['momentum_buffer']"
            ".numpy(), lr=ck['optimizer']['param_groups'][0]['lr'])\n"
            "print(type(ck['model']).__name__, type(ck['param']).__name__, ck['dtype'])\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out.npz")], env=child_process.env(),
                         cwd=child_process.CWD, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["OrderedDict", "Parameter", "minidl.float16"]
    got = np.load(tmp_path / "out.npz")
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(got[k], v.numpy())
    assert int(got["epoch"]) == 4 and float(got["lr"]) == 0.1
    np.testing.assert_array_equal(got["arr"], np.linspace(0, 1, 5))
    np.testing.assert_array_equal(got["bf16"], [1.5, -2.25])
    np.testing.assert_array_equal(got["long"], [0, 1, 2, 3])
    np.testing.assert_array_equal(got["view"], [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(got["shape"], [2, 3])


def test_a_pytorch_state_dict_runs_in_the_same_minidl_model(tmp_path):
    path = tmp_path / "torch.pth"
    net = _torch_checkpoint(path)
    net.eval()
    mine = md.nn.Sequential(md.nn.Conv2d(1, 3, 3), md.nn.BatchNorm2d(3), md.nn.ReLU(), md.nn.Flatten(),
                            md.nn.Linear(3 * 4 * 4, 2))
    mine.load_state_dict(md.load(path)["model"])
    mine.eval()
    x = np.random.default_rng(0).standard_normal((5, 1, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(mine(md.tensor(x)).detach().numpy(), net(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _zip_with_pickle(path, payload, storages=()):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/byteorder", "little")
        for key, raw in storages:
            z.writestr(f"archive/data/{key}", raw)


def test_a_pytorch_file_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"
    _zip_with_pickle(tmp_path / "evil.pt", pickle.dumps({"model": _Evil(marker)}, protocol=2))
    with pytest.raises(ValueError, match=r"refused as a PyTorch checkpoint: it names (posix|os|nt)\.system"):
        md.load(tmp_path / "evil.pt")
    # a real torch file whose pickle also names a builtin: still refused before anything runs
    _zip_with_pickle(tmp_path / "evil2.pt", pickle.dumps([print], protocol=2))
    with pytest.raises(ValueError, match=r"(__builtin__|builtins)\.print"):
        md.load(tmp_path / "evil2.pt")
    assert not marker.exists()


def _op_str(text):
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw                   # BINUNICODE


def _op_int(v):
    return b"J" + struct.pack("<i", v)                                # BININT


def _op_ints(values):
    return b"(" + b"".join(_op_int(v) for v in values) + b"t"        # MARK ... TUPLE


def _fake_tensor_pickle(numel, size, stride, offset):
    """The pickle torch.save writes for one float32 tensor, spelled out opcode by opcode (protocol 2):
    torch._utils._rebuild_tensor_v2(<storage '0' of numel floats>, offset, size, stride, False, OrderedDict())."""
    pid = b"(" + _op_str("storage") + b"ctorch\nFloatStorage\n" + _op_str("0") + _op_str("cpu") + _op_int(numel) + b"t"
    return (b"\x80\x02" + b"ctorch._utils\n_rebuild_tensor_v2\n" + b"(" + pid + b"Q" + _op_int(offset)
            + _op_ints(size) + _op_ints(stride) + b"\x89" + b"ccollections\nOrderedDict\n)R" + b"tR.")


def test_corrupt_pytorch_files_are_errors(tmp_path):
    good = tmp_path / "good.pt"
    torch.save({"w": torch.ones(3)}, good)
    data = good.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.pt"):
        md.load(tmp_path / "cut.pt")
    # a storage shorter than the pickle declares, and a view reaching past its storage
    raw = np.arange(4, dtype=np.float32).tobytes()
    _zip_with_pickle(tmp_path / "short.pt", _fake_tensor_pickle(8, (8,), (1,), 0), [("0", raw)])
    with pytest.raises(ValueError, match="holds 16 bytes, not the 8 x 4"):
        md.load(tmp_path / "short.pt")
    _zip_with_pickle(tmp_path / "past.pt", _fake_tensor_pickle(4, (3,), (2,), 0), [("0", raw)])
    with pytest.raises(ValueError, match="reaching past its storage"):
        md.load(tmp_path / "past.pt")
    _zip_with_pickle(tmp_path / "ok.pt", _fake_tensor_pickle(4, (2,), (2,), 1), [("0", raw)])
    np.testing.assert_array_equal(md.load(tmp_path / "ok.pt").numpy(), [1.0, 3.0])
    torch.save({"w": torch.ones(2)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="legacy"):
        md.load(tmp_path / "legacy.pt")


def _resnet18(torch_like, num_classes=10):
    """ResNet-18 with torchvision's module names and layout (conv1, bn1, layer1..4 of BasicBlocks with
    downsample, fc), written against whichever of torch/minidl is passed, so one state_dict fits both."""
    nn = torch_like.nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity
            return self.relu(out)

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            widths, cin, layers = (64, 128, 256, 512), 64, []
            for i, w in enumerate(widths):
                layers.append(nn.Sequential(BasicBlock(cin, w, 1 if i == 0 else 2), BasicBlock(w, w, 1)))
                cin = w
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch_like.flatten(self.avgpool(x), 1))

    return ResNet()


def test_a_pytorch_resnet18_checkpoint_runs_in_minidl_with_equal_outputs(tmp_path):
    torch.manual_seed(0)
    net = _resnet18(torch)
    with torch.no_grad():                   # running statistics that are not the defaults
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "resnet18.pth"
    torch.save({"epoch": 3, "state_dict": net.state_dict()}, path)
    mine = _resnet18(md)
    ckpt = md.load(path, weights_only=True)
    assert ckpt["epoch"] == 3 and len(ckpt["state_dict"]) == len(net.state_dict()) == 122
    mine.load_state_dict(ckpt["state_dict"])
    net.eval()
    mine.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    np.testing.assert_allclose(mine(md.tensor(x)).detach().numpy(), net(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-4)
    # and it trains: the residual additions are recorded in place, as in PyTorch
    mine.train()
    loss = md.nn.functional.cross_entropy(mine(md.tensor(x)), md.tensor([1, 7]))
    loss.backward()
    assert mine.conv1.weight.grad is not None and float(mine.conv1.weight.grad.abs().sum()) > 0
