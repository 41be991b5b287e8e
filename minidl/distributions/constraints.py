"""The constraints PyTorch's distributions check their parameters and samples against (``validate_args``)."""
import math

__all__ = ["Constraint", "real", "positive", "unit_interval", "simplex", "boolean", "integer_interval", "interval",
           "half_open_interval", "greater_than", "greater_than_eq", "nonnegative", "less_than", "real_vector",
           "lower_cholesky", "positive_definite"]


class Constraint:
    """A region of values: ``check(value)`` is a bool array (NumPy/CuPy) of which entries (or events) lie in it."""
    event_dim = 0

    def check(self, value):
        raise NotImplementedError

    def __repr__(self):
        return type(self).__name__.lstrip("_") + "()"


class _Real(Constraint):
    def check(self, value):
        a = value.array
        return a == a                      # everything but NaN


class _RealVector(_Real):
    event_dim = 1

    def check(self, value):
        return super().check(value).all(axis=-1)


class _GreaterThan(Constraint):
    def __init__(self, lower_bound):
        self.lower_bound = lower_bound

    def check(self, value):
        return value.array > _raw(self.lower_bound)

    def __repr__(self):
        return f"GreaterThan(lower_bound={_show(self.lower_bound)})"


class _GreaterThanEq(_GreaterThan):
    def check(self, value):
        return value.array >= _raw(self.lower_bound)

    def __repr__(self):
        return f"GreaterThanEq(lower_bound={_show(self.lower_bound)})"


class _LessThan(Constraint):
    def __init__(self, upper_bound):
        self.upper_bound = upper_bound

    def check(self, value):
        return value.array < _raw(self.upper_bound)

    def __repr__(self):
        return f"LessThan(upper_bound={_show(self.upper_bound)})"


class _Interval(Constraint):
    def __init__(self, lower_bound, upper_bound, upper_open=False):
        self.lower_bound, self.upper_bound, self.upper_open = lower_bound, upper_bound, upper_open

    def check(self, value):
        a, hi = value.array, _raw(self.upper_bound)
        return (_raw(self.lower_bound) <= a) & ((a < hi) if self.upper_open else (a <= hi))

    def __repr__(self):
        name = "HalfOpenInterval" if self.upper_open else "Interval"
        return f"{name}(lower_bound={_show(self.lower_bound)}, upper_bound={_show(self.upper_bound)})"


class _IntegerInterval(_Interval):
    def check(self, value):
        a = value.array
        return (a % 1 == 0) & super().check(value)

    def __repr__(self):
        return f"IntegerInterval(lower_bound={_show(self.lower_bound)}, upper_bound={_show(self.upper_bound)})"


class _Boolean(Constraint):
    def check(self, value):
        a = value.array
        return (a == 0) | (a == 1)


class _Simplex(Constraint):
    event_dim = 1

    def check(self, value):
        a = value.array
        return (a >= 0).all(axis=-1) & (abs(a.sum(axis=-1) - 1) < 1e-6)


class _LowerCholesky(Constraint):
    event_dim = 2

    def check(self, value):
        xp, a = value._xp, value.array
        lower = (xp.tril(a) == a).all(axis=(-2, -1))
        return lower & (xp.diagonal(a, axis1=-2, axis2=-1) > 0).all(axis=-1)


class _PositiveDefinite(Constraint):
    event_dim = 2

    def check(self, value):
        xp, a = value._xp, value.array
        sym = (abs(a - a.swapaxes(-1, -2)) < 1e-6 * (1 + abs(a))).all(axis=(-2, -1))
        return sym & (xp.linalg.eigvalsh(a) > 0).all(axis=-1)


def _raw(bound):
    return bound.array if hasattr(bound, "array") else bound


def _show(bound):
    return bound if isinstance(bound, (int, float)) else f"<Tensor of shape {tuple(bound.shape)}>"


real = _Real()
real_vector = _RealVector()
positive = _GreaterThan(0.0)
nonnegative = _GreaterThanEq(0.0)
greater_than_eq = _GreaterThanEq
unit_interval = _Interval(0.0, 1.0)
boolean = _Boolean()
simplex = _Simplex()
lower_cholesky = _LowerCholesky()
positive_definite = _PositiveDefinite()
greater_than = _GreaterThan
less_than = _LessThan
interval = _Interval


def half_open_interval(lower_bound, upper_bound):
    return _Interval(lower_bound, upper_bound, upper_open=True)


def integer_interval(lower_bound, upper_bound):
    return _IntegerInterval(lower_bound, upper_bound)


inf = math.inf
