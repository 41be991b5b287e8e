"""The error for a PyTorch name minidl does not offer: an AttributeError (so ``hasattr`` and ``getattr(m, name,
default)`` keep working) whose message names the feature as PyTorch spells it and where the differences are listed,
instead of Python's bare "module has no attribute"."""


def module_getattr(module, torch_name):
    """A module-level ``__getattr__`` for ``module`` (minidl's name) mirroring PyTorch's ``torch_name``.

    Example:
        >>> __getattr__ = module_getattr("minidl.nn", "torch.nn")     # at the end of minidl/nn/__init__.py
    """
    def __getattr__(name):
        if name.startswith("__") and name.endswith("__"):       # Python's own probes (__path__, __wrapped__, ...)
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        raise AttributeError(f"module {module!r} has no attribute {name!r}: minidl does not offer {torch_name}.{name} "
                             "(see 'Differences from PyTorch' in minidl's README)")
    return __getattr__
