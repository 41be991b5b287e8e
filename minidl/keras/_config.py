"""Checked construction of md.keras objects from configs: the dicts that ``.keras`` files (and users) give to
``from_config`` / ``get``.

A config names a class only through an explicit registry (a dict of public classes), never through ``getattr``, and
its keyword arguments are checked against the constructor's signature before the call: an unknown or missing
argument, or a value of the wrong kind for its default (a string where a flag or a float belongs), is a
``ValueError`` naming the class and the argument instead of a ``TypeError`` from deep inside.

Example:
    >>> construct(Dense, {"units": 4, "use_bias": "yes"}, "layer 'Dense'")
    Traceback (most recent call last):
    ValueError: layer 'Dense': argument 'use_bias' must be true or false, got 'yes'
"""
import functools
import inspect
import numbers

_EMPTY = inspect.Parameter.empty


@functools.lru_cache(maxsize=None)
def init_params(cls):
    """``(names, required, defaults)`` of ``cls``'s keyword arguments, following ``**kwargs`` up the MRO to a class
    that ends the chain (one without ``**kwargs``, or one marked ``_config_root`` because it rejects extras itself).
    ``names`` is None when the chain stays open (anything could be accepted)."""
    names, required, defaults = set(), set(), {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        params = list(inspect.signature(init).parameters.values())[1:]         # without self
        open_kwargs = any(p.kind is p.VAR_KEYWORD for p in params)
        for p in params:
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.name in names:
                continue
            names.add(p.name)
            if p.default is _EMPTY:
                required.add(p.name)
            else:
                defaults[p.name] = p.default
        if not open_kwargs or klass.__dict__.get("_config_root", False):
            return frozenset(names), frozenset(required), defaults
    return None, frozenset(required), defaults


def _kind_error(default, value):
    """Why ``value`` cannot stand for an argument whose default is ``default`` (None if it can)."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(default, float) and isinstance(value, (str, bool, list, dict)):
        return "must be a number"
    return None


def check_kwargs(cls, config, what):
    """Check that ``config`` is a dict of keyword arguments ``cls(**config)`` accepts; raise ValueError otherwise."""
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise ValueError(f"{what}: the config must be a dict of named arguments, got {_short(config)}")
    names, required, defaults = init_params(cls)
    if names is not None:
        unknown = sorted(set(config) - names)
        if unknown:
            raise ValueError(f"{what}: unknown argument{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(map(repr, unknown))} (known: {', '.join(sorted(names))})")
    missing = sorted(required - set(config))
    if missing:
        raise ValueError(f"{what}: missing required argument{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(map(repr, missing))}")
    for key, value in config.items():
        why = _kind_error(defaults.get(key), value)
        if why:
            raise ValueError(f"{what}: argument {key!r} {why}, got {_short(value)}")


def construct(cls, config, what, make=None):
    """``make(config)`` (default ``cls(**config)``) after ``check_kwargs``; a TypeError from the constructor (a value
    it cannot use) becomes a ValueError naming ``what``."""
    check_kwargs(cls, config, what)
    try:
        return make(config) if make is not None else cls(**config)
    except TypeError as e:
        raise ValueError(f"{what}: {e}") from e


def from_registry(registry, identifier, kind):
    """The object a ``{"class_name": ..., "config": {...}}`` dict describes, its class looked up in ``registry``
    (a dict of public classes) only."""
    name = identifier.get("class_name")
    if not isinstance(name, str) or name not in registry:
        raise ValueError(f"Could not interpret {kind} identifier: unknown class_name {_short(name)} "
                         f"(known: {', '.join(sorted(registry))})")
    return construct(registry[name], identifier.get("config", {}), f"{kind} {name!r}")


def is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
