"""Device ``cuda`` end to end, on a machine without a GPU, through a fake CuPy (``fake_cupy.py``).

Honest scope: the fake is NumPy in host memory dressed as CuPy. These tests check minidl's *device plumbing* --
``md.cuda`` detection, tensors holding CuPy-type arrays, copies between devices, the ``cupy`` provider serving GPU
tensors, modules/optimizers/training/saving on ``cuda``, and clear errors when devices mix. They say nothing about
CuPy or GPU kernels; ``test_cuda_device.py`` runs the same checks on real CuPy where a GPU is usable.
"""
import subprocess
import sys

import fake_cupy
import numpy as np
import opinfo
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl import backends, bench


# Tolerances of device-vs-CPU comparisons. The fake computes with NumPy, so float64 agrees to rounding;
# test_cuda_device.py reuses the tests below with looser values for real GPU arithmetic.
TOL64 = dict(rtol=1e-9, atol=1e-12)
TOL32 = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture
def tol():
    return TOL64


@pytest.fixture
def tol32():
    return TOL32


@pytest.fixture
def cupy_module():
    """The array module of "cuda" tensors: here the fake (test_cuda_device.py overrides it with the real CuPy)."""
    mp = pytest.MonkeyPatch()
    cp = fake_cupy.install(mp)
    yield cp
    fake_cupy.uninstall(mp)


@pytest.fixture
def no_cupy(monkeypatch):
    """CuPy absent, whatever this machine has: ``import cupy`` raises ImportError."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    backends._forget()
    yield
    monkeypatch.undo()
    backends._forget()


# --- detection ------------------------------------------------------------------------------------------------------
def test_is_available_false_with_a_reason_when_cupy_is_missing(no_cupy):
    assert md.cuda.is_available() is False and md.cuda.device_count() == 0
    assert "CuPy is not installed" in md.cuda.unavailable_reason()
    with pytest.raises(RuntimeError, match="cuda.*not available.*CuPy is not installed"):
        md.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="not available"):
        md.cuda.synchronize()
    assert "cupy is not installed" in backends.available()["cupy"]


def test_is_available_false_when_cupy_finds_no_gpu():
    mp = pytest.MonkeyPatch()
    fake_cupy.install(mp, available=False)
    try:
        assert md.cuda.is_available() is False and md.cuda.device_count() == 0
        assert "no usable CUDA GPU" in md.cuda.unavailable_reason()
        assert "no usable CUDA GPU" in backends.available()["cupy"]
        with pytest.raises(RuntimeError, match="no usable CUDA GPU"):
            md.ones(3).to("cuda")
    finally:
        fake_cupy.uninstall(mp)


def test_is_available_false_when_the_check_raises():
    # as cupy-cuda12x does on a machine without a driver (../shared/gpuless/FINDINGS.md section 3)
    mp = pytest.MonkeyPatch()
    fake_cupy.install(mp, raises=RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient"))
    try:
        assert md.cuda.is_available() is False
        assert "raised RuntimeError: cudaErrorInsufficientDriver" in md.cuda.unavailable_reason()
    finally:
        fake_cupy.uninstall(mp)


def test_detection_follows_the_fake_in_and_out():
    before = md.cuda.is_available()
    mp = pytest.MonkeyPatch()
    fake_cupy.install(mp)
    try:
        assert md.cuda.is_available() and md.cuda.device_count() == 1 and md.cuda.current_device() == 0
        assert md.cuda.unavailable_reason() is None
        md.cuda.synchronize()
        md.cuda.synchronize(0)
        assert backends.usable("cuda") == ["cupy"]
    finally:
        fake_cupy.uninstall(mp)
    assert md.cuda.is_available() == before


# --- tensors --------------------------------------------------------------------------------------------------------
def test_tensor_moves_between_devices(cupy_module):
    cp = cupy_module
    x = md.tensor([[1.0, 2.0], [3.0, 4.0]])
    for g in (x.to("cuda"), x.to("cuda:0"), x.cuda(), x.cuda(0), x.to(md.device("cuda")), x.to("cuda", md.float64)):
        assert isinstance(g.array, cp.ndarray) and g.device == "cuda:0" and g.is_cuda
        assert "device='cuda:0'" in repr(g)
    g = x.cuda()
    back = g.cpu()
    assert type(back.array) is np.ndarray and back.device == "cpu"
    np.testing.assert_array_equal(back.numpy(), x.numpy())
    assert type(g.numpy()) is np.ndarray and g.tolist() == x.tolist() and g.sum().item() == 10.0
    assert g.to("cuda") is g and md.tensor(g).device == "cuda:0"
    missing = f"cuda:{md.cuda.device_count()}"
    with pytest.raises(RuntimeError, match=f"{missing}: no such CUDA device"):
        x.to(missing)


def test_creation_functions_take_device(cupy_module):
    cp = cupy_module
    made = [md.zeros(2, 3, device="cuda"), md.ones((2, 3), device="cuda"), md.empty(4, device="cuda"),
            md.full((2,), 7.0, device="cuda"), md.rand(2, device="cuda"), md.randn(2, device="cuda"),
            md.randint(0, 5, (3,), device="cuda"), md.randperm(4, device="cuda"), md.arange(5, device="cuda"),
            md.linspace(0, 1, 3, device="cuda"), md.eye(2, device="cuda"), md.tensor([1, 2], device="cuda:0"),
            md.as_tensor(np.ones(2), device="cuda")]
    base = md.ones(2, 2, device="cuda")
    made += [md.zeros_like(base), md.ones_like(base), md.full_like(base, 2.0), md.rand_like(base),
             md.randn_like(base)]
    for t in made:
        assert isinstance(t.array, cp.ndarray) and t.device == "cuda:0", t
    # the same seed gives the same numbers on either device (samples come from minidl's host generator)
    md.manual_seed(3)
    a = md.randn(5)
    md.manual_seed(3)
    np.testing.assert_array_equal(md.randn(5, device="cuda").numpy(), a.numpy())


def test_gradients_flow_back_across_devices(cupy_module):
    x = md.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = (x.cuda() * 2).relu().sum()
    assert y.device == "cuda:0"
    y.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 2.0])
    g = md.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    (g.cpu() * 3).sum().backward()
    assert g.grad.device == "cuda:0"
    np.testing.assert_allclose(g.grad.numpy(), [3.0, 3.0])


def test_elementwise_reductions_and_indexing_stay_on_the_device(cupy_module, tol32):
    cp = cupy_module
    h = md.randn(3, 4, requires_grad=True)
    d = h.detach().cuda().requires_grad_()
    idx = md.tensor([2, 0, 2])

    def run(t, i):
        parts = [t.exp().sum(1), t.tanh().mean(0), t.softmax(1)[:, 0], t.max(1).values, t.logsumexp(1),
                 t[i].sum(0), t[t > 0].sum().reshape(1), md.where(t > 0, t, t * 0.5).var(0), (t @ t.T).sum(0),
                 md.cat([t, t * 2], 0).std(0), md.nn.functional.gelu(t).sum(1), t.clamp(-0.5, 0.5).abs().sum(1),
                 (2.0 - t / 3).pow(2).sum(1), t.argmax(1).float()]
        return md.cat([p.reshape(-1) for p in parts])

    out_h, out_d = run(h, idx), run(d, idx.cuda())
    assert isinstance(out_d.array, cp.ndarray)
    np.testing.assert_allclose(out_d.numpy(), out_h.numpy(), **tol32)
    out_h.sum().backward()
    out_d.sum().backward()
    assert isinstance(d.grad.array, cp.ndarray)
    np.testing.assert_allclose(d.grad.numpy(), h.grad.numpy(), **tol32)
    # host indices (lists, NumPy arrays, CPU tensors) serve a GPU tensor, as in PyTorch
    for i in ([0, 2], np.array([0, 2]), md.tensor([0, 2])):
        assert isinstance(d[i].array, cp.ndarray)
    d2 = d.detach()
    d2[idx] = 0.0
    d2[0] = md.tensor([1.0, 2.0, 3.0, 4.0])
    d2.add_(1.0).mul_(md.tensor(2.0)).copy_(h.detach())       # copy_ and 0-d CPU tensors may cross devices
    assert isinstance(d2.array, cp.ndarray)


# --- mixing devices is an error -------------------------------------------------------------------------------------
@pytest.mark.parametrize("op, name", [
    (lambda a, b: a + b, "Add"), (lambda a, b: a * b, "Mul"), (lambda a, b: a @ b, "MatMul"),
    (lambda a, b: md.cat([a, b]), "Cat"), (lambda a, b: md.maximum(a, b), "Maximum"),
    (lambda a, b: md.where(a > 0, a, b), "Where")])
def test_mixing_devices_names_both_devices_and_the_op(cupy_module, op, name):
    a, b = md.ones(2, 2), md.ones(2, 2, device="cuda")
    for x, y in ((a, b), (b, a)):
        with pytest.raises(RuntimeError, match=rf"{name}.*one device.*(cpu and cuda:0|cuda:0 and cpu)"):
            op(x, y)


def test_mixing_devices_in_nn_functional_and_in_place(cupy_module):
    x = md.randn(1, 1, 5, 5, device="cuda")
    with pytest.raises(RuntimeError, match="cuda:0 and cpu"):
        md.nn.functional.conv2d(x, md.randn(2, 1, 3, 3))
    with pytest.raises(RuntimeError, match=r"index: indices on cuda:0 cannot index a tensor on cpu"):
        md.ones(3)[md.tensor([0], device="cuda")]
    with pytest.raises(RuntimeError, match=r"add_: expected both tensors on one device, got cpu and cuda:0"):
        md.ones(3).add_(md.ones(3, device="cuda"))
    with pytest.raises(RuntimeError, match=r"mul_: .*cuda:0 and cpu"):
        md.ones(3, device="cuda").mul_(md.ones(3))
    assert (md.ones(2, device="cuda") + 1.5).device == "cuda:0"      # Python scalars follow the tensor


# --- modules, optimizers, training, saving --------------------------------------------------------------------------
def test_module_to_moves_parameters_buffers_and_grads(cupy_module):
    cp = cupy_module
    m = md.nn.Sequential(md.nn.Conv2d(1, 2, 3), md.nn.BatchNorm2d(2))
    m(md.randn(2, 1, 5, 5)).sum().backward()
    params = list(m.parameters())
    assert m.to("cuda") is m
    assert all(isinstance(p.array, cp.ndarray) and isinstance(p.grad.array, cp.ndarray) for p in params)
    assert all(isinstance(b.array, cp.ndarray) for _, b in m.named_buffers())
    assert list(m.parameters()) == params                      # the same Parameter objects, moved in place
    assert all(p.device == "cuda:0" for p in m.cuda().parameters())
    assert all(type(p.array) is np.ndarray for p in m.cpu().parameters())


@pytest.mark.parametrize("opt_cls, kwargs", [(md.optim.SGD, dict(lr=0.1, momentum=0.9)), (md.optim.Adam, {}),
                                              (md.optim.RMSprop, {}), (md.optim.Adagrad, {})])
def test_optimizer_state_lives_on_the_parameter_device(cupy_module, opt_cls, kwargs):
    cp = cupy_module
    lin = md.nn.Linear(3, 2).cuda()
    opt = opt_cls(lin.parameters(), **kwargs)
    lin(md.randn(4, 3, device="cuda")).sum().backward()
    opt.step()
    arrays = [v for s in opt.state.values() for v in s.values() if hasattr(v, "shape")]
    assert arrays and all(isinstance(a, cp.ndarray) for a in arrays)
    saved = opt.state_dict()
    lin.cpu()
    opt.load_state_dict(saved)                                 # state follows the parameters back to the host
    assert all(type(v) is np.ndarray for s in opt.state.values() for v in s.values() if hasattr(v, "shape"))


def _cnn_steps(device, steps=3):
    md.manual_seed(0)
    model = md.models.CNN(in_channels=1, num_classes=10, image_size=12).to(device)
    opt = md.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = md.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        x = md.tensor(rng.standard_normal((8, 1, 12, 12)).astype(np.float32)).to(device)
        y = md.tensor(rng.integers(0, 10, 8)).to(device)
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


def test_cnn_training_steps_on_cuda_match_the_cpu(cupy_module):
    cp = cupy_module
    # The CPU side runs the same reference kernels (provider numpy): the fake computes with NumPy, so any difference
    # beyond rounding would be minidl's device plumbing. (Against the native kernels the conv biases ahead of batch
    # norm differ: their gradients are rounding noise that Adam scales up to full steps.)
    with backends.use("numpy"):
        cpu_model, cpu_losses = _cnn_steps("cpu")
    _, native_losses = _cnn_steps("cpu")
    np.testing.assert_allclose(native_losses, cpu_losses, rtol=1e-4)
    with backends.trace() as log:
        gpu_model, gpu_losses = _cnn_steps("cuda")
    assert {r.provider for r in log} == {"cupy"}               # the reference on CuPy served every kernel
    ran = {r.kernel for r in log}
    assert ran >= {"conv2d", "conv2d_backward", "batch_norm", "max_pool2d"} and ran & {"matmul", "linear"}
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-6)
    assert list(gpu_model.state_dict()) == list(cpu_model.state_dict())
    for (name, p), (_, q) in zip(gpu_model.state_dict().items(), cpu_model.state_dict().items()):
        assert isinstance(p.array, cp.ndarray), name
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_fit_moves_batches_to_the_device(cupy_module):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 6)).astype(np.float32), rng.integers(0, 3, 64)
    model = md.nn.Sequential(md.nn.Linear(6, 16), md.nn.ReLU(), md.nn.Linear(16, 3))
    opt = md.optim.Adam(model.parameters(), lr=1e-2)
    hist = md.train.fit(model, md.nn.CrossEntropyLoss(), opt, (x, y), epochs=2, batch_size=16,
                        validation_data=(x, y), verbose=0, device="cuda")
    assert next(model.parameters()).device == "cuda:0"
    assert len(hist.history["loss"]) == 2 and np.isfinite(hist.history["val_loss"]).all()
    pred = md.train.predict(model, x) if hasattr(md.train, "predict") else model(md.tensor(x).cuda())
    assert pred.shape == (64, 3)


def test_save_writes_gpu_tensors_to_host_and_loads_onto_a_device(cupy_module, tmp_path):
    cp = cupy_module
    lin = md.nn.Linear(3, 2).cuda()
    path = tmp_path / "w.safetensors"
    md.save(lin.state_dict(), path)
    host = md.load(path)
    assert all(t.device == "cpu" for t in host.values())
    np.testing.assert_array_equal(host["weight"].numpy(), lin.weight.numpy())
    dev = md.load(path, device="cuda")
    assert all(isinstance(t.array, cp.ndarray) for t in dev.values())
    fresh = md.nn.Linear(3, 2).cuda()
    fresh.load_state_dict(host)                                 # host values into GPU parameters
    assert isinstance(fresh.weight.array, cp.ndarray)
    np.testing.assert_array_equal(fresh.weight.numpy(), lin.weight.numpy())


def test_minidl_train_without_a_gpu_says_so_in_one_line(no_cupy):
    out = subprocess.run([sys.executable, "-c", "import sys; sys.modules['cupy'] = None; from minidl.cli import main; "
                          "sys.exit(main(['train', 'mlp', '--epochs', '1', '--device', 'cuda', '--quiet']))"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("minidl train: error: device cuda")
    assert "CuPy is not installed" in out.stderr


def test_minidl_train_on_cuda_with_the_fake(cupy_module, capsys):
    from minidl.cli import main

    assert main(["train", "mlp", "--epochs", "1", "--device", "cuda", "--quiet"]) == 0
    assert "test accuracy:" in capsys.readouterr().out


# --- every op of the table, on the fake device against the CPU --------------------------------------------------------
def _outputs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


# rows whose fn builds a CPU tensor from a kwarg: the device version puts it beside the inputs (a CPU condition with
# GPU operands is a device-mixing error, as in PyTorch)
_ON_DEVICE = {"where": lambda x, y, cond: md.where(md.tensor(cond, dtype=md.bool, device=x.device), x, y)}


def check_op_on_device(op, sample, cp, tol):
    """Run ``op`` forward and backward on "cpu" and on "cuda"; the device run must stay there and agree."""
    results = []
    for device in ("cpu", "cuda"):
        leaves = [md.tensor(a, device=device, requires_grad=op.differentiable) for a in sample.arrays]
        fn = _ON_DEVICE.get(op.name, op.fn)
        outs = [o for o in _outputs(fn(*leaves, **sample.kwargs)) if isinstance(o, md.Tensor)]
        floating = [o for o in outs if o.requires_grad]
        if floating:
            md.autograd.backward(floating, [md.ones_like(o) for o in floating])
        results.append((outs, [leaf.grad for leaf in leaves]))
    (cpu_outs, cpu_grads), (gpu_outs, gpu_grads) = results
    for k, (c, g) in enumerate(zip(cpu_outs, gpu_outs)):
        assert g.device.type == "cuda" and isinstance(g.array, cp.ndarray), f"{op.name}: output {k} left the device"
        np.testing.assert_allclose(g.numpy(), c.numpy(), err_msg=f"{op.name} output {k}", **tol)
    for i, (c, g) in enumerate(zip(cpu_grads, gpu_grads)):
        assert (c is None) == (g is None), f"{op.name}: gradient of input {i} on one device only"
        if g is not None:
            assert isinstance(g.array, cp.ndarray), f"{op.name}: gradient of input {i} left the device"
            np.testing.assert_allclose(g.numpy(), c.numpy(), err_msg=f"{op.name} gradient {i}", **tol)


@pytest.mark.parametrize("op", opinfo.OPS, ids=[op.name for op in opinfo.OPS])
@settings(max_examples=4)
@given(data=st.data())
def test_every_op_runs_on_the_device_and_matches_the_cpu(op, data):
    """Each public op, forward and backward, on "cuda" (the fake) gives the CPU's numbers and stays on the device:
    the audit for stray host (``np.``) calls on tensor data, which the fake turns into TypeErrors."""
    sample = data.draw(op.inputs, label="sample")
    mp = pytest.MonkeyPatch()
    cp = fake_cupy.install(mp)
    try:
        check_op_on_device(op, sample, cp, TOL64)
    finally:
        fake_cupy.uninstall(mp)


def _image(rng):
    return rng.standard_normal((2, 3, 6, 6))


_LAYERS = {
    "Conv2d": (lambda: md.nn.Conv2d(3, 4, 3, stride=2, padding=1, dilation=1, groups=1), _image),
    "Conv2d_groups": (lambda: md.nn.Conv2d(3, 3, 3, padding=2, dilation=2, groups=3), _image),
    "ConvTranspose2d": (lambda: md.nn.ConvTranspose2d(3, 2, 3, stride=2), _image),
    "MaxPool2d": (lambda: md.nn.MaxPool2d(2), _image),
    "AvgPool2d": (lambda: md.nn.AvgPool2d(3, 2, 1, divisor_override=2), _image),
    "BatchNorm2d": (lambda: md.nn.BatchNorm2d(3), _image),
    "BatchNorm1d": (lambda: md.nn.BatchNorm1d(5), lambda rng: rng.standard_normal((4, 5))),
    "LayerNorm": (lambda: md.nn.LayerNorm(5), lambda rng: rng.standard_normal((4, 5))),
    "Upsample": (lambda: md.nn.Upsample(scale_factor=2), _image),
    "Dropout": (lambda: md.nn.Dropout(0.5), lambda rng: rng.standard_normal((4, 5))),
    "LSTM": (lambda: md.nn.LSTM(5, 4, num_layers=2, batch_first=True, bidirectional=True),
             lambda rng: rng.standard_normal((2, 3, 5))),
    "GRU": (lambda: md.nn.GRU(5, 4, batch_first=True), lambda rng: rng.standard_normal((2, 3, 5))),
    "RNN": (lambda: md.nn.RNN(5, 4, batch_first=True), lambda rng: rng.standard_normal((2, 3, 5))),
}


@pytest.mark.parametrize("name", sorted(_LAYERS))
def test_layers_on_the_device_match_the_cpu(cupy_module, tol, name):
    cp = cupy_module
    make, data = _LAYERS[name]
    x = data(np.random.default_rng(0))
    runs = []
    for device in ("cpu", "cuda"):
        md.manual_seed(0)
        layer = make().to(md.float64).to(device)
        xt = md.tensor(x, device=device, requires_grad=True)
        out = layer(xt)
        out = out[0] if isinstance(out, tuple) else out
        (out * out).sum().backward()
        runs.append((out, xt.grad, [p.grad for p in layer.parameters()], [b for _, b in layer.named_buffers()]))
    (out_c, gx_c, gp_c, b_c), (out_d, gx_d, gp_d, b_d) = runs
    for c, d in [(out_c, out_d), (gx_c, gx_d), *zip(gp_c, gp_d), *zip(b_c, b_d)]:
        assert isinstance(d.array, cp.ndarray)
        np.testing.assert_allclose(d.numpy(), c.numpy(), **tol)


@pytest.mark.parametrize("loss, target", [
    (md.nn.CrossEntropyLoss(label_smoothing=0.1), lambda rng: rng.integers(0, 5, 4)),
    (md.nn.NLLLoss(), lambda rng: rng.integers(0, 5, 4)), (md.nn.MSELoss(), lambda rng: rng.random((4, 5))),
    (md.nn.L1Loss(), lambda rng: rng.random((4, 5))), (md.nn.BCEWithLogitsLoss(), lambda rng: rng.random((4, 5))),
], ids=["cross_entropy", "nll", "mse", "l1", "bce_logits"])
def test_losses_and_embedding_on_the_device_match_the_cpu(cupy_module, tol, loss, target):
    rng = np.random.default_rng(1)
    x, y, idx = rng.standard_normal((4, 5)), target(rng), rng.integers(0, 7, (4, 3))
    runs = []
    for device in ("cpu", "cuda"):
        md.manual_seed(0)
        emb = md.nn.Embedding(7, 5, padding_idx=0).to(md.float64).to(device)
        xt = md.tensor(x, device=device, requires_grad=True)
        value = loss(xt + emb(md.tensor(idx, device=device)).mean(1), md.tensor(y, device=device))
        value.backward()
        runs.append((value, xt.grad, emb.weight.grad))
    for c, d in zip(*runs):
        assert d.device == "cuda:0"
        np.testing.assert_allclose(d.numpy(), c.numpy(), **tol)


# --- minidl bench --device cuda -----------------------------------------------------------------------------------------
def test_bench_device_cuda_without_a_gpu_exits_with_one_line(no_cupy, capsys):
    from minidl.cli import main

    assert main(["bench", "--device", "cuda", "--tiny", "--repeat", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[-1]] and err[-1].startswith("minidl bench: --device cuda: no usable GPU here: CuPy is not")
    with pytest.raises(RuntimeError, match="no usable GPU here"):
        bench.run(ops=["matmul"], device="cuda", tiny=True, repeat=1)


def test_bench_device_cuda_option_errors(no_cupy, capsys):
    from minidl.cli import main

    for argv, msg in ((["--device", "tpu"], "invalid choice: 'tpu'"),
                      (["--device", "cuda", "--compare", "numpy"], "unknown --compare numpy; choose from torch, cupy"),
                      (["--compare", "cupy"], "unknown --compare cupy; choose from torch, numpy")):
        with pytest.raises(SystemExit) as exc:
            main(["bench", *argv])
        assert exc.value.code == 2 and msg in capsys.readouterr().err


def test_bench_device_cuda_runs_every_kernel_on_the_fake(cupy_module, capsys, tmp_path):
    """The GPU benchmark's plumbing end to end: the cupy provider on device arrays, cupy.matmul, event timing
    (the fake's events read the host clock), records and table. The numbers mean nothing here."""
    import json

    from minidl.cli import main

    path = tmp_path / "gpu.json"
    assert main(["bench", "--device", "cuda", "--tiny", "--repeat", "1", "--compare", "cupy,torch",
                 "--json", str(path)]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "CUDA events" in out and "GPU: " in out
    recs = json.loads(path.read_text())
    providers = {r["provider"] for r in recs}
    assert "cupy" in providers and "cupy.matmul" in providers and not providers & {"native", "numpy", "np.matmul"}
    assert {r["op"] for r in recs} == set(bench.OPS) - {"attention"}      # the attention cases are CPU-only,
    assert "attention: not timed on cuda" in captured.err                   # and say so
    assert all(r["ms"] > 0 for r in recs)
    with pytest.raises(SystemExit):
        main(["bench", "--device", "cuda", "--providers", "numpy"])
    assert "serves cpu tensors, not cuda" in capsys.readouterr().err
