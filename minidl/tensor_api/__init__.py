"""PyTorch's wider tensor API, built on the core ops (``minidl/ops``): more elementwise math, tensor functions
and Tensor methods. Kept outside the core so the engine stays small enough to read (ARCHITECTURE B5.12);
everything here is a composition of core ops or a ``Function`` over NumPy/CuPy, exported as ``md.<name>`` and
as Tensor methods by ``install()``.
"""
from . import functions_more, legacy, math_more, methods_more
from .functions_more import *  # noqa: F403
from .math_more import *  # noqa: F403
from .methods_more import *  # noqa: F403

__all__ = math_more.__all__ + functions_more.__all__ + methods_more.__all__


def install():
    """Attach the Tensor methods (before ``ops.inplace.install`` adds their in-place twins)."""
    math_more.install()
    functions_more.install()
    methods_more.install()
