"""The device probes PyTorch programs make before choosing a device (torch.accelerator, torch.backends.mps/cudnn,
Tensor.is_xpu/is_mps/is_cpu), answered so that the usual device-choice lines run unchanged."""
import minidl as md


def test_the_usual_device_choice_lines_run():
    # as PyTorch's examples write them
    use_accel = md.accelerator.is_available()
    device = md.accelerator.current_accelerator() if use_accel else md.device("cpu")
    assert device == ("cuda" if md.cuda.is_available() else "cpu")
    if md.cuda.is_available():
        assert md.accelerator.device_count() == md.cuda.device_count() >= 1
    else:
        assert md.accelerator.current_accelerator() is None and md.accelerator.device_count() == 0
    mps = md.backends.mps.is_available() and md.backends.mps.is_built()
    assert mps is False
    device = "cuda" if md.cuda.is_available() else "mps" if md.backends.mps.is_available() else "cpu"
    x = md.ones(2, device=device)
    assert x.is_cpu != x.is_cuda and not x.is_mps and not x.is_xpu


def test_cudnn_switches_are_accepted_and_change_nothing():
    saved = (md.backends.cudnn.benchmark, md.backends.cudnn.deterministic)
    try:
        md.backends.cudnn.benchmark = True
        md.backends.cudnn.deterministic = True
        x, w = md.randn(1, 2, 5, 5), md.randn(3, 2, 3, 3)
        before = md.nn.functional.conv2d(x, w).numpy()
        md.backends.cudnn.benchmark = False
        assert (md.nn.functional.conv2d(x, w).numpy() == before).all()
    finally:
        md.backends.cudnn.benchmark, md.backends.cudnn.deterministic = saved
    assert md.backends.cudnn.is_available() is False and md.backends.cudnn.version() is None
