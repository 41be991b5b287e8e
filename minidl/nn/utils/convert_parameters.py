"""Parameters flattened into one vector and back (``parameters_to_vector``, ``vector_to_parameters``)."""
from ... import ops
from ...tensor import Tensor


def parameters_to_vector(parameters):
    """All parameters concatenated into one 1-d tensor (differentiable).

    Example:
        >>> md.nn.utils.parameters_to_vector(md.nn.Linear(3, 2).parameters()).shape
        (8,)
    """
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    return ops.cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-d ``vec`` into the parameters (their values, not their graph)."""
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-d Tensor, got {type(vec).__name__}"
                        + (f" of shape {vec.shape}" if isinstance(vec, Tensor) else ""))
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if total != vec.numel():
        raise ValueError(f"vector_to_parameters: the vector has {vec.numel()} elements, the parameters {total}")
    start = 0
    for p in params:
        n = p.numel()
        p.array[...] = vec.array[start:start + n].reshape(p.shape).astype(p.array.dtype)
        p._version += 1
        start += n


__all__ = ["parameters_to_vector", "vector_to_parameters"]
