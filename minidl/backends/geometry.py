"""Window geometry shared by the ops layer (validation) and the kernels (allocation)."""


def output_size(size, k, s, p, d, ceil_mode=False):
    """Output length of a sliding window along one axis, exactly as PyTorch's ``pooling_output_shape``.

    ``size`` input length, ``k`` kernel, ``s`` stride, ``p`` padding per side, ``d`` dilation. Never negative.
    """
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    # NOTE: with ceil_mode the last window must start inside the input or the left padding, else it is dropped.
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return max(out, 0)
