"""Window geometry shared by the ops layer (validation), the layers and every provider (allocation).

The one place for the sliding-window output size (conv and pooling, floor and ceil mode) and for parsing
``kernel_size``/``stride``/``padding``/``dilation`` into int pairs. The ops validate once (``pair``,
``check_window``, ``pool_geometry``) and hand the providers already-parsed ``(h, w)`` pairs of Python ints;
providers only call ``output_hw`` to size their outputs.
"""
import functools
import math
import numbers
import os


def is_int(v):
    """True for Python and NumPy integers, False for bools (PyTorch refuses ``stride=True``)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def pair(op, name, v):
    """An int or a pair of ints (NumPy integers too, bools not) as a pair of Python ints.

    Example:
        >>> pair("conv2d", "stride", 2), pair("conv2d", "stride", (1, 2))
        ((2, 2), (1, 2))
        >>> pair("conv2d", "stride", (1, 2, 3))
        Traceback (most recent call last):
        ValueError: conv2d: stride must be an int or a pair of ints, got (1, 2, 3)
    """
    try:
        t = (v, v) if is_int(v) else tuple(v)
    except TypeError:
        t = ()
    if len(t) != 2 or not all(is_int(i) for i in t):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    return int(t[0]), int(t[1])


def output_hw(hw, kernel, stride, padding, dilation=(1, 1), ceil_mode=False):
    """(OH, OW) of a 2-D sliding window (convolution or pooling) over an input of spatial size ``hw``.

    Every argument is an (h, w) pair of ints, as ``pair`` returns them. Example:
        >>> output_hw((28, 28), (3, 3), (2, 2), (1, 1))
        (14, 14)
    """
    return tuple(output_size(hw[i], kernel[i], stride[i], padding[i], dilation[i], ceil_mode) for i in range(2))


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


def pool_geometry(op, x_shape, kernel_size, stride, padding, dilation, ceil_mode):
    """Parse and validate a pooling op's geometry for an (N, C, H, W) or (C, H, W) input.

    Returns ``(k, s, p, d, (oh, ow))``: int pairs and the output size.

    ``stride`` None (or ``[]``, as PyTorch's default) means ``kernel_size``. Every error is a ValueError naming
    ``op`` and the shapes. Example:
        >>> pool_geometry("max_pool2d", (1, 1, 5, 5), 2, None, 0, 1, True)
        ((2, 2), (2, 2), (0, 0), (1, 1), (3, 3))
    """
    k = pair(op, "kernel_size", kernel_size)
    s = k if stride is None or stride == [] else pair(op, "stride", stride)
    p, d = pair(op, "padding", padding), pair(op, "dilation", dilation)
    if min(k) < 1 or min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise ValueError(f"{op}: kernel_size, stride, dilation must be >= 1 and padding >= 0, got {k}, {s}, {d}, {p}")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{op}: padding {p} must be at most half the kernel size {k}")
    check_window(op, kernel_size=k, stride=s, padding=p, dilation=d)
    oh, ow = output_hw(x_shape[-2:], k, s, p, d, bool(ceil_mode))
    if oh < 1 or ow < 1:
        raise ValueError(f"{op}: input of shape {tuple(x_shape)} is too small for kernel {k} with padding {p} and "
                         f"dilation {d} (output would be {oh}x{ow})")
    return k, s, p, d, (oh, ow)
