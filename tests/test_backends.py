"""The dispatcher: discovery, order, forcing, reasons, trace, and provider conformance to the reference."""
import inspect
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import minidl as md
from minidl import backends
from minidl.backends import reference

KERNELS = ("matmul", "matmul_backward", "conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward",
           "avg_pool2d", "avg_pool2d_backward", "batch_norm", "batch_norm_backward")


def test_reference_defines_every_spec_kernel():
    assert set(KERNELS) <= set(backends.kernel_names())


def test_order_per_device_matches_spec():
    assert backends.ORDER == {"cpu": ("native", "numba", "numpy"), "cuda": ("cuda", "cupy", "numba_cuda")}


def test_available_lists_every_provider_in_order_with_a_reason_for_missing_ones():
    avail = backends.available()
    assert list(avail) == list(backends.PROVIDERS)
    assert avail["numpy"] is None
    for name, why in avail.items():
        assert why is None or (isinstance(why, str) and len(why) > 10), (name, why)


@pytest.mark.parametrize("name", backends.PROVIDERS)
def test_loaded_providers_match_reference_names_and_signatures(name):
    if backends.available()[name] is not None:
        pytest.skip(f"{name} is not usable here: {backends.available()[name]}")
    mod = backends._load(name)
    public = [n for n, f in inspect.getmembers(mod, callable) if not n.startswith("_") and n in KERNELS]
    assert public, f"{name} provides no kernel"
    for kernel in public:
        ref, impl = getattr(reference, kernel), getattr(mod, kernel)
        assert list(inspect.signature(impl).parameters) == list(inspect.signature(ref).parameters), kernel


def test_numpy_provider_is_the_complete_reference():
    for kernel in KERNELS:
        assert backends.provider_kernel("numpy", kernel) is getattr(reference, kernel)


def test_use_forces_a_provider_and_restores_on_exit():
    x, w = md.randn(4, 3), md.randn(3, 2)
    with backends.use("numpy"), backends.trace() as log:
        x @ w
    assert [r.provider for r in log] == ["numpy"]
    assert backends.forced() in (None, os.environ.get("MINIDL_BACKEND"))


def test_use_of_unavailable_provider_fails_at_once_with_the_reason():
    with pytest.raises(RuntimeError, match="numba_cuda.*not available"):
        backends.use("numba_cuda")
    with pytest.raises(ValueError, match="unknown provider"):
        backends.use("fortran")


def test_forced_provider_for_the_wrong_device_is_an_error():
    with backends.use("numpy"):
        pass    # usable
    if backends.available()["cupy"] is None:
        pytest.skip("cupy usable here; the cpu-tensor-with-gpu-provider case needs a GPU-less machine")
    with pytest.raises(RuntimeError, match="not available"):
        backends.use("cupy")


def test_forced_provider_lacking_a_kernel_is_an_error_not_a_fallthrough(monkeypatch):
    # every provider here implements every kernel, so take one away from the always-present numpy provider
    monkeypatch.delattr(backends._load("numpy"), "conv2d")
    x, w = np.zeros((1, 1, 3, 3), np.float32), np.zeros((1, 1, 1, 1), np.float32)
    with backends.use("numpy"):
        with pytest.raises(NotImplementedError, match="conv2d: backend 'numpy' is forced but does not implement"):
            backends.dispatch("conv2d", x, w, (1, 1), (0, 0), (1, 1), 1)


def test_small_kernels_fall_back_to_the_reference_only_when_the_provider_lacks_them(monkeypatch):
    # md.relu's kernel "unary": a forced provider without it runs the reference body ...
    monkeypatch.delattr(backends._load("numpy"), "unary")
    x = md.tensor([-1.0, 2.0])
    with backends.use("numpy"):
        np.testing.assert_array_equal(md.relu(x).numpy(), [0.0, 2.0])
    monkeypatch.undo()

    # ... but a NotImplementedError raised inside a kernel that exists is the kernel's own error, not a fallback
    def refuses(*args):
        raise NotImplementedError("unary: this provider refuses")

    monkeypatch.setattr(backends._load("numpy"), "unary", refuses)
    with backends.use("numpy"):
        with pytest.raises(NotImplementedError, match="this provider refuses"):
            md.relu(x)


def test_automatic_dispatch_falls_through_a_provider_lacking_the_kernel(monkeypatch):
    monkeypatch.delenv("MINIDL_BACKEND", raising=False)      # automatic dispatch, even in a forced-backend run
    first = backends.usable("cpu")[0]
    if first == "numpy":
        pytest.skip("numpy is the only usable cpu provider: nothing to fall through from")
    monkeypatch.delattr(backends._load(first), "conv2d")
    with backends.trace() as log:
        md.nn.functional.conv2d(md.randn(1, 1, 3, 3), md.randn(1, 1, 1, 1))
    assert log[0].provider != first and log[0].skipped[first] == f"{first} does not implement conv2d"


def test_automatic_dispatch_takes_first_provider_and_trace_says_why_others_were_passed(monkeypatch):
    monkeypatch.delenv("MINIDL_BACKEND", raising=False)      # automatic dispatch, even in a forced-backend run
    x = md.randn(2, 3, 6, 6)
    w = md.randn(4, 3, 3, 3)
    with backends.trace() as log:
        md.nn.functional.conv2d(x, w)
    (rec,) = log
    first = backends.usable("cpu")
    runs = [p for p in first if backends.provider_kernel(p, "conv2d")][0]
    assert rec.kernel == "conv2d" and rec.provider == runs
    assert rec.shapes[:2] == [(2, 3, 6, 6), (4, 3, 3, 3)] and rec.dtype == "float32"
    for p in backends.ORDER["cpu"][:backends.ORDER["cpu"].index(runs)]:
        assert p in rec.skipped and rec.skipped[p]
    table = str(log)
    assert "conv2d" in table and runs in table and "passed over" in table


def _python(args, env=None, check=False):
    """Run a Python subprocess that imports the same minidl as this process (not a source tree that
    happens to be the working directory, which lacks the compiled extension in CI)."""
    env = dict(os.environ if env is None else env)
    root = os.path.dirname(os.path.dirname(os.path.abspath(md.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, check=check,
                          cwd=tempfile.gettempdir())


def test_minidl_backend_env_var_forces_and_fails_clearly_when_unavailable():
    code = ("import minidl as md\n"
            "with md.backends.trace() as log: md.ones(2, 2) @ md.ones(2, 2)\n"
            "print(log[0].provider)\n")
    env = dict(os.environ, MINIDL_BACKEND="numpy")
    out = _python(["-c", code], env=env, check=True)
    assert out.stdout.strip() == "numpy"
    env["MINIDL_BACKEND"] = "numba_cuda"
    bad = _python(["-c", code], env=env)
    assert bad.returncode != 0 and "numba_cuda" in bad.stderr
    info = _python(["-m", "minidl.cli", "info"], env=env)
    assert info.returncode == 0, "import minidl and minidl info must work whatever MINIDL_BACKEND says"


def test_minidl_info_lists_providers_and_reasons():
    out = _python(["-m", "minidl.cli", "info"], check=True)
    for name, why in backends.available().items():
        line = next(ln for ln in out.stdout.splitlines() if ln.split()[:2] in (["cpu", name], ["cuda", name]))
        assert ("available" in line) if why is None else (why in line)


def test_dispatch_cache_follows_use_env_and_patched_providers(monkeypatch):
    monkeypatch.delenv("MINIDL_BACKEND", raising=False)
    a = np.ones((2, 3), np.float32)
    b = np.ones((3, 2), np.float32)

    def provider_of_call():
        with backends.trace() as log:
            backends.kernels.matmul(a, b)
        return log[0].provider
    first = provider_of_call()
    with backends.use("numpy"):
        assert provider_of_call() == "numpy"
    assert provider_of_call() == first
    monkeypatch.setenv("MINIDL_BACKEND", "numpy")
    assert provider_of_call() == "numpy"
    monkeypatch.delenv("MINIDL_BACKEND")
    calls = []
    monkeypatch.setattr(backends._load(first), "matmul", lambda x, y: calls.append(1) or x @ y)
    provider_of_call()
    assert calls == [1]                 # the patched function runs: the cached entry was seen to be stale
    monkeypatch.undo()
    assert backends.supports("matmul") and not backends.supports("no_such_kernel")
