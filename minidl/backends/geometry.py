"""Window geometry shared by the ops layer (validation) and the kernels (allocation)."""
import functools
import math
import os


def output_size(size, k, s, p, d, ceil_mode=False):
    """Output length of a sliding window along one axis, exactly as PyTorch's ``pooling_output_shape``.

    ``size`` input length, ``k`` kernel, ``s`` stride, ``p`` padding per side, ``d`` dilation. Never negative.
    """
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    # NOTE: with ceil_mode the last window must start inside the input or the left padding, else it is dropped.
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return max(out, 0)


# Bounds checked in Python before any allocation, so that absurd geometry is a ValueError naming the op instead of
# an overflow, pybind11's "Unable to cast" or NumPy's "array is too big". The C++ kernels keep their own checks.
MAX_WINDOW = 1 << 30        # kernel size, stride, padding, dilation, per axis
MAX_ELEMENTS = 1 << 48      # elements of one array an op may create


@functools.lru_cache(maxsize=1)
def physical_memory():
    """This machine's memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_window(op, **pairs):
    """Raise ValueError unless every named (h, w) geometry pair is below ``MAX_WINDOW``.

    Example:
        >>> check_window("max_pool2d", stride=(2, 2**63))
        Traceback (most recent call last):
        ValueError: max_pool2d: stride (2, 9223372036854775808) is too large: each value must be below 2^30
    """
    for name, p in pairs.items():
        if max(p) >= MAX_WINDOW:
            raise ValueError(f"{op}: {name} {tuple(p)} is too large: each value must be below 2^30")


def check_array_size(op, what, shape, itemsize, context):
    """Raise ValueError, naming ``op``, ``what`` and ``context``, unless an array of ``shape`` can be allocated.

    The limit is ``MAX_ELEMENTS`` elements (zero-length dims aside: NumPy refuses those too when the rest is huge)
    and the machine's physical memory.

    Example:
        >>> check_array_size("conv2d", "output", (1, 1, 2**21, 2**21), 4, "input (1, 1, 4, 4), padding (2**20, 2**20)")
        Traceback (most recent call last):
        ValueError: conv2d: the output would have shape (1, 1, 2097152, 2097152) (16384.0 GiB) ...
    """
    count = math.prod(max(int(d), 1) for d in shape)
    nbytes = count * itemsize if all(shape) else 0
    memory = physical_memory()
    if count > MAX_ELEMENTS or (memory is not None and nbytes > memory):
        limit = "2^48 elements" + (f" and this machine's {memory / 2**30:.1f} GiB of memory" if memory else "")
        raise ValueError(f"{op}: the {what} would have shape {tuple(shape)} ({count * itemsize / 2**30:.1f} GiB), "
                         f"more than the limit of {limit}; {context}")
