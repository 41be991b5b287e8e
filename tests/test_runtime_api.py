"""Process settings, random state, anomaly detection, GradScaler/autocast and activation checkpointing, the way
PyTorch programs use them; PyTorch is the oracle where it computes something."""
import numpy as np
import pytest

import minidl as md
from minidl.utils.checkpoint import checkpoint, checkpoint_sequential

torch = pytest.importorskip("torch")


def test_threads_precision_determinism_and_compile():
    n = md.get_num_threads()
    md.set_num_threads(1)
    assert md.get_num_threads() == 1
    md.set_num_threads(n)
    assert md.get_num_threads() == n
    with pytest.raises(ValueError, match="set_num_threads: expected a positive int"):
        md.set_num_threads(0)
    md.set_float32_matmul_precision("high")
    assert md.get_float32_matmul_precision() == "high"
    md.set_float32_matmul_precision("highest")
    with pytest.raises(ValueError):
        md.set_float32_matmul_precision("low")
    md.use_deterministic_algorithms(True)
    assert md.are_deterministic_algorithms_enabled()
    md.use_deterministic_algorithms(False)
    net = md.nn.Linear(2, 2)
    assert md.compile(net) is net and md.compile(mode="max-autotune")(len) is len
    assert md.typename(md.zeros(1)) == torch.typename(torch.zeros(1)) == "torch.FloatTensor"
    assert md.typename(md.zeros(1, dtype=md.int64)) == "torch.LongTensor" and not md.is_complex(md.zeros(1))


def test_print_options():
    try:
        md.set_printoptions(precision=2)
        assert repr(md.tensor([1 / 3, 2 / 3])) == "tensor([0.33, 0.67])"
        md.set_printoptions(threshold=5, edgeitems=2)
        assert "..." in repr(md.arange(10.0))
        md.set_printoptions(sci_mode=True)
        assert "e-01" in repr(md.tensor([0.5]))
        md.set_printoptions(profile="default", sci_mode=None)     # PyTorch's defaults: 4 digits
        assert repr(md.tensor([1 / 3])) == repr(torch.tensor([1 / 3]))
    finally:
        md.settings.reset_printoptions()
    assert repr(md.tensor([1 / 3])) == "tensor([0.33333334])"


def test_rng_state_round_trip_and_seeds():
    md.manual_seed(3)
    assert md.initial_seed() == 3
    state = md.get_rng_state()
    assert state.dtype == md.uint8 and state.ndim == 1
    a = md.rand(4)
    md.set_rng_state(state)
    np.testing.assert_array_equal(md.rand(4).numpy(), a.numpy())
    s = md.seed()
    assert md.initial_seed() == s
    md.cuda.manual_seed(5)
    b = md.rand(2)
    md.manual_seed(5)
    np.testing.assert_array_equal(md.rand(2).numpy(), b.numpy())
    with pytest.raises(ValueError, match="set_rng_state: not a state made by get_rng_state"):
        md.set_rng_state(md.tensor([1, 2, 3], dtype=md.uint8))


def test_anomaly_detection_names_the_op_that_made_nan():
    x = md.tensor([0.0, 4.0], requires_grad=True)
    (md.sqrt(x) * 0).sum().backward()           # off: NaN flows silently, as in PyTorch
    assert np.isnan(x.grad.numpy()[0])
    x.grad = None
    with md.autograd.detect_anomaly():
        assert md.autograd.is_anomaly_enabled()
        y = md.sqrt(x) * 0
        with pytest.raises(RuntimeError, match=r"Function 'SqrtBackward' returned nan values in its 0th output"
                                               r"(.|\n)*test_runtime_api.py"):
            y.sum().backward()
    assert not md.autograd.is_anomaly_enabled()
    md.autograd.set_detect_anomaly(True)
    assert md.autograd.is_anomaly_enabled()
    md.autograd.set_detect_anomaly(False)
    assert not md.autograd.is_anomaly_enabled()


def _grad_scaler_run(lib, grads_per_step):
    w = lib.nn.Parameter(lib.ones(3, dtype=lib.float64))
    opt = lib.optim.SGD([w], lr=0.1)
    scaler = (lib.amp.GradScaler("cpu", init_scale=8.0, growth_interval=2))
    scales = []
    for g in grads_per_step:
        opt.zero_grad()
        loss = (w * lib.tensor(g)).sum()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
    return w.detach().numpy(), scales


def test_grad_scaler_matches_pytorch_with_skipped_steps_and_growth():
    steps = [[1.0, 2.0, 3.0], [np.inf, 0.0, 0.0], [0.5, 0.5, 0.5], [1.0, 1.0, 1.0], [np.nan, 1.0, 1.0], [2.0, 0, 1]]
    wm, sm = _grad_scaler_run(md, steps)
    wt, st = _grad_scaler_run(torch, steps)
    np.testing.assert_allclose(wm, wt, rtol=1e-12)
    assert sm == st


def test_a_disabled_scaler_and_autocast_pass_through_and_enabling_autocast_is_refused():
    scaler = md.cuda.amp.GradScaler(enabled=False)
    loss = md.tensor(2.0, requires_grad=True)
    assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0 and scaler.state_dict() == {}
    with md.autocast(device_type="cuda", enabled=False):
        y = md.ones(2) * 2
    assert y.tolist() == [2.0, 2.0]
    with pytest.raises(NotImplementedError, match="autocast: mixed precision"):
        md.autocast(device_type="cpu", dtype=md.float16)


def _block(lib, seed):
    lib.manual_seed(seed)
    return lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(), lib.nn.Dropout(0.5), lib.nn.Linear(8, 3),
                             lib.nn.ReLU(), lib.nn.Linear(3, 2))


def test_checkpoint_gives_the_gradients_of_the_plain_run_with_dropout():
    x = md.randn(5, 4)
    net = _block(md, 0)
    md.manual_seed(1)
    xa = x.clone().requires_grad_()
    checkpoint(net, xa, use_reentrant=False).pow(2).sum().backward()
    ga = [p.grad.numpy().copy() for p in net.parameters()]
    net.zero_grad()
    md.manual_seed(1)
    xb = x.clone().requires_grad_()
    net(xb).pow(2).sum().backward()
    for a, p in zip(ga, net.parameters()):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(xa.grad.numpy(), xb.grad.numpy(), rtol=1e-6)
    net.zero_grad()
    net.eval()
    xs = x.clone().requires_grad_()
    checkpoint_sequential(net, 2, xs, use_reentrant=False).sum().backward()
    gs = [p.grad.numpy().copy() for p in net.parameters()]
    net.zero_grad()
    net(x).sum().backward()
    for a, p in zip(gs, net.parameters()):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-6)


def test_distributed_is_available_says_whether_mpi_imports():
    try:
        import mpi4py  # noqa: F401
        expected = True
    except ImportError:
        expected = False
    assert md.distributed.is_available() is expected
