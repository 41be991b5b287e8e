"""Testing helpers for minidl and for code built on it.

Hypothesis strategies (``shapes``, ``broadcastable_shapes``, ``arrays``, ``tensors``,
``conv2d_geometries``, ``pool2d_geometries``) and two assertions: ``assert_gradcheck`` checks
an op's gradients against finite differences, ``assert_providers_agree`` checks every kernel
provider against the NumPy reference.

Example:
    >>> import minidl as md
    >>> from minidl.testing import assert_gradcheck
    >>> x = md.randn(3, dtype=md.float64, requires_grad=True)
    >>> assert_gradcheck(lambda t: (t * t).sum(), x)
"""
import numpy as np

from .strategies import arrays, broadcastable_shapes, shapes, tensors

try:
    from .geometry import conv2d_geometries, pool2d_geometries
except ModuleNotFoundError as exc:  # geometry.py not written yet: say so when asked for
    if exc.name != __name__ + ".geometry":
        raise
    _geometry_error = exc

    def conv2d_geometries(*args, **kwargs):
        raise ImportError(f"minidl.testing.conv2d_geometries is unavailable: {_geometry_error}")

    def pool2d_geometries(*args, **kwargs):
        raise ImportError(f"minidl.testing.pool2d_geometries is unavailable: {_geometry_error}")

__all__ = [
    "arrays",
    "assert_gradcheck",
    "assert_providers_agree",
    "broadcastable_shapes",
    "conv2d_geometries",
    "pool2d_geometries",
    "shapes",
    "tensors",
]


def _layout_preserving_copy(a):
    """A float64 copy of ``a`` that stays non-contiguous when ``a`` is."""
    if a.flags.c_contiguous or a.size <= 1:
        return np.array(a, dtype=np.float64, order="C")
    if a.flags.f_contiguous or all(s > 0 for s in a.strides):
        copy = np.empty_like(a, dtype=np.float64, order="K")  # keeps a permuted order
        if not copy.flags.c_contiguous:
            copy[...] = a
            return copy
    # strided or reversed: a view on every other element of a bigger buffer
    copy = np.empty(a.shape + (2,), dtype=np.float64)[..., 0]
    copy[...] = a
    return copy


def _as_input(x):
    import minidl as md

    if isinstance(x, md.Tensor):
        return x
    t = md.from_numpy(_layout_preserving_copy(np.asarray(x)))
    return t.requires_grad_()


def assert_gradcheck(fn, *inputs, **tol):
    """Assert that ``fn``'s analytic gradients match central finite differences.

    Calls ``minidl.autograd.gradcheck(fn, inputs, **tol)``; its error names the input and the
    largest mismatch. NumPy arrays (and lists) are turned into float64 leaf Tensors that require
    grad, keeping a non-contiguous layout non-contiguous; Tensors are passed unchanged.

    Args:
        fn: a callable taking the inputs positionally and returning a Tensor or a tuple of them.
        *inputs: Tensors or array-likes.
        **tol: ``eps``, ``atol``, ``rtol`` and any other option of ``minidl.autograd.gradcheck``.

    Raises:
        AssertionError: (``minidl.autograd.GradcheckError``) when the gradients disagree.

    Example:
        >>> import numpy as np
        >>> import minidl as md
        >>> from minidl.testing import assert_gradcheck
        >>> assert_gradcheck(md.tanh, np.linspace(-1, 1, 5))
        >>> assert_gradcheck(lambda a, b: a * b, np.ones((2, 3)), np.arange(3.0), atol=1e-6)
    """
    import minidl as md

    tensors_in = tuple(_as_input(x) for x in inputs)
    result = md.autograd.gradcheck(fn, tensors_in, **tol)
    assert result is True, f"gradcheck returned {result!r} instead of True or raising"


def _device_of(arrays_):
    for a in arrays_:
        if type(a).__module__.split(".")[0] == "cupy":
            return "cuda"
    return "cpu"


def _to_host(x):
    if isinstance(x, (tuple, list)):
        return type(x)(_to_host(v) for v in x)
    if type(x).__module__.split(".")[0] == "cupy":
        return x.get()
    return x


def _fresh(x):
    # NOTE: every provider gets its own copies: batch_norm updates running statistics in place.
    if isinstance(x, (tuple, list)):
        return type(x)(_fresh(v) for v in x)
    return x.copy() if hasattr(x, "copy") and hasattr(x, "dtype") else x


def _default_tol(dtype):
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        return 1e-2, 1e-2
    if dtype == np.float32:
        return 1e-4, 1e-5
    return 1e-7, 1e-9


def _compare(kernel, provider, what, got, want, rtol, atol):
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want), (
            f"{kernel}: provider {provider!r} returned {type(got).__name__} of length "
            f"{len(got) if isinstance(got, (tuple, list)) else '-'} for {what}, reference has {len(want)}")
        for i, (g, w) in enumerate(zip(got, want)):
            _compare(kernel, provider, f"{what}[{i}]", g, w, rtol, atol)
        return
    if want is None or np.isscalar(want) and not hasattr(want, "dtype"):
        assert got == want, f"{kernel}: provider {provider!r} gives {got!r} for {what}, reference {want!r}"
        return
    got, want = np.asarray(_to_host(got)), np.asarray(want)
    assert got.shape == want.shape, (
        f"{kernel}: provider {provider!r} gives shape {tuple(got.shape)} for {what}, "
        f"reference {tuple(want.shape)}")
    assert got.dtype == want.dtype, (
        f"{kernel}: provider {provider!r} gives dtype {got.dtype} for {what}, reference {want.dtype}")
    if want.dtype.kind in "fc":
        r, a = _default_tol(want.dtype)
        r, a = (r if rtol is None else rtol), (a if atol is None else atol)
        np.testing.assert_allclose(got, want, rtol=r, atol=a, equal_nan=True,
                                   err_msg=f"{kernel}: provider {provider!r} vs reference 'numpy', {what}")
    else:
        np.testing.assert_array_equal(got, want, err_msg=f"{kernel}: provider {provider!r} vs 'numpy', {what}")


def assert_providers_agree(kernel, *args, rtol=None, atol=None, providers=None):
    """Assert every usable provider of a kernel matches the reference provider ``"numpy"``.

    The device comes from the array arguments (CuPy arrays: ``"cuda"``, else ``"cpu"``). Each
    usable provider of that device implementing ``kernel`` runs on fresh copies of ``args``;
    its output (recursively, for tuple outputs) and any argument it updates in place (the
    running statistics of ``batch_norm``) are compared with the reference run on host copies.
    Floating outputs use ``rtol``/``atol`` (defaults by dtype: float64 1e-7/1e-9, float32
    1e-4/1e-5), integer outputs such as pooling indices must match exactly.

    Args:
        kernel: the kernel name, e.g. ``"conv2d"`` or ``"conv2d_backward"`` (see KERNELS.md).
        *args: the kernel's positional arguments (arrays and geometry tuples).
        rtol: relative tolerance for floating outputs, or None for the dtype's default.
        atol: absolute tolerance for floating outputs, or None for the dtype's default.
        providers: names to check (each must be usable and implement the kernel), or None for
            every usable provider that implements it.

    Returns:
        The list of provider names that were compared with the reference.

    Example:
        >>> import numpy as np
        >>> from minidl.testing import assert_providers_agree
        >>> a, b = np.random.rand(2, 3), np.random.rand(3, 4)
        >>> names = assert_providers_agree("matmul", a, b)
        >>> "numpy" in names
        True
    """
    from minidl import backends

    reference = backends.provider_kernel("numpy", kernel)
    if reference is None:
        raise LookupError(f"{kernel}: the reference provider 'numpy' does not implement it")
    device = _device_of(args)
    usable = list(backends.usable(device))
    if providers is None:
        names = [p for p in usable if backends.provider_kernel(p, kernel) is not None]
    else:
        names = list(providers)
        for p in names:
            if p not in usable:
                raise LookupError(f"{kernel}: provider {p!r} is not usable on {device!r} (usable: {usable})")
            if backends.provider_kernel(p, kernel) is None:
                raise LookupError(f"{kernel}: provider {p!r} does not implement it")

    host_args = _fresh(_to_host(list(args)))
    want = reference(*host_args)
    for name in names:
        if name == "numpy" and device == "cpu":
            continue  # the reference itself
        run_args = _fresh(list(args))
        got = backends.provider_kernel(name, kernel)(*run_args)
        _compare(kernel, name, "output", got, want, rtol, atol)
        for i, (after, ref_after) in enumerate(zip(run_args, host_args)):
            if hasattr(ref_after, "dtype") and hasattr(after, "dtype"):
                _compare(kernel, name, f"argument {i} after the call", after, ref_after, rtol, atol)
    return names
