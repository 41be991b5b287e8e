"""``md.backends.mps``: Apple's Metal backend, which minidl does not have; the probes PyTorch programs make answer
False, so they fall back to the CPU (or CUDA).

Example:
    >>> md.backends.mps.is_available()
    False
"""


def is_available():
    """False: minidl has no Metal (MPS) backend."""
    return False


def is_built():
    """False: minidl has no Metal (MPS) backend."""
    return False
