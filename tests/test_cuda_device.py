"""Device ``cuda`` on a real GPU: the checks of ``test_fake_cuda.py`` run again on real CuPy, plus a CNN training
run against the CPU. Marked ``cuda``: skipped with the reason (see conftest) wherever ``md.cuda.is_available()`` is
False -- every machine of this project so far. Run them with ``pytest -m cuda`` on a machine with a GPU and CuPy.
"""
import numpy as np
import opinfo
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl import backends

# The shared tests: collected here too, where the fixtures below replace the fake with the real CuPy.
from test_fake_cuda import (  # noqa: F401 -- imported to be collected
    check_op_on_device,
    test_creation_functions_take_device,
    test_elementwise_reductions_and_indexing_stay_on_the_device,
    test_fit_moves_batches_to_the_device,
    test_gradients_flow_back_across_devices,
    test_layers_on_the_device_match_the_cpu,
    test_losses_and_embedding_on_the_device_match_the_cpu,
    test_minidl_train_on_cuda_with_the_fake,
    test_mixing_devices_in_nn_functional_and_in_place,
    test_mixing_devices_names_both_devices_and_the_op,
    test_module_to_moves_parameters_buffers_and_grads,
    test_optimizer_state_lives_on_the_parameter_device,
    test_save_writes_gpu_tensors_to_host_and_loads_onto_a_device,
    test_tensor_moves_between_devices,
)

pytestmark = pytest.mark.cuda

# GPU arithmetic (other summation orders, fused multiply-adds, CuPy's own transcendental functions) against the CPU
TOL64 = dict(rtol=1e-6, atol=1e-8)
TOL32 = dict(rtol=1e-4, atol=1e-5)


@pytest.fixture
def cupy_module():
    import cupy

    return cupy


@pytest.fixture
def tol():
    return TOL64


@pytest.fixture
def tol32():
    return TOL32


def test_availability_and_device_facts(cupy_module):
    assert md.cuda.is_available() and md.cuda.unavailable_reason() is None
    assert md.cuda.device_count() == cupy_module.cuda.runtime.getDeviceCount() >= 1
    assert md.cuda.current_device() == cupy_module.cuda.Device().id
    md.cuda.synchronize()
    assert "cupy" in backends.usable("cuda")


def test_gpu_memory_comes_from_cupys_pool(cupy_module):
    pool = cupy_module.get_default_memory_pool()
    before = pool.used_bytes()
    t = md.zeros(1 << 20, device="cuda")         # 4 MiB
    assert pool.used_bytes() >= before + t.numel() * 4
    del t


@pytest.mark.parametrize("op", opinfo.OPS, ids=[op.name for op in opinfo.OPS])
@settings(max_examples=4)
@given(data=st.data())
def test_every_op_on_the_gpu_matches_the_cpu(op, data):
    import cupy

    check_op_on_device(op, data.draw(op.inputs, label="sample"), cupy, TOL64)


def test_cnn_training_on_the_gpu_follows_the_cpu(cupy_module):
    def run(device):
        md.manual_seed(0)
        model = md.models.CNN(in_channels=1, num_classes=10, image_size=12, dropout=0.0).to(device)
        opt = md.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        rng = np.random.default_rng(0)
        losses = []
        for _ in range(5):
            x = md.tensor(rng.standard_normal((16, 1, 12, 12)).astype(np.float32), device=device)
            y = md.tensor(rng.integers(0, 10, 16), device=device)
            opt.zero_grad()
            loss = md.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return model, losses

    cpu_model, cpu_losses = run("cpu")
    with backends.trace() as log:
        gpu_model, gpu_losses = run("cuda")
    assert {r.provider for r in log} <= set(backends.usable("cuda"))
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-3)
    assert list(gpu_model.state_dict()) == list(cpu_model.state_dict())
    for (name, p), (_, q) in zip(gpu_model.state_dict().items(), cpu_model.state_dict().items()):
        assert isinstance(p.array, cupy_module.ndarray), name
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-3, atol=1e-4, err_msg=name)
