"""Grad mode: whether new operations record a graph. A context variable, so threads don't leak it."""
import contextvars
import functools

_enabled = contextvars.ContextVar("minidl_grad_enabled", default=True)


def is_grad_enabled():
    """True when operations on tensors that require grad are recorded for backward."""
    return _enabled.get()


class _GradMode:
    mode = True

    def __enter__(self):
        self._token = _enabled.set(self.mode)
        return self

    def __exit__(self, *exc):
        _enabled.reset(self._token)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator that turns graph recording off.

    Example:
        >>> with md.no_grad():
        ...     y = x * 2          # y.requires_grad is False
    """

    mode = False


class enable_grad(_GradMode):
    """Context manager and decorator that turns graph recording back on inside ``no_grad``."""

    mode = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` as a context manager (or decorator) sets grad mode explicitly."""

    def __init__(self, mode):
        self.mode = bool(mode)

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper
