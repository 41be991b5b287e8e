"""Seeded synthetic data sets for offline demos of every model family, Keras-style returns.

Each generator returns ``(x_train, y_train), (x_test, y_test)`` as NumPy arrays and is a pure
function of its arguments (same ``seed``, same arrays). ``load_data(task, ...)`` picks one by name.
"""
import numpy as np

from .sequence import pad_sequences


def _split(x, y, test_split):
    if not 0.0 <= test_split < 1.0:
        raise ValueError(f"synthetic: test_split must be in [0, 1), got {test_split}")
    n_test = int(round(len(x) * test_split))
    n_train = len(x) - n_test
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def _check_n(n, minimum=1):
    if int(n) != n or n < minimum:
        raise ValueError(f"synthetic: n must be an integer >= {minimum}, got {n}")


def classification(n=1000, n_features=20, n_classes=3, spread=1.0, test_split=0.2, seed=0):
    """Gaussian blobs in feature space, one per class: a task for MLPs.

    Class centres are drawn on a sphere of radius 3; samples add unit-variance noise times ``spread``.

    Returns:
        ``x`` float32 ``(N, n_features)``, ``y`` int64 in ``[0, n_classes)``.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = md.datasets.synthetic.classification(n=500, n_classes=4)
    """
    _check_n(n)
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, n_features))
    centres *= 3.0 / np.linalg.norm(centres, axis=1, keepdims=True)
    y = rng.integers(0, n_classes, n)
    x = centres[y] + spread * rng.standard_normal((n, n_features))
    return _split(x.astype(np.float32), y.astype(np.int64), test_split)


def images(n=1000, n_classes=4, size=16, channels=1, noise=0.3, test_split=0.2, seed=0):
    """Small images whose class is the orientation of a striped pattern at a random phase: a task for CNNs.

    Class ``k`` has stripes at angle ``pi * k / n_classes``; the random phase moves them around, so the
    class is a local, translation-invariant feature (what convolutions find), plus Gaussian noise.

    Returns:
        ``x`` float32 ``(N, channels, size, size)`` (NCHW), roughly in [0, 1]; ``y`` int64 in ``[0, n_classes)``.

    Example:
        >>> (x_train, y_train), _ = md.datasets.synthetic.images(n=256, size=12)   # x_train: (205, 1, 12, 12)
    """
    _check_n(n)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    angle = np.pi * y / n_classes
    freq = 2 * np.pi / 4.0                                  # a 4-pixel period
    phase = rng.uniform(0, 2 * np.pi, n)
    r, c = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    proj = np.cos(angle)[:, None, None] * c + np.sin(angle)[:, None, None] * r
    x = 0.5 + 0.5 * np.sin(freq * proj + phase[:, None, None])
    x = np.repeat(x[:, None], channels, axis=1) + noise * rng.standard_normal((n, channels, size, size))
    return _split(x.astype(np.float32), y.astype(np.int64), test_split)


def sequences(n=1000, length=20, vocab_size=12, n_classes=2, test_split=0.2, seed=0):
    """Integer sequences whose label is the class token seen at the start, followed by noise: a memory task.

    Tokens ``1..n_classes`` are class markers and appear only at position 0; positions ``1..length-1``
    are random noise tokens from ``n_classes+1 .. vocab_size-1`` (0 stays free for padding). A model must
    carry the first token through ``length - 1`` steps: a task for RNNs, not for bag-of-words models.

    Returns:
        ``x`` int64 ``(N, length)``, ``y`` int64 in ``[0, n_classes)``.

    Example:
        >>> (x_train, y_train), _ = md.datasets.synthetic.sequences(n=500, length=30)
    """
    _check_n(n)
    if vocab_size < n_classes + 2:
        raise ValueError(f"synthetic.sequences: vocab_size must be at least n_classes + 2 = {n_classes + 2}")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    x = rng.integers(n_classes + 1, vocab_size, (n, length))
    x[:, 0] = y + 1
    return _split(x.astype(np.int64), y.astype(np.int64), test_split)


def sentiment(n=1000, maxlen=40, vocab_size=100, n_sentiment_words=5, test_split=0.2, seed=0):
    """Integer "reviews": neutral filler plus a few positive and negative words; the majority decides the label.

    Tokens ``1..k`` are positive and ``k+1..2k`` negative (``k = n_sentiment_words``); the rest up to
    ``vocab_size - 1`` are neutral; 0 is padding. Each review has between ``maxlen // 2`` and ``maxlen``
    tokens, 1-5 sentiment words of one polarity and fewer of the other; it is padded at the start to
    ``maxlen`` (like ``pad_sequences``). Label 1 means positive.

    Returns:
        ``x`` int64 ``(N, maxlen)``, ``y`` int64 in ``{0, 1}``.

    Example:
        >>> (x_train, y_train), _ = md.datasets.synthetic.sentiment(n=2000, vocab_size=200)
    """
    _check_n(n)
    k = n_sentiment_words
    if vocab_size < 2 * k + 2 or maxlen < 12:
        raise ValueError("synthetic.sentiment: need vocab_size >= 2 * n_sentiment_words + 2 and maxlen >= 12")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    reviews = []
    for label in y:
        length = int(rng.integers(maxlen // 2, maxlen + 1))
        strong = int(rng.integers(1, 6))
        weak = int(rng.integers(0, strong))
        pos, neg = (strong, weak) if label else (weak, strong)
        words = np.concatenate([rng.integers(1, k + 1, pos), rng.integers(k + 1, 2 * k + 1, neg),
                                rng.integers(2 * k + 1, vocab_size, length - pos - neg)])
        reviews.append(rng.permutation(words))
    x = pad_sequences(reviews, maxlen=maxlen, dtype="int64")
    return _split(x, y.astype(np.int64), test_split)


def reconstruction(n=1000, n_features=32, latent_dim=4, noise=0.05, test_split=0.2, seed=0):
    """Points near a ``latent_dim``-dimensional curved manifold in ``n_features`` dimensions: for autoencoders.

    ``x = sigmoid(z @ W) + noise`` with ``z`` standard normal, so an autoencoder with a bottleneck of
    ``latent_dim`` can reconstruct it well. ``y`` is a copy of ``x`` (the target of ``fit(x, x)``).

    Returns:
        ``x`` and ``y`` float32 ``(N, n_features)`` in roughly [0, 1].

    Example:
        >>> (x_train, _), (x_test, _) = md.datasets.synthetic.reconstruction(n=800, n_features=64)
    """
    _check_n(n)
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((latent_dim, n_features)) * 1.5
    z = rng.standard_normal((n, latent_dim))
    x = 1.0 / (1.0 + np.exp(-(z @ w))) + noise * rng.standard_normal((n, n_features))
    x = x.astype(np.float32)
    return _split(x, x.copy(), test_split)


TASKS = {
    "classification": classification,
    "blobs": images,            # SPEC: "blobs" are class-conditional images
    "images": images,
    "sequence": sequences,
    "sequences": sequences,
    "sentiment": sentiment,
    "reconstruction": reconstruction,
}


def load_data(task, n=1000, seed=0, **kwargs):
    """Generate the synthetic task ``task`` with ``n`` samples (train + test) from ``seed``.

    Args:
        task: one of ``"classification"``, ``"blobs"`` / ``"images"``, ``"sequence"``, ``"sentiment"``,
            ``"reconstruction"``.
        n: total number of samples; ``test_split`` (default 0.2) of them form the test set.
        seed: the seed; the same arguments always give the same arrays.
        **kwargs: passed to the generator (see each function).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = md.datasets.synthetic.load_data("sequence", n=1000)
    """
    if task not in TASKS:
        raise ValueError(f"synthetic.load_data: unknown task {task!r}; choose one of {', '.join(sorted(TASKS))}")
    return TASKS[task](n=n, seed=seed, **kwargs)
