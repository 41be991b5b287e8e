"""A PyTorch name minidl does not offer is an AttributeError that names the feature (never a silent fallback)."""
import pytest

import minidl as md


def test_a_missing_torch_name_is_named_in_the_error():
    with pytest.raises(AttributeError, match=r"minidl does not offer torch\.fft .*Differences from PyTorch"):
        md.fft  # noqa: B018 -- the attribute access is the test
    assert not hasattr(md, "vmap") and getattr(md, "vmap", "default") == "default"
    with pytest.raises(ImportError, match="vmap"):
        from minidl import vmap  # noqa: F401


def test_python_probes_stay_plain():
    with pytest.raises(AttributeError, match="no attribute '__wrapped__'$"):
        md.__wrapped__  # noqa: B018
