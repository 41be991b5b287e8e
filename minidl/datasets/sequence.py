"""Sequence utilities: ``pad_sequences`` with Keras' semantics."""
import numpy as np


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (or cut) a list of sequences to one length, returning a 2-D array ``(len(sequences), maxlen)``.

    Args:
        sequences: a list of sequences (lists or arrays; items may themselves be arrays of one shape).
        maxlen: the output length; default the longest sequence.
        dtype: output dtype (default ``"int32"``).
        padding: ``"pre"`` (default) pads at the start, ``"post"`` at the end.
        truncating: ``"pre"`` (default) drops values from the start of longer sequences, ``"post"`` from the end.
        value: the padding value (default 0).

    Example:
        >>> md.datasets.pad_sequences([[1, 2, 3], [4]], maxlen=2)
        array([[2, 3],
               [0, 4]], dtype=int32)
    """
    if padding not in ("pre", "post"):
        raise ValueError(f'pad_sequences: padding type "{padding}" not understood (use "pre" or "post")')
    if truncating not in ("pre", "post"):
        raise ValueError(f'pad_sequences: truncating type "{truncating}" not understood (use "pre" or "post")')
    if not hasattr(sequences, "__len__"):
        raise ValueError("pad_sequences: `sequences` must be iterable with a length")
    lengths, sample_shape, found = [], (), False
    for i, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ValueError(f"pad_sequences: `sequences` must be a list of iterables; item {i} is "
                             f"{type(s).__name__}")
        lengths.append(len(s))
        if len(s) and not found:
            sample_shape, found = np.asarray(s).shape[1:], True
    if maxlen is None:
        maxlen = max(lengths, default=0)
    is_str = np.issubdtype(np.dtype(dtype), np.str_)
    if isinstance(value, str) and np.dtype(dtype) != object and not is_str:
        raise ValueError(f"pad_sequences: dtype {dtype} is not compatible with the string padding value {value!r}")
    out = np.full((len(sequences), maxlen) + tuple(sample_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        kept = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if kept.shape[1:] != tuple(sample_shape):
            raise ValueError(f"pad_sequences: item {i} has values of shape {kept.shape[1:]}, unlike the others' "
                             f"{tuple(sample_shape)}")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, -len(kept):] = kept
    return out
