"""Provider "numba" (JIT loops on the CPU): what is specific to it. Its kernels are compared with the reference, on
hypothesis-drawn geometries and named edge cases, and gradchecked, by the table of tests/test_kernels.py.

Skipped as a whole when numba is not installed. The first call of each kernel compiles it (cache=True keeps the
machine code for the next process); the ci hypothesis profile has no deadline, so compile time fails nothing.
"""
import re

import pytest

pytest.importorskip("numba", reason="numba is not installed: the numba provider is not tested")

import minidl as md  # noqa: E402
from minidl.cli import main  # noqa: E402


def test_provider_is_usable():
    assert md.backends.available()["numba"] is None


def test_cnn_trains_with_numba_backend(capsys):
    assert main(["train", "cnn", "--backend", "numba", "--epochs", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    accuracy = float(re.findall(r"test accuracy: ([0-9.]+)", out)[-1])
    assert accuracy >= 0.9, out
