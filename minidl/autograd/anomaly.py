"""Anomaly detection, as PyTorch's: while it is on, every recorded op keeps the stack of the code that ran it,
and a backward function that returns NaN raises an error naming the op and showing where its forward ran."""
import traceback

_mode = [False, True]           # [enabled, check_nan]; read by Function.apply and the engine


def is_anomaly_enabled():
    """Whether anomaly detection is on."""
    return _mode[0]


def is_anomaly_check_nan_enabled():
    """Whether anomaly detection also checks backward results for NaN."""
    return _mode[1]


class set_detect_anomaly:  # noqa: N801 -- PyTorch's name
    """Turn anomaly detection on or off: as a call, or for a ``with`` block (restored after).

    Example:
        >>> with md.autograd.set_detect_anomaly(True):
        ...     loss.backward()        # a NaN gradient raises, naming the op and where it was computed
    """

    def __init__(self, mode, check_nan=True):
        self._previous = list(_mode)
        _mode[:] = [bool(mode), bool(check_nan)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _mode[:] = self._previous
        return False


class detect_anomaly(set_detect_anomaly):  # noqa: N801
    """``set_detect_anomaly(True)`` for a ``with`` block or a decorated function."""

    def __init__(self, check_nan=True):
        self._check_nan = check_nan
        self._previous = None

    def __enter__(self):
        self._previous = list(_mode)
        _mode[:] = [True, bool(self._check_nan)]
        return self

    def __call__(self, fn):
        def wrapped(*args, **kwargs):
            with detect_anomaly(self._check_nan):
                return fn(*args, **kwargs)
        return wrapped


def record_stack(ctx):
    """Keep where the forward ran (called by Function.apply while anomaly detection is on)."""
    ctx._anomaly_stack = "".join(traceback.format_stack()[:-3])


def check_grads(node, grads):
    """Raise when a backward result holds NaN, with the forward's stack if it was recorded."""
    if not _mode[1]:
        return
    for i, g in enumerate(grads):
        if g is not None and g.dtype.is_floating_point and bool(g._xp.isnan(g.array).any()):
            stack = getattr(node.ctx, "_anomaly_stack", None)
            where = f"\nThe forward of this op ran at:\n{stack}" if stack else ""
            raise RuntimeError(f"Function '{node.name}Backward' returned nan values in its {i}th output.{where}")
