"""minidl: a deep-learning framework with reverse-mode autograd and its own kernels.

Example:
    >>> import minidl as md
    >>> x = md.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    >>> (x @ x).sum().backward()
"""
from . import _threads  # first: it sets OpenMP's spinning before anything loads minidl._C (and libgomp)
from . import accelerator, autograd, backends, cuda, data, datasets, keras, models, nn, ops, optim, train
from . import distributed  # mpi4py is imported by md.distributed.init(), not here
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (arange, as_tensor, empty, eye, from_numpy, full, full_like, linspace, ones, ones_like, rand,
                       rand_like, randint, randn, randn_like, randperm, tensor, zeros, zeros_like)
from .device import Device as device
from .dtypes import DType as dtype
from .dtypes import bool_ as bool  # noqa: A001 -- md.bool, as torch.bool
from .dtypes import float16, float32, float64, int32, int64, uint8
from .ops import *  # noqa: F403 -- md.exp(x), md.sum(x, dim), ...
from .random import manual_seed
from .serialization import load, save
from .tensor import Tensor

__version__ = "0.1.0"

# PyTorch's namespaces md.utils.data, and md.Generator for generator= arguments
from . import utils  # noqa: E402
from ._missing import module_getattr  # noqa: E402
from .random import Generator, get_rng_state, initial_seed, seed, set_rng_state  # noqa: E402
from . import settings  # noqa: E402
from .settings import *  # noqa: E402,F403 -- set_num_threads, set_printoptions, compile, ...
from . import amp  # noqa: E402
from .amp import autocast  # noqa: E402

# --- PyTorch's dtype aliases and promotion API (at the end: ``float``/``int`` shadow the builtins) ----------------
from .dtypes import (can_cast, finfo, get_default_dtype, iinfo, int8, int16, is_floating_point,  # noqa: E402
                     promote_types, result_type, set_default_dtype)
from .dtypes import float16 as half  # noqa: E402
from .dtypes import float32 as float  # noqa: E402,A001
from .dtypes import float64 as double  # noqa: E402
from .dtypes import int16 as short  # noqa: E402
from .dtypes import int32 as int  # noqa: E402,A001
from .dtypes import int64 as long  # noqa: E402
from .legacy_types import (BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor,  # noqa: E402
                           IntTensor, LongTensor, ShortTensor)

# PyTorch's in-place twins (relu_, exp_, eq_, unsqueeze_...) of every Tensor method defined by now
from .ops import inplace as _inplace  # noqa: E402
from . import tensor_api as _tensor_api  # noqa: E402
from .tensor_api import *  # noqa: E402,F403 -- md.log1p, md.nonzero, md.cumprod, md.quantile...

_tensor_api.install()
_tensor_api.legacy.install(__import__(__name__))      # autograd.Variable, add/sub(alpha, other)
_inplace.install()
_missing_name = module_getattr("minidl", "torch")
del module_getattr


def __getattr__(name):
    """A PyTorch name minidl lacks: ``md.cfloat``, ``md.bfloat16``... refused with the reason, anything else with
    an error naming ``torch.<name>``."""
    from .dtypes import UNSUPPORTED  # noqa: PLC0415
    if name in UNSUPPORTED:
        raise AttributeError(f"minidl.{name}: this dtype is not supported ({UNSUPPORTED[name]})")
    return _missing_name(name)

# --- torch.linalg and torch.distributions, and PyTorch's top-level linear-algebra names (md.det, x.inverse()...) ---
from . import linalg  # noqa: E402
from . import distributions  # noqa: E402
from .linalg import _install_aliases as _linalg_aliases  # noqa: E402

det, inverse, logdet, slogdet, matrix_power, cholesky, qr, svd, pinverse, cholesky_solve = _linalg_aliases()
del _linalg_aliases


# --- issue 14: programs (vis): ``torch.multiprocessing`` is reachable after a bare ``import torch`` ---
from . import multiprocessing  # noqa: E402
# --- issue 14, programs (basic): sparse COO matrices (GCN/GAT); md.mm / md.matmul also take a sparse operand -----
from .sparse import matmul, mm, sparse_coo_tensor, spmm  # noqa: E402
