"""Multi-digit addition written as characters, generated from a seed: the task of ``minidl train gpt``.

A problem with ``digits``-digit operands is one fixed-width string: both operands zero-padded to ``digits`` digits,
then the sum as ``digits + 1`` digits, by default written backwards (least significant digit first), the order in
which the digits are computed, carry by carry. With ``digits=3``::

    "123+456=" + "9750"      (579 = "0579", reversed)     reverse=True (the default)
    "123+456=" + "0579"                                    reverse=False

The vocabulary is ``"0123456789+="`` (token id = index in ``VOCAB``). The held-out problems are drawn first and the
training problems from the rest, so neither ``a+b`` nor ``b+a`` of a held-out problem is ever seen in training.
Everything is a pure function of the arguments: the same ``seed`` gives the same split.

Example:
    >>> (x_train, y_train), (x_test, y_test) = md.datasets.addition.load_data(digits=2, n_train=2000, n_test=200)
    >>> md.datasets.addition.decode(x_train[0]), y_train[0]          # inputs; targets are -100 on the prompt
"""
import numpy as np

VOCAB = "0123456789+="
IGNORE_INDEX = -100
_MAX_DIGITS = 9
_IDS = {c: i for i, c in enumerate(VOCAB)}


def _check(digits, n_train, n_test):
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or not 1 <= digits <= _MAX_DIGITS:
        raise ValueError(f"addition: digits must be an int in [1, {_MAX_DIGITS}], got {digits!r}")
    for name, n, low in (("n_train", n_train, 1), ("n_test", n_test, 0)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < low:
            raise ValueError(f"addition: {name} must be an int >= {low}, got {n!r}")
    space = 10 ** (2 * digits)
    if n_train + 2 * n_test > space:
        raise ValueError(f"addition: {n_train} training + {n_test} held-out problems do not fit in the "
                         f"{space} problems of {digits}-digit operands (need n_train + 2 * n_test <= {space})")


def prompt_length(digits):
    """Characters before the answer: ``2 * digits + 2`` (``"123+456="``)."""
    return 2 * digits + 2


def answer_length(digits):
    """Characters of the answer: ``digits + 1``."""
    return digits + 1


def encode(text):
    """Token ids (int64) of a string over ``VOCAB``; any other character is a ValueError naming it.

    Example:
        >>> encode("12+34=")
        array([ 1,  2, 10,  3,  4, 11])
    """
    bad = sorted({c for c in text if c not in _IDS})
    if bad:
        raise ValueError(f"addition: {text!r} holds characters outside the vocabulary {VOCAB!r}: "
                         f"{', '.join(repr(c) for c in bad)}")
    return np.array([_IDS[c] for c in text], dtype=np.int64)


def decode(ids):
    """The string of token ids (ids outside the vocabulary are a ValueError).

    Example:
        >>> decode([1, 2, 10, 3, 4, 11])
        '12+34='
    """
    ids = np.asarray(ids).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= len(VOCAB)):
        raise ValueError(f"addition: token ids must be in [0, {len(VOCAB)}), got {ids.tolist()}")
    return "".join(VOCAB[int(i)] for i in ids)


def format_problem(a, b, digits, reverse=True):
    """``(prompt, answer)`` strings of ``a + b``: ``("012+345=", "7530")`` for 12 + 345 with ``digits=3``.

    Example:
        >>> format_problem(123, 456, 3)
        ('123+456=', '9750')
    """
    if not (0 <= a < 10 ** digits and 0 <= b < 10 ** digits):
        raise ValueError(f"addition: operands must be in [0, {10 ** digits}) for {digits} digits, got {a} and {b}")
    answer = str(a + b).zfill(digits + 1)
    return f"{a:0{digits}d}+{b:0{digits}d}=", answer[::-1] if reverse else answer


def parse_answer(answer, reverse=True):
    """The integer an answer string stands for (None when it is not all digits).

    Example:
        >>> parse_answer("9750")
        579
    """
    if not answer or not answer.isdigit():
        return None
    return int(answer[::-1] if reverse else answer)


def problems(digits=3, n_train=20000, n_test=1000, seed=0, carry_fraction=0.0):
    """``(train, test)``: int64 arrays ``(n, 2)`` of operand pairs ``(a, b)``, all distinct, drawn from ``seed``.

    The ``n_test`` held-out pairs are drawn first, uniformly; a training pair is never a held-out pair in either
    order. ``carry_fraction`` of the training pairs are drawn so that each digit column sums to 9 with probability
    1/2 (else uniformly), so carries that run through several columns (``999+1``, ``455+545``), rare among uniform
    pairs, are well represented; the rest are uniform. The pairs come back shuffled.

    Example:
        >>> train, test = problems(digits=2, n_train=100, n_test=10)
    """
    _check(digits, n_train, n_test)
    if not 0.0 <= carry_fraction <= 1.0:
        raise ValueError(f"addition: carry_fraction must be in [0, 1], got {carry_fraction!r}")
    base = 10 ** digits
    rng = np.random.default_rng(seed)
    # distinct ordered pairs a * base + b; enough that, after dropping the swapped twins of held-out pairs
    # (at most one per held-out pair), n_train remain
    ids = rng.choice(base * base, size=n_train + 2 * n_test, replace=False)
    test_ids, rest = ids[:n_test], ids[n_test:]
    held_out = _unordered(test_ids, base)
    rest = rest[~np.isin(_unordered(rest, base), held_out)]
    n_carry = int(round(carry_fraction * n_train))
    uniform = rest[:n_train - n_carry]
    carry = np.empty(0, dtype=np.int64)
    for _ in range(8):                     # a few rounds: each draws more than enough unless the space is tiny
        if len(carry) >= n_carry:
            break
        a = rng.integers(0, base, 4 * n_carry + 16)
        column = 10 ** np.arange(digits)
        a_digits = a[:, None] // column % 10
        b_digits = np.where(rng.random(a_digits.shape) < 0.5, 9 - a_digits, rng.integers(0, 10, a_digits.shape))
        more = a * base + b_digits @ column
        more = more[~np.isin(_unordered(more, base), held_out) & ~np.isin(more, uniform)]
        carry = np.concatenate([carry, more])
        carry = carry[np.sort(np.unique(carry, return_index=True)[1])]
    if len(carry) < n_carry:
        raise ValueError(f"addition: could not draw {n_carry} distinct carry problems of {digits} digits outside "
                         f"the held-out set (lower carry_fraction or n_train)")
    train_ids = rng.permutation(np.concatenate([uniform, carry[:n_carry]]))
    return _pairs(train_ids, base), _pairs(test_ids, base)


def _pairs(ids, base):
    return np.stack([ids // base, ids % base], axis=1).astype(np.int64)


def _unordered(ids, base):
    """One key per unordered pair: ``min(a, b) * base + max(a, b)``."""
    a, b = ids // base, ids % base
    return np.minimum(a, b) * base + np.maximum(a, b)


def strings(pairs, digits, reverse=True):
    """The full problem strings (prompt + answer) of operand pairs.

    Example:
        >>> strings([[12, 345]], 3)
        ['012+345=7530']
    """
    return ["".join(format_problem(int(a), int(b), digits, reverse)) for a, b in np.asarray(pairs).reshape(-1, 2)]


def tokens(pairs, digits, reverse=True):
    """Token ids ``(n, 3 * digits + 3)`` of the full problem strings, built without a Python loop per character.

    Example:
        >>> tokens([[1, 2]], 1)
        array([[ 1, 10,  2, 11,  3,  0]])
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= 10 ** digits):
        raise ValueError(f"addition: operands must be in [0, {10 ** digits}) for {digits} digits")
    powers = 10 ** np.arange(digits, -1, -1, dtype=np.int64)               # most significant first

    def digits_of(values, width):
        return (values[:, None] // powers[-width:]) % 10

    n = len(pairs)
    answer = digits_of(pairs.sum(1), digits + 1)
    if reverse:
        answer = answer[:, ::-1]
    return np.concatenate([digits_of(pairs[:, 0], digits), np.full((n, 1), _IDS["+"]),
                           digits_of(pairs[:, 1], digits), np.full((n, 1), _IDS["="]), answer],
                          axis=1).astype(np.int64)


def inputs_targets(seqs, digits):
    """Next-token inputs and targets of full token sequences: ``x = seqs[:, :-1]``, ``y = seqs[:, 1:]`` with
    every target before the answer set to ``IGNORE_INDEX`` (-100), so a loss sees only the answer tokens.

    Example:
        >>> x, y = inputs_targets(tokens([[1, 2]], 1), 1)
        >>> y
        array([[-100, -100, -100,    3,    0]])
    """
    seqs = np.asarray(seqs, dtype=np.int64)
    x, y = seqs[:, :-1].copy(), seqs[:, 1:].copy()
    y[:, :prompt_length(digits) - 1] = IGNORE_INDEX
    return x, y


def load_data(digits=3, n_train=20000, n_test=1000, reverse=True, seed=0, carry_fraction=0.0):
    """``(x_train, y_train), (x_test, y_test)``: int64 arrays ``(n, 3 * digits + 2)`` for next-token training.

    ``x`` is a problem string without its last character, ``y`` the string shifted by one with the prompt part
    set to -100 (the cross-entropy ``ignore_index``), so the loss counts only the ``digits + 1`` answer tokens.
    See the module docstring for the format and the split, :func:`problems` for ``carry_fraction``.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data(digits=3, n_train=20000, n_test=1000, seed=0)
        >>> x_train.shape, y_train.shape
        ((20000, 11), (20000, 11))
    """
    train, test = problems(digits, n_train, n_test, seed, carry_fraction)
    return (inputs_targets(tokens(train, digits, reverse), digits),
            inputs_targets(tokens(test, digits, reverse), digits))
