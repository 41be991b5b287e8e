"""Your own classes made known to md.keras for loading, as Keras 3 registers them: ``@register_keras_serializable()``
on a custom layer class, or ``custom_object_scope({...})`` around a ``load_model``, or ``get_custom_objects()``
(the global dict). Only classes your program hands over are ever looked up: a file names a class, it never
supplies one.

Example:
    >>> @md.keras.saving.register_keras_serializable(package="demo")
    ... class Scale(md.keras.layers.Layer):
    ...     def call(self, x):
    ...         return x * 2
    >>> md.keras.saving.get_registered_name(Scale)
    'demo>Scale'
"""
import threading

_GLOBAL = {}                    # name -> class (both "package>Name" and "Name")
_scopes = threading.local()


def register_keras_serializable(package="Custom", name=None):
    """A class decorator: registers the class under ``"<package>><name>"`` (``name`` defaults to the class name)
    and under its plain name, so ``load_model`` finds it without ``custom_objects``."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_keras_serializable: package must be a string without '>', got {package!r}")

    def decorate(cls):
        registered = f"{package}>{name or cls.__name__}"
        if not hasattr(cls, "get_config"):
            raise ValueError(f"Cannot register {cls!r}: it has no get_config() method")
        _GLOBAL[registered] = cls
        _GLOBAL[name or cls.__name__] = cls
        cls._registered_name = registered
        return cls
    return decorate


def get_registered_name(obj):
    """``"package>Name"`` of a registered class (or instance), else its class name."""
    cls = obj if isinstance(obj, type) else type(obj)
    return cls.__dict__.get("_registered_name", cls.__name__)


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The class registered (or in scope, or in ``custom_objects``) under ``name``, or None."""
    for table in (custom_objects or {}, *reversed(getattr(_scopes, "stack", [])), _GLOBAL, module_objects or {}):
        if name in table:
            return table[name]
    return None


def get_custom_objects():
    """The global registry (a dict you may add to: ``get_custom_objects()["Scale"] = Scale``)."""
    return _GLOBAL


class CustomObjectScope:
    """``with CustomObjectScope({"Scale": Scale}): load_model(...)``: those names resolve inside the block."""

    def __init__(self, *objects):
        self.objects = {}
        for table in objects:
            if not isinstance(table, dict):
                raise TypeError(f"CustomObjectScope takes dicts of name -> class, got {type(table).__name__}")
            self.objects.update(table)

    def __enter__(self):
        if not hasattr(_scopes, "stack"):
            _scopes.stack = []
        _scopes.stack.append(self.objects)
        return self

    def __exit__(self, *exc):
        _scopes.stack.pop()


custom_object_scope = CustomObjectScope
