"""Hypothesis strategies for property-based tests of minidl code.

Every strategy keeps drawn shapes small (sides of 0-5 by default), includes size-0 and size-1
dimensions, and, for arrays, sometimes hands out non-contiguous layouts (permuted, strided
or reversed views), because those are where kernels and gradients go wrong.

Example:
    >>> from hypothesis import given
    >>> from minidl.testing import arrays
    >>> @given(arrays(shape=(2, 3)))
    ... def test_double(a):
    ...     assert (a * 2).shape == (2, 3)
    >>> test_double()
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = ["arrays", "broadcastable_shapes", "shapes", "tensors"]

LAYOUTS = ("contiguous", "permuted", "strided", "reversed")


def shapes(min_dims=0, max_dims=4, min_side=0, max_side=5):
    """Strategy for array shapes: tuples of ints.

    Args:
        min_dims: the smallest rank drawn.
        max_dims: the largest rank drawn.
        min_side: the smallest size of a dimension (0 allows empty arrays).
        max_side: the largest size of a dimension.

    Returns:
        A strategy drawing tuples such as ``()``, ``(3,)``, ``(2, 0, 1)``.

    Example:
        >>> from hypothesis import given
        >>> from minidl.testing import shapes
        >>> @given(shapes(min_dims=1, max_dims=2, max_side=3))
        ... def test_small(s):
        ...     assert 1 <= len(s) <= 2 and all(0 <= d <= 3 for d in s)
        >>> test_small()
    """
    if not 0 <= min_dims <= max_dims:
        raise ValueError(f"shapes: need 0 <= min_dims <= max_dims, got {min_dims} and {max_dims}")
    if not 0 <= min_side <= max_side:
        raise ValueError(f"shapes: need 0 <= min_side <= max_side, got {min_side} and {max_side}")
    return st.lists(_sides(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


def _sides(min_side, max_side):
    if min_side > 0 or max_side == 0:
        return st.integers(min_side, max_side)
    # NOTE: a uniform 0 would make half of all 3-d arrays empty; here about one side in twenty is 0
    # (and 0 is still where shrinking goes, since it is the simplest side).
    span = 4 * max_side
    return st.integers(0, span).map(lambda v: 0 if v == 0 else 1 + (v - 1) % max_side)


@st.composite
def broadcastable_shapes(draw, n=2, min_dims=0, max_dims=4, min_side=0, max_side=4):
    """Strategy for ``n`` shapes that broadcast together under NumPy rules.

    The shapes share a common full-rank shape; each one keeps a trailing part of it (so ranks
    differ) and replaces some of its dimensions by 1 (so they broadcast). Size-0 dimensions
    occur when ``min_side`` is 0: the other shapes then hold 0 or 1 there.

    Args:
        n: how many shapes to draw.
        min_dims: the smallest rank of each shape.
        max_dims: the largest rank of each shape (and of the broadcast result).
        min_side: the smallest size of a dimension of the common shape.
        max_side: the largest size of a dimension.

    Returns:
        A strategy drawing a tuple of ``n`` shape tuples.

    Example:
        >>> import numpy as np
        >>> from hypothesis import given
        >>> from minidl.testing import broadcastable_shapes
        >>> @given(broadcastable_shapes(n=3))
        ... def test_broadcast(shapes3):
        ...     assert len(np.broadcast_shapes(*shapes3)) == max(len(s) for s in shapes3)
        >>> test_broadcast()
    """
    if n < 1:
        raise ValueError(f"broadcastable_shapes: n must be at least 1, got {n}")
    full = draw(shapes(max_dims, max_dims, min_side, max_side))
    result = []
    for _ in range(n):
        rank = draw(st.integers(min_dims, max_dims))
        dims = list(full[max_dims - rank:])
        for i in range(rank):
            # NOTE: a 1 where min_side > 1 would break the caller's lower bound.
            if min_side <= 1 and draw(st.integers(0, 2)) == 0:  # one dim in three broadcasts
                dims[i] = 1
        result.append(tuple(dims))
    return tuple(result)


def _numpy_dtype(dtype):
    if isinstance(dtype, str):
        return np.dtype(dtype)
    try:
        return np.dtype(dtype)
    except TypeError:
        # a minidl dtype object: its name is the NumPy name (md.float32 -> "float32")
        return np.dtype(getattr(dtype, "name", str(dtype)).replace("minidl.", ""))


def _default_values(draw, shape, dtype):
    # NOTE: values come from a NumPy generator seeded by a drawn integer: drawing 600 elements
    # one by one through hypothesis is ~100x slower, and the seed keeps examples reproducible.
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        low, high = (0, 6) if dtype.kind == "u" else (-5, 6)
        return rng.integers(low, high, size=shape).astype(dtype)
    if dtype.kind == "c":
        return (rng.uniform(-2, 2, shape) + 1j * rng.uniform(-2, 2, shape)).astype(dtype)
    return rng.uniform(-2.0, 2.0, size=shape).astype(dtype)


def _relayout(draw, values):
    """The same values in a non-contiguous layout chosen by a draw (or unchanged)."""
    ndim = values.ndim
    layout = draw(st.sampled_from(LAYOUTS)) if ndim else "contiguous"
    if layout == "permuted" and ndim > 1:
        # Random permutation then permute back: memory order differs from logical order.
        perm = draw(st.permutations(range(ndim)))
        buffer = np.ascontiguousarray(values.transpose(perm))
        return buffer.transpose(np.argsort(perm))
    if layout == "strided":
        axis = draw(st.integers(0, ndim - 1))
        step = draw(st.integers(2, 3))
        big = list(values.shape)
        big[axis] *= step
        # NOTE: the gaps hold NaN (or a sentinel) so a kernel that ignores strides shows it loudly.
        fill = np.nan if values.dtype.kind in "fc" else 0
        buffer = np.full(big, fill, dtype=values.dtype)
        view = buffer[(slice(None),) * axis + (slice(None, None, step),)]
        view[...] = values
        return view
    if layout == "reversed":
        axis = draw(st.integers(0, ndim - 1))
        flip = (slice(None),) * axis + (slice(None, None, -1),)
        return np.ascontiguousarray(values[flip])[flip]
    return values


@st.composite
def arrays(draw, dtype=np.float64, shape=None, elements=None, noncontiguous=True):
    """Strategy for NumPy arrays, sometimes laid out non-contiguously.

    Args:
        dtype: the NumPy dtype (or its name, or a minidl dtype).
        shape: a shape tuple, an int, a strategy drawing shapes, or None for ``shapes()``.
        elements: a hypothesis strategy for the values, or None for finite values uniform in
            [-2, 2] (floats), integers in [-5, 5] (ints) or random booleans.
        noncontiguous: when True, the array is sometimes a permuted, strided or reversed
            view (a random permutation then permute back), always with the requested shape.

    Returns:
        A strategy drawing ``numpy.ndarray`` objects of the requested dtype and shape.

    Example:
        >>> import numpy as np
        >>> from hypothesis import given
        >>> from minidl.testing import arrays
        >>> @given(arrays(np.float32, shape=(2, 3)))
        ... def test_shape_and_dtype(a):
        ...     assert a.shape == (2, 3) and a.dtype == np.float32
        >>> test_shape_and_dtype()
    """
    dtype = _numpy_dtype(dtype)
    if shape is None:
        shape = shapes()
    if isinstance(shape, st.SearchStrategy):
        shape = draw(shape)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    if elements is None:
        values = _default_values(draw, shape, dtype)
    else:
        values = draw(hnp.arrays(dtype, shape, elements=elements))
    values = np.asarray(values, dtype=dtype).reshape(shape)
    return _relayout(draw, values) if noncontiguous else np.ascontiguousarray(values)


@st.composite
def tensors(draw, dtype="float64", shape=None, requires_grad=False, elements=None):
    """Strategy for minidl Tensors on the CPU, built from ``arrays()``.

    The array is wrapped with ``minidl.from_numpy`` so a non-contiguous layout reaches the
    Tensor unchanged; minidl is imported only when a tensor is drawn.

    Args:
        dtype: dtype name (``"float32"``, ``"float64"``, ``"int64"``, ``"bool"``), a NumPy
            dtype or a minidl dtype.
        shape: as for ``arrays()``.
        requires_grad: whether the drawn tensor is a leaf that requires grad.
        elements: as for ``arrays()``.

    Returns:
        A strategy drawing ``minidl.Tensor`` objects.

    Example:
        >>> from hypothesis import given
        >>> from minidl.testing import tensors
        >>> @given(tensors(shape=(2, 2), requires_grad=True))
        ... def test_leaf(t):
        ...     assert t.shape == (2, 2) and t.requires_grad and t.is_leaf
        >>> test_leaf()
    """
    import minidl as md

    np_dtype = _numpy_dtype(dtype)
    array = draw(arrays(np_dtype, shape=shape, elements=elements))
    t = md.from_numpy(array)
    if requires_grad:
        t.requires_grad_()
    return t
