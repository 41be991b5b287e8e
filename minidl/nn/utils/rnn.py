"""``md.nn.utils.rnn``: batching variable-length sequences (``pad_sequence``).

Packed sequences (``pack_padded_sequence``, ``pad_packed_sequence``) are not provided: minidl's recurrent layers
take padded batches only.
"""
from ...creation import full
from ...ops import cat, stack
from ...tensor import Tensor

__all__ = ["pad_sequence"]


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences of lengths ``L_i`` (shapes ``(L_i, *)``) into one padded batch, differentiably.

    The result has shape ``(max L_i, B, *)``, or ``(B, max L_i, *)`` with ``batch_first``; the places past a
    sequence's end hold ``padding_value``, after it (``padding_side="right"``) or before it (``"left"``).

    Example:
        >>> pad_sequence([md.ones(3), md.ones(1)], batch_first=True).tolist()
        [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: received an empty list of sequences")
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise TypeError(f"pad_sequence: sequence {i} is a {type(s).__name__}, expected a Tensor")
        if s.ndim == 0:
            raise ValueError(f"pad_sequence: sequence {i} is 0-d; each sequence needs a length dimension")
    trail = sequences[0].shape[1:]
    for i, s in enumerate(sequences):
        if s.shape[1:] != trail:
            raise ValueError(f"pad_sequence: sequence {i} has shape {s.shape}, but its trailing dimensions must "
                             f"match those of sequence 0 {tuple(sequences[0].shape)}")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            pad = full((missing, *trail), padding_value, dtype=s.dtype, device=s.device)
            s = cat([s, pad] if padding_side == "right" else [pad, s], 0)
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)
