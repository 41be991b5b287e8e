"""``md.nn.utils.rnn``: batching variable-length sequences: ``pad_sequence`` and PyTorch's packed sequences
(``PackedSequence``, ``pack_padded_sequence``, ``pad_packed_sequence``, ``pack_sequence``), which ``RNN``, ``LSTM``
and ``GRU`` take as input.
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


# --- packed sequences (issue 14, programs: seq) ----------------------------------------------------------------------
import collections  # noqa: E402

import numpy as np  # noqa: E402

__all__ += ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pack_sequence"]


class PackedSequence(collections.namedtuple("PackedSequence",
                                            ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """Sequences of different lengths packed time step by time step, as PyTorch's.

    ``data`` (sum of lengths, *) holds step 0 of every sequence, then step 1 of those still running, ...;
    ``batch_sizes[t]`` (int64) is how many sequences run at step t; the sequences are in decreasing length
    order, ``sorted_indices`` maps that order to the caller's batch (None when it already was) and
    ``unsorted_indices`` is its inverse. Build one with ``pack_padded_sequence`` or ``pack_sequence``.

    Example:
        >>> p = pack_sequence([md.tensor([1., 2., 3.]), md.tensor([4.])])
        >>> p.data.tolist(), p.batch_sizes.tolist()
        ([1.0, 4.0, 2.0, 3.0], [2, 1, 1])
    """

    def __new__(cls, data, batch_sizes, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """The same packing with ``data`` moved/cast by ``Tensor.to`` (the indices follow the device)."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self

        def move(t):
            return None if t is None else t.to(data.device)
        return type(self)(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    @property
    def is_cuda(self):
        return self.data.is_cuda


def _invert(perm):
    from ...creation import tensor
    inv = np.empty(len(perm), dtype=np.int64)
    inv[perm.numpy()] = np.arange(len(perm))
    return tensor(inv, device=perm.device)


def _lengths(lengths):
    """``lengths`` (a list, tuple, NumPy array or 1-D tensor) as a NumPy int64 array."""
    arr = lengths.numpy() if isinstance(lengths, Tensor) else np.asarray(lengths)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"pack_padded_sequence: lengths must be a 1-D sequence of ints, got {arr.dtype} of shape "
                         f"{arr.shape}")
    return arr.astype(np.int64)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):  # noqa: A002
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) of sequences of ``lengths``.

    With ``enforce_sorted=True`` the lengths must be non-increasing; with False the batch is sorted here and the
    order is kept in ``sorted_indices``. Differentiable with respect to ``input``.

    Example:
        >>> x = md.tensor([[1., 2., 3.], [4., 5., 0.]])
        >>> pack_padded_sequence(x, [3, 2], batch_first=True).data.tolist()
        [1.0, 4.0, 2.0, 5.0, 3.0]
    """
    from ...creation import tensor
    if not isinstance(input, Tensor):
        raise TypeError(f"pack_padded_sequence: input must be a Tensor, got {type(input).__name__}")
    lens = _lengths(lengths)
    batch_dim = 0 if batch_first else 1
    if input.ndim < 2 or input.shape[batch_dim] != len(lens):
        raise ValueError(f"pack_padded_sequence: input of shape {input.shape} (batch_first={batch_first}) does not "
                         f"hold {len(lens)} sequences, one per length")
    if len(lens) and lens.min() <= 0:
        raise RuntimeError("pack_padded_sequence: length of all samples has to be greater than 0, but found an "
                           f"element in 'lengths' that is <= 0 (lengths {lens.tolist()})")
    if lens.max() > input.shape[1 - batch_dim]:
        raise ValueError(f"pack_padded_sequence: a length {int(lens.max())} exceeds the {input.shape[1 - batch_dim]} "
                         f"time steps of input of shape {input.shape}")
    sorted_indices = None
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise RuntimeError("pack_padded_sequence: `lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True. You can pass `enforce_sorted=False` to pack_padded_sequence "
                               "and/or pack_sequence to sidestep this requirement if you do not need ONNX "
                               "exportability.")
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_indices = tensor(order, device=input.device)
        input = input.index_select(batch_dim, sorted_indices)
        lens = lens[order]
    x = input.transpose(0, 1) if batch_first else input
    batch_sizes = (lens[None, :] > np.arange(int(lens[0]))[:, None]).sum(1)
    data = cat([x[t, :int(b)] for t, b in enumerate(batch_sizes)], 0)
    return PackedSequence(data, tensor(batch_sizes.astype(np.int64)), sorted_indices)


def _padded_sorted(sequence, padding_value=0.0, total_length=None):
    """(T, B, *) in the packed (decreasing length) order, and the lengths in that order."""
    data, sizes = sequence.data, sequence.batch_sizes.numpy().astype(np.int64)
    steps = len(sizes) if total_length is None else total_length
    batch, trail = int(sizes[0]), data.shape[1:]
    rows, start = [], 0
    for b in sizes:
        chunk = data[start:start + int(b)]
        if b < batch:
            chunk = cat([chunk, full((batch - int(b), *trail), padding_value, dtype=data.dtype, device=data.device)])
        rows.append(chunk)
        start += int(b)
    rows += [full((batch, *trail), padding_value, dtype=data.dtype, device=data.device)] * (steps - len(sizes))
    return stack(rows, 0), (sizes[None, :] > np.arange(batch)[:, None]).sum(1)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo ``pack_padded_sequence``: ``(padded, lengths)`` with the batch in the caller's original order.

    ``padded`` is ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``), T the longest length or ``total_length``;
    ``lengths`` is an int64 tensor. Differentiable with respect to ``sequence.data``.

    Example:
        >>> p = pack_sequence([md.tensor([1., 2.]), md.tensor([3., 4., 5.])], enforce_sorted=False)
        >>> out, lengths = pad_packed_sequence(p, batch_first=True)
        >>> out.tolist(), lengths.tolist()
        ([[1.0, 2.0, 0.0], [3.0, 4.0, 5.0]], [2, 3])
    """
    from ...creation import tensor
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}")
    longest = len(sequence.batch_sizes)
    if total_length is not None and total_length < longest:
        raise ValueError("pad_packed_sequence: expected total_length to be at least the length of the longest "
                         f"sequence in input, but got total_length={total_length} and max sequence length being "
                         f"{longest}")
    padded, lens = _padded_sorted(sequence, padding_value, total_length)
    lengths = tensor(lens.astype(np.int64))
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = tensor(lens[sequence.unsorted_indices.numpy()].astype(np.int64))
    return (padded.transpose(0, 1) if batch_first else padded), lengths


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors ``(L_i, *)``: ``pack_padded_sequence(pad_sequence(sequences), lengths)``.

    Example:
        >>> pack_sequence([md.ones(2, 3), md.ones(1, 3)]).data.shape
        (3, 3)
    """
    lengths = [s.shape[0] if isinstance(s, Tensor) and s.ndim else 0 for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Split a padded batch back into its sequences: the inverse of ``pad_sequence`` given the ``lengths``.

    Example:
        >>> [s.tolist() for s in unpad_sequence(md.tensor([[1., 2.], [3., 0.]]), [2, 1], batch_first=True)]
        [[1.0, 2.0], [3.0]]
    """
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    lens = _lengths(lengths)
    if len(lens) != x.shape[0] or (len(lens) and lens.max() > x.shape[1]):
        raise ValueError(f"unpad_sequence: lengths {lens.tolist()} do not fit padded sequences of shape "
                         f"{padded_sequences.shape} (batch_first={batch_first})")
    return [x[i, :int(n)] for i, n in enumerate(lens)]


def unpack_sequence(packed_sequences):
    """The list of sequences a ``PackedSequence`` holds, in the caller's original order (inverse of ``pack_sequence``).

    Example:
        >>> [s.tolist() for s in unpack_sequence(pack_sequence([md.tensor([1.]), md.tensor([2., 3.])], False))]
        [[1.0], [2.0, 3.0]]
    """
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


__all__ += ["unpad_sequence", "unpack_sequence"]
