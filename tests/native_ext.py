"""The compiled extension minidl._C for the native-kernel test modules.

``import_native()`` returns it, or skips the calling module with the build's reason when it is not
importable -- except when the environment variable CI is set: CI has a compiler, so a missing
extension there is a failed build, not a skip.
"""
import os

import pytest


def import_native():
    try:
        from minidl import _C
    except ImportError as exc:
        try:
            from minidl._build_info import NATIVE_REASON as reason
        except ImportError:
            reason = None
        reason = reason or f"{type(exc).__name__}: {exc}"
        if os.environ.get("CI"):
            raise ImportError(f"CI is set, so a missing minidl._C fails instead of skipping: {reason}") from exc
        pytest.skip(f"minidl._C is not importable: {reason}", allow_module_level=True)
    return _C
