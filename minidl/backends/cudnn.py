"""``md.backends.cudnn``: PyTorch's cuDNN switches, accepted so programs that set them run. minidl's convolutions do
not use cuDNN (they are minidl's own kernels), so ``is_available()`` is False and the flags change nothing.

Example:
    >>> md.backends.cudnn.benchmark = True     # accepted; minidl's conv picks its algorithm by timing anyway
"""
enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available():
    """False: minidl does not use cuDNN."""
    return False


def version():
    """None: minidl does not use cuDNN."""
    return None
