"""``md.keras.utils.image_dataset_from_directory`` and ``text_dataset_from_directory``: datasets of real files in
class subfolders, batched for ``model.fit``.

The files are indexed as Keras indexes them (class folders in alphanumeric order, files sorted within each, then
shuffled with ``numpy.random.RandomState(seed)``), split by ``validation_split``/``subset`` as Keras splits them (the
last ``int(validation_split * n)`` files are the validation set), and read batch by batch while iterating. Images
are decoded by Pillow (the optional extra ``minidl[image]``).
"""
import math
import os

import numpy as np

from .layers.base import host
from .layers.preprocessing_image import resize_images
from ..tensor import Tensor

__all__ = ["FileDataset", "image_dataset_from_directory", "text_dataset_from_directory"]

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_COLOR_CHANNELS = {"grayscale": ("L", 1), "rgb": ("RGB", 3), "rgba": ("RGBA", 4)}
_LABEL_MODES = ("int", "categorical", "binary", None)


def _pillow(who):
    try:
        from PIL import Image  # noqa: PLC0415
    except ImportError:
        raise ImportError(f"{who} reads images with Pillow, which is not installed: pip install \"minidl[image]\"") \
            from None
    return Image


class FileDataset:
    """A batched dataset: iterating gives ``(x, y)`` batches of NumPy arrays (``x`` alone without labels);
    ``len()`` is the number of batches, so ``model.fit(dataset)`` trains on it. ``class_names`` and ``file_paths``
    say what it holds. ``map``, ``cache``, ``prefetch``, ``shuffle``, ``take``, ``skip`` and ``unbatch`` return
    new datasets as their ``tf.data`` namesakes do.

    Example:
        >>> ds = md.keras.utils.image_dataset_from_directory("photos", image_size=(64, 64), batch_size=8)
        >>> ds = ds.map(lambda x, y: (x / 255.0, y)).cache().prefetch(2)
        >>> model.fit(ds, epochs=3)
    """

    def __init__(self, make_iter, length, class_names=None, file_paths=None):
        self._make_iter, self._length = make_iter, length
        self.class_names, self.file_paths = class_names, file_paths

    def _derived(self, make_iter, length):
        return FileDataset(make_iter, length, self.class_names, self.file_paths)

    def __iter__(self):
        return iter(self._make_iter())

    def __len__(self):
        return self._length

    def cardinality(self):
        """The number of batches (as ``len``)."""
        return self._length

    def as_numpy_iterator(self):
        """An iterator over the batches as NumPy arrays (Tensors a ``map`` made are copied to NumPy)."""
        def numpy(v):
            if isinstance(v, Tensor):
                return host(v)
            if isinstance(v, tuple):
                return tuple(numpy(a) for a in v)
            return v
        return (numpy(item) for item in self)

    def map(self, map_func, num_parallel_calls=None, deterministic=None):
        """A dataset of ``map_func(x, y)`` for each ``(x, y)`` batch (``map_func(x)`` without labels)."""
        if not callable(map_func):
            raise TypeError(f"map: map_func must be callable, got {type(map_func).__name__}")

        def gen():
            for item in self:
                yield map_func(*item) if isinstance(item, tuple) else map_func(item)
        return self._derived(gen, self._length)

    def cache(self, filename=""):
        """A dataset that keeps the batches of its first complete pass in memory and replays them (in that order)
        afterwards, as ``tf.data``'s cache; ``filename`` (a file cache) is not supported."""
        if filename:
            raise ValueError("cache: md.keras caches in memory only; call cache() without a filename")
        store = {}

        def gen():
            if "batches" in store:
                yield from store["batches"]
                return
            seen = []
            for item in self:
                seen.append(item)
                yield item
            store["batches"] = seen
        return self._derived(gen, self._length)

    def prefetch(self, buffer_size=None):
        """The same batches (md.keras reads them when the loop asks; there is no background reader to fill)."""
        return self._derived(self._make_iter, self._length)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """A dataset whose elements (batches, here) come in a random order, a new one each pass unless
        ``reshuffle_each_iteration=False``; repeatable with ``seed``."""
        rng = np.random.default_rng(seed)
        fixed = rng.integers(2 ** 63) if not reshuffle_each_iteration else None

        def gen():
            items = list(self)
            order = np.random.default_rng(fixed if fixed is not None else rng.integers(2 ** 63)).permutation(
                len(items))
            for i in order:
                yield items[i]
        return self._derived(gen, self._length)

    def take(self, count):
        """The first ``count`` batches (all with -1)."""
        count = self._length if count == -1 else min(int(count), self._length)

        def gen():
            for i, item in enumerate(self):
                if i >= count:
                    return
                yield item
        return self._derived(gen, count)

    def skip(self, count):
        """All but the first ``count`` batches."""
        count = min(int(count), self._length)

        def gen():
            for i, item in enumerate(self):
                if i >= count:
                    yield item
        return self._derived(gen, self._length - count)

    def unbatch(self):
        """A dataset of single samples (no batch axis); iterate it, or ``batch`` it again."""
        def gen():
            for item in self:
                parts = item if isinstance(item, tuple) else (item,)
                parts = tuple(host(p) if isinstance(p, Tensor) else np.asarray(p) for p in parts)
                for i in range(len(parts[0])):
                    yield tuple(p[i] for p in parts) if isinstance(item, tuple) else parts[0][i]
        count = sum(len(item[0] if isinstance(item, tuple) else item) for item in self) if self._length else 0
        return self._derived(gen, count)

    def batch(self, batch_size, drop_remainder=False):
        """Group consecutive elements (samples of an ``unbatch``-ed dataset, say) into batches of ``batch_size``."""
        batch_size = int(batch_size)
        total = self._length

        def gen():
            group = []
            for item in self:
                group.append(item)
                if len(group) == batch_size:
                    yield _stack(group)
                    group = []
            if group and not drop_remainder:
                yield _stack(group)
        length = total // batch_size if drop_remainder else math.ceil(total / batch_size)
        return self._derived(gen, length)


def _stack(items):
    if isinstance(items[0], tuple):
        return tuple(np.stack([host(i[k]) if isinstance(i[k], Tensor) else i[k] for i in items])
                     for k in range(len(items[0])))
    return np.stack([host(i) if isinstance(i, Tensor) else i for i in items])


# --- indexing files (Keras' rules) -------------------------------------------------------------------------------
def index_directory(directory, labels, formats, class_names=None, shuffle=True, seed=None, follow_links=False,
                    verbose=True, who="dataset_from_directory"):
    """``(file_paths, labels, class_names)`` of the files ending in ``formats`` under ``directory``.

    Example:
        >>> paths, labels, names = index_directory("photos", "inferred", (".png",), seed=1)
        >>> names
        ['cats', 'dogs']
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"{who}: directory {directory!r} does not exist or is not a folder")
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError("The `class_names` passed did not match the names of the subdirectories of the "
                                 f"target directory. Expected: {subdirs} (or a subset of it), but received: "
                                 f"class_names={class_names}")
            subdirs = list(class_names)
    else:
        if class_names is not None:
            raise ValueError(f"{who}: `class_names` can only be given with labels='inferred'")
        subdirs = [""]
    filenames, label_list = [], []
    for index, subdir in enumerate(subdirs):
        root_dir = os.path.join(directory, subdir)
        dirname = os.path.basename(root_dir)
        walk = os.walk(root_dir, followlinks=follow_links) if follow_links else os.walk(root_dir)
        for root, _, files in sorted(walk, key=lambda x: x[0]):
            for fname in sorted(files):
                if fname.lower().endswith(formats):
                    rel = os.path.join(dirname, os.path.relpath(os.path.join(root, fname), root_dir))
                    filenames.append(rel)
                    label_list.append(index)
    if labels == "inferred":
        out_labels = np.asarray(label_list, np.int32)
        names = subdirs
    elif labels is None:
        out_labels, names = None, None
    else:
        if len(labels) != len(filenames):
            raise ValueError("Expected the lengths of `labels` to match the number of files in the target "
                             f"directory. len(labels) is {len(labels)} while we found {len(filenames)} files in "
                             f"directory {directory}.")
        out_labels = np.asarray(labels)
        names = [str(label) for label in sorted(set(np.asarray(labels).tolist()))]
    if verbose:
        print(f"Found {len(filenames)} files." if out_labels is None else
              f"Found {len(filenames)} files belonging to {len(names)} classes.")
    paths = [os.path.join(directory, f) for f in filenames]
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(paths)
        if out_labels is not None:
            np.random.RandomState(seed).shuffle(out_labels)
    return paths, out_labels, names


def _check_split(validation_split, subset, shuffle, seed, who):
    if subset not in (None, "training", "validation", "both"):
        raise ValueError(f'{who}: `subset` must be either "training", "validation" or "both", received: {subset}')
    if validation_split is not None:
        if not 0 < validation_split < 1:
            raise ValueError(f"{who}: `validation_split` must be between 0 and 1, received: {validation_split}")
        if subset is None:
            raise ValueError(f"{who}: if `validation_split` is set, `subset` must be set too")
        if shuffle and seed is None:
            raise ValueError(f"{who}: if using `validation_split` and shuffling the data, you must provide a `seed` "
                             "argument, to make sure that there is no overlap between the training and validation "
                             "subset.")
    elif subset is not None:
        raise ValueError(f"{who}: `subset` is only valid if `validation_split` is set")


def _split(paths, labels, validation_split, subset, verbose):
    if not validation_split:
        return paths, labels
    n_val = int(validation_split * len(paths))
    if subset == "training":
        if verbose:
            print(f"Using {len(paths) - n_val} files for training.")
        return paths[:len(paths) - n_val], None if labels is None else labels[:len(labels) - n_val]
    if verbose:
        print(f"Using {n_val} files for validation.")
    return paths[len(paths) - n_val:], None if labels is None else labels[len(labels) - n_val:]


def _encode_labels(labels, label_mode, num_classes, who):
    if label_mode == "int":
        return np.asarray(labels, np.int32)
    if label_mode == "binary":
        return np.asarray(labels, np.float32).reshape(-1, 1)
    out = np.zeros((len(labels), num_classes), np.float32)
    out[np.arange(len(labels)), np.asarray(labels, np.int64)] = 1.0
    return out


def _batched(paths, labels, batch_size, load, shuffle, seed, class_names):
    """A FileDataset whose batches load ``paths`` with ``load`` (one sample each); with ``shuffle`` the order
    changes every pass (repeatably with ``seed``)."""
    n = len(paths)
    rng = np.random.default_rng(seed)
    size = n if batch_size is None else batch_size

    def gen():
        order = rng.permutation(n) if shuffle else np.arange(n)
        for start in range(0, n, size):
            idx = order[start:start + size]
            if batch_size is None:          # unbatched: one sample at a time
                for i in idx:
                    x = load(paths[i])
                    yield x if labels is None else (x, labels[i])
                return
            x = np.stack([load(paths[i]) for i in idx])
            yield x if labels is None else (x, labels[idx])
    length = n if batch_size is None else math.ceil(n / batch_size)
    return FileDataset(gen, length, class_names, list(paths))


def _dataset_from_directory(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                            validation_split, subset, follow_links, verbose, formats, load, who):
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple, np.ndarray)):
        raise ValueError(f"{who}: `labels` argument should be a list/tuple of integer labels, of the same size as "
                         f"the number of files in the target directory. If you wish to infer the labels from the "
                         f"subdirectory names in the target directory, pass `labels=\"inferred\"`. If you wish to get "
                         f"a dataset that only contains data (no labels), pass `labels=None`. Received: "
                         f"labels={labels}")
    if label_mode not in _LABEL_MODES:
        raise ValueError(f'{who}: `label_mode` argument must be one of "int", "categorical", "binary", or None. '
                         f"Received: label_mode={label_mode}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError(f"{who}: batch_size must be a positive int or None, got {batch_size!r}")
    _check_split(validation_split, subset, shuffle, seed, who)
    if seed is None:
        seed = np.random.randint(1e6)
    paths, ids, names = index_directory(directory, labels, formats, class_names, shuffle, seed, follow_links,
                                        verbose, who)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f'{who}: when passing `label_mode="binary"`, there must be exactly 2 class_names. '
                         f"Received: class_names={names}")
    if not paths:
        raise ValueError(f"{who}: no files found in directory {directory}. Allowed formats: {formats}")
    encoded = None if ids is None else _encode_labels(ids, label_mode, len(names), who)

    def make(which):
        p, y = _split(paths, encoded, validation_split, which, verbose)
        if not p:
            raise ValueError(f"{who}: no files left for the {which} subset (validation_split={validation_split} of "
                             f"{len(paths)} files)")
        return _batched(p, y, batch_size, load, shuffle, seed, names)
    if subset == "both":
        return make("training"), make("validation")
    return make(subset)


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format=None,
                                 verbose=True):
    """A dataset of the images (``.bmp .gif .jpeg .jpg .png``) under ``directory``: with ``labels="inferred"`` each
    subfolder is a class (``class_names`` in alphanumeric order). Batches are ``(images, labels)``: float32 images
    ``(batch, height, width, channels)`` resized to ``image_size``, and labels as ``label_mode`` says (``"int"``,
    ``"categorical"`` one-hot, ``"binary"`` floats, None for no labels). ``validation_split`` with ``subset``
    (``"training"``, ``"validation"`` or ``"both"`` for the pair) splits the files as Keras does. Needs Pillow
    (``pip install "minidl[image]"``).

    Example:
        >>> train_ds, val_ds = md.keras.utils.image_dataset_from_directory(
        ...     "PetImages", validation_split=0.2, subset="both", seed=1337, image_size=(180, 180), batch_size=32)
        >>> train_ds.class_names
        ['Cat', 'Dog']
    """
    who = "image_dataset_from_directory"
    image = _pillow(who)
    if color_mode not in _COLOR_CHANNELS:
        raise ValueError(f'{who}: `color_mode` must be one of {{"rgb", "rgba", "grayscale"}}. Received: '
                         f"color_mode={color_mode}")
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"{who}: interpolation must be 'bilinear' or 'nearest' in md.keras, got {interpolation!r}")
    if not (isinstance(image_size, (list, tuple)) and len(image_size) == 2 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in image_size)):
        raise ValueError(f"{who}: image_size must be a tuple of 2 positive ints, got {image_size!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be set to `True`.")
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{who}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    mode, channels = _COLOR_CHANNELS[color_mode]
    height, width = int(image_size[0]), int(image_size[1])

    def load(path):
        try:
            with image.open(path) as img:
                arr = np.asarray(img.convert(mode), np.float32)
        except (OSError, ValueError) as e:
            raise ValueError(f"{who}: cannot read the image {path}: {e}") from e
        if arr.ndim == 2:
            arr = arr[:, :, None]
        out = resize_images(Tensor._wrap(arr), height, width, interpolation, "channels_last",
                            crop_to_aspect_ratio, pad_to_aspect_ratio)
        out = host(out).astype(np.float32)
        return np.moveaxis(out, -1, 0) if data_format == "channels_first" else out

    return _dataset_from_directory(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                                   validation_split, subset, follow_links, verbose, IMAGE_FORMATS, load, who)


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                max_length=None, shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, verbose=True):
    """A dataset of the ``.txt`` files under ``directory``: with ``labels="inferred"`` each subfolder is a class.
    Batches are ``(texts, labels)`` with the texts a NumPy array of strings (each cut to ``max_length``
    characters when given), ready for a ``TextVectorization`` layer; labels, splits and shuffling as in
    ``image_dataset_from_directory``.

    Example:
        >>> raw_train = md.keras.utils.text_dataset_from_directory("aclImdb/train", batch_size=32,
        ...                                                       validation_split=0.2, subset="training", seed=42)
        >>> vectorize.adapt(raw_train.map(lambda x, y: x))
    """
    who = "text_dataset_from_directory"
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer))
                                   or max_length < 1):
        raise ValueError(f"{who}: max_length must be a positive int or None, got {max_length!r}")

    def load(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        return np.asarray(text if max_length is None else text[:max_length], dtype=object)

    return _dataset_from_directory(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                                   validation_split, subset, follow_links, verbose, (".txt",), load, who)
