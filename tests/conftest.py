"""Shared test configuration: hypothesis profiles and optional-dependency fixtures.

Profiles (pick one with the environment variable ``HYPOTHESIS_PROFILE``):
    ci        default: 30 examples per test, no deadline (first calls may compile kernels)
    dev       10 examples, for a quick local loop
    thorough  300 examples, for hunting rare failures

Fuzz tests (``tests/test_fuzz_*.py``) run a small seeded budget in CI; ``pytest --fuzz-budget 50`` (or the
environment variable ``MINIDL_FUZZ_BUDGET=50``) multiplies their case counts for a longer hunt.
"""
import importlib
import os
import sys

import pytest
from hypothesis import HealthCheck, settings

# NOTE: tests import their op table as `import opinfo`; keep that working under any import mode.
_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

settings.register_profile("ci", deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", parent=settings.get_profile("ci"), max_examples=10)
settings.register_profile("thorough", parent=settings.get_profile("ci"), max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TORCH_MISSING = "PyTorch is not installed: the comparison against it is skipped"


def pytest_addoption(parser):
    parser.addoption("--fuzz-budget", type=int, default=int(os.environ.get("MINIDL_FUZZ_BUDGET", "1")),
                     help="multiplier for the case counts of the fuzz tests (default 1, the CI budget)")


@pytest.fixture(scope="session")
def fuzz_budget(request):
    """How many times the default number of cases each fuzz test runs (``--fuzz-budget``, at least 1)."""
    return max(1, request.config.getoption("--fuzz-budget"))


def import_torch():
    """Return the torch module, or skip the calling test with a reason when it is absent."""
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        pytest.skip(f"{TORCH_MISSING} ({exc})")


@pytest.fixture(scope="session")
def torch():
    """The torch module; tests using it are skipped with a reason when PyTorch is missing."""
    return import_torch()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` need a usable GPU: they run where ``md.cuda.is_available()`` and are skipped, with the
    reason, elsewhere."""
    marked = [item for item in items if item.get_closest_marker("cuda") is not None]
    if not marked:
        return
    import minidl as md

    why = md.cuda.unavailable_reason()
    if why is None:
        return
    skip = pytest.mark.skip(reason=f"needs a CUDA GPU: {why}")
    for item in marked:
        item.add_marker(skip)
