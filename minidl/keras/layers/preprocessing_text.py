"""Keras' lookup and text layers: ``StringLookup``, ``IntegerLookup`` and ``TextVectorization``.

Each maps tokens to indices through a vocabulary given to the constructor or learned by ``adapt(data)`` (tokens
sorted by frequency, most frequent first, ties broken by the larger token, as Keras sorts them). The vocabulary
(and the idf weights of ``output_mode="tf_idf"``) is part of the layer's config, so ``model.save`` stores it and
``load_model`` restores it.

Layout of the indices (Keras'): in ``output_mode="int"`` the ``mask_token`` (when set) is index 0, then come
``num_oov_indices`` out-of-vocabulary indices, then the vocabulary. The layers take NumPy string (or object)
arrays and lists, also inside a model whose input is ``keras.Input(shape=(1,), dtype="string")``.
"""
import collections
import math
import string

import numpy as np

from ...tensor import Tensor
from .base import KerasTensor, Layer, host
from .preprocessing_numeric import encode_tokens, hash_bins, iter_batches

_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


class StringDType:
    """The dtype name ``"string"`` of ``keras.Input(shape=(1,), dtype="string")``: inputs held as NumPy string
    arrays (no minidl tensor dtype stands behind it).

    Example:
        >>> md.keras.Input(shape=(1,), dtype="string").dtype
        'string'
    """

    name = "string"
    is_floating_point = False

    def __repr__(self):
        return "string"


def _as_array(inputs):
    if isinstance(inputs, Tensor):
        return host(inputs)
    if isinstance(inputs, str):
        return np.asarray([inputs], dtype=object)
    arr = np.asarray(inputs)
    if arr.dtype.kind == "S":
        arr = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(arr)
    return arr


def _read_vocabulary_file(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]
    except OSError as e:
        raise ValueError(f"{what}: cannot read the vocabulary file {path!r}: {e}") from e


def _config_vocabulary(cls, config):
    """A layer from a config whose vocabulary is a list: a config (from a file) never names a file to read."""
    vocabulary = config.get("vocabulary")
    if vocabulary is not None and not isinstance(vocabulary, (list, tuple)):
        raise ValueError(f"{cls.__name__} config: 'vocabulary' must be a list of tokens or null, got "
                         f"{type(vocabulary).__name__} (a vocabulary file path is accepted by the constructor only)")
    return cls(**config)


class _IndexLookup(Layer):
    """The shared machinery of StringLookup and IntegerLookup (and TextVectorization's lookup)."""

    _autocast = False
    from_config = classmethod(_config_vocabulary)

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=None, vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 **kwargs):
        super().__init__(**kwargs)
        who = f"{type(self).__name__} {self.name!r}"
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer))
                                       or max_tokens <= 1):
            raise ValueError(f"{who}: if set, `max_tokens` must be greater than 1. Received: max_tokens={max_tokens}")
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, (int, np.integer)) or \
                num_oov_indices < 0:
            raise ValueError(f"{who}: `num_oov_indices` must be greater than or equal to 0. Received: "
                             f"num_oov_indices={num_oov_indices}")
        if output_mode not in _MODES:
            raise ValueError(f"{who}: output_mode must be one of {_MODES}, got {output_mode!r}")
        if invert and output_mode != "int":
            raise ValueError(f"{who}: `output_mode` must be 'int' when `invert` is true. Received: "
                             f"output_mode={output_mode}")
        if sparse:
            raise ValueError(f"{who}: sparse=True (sparse outputs) is not supported by md.keras")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{who}: pad_to_max_tokens=True needs max_tokens")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices, self.mask_token, self.oov_token = int(num_oov_indices), mask_token, oov_token
        self.invert, self.output_mode = bool(invert), output_mode
        self.pad_to_max_tokens, self.sparse = bool(pad_to_max_tokens), False
        self._vocab, self._idf, self._index, self._special_idf = [], None, {}, None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise ValueError(f"{who}: idf_weights need a vocabulary")

    # --- vocabulary -----------------------------------------------------------------------------------------------
    def _oov_start(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self):
        return self._oov_start() + self.num_oov_indices

    def _convert_token(self, token):
        return token

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Use ``vocabulary`` (a list or array of tokens, or the path of a text file with one token a line) and, for
        ``output_mode="tf_idf"``, ``idf_weights`` (one per token). A vocabulary may start with the mask and OOV
        tokens at their indices; other repeats of them, or repeated tokens, are errors."""
        who = f"{type(self).__name__} {self.name!r}"
        if isinstance(vocabulary, str):
            vocabulary = _read_vocabulary_file(vocabulary, who)
        tokens = [self._convert_token(t) for t in _as_array(vocabulary).reshape(-1).tolist()]
        specials = ([self.mask_token] if self._oov_start() else []) + [self.oov_token] * self.num_oov_indices
        self._special_idf = None
        if specials and tokens[:len(specials)] == specials:
            tokens = tokens[len(specials):]
            if idf_weights is not None and len(idf_weights) == len(tokens) + len(specials):
                self._special_idf = np.asarray(idf_weights, np.float64).reshape(-1)[:len(specials)]
                idf_weights = list(np.asarray(idf_weights).reshape(-1))[len(specials):]
        for special, what in ((self.mask_token, "mask"), (self.oov_token, "OOV")):
            if special is not None and (what == "mask" or self.num_oov_indices) and special in tokens:
                raise ValueError(f"{who}: the {what} token {special!r} may appear in the vocabulary only at its "
                                 f"index ({specials.index(special) if special in specials else 0})")
        seen = collections.Counter(tokens)
        repeated = [t for t, c in seen.items() if c > 1]
        if repeated:
            raise ValueError(f"{who}: the passed vocabulary has at least one repeated term: {repeated[:5]}")
        if self.max_tokens is not None and len(tokens) + self._token_start() > self.max_tokens:
            raise ValueError(f"{who}: attempted to set a vocabulary larger than the maximum vocab size. Received "
                             f"vocabulary size is {len(tokens) + self._token_start()}; `max_tokens` is "
                             f"{self.max_tokens}.")
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError(f"{who}: `idf_weights` must be set if output_mode is 'tf_idf'")
            idf = np.asarray(idf_weights, np.float64).reshape(-1)
            if len(idf) != len(tokens):
                raise ValueError(f"{who}: `idf_weights` must be the same length as vocabulary. len(idf_weights) is "
                                 f"{len(idf)}; len(vocabulary) is {len(tokens)}")
            self._idf = idf
        elif idf_weights is not None:
            raise ValueError(f"{who}: `idf_weights` should only be set if output_mode is 'tf_idf'. Received: "
                             f"output_mode={self.output_mode} and idf_weights={idf_weights}")
        self._vocab = tokens
        self._index = {t: i + self._token_start() for i, t in enumerate(tokens)}

    def vocabulary_size(self):
        """The number of indices: the special ones (mask, OOV) plus the vocabulary."""
        return self._token_start() + len(self._vocab)

    def get_vocabulary(self, include_special_tokens=True):
        """The vocabulary, index by index: with the special tokens, entry ``i`` is the token of index ``i``."""
        if not include_special_tokens:
            return list(self._vocab)
        head = [self.oov_token] * self._token_start()
        if self._oov_start():
            head[0] = self.mask_token
        return head + list(self._vocab)

    def _idf_full(self):
        """The idf weight of each output index: OOV indices get the mean of the vocabulary's, padding 0."""
        mean = float(self._idf.mean()) if self._idf is not None and len(self._idf) else 0.0
        head = self._special_idf if self._special_idf is not None else np.full(self._token_start(), mean)
        idf = np.concatenate([head, self._idf if self._idf is not None else []])
        depth = self._depth()
        return np.concatenate([idf, np.zeros(max(depth - len(idf), 0))])

    def _depth(self):
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    # --- adapt ----------------------------------------------------------------------------------------------------
    def _documents(self, data, batch_size, steps):
        """Token lists, one per document (a row of the data), for adapt."""
        for batch in iter_batches(data, batch_size, steps, f"{type(self).__name__} {self.name!r} adapt"):
            arr = _as_array(batch)
            if arr.ndim == 0:
                arr = arr.reshape(1)
            rows = arr.reshape(len(arr), -1) if arr.ndim > 1 else arr.reshape(-1, 1)
            for row in rows.tolist():
                yield [self._convert_token(t) for t in row]

    def _adapt_documents(self, documents):
        counts, doc_counts, n_docs = collections.Counter(), collections.Counter(), 0
        for tokens in documents:
            counts.update(tokens)
            if self.output_mode == "tf_idf":
                doc_counts.update(set(tokens))
            n_docs += 1
        if not n_docs:
            raise ValueError(f"{type(self).__name__} {self.name!r}: adapt() received no data")
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        if self.max_tokens is not None:
            ranked = ranked[:max(self.max_tokens - self._token_start(), 0)]
        self._vocab, self._special_idf = [t for t, _ in ranked], None
        self._index = {t: i + self._token_start() for i, t in enumerate(self._vocab)}
        if self.output_mode == "tf_idf":
            self._idf = np.array([math.log(1 + n_docs / (1 + doc_counts[t])) for t in self._vocab])

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary from ``data`` (an array or list of tokens, a dataset or an iterable of batches):
        the ``max_tokens`` most frequent tokens (with the special ones), and the idf weights in ``"tf_idf"``."""
        self._adapt_documents(self._documents(data, batch_size, steps))

    # --- lookup ---------------------------------------------------------------------------------------------------
    def _oov_index(self, token):
        if self.num_oov_indices == 1:
            return self._oov_start()
        if isinstance(token, (int, np.integer)):
            return self._oov_start() + int(token) % self.num_oov_indices
        return self._oov_start() + int(hash_bins([token], self.num_oov_indices)[0])

    def lookup_indices(self, tokens):
        """Indices (int64, same shape) of an array of tokens; mask tokens map to 0 (-1 outside "int" mode)."""
        arr = _as_array(tokens)
        flat = [self._convert_token(t) for t in arr.reshape(-1).tolist()]
        out = np.empty(len(flat), np.int64)
        for i, t in enumerate(flat):
            if self.mask_token is not None and t == self.mask_token:
                out[i] = 0 if self.output_mode == "int" else -1
                continue
            j = self._index.get(t)
            if j is None:
                if self.num_oov_indices == 0:
                    raise ValueError(f"{type(self).__name__} {self.name!r}: when `num_oov_indices=0` all inputs "
                                     f"should be in vocabulary, found OOV value {t!r}; consider setting "
                                     "`num_oov_indices=1`.")
                j = self._oov_index(t)
            out[i] = j
        return out.reshape(arr.shape)

    def _invert(self, ids):
        vocab = self.get_vocabulary()
        ids = np.asarray(ids)
        flat = [vocab[i] if 0 <= i < len(vocab) else self.oov_token for i in ids.reshape(-1).tolist()]
        return np.array(flat, dtype=self._inverted_dtype()).reshape(ids.shape)

    def _inverted_dtype(self):
        return object

    def _encode(self, indices, per_row=None):
        if self.output_mode == "int":
            return indices
        depth = self._depth()
        ids = np.asarray(indices)
        if self.output_mode == "one_hot":
            if (ids < 0).any():
                ids = np.where(ids < 0, 0, ids)
            return encode_tokens(ids, depth, "one_hot", who=f"{type(self).__name__} {self.name!r}",
                                 dtype=self.dtype_name)
        weights = (ids >= 0).astype(np.float64)         # mask tokens count for nothing
        ids = np.where(ids < 0, 0, ids)
        mode = "multi_hot" if self.output_mode == "multi_hot" else "count"
        if self.output_mode == "multi_hot":
            out = encode_tokens(ids, depth, "count", weights, who=f"{type(self).__name__} {self.name!r}",
                                dtype="float64")
            out = (out > 0).astype(self.dtype_name)
        else:
            out = encode_tokens(ids, depth, mode, weights, who=f"{type(self).__name__} {self.name!r}",
                                dtype="float64")
        if self.output_mode == "tf_idf":
            out = out * self._idf_full()
        return out.astype(self.dtype_name)

    def _run(self, inputs):
        """The eager computation on a NumPy array of tokens (or ids when inverting)."""
        arr = _as_array(inputs)
        if self.invert:
            return self._invert(arr)
        return self._encode(self.lookup_indices(arr))

    def __call__(self, inputs, training=None, **kwargs):
        symbolic = isinstance(inputs, KerasTensor)
        if symbolic:
            return super().__call__(inputs, training=training, **kwargs)
        if not self.built:
            self._finish_build(None)
        return self.call(inputs)

    def call(self, inputs):
        out = self._run(inputs)
        if out.dtype == object:
            return out
        t = Tensor._wrap(np.ascontiguousarray(out))
        # ids given as a device tensor (IntegerLookup) come back on that device
        return t.to(inputs.device) if isinstance(inputs, Tensor) and str(inputs.device) != "cpu" else t

    def _check_input(self, shape):
        return None

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.output_mode == "int":
            return shape
        depth = self._depth()
        if self.output_mode == "one_hot":
            return (shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape) + (depth,)
        return (shape[0] if shape else None, depth)

    def _output_dtype(self, inputs):
        if self.invert:
            return "string" if self._inverted_dtype() is object else "int64"
        return "int64" if self.output_mode == "int" else self.dtype_name

    def get_config(self):
        vocab = list(self._vocab) if self._vocab else None
        idf = None if self._idf is None or not self._vocab else self._idf.tolist()
        if vocab is not None and self._special_idf is not None:      # idf weights given for the special indices
            vocab = self.get_vocabulary()
            idf = self._special_idf.tolist() + idf
        return {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token, "mask_token": self.mask_token,
                "output_mode": self.output_mode, "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
                "vocabulary": vocab, "idf_weights": idf}


class StringLookup(_IndexLookup):
    """Map strings to integer indices through a vocabulary (given, or learned by ``adapt``); ``invert=True`` maps
    indices back to strings. ``output_mode`` ``"one_hot"``, ``"multi_hot"``, ``"count"`` or ``"tf_idf"`` encode
    the indices.

    Example:
        >>> lookup = md.keras.layers.StringLookup(vocabulary=["a", "b", "c"])
        >>> lookup(np.array([["a", "c", "z"]])).tolist()
        [[1, 3, 0]]
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", **kwargs):
        if encoding not in ("utf-8", "utf8"):
            raise ValueError(f"StringLookup: encoding must be 'utf-8' in md.keras, got {encoding!r}")
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
                         oov_token=oov_token, vocabulary=vocabulary, idf_weights=idf_weights, invert=invert,
                         output_mode=output_mode, pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, **kwargs)
        self.encoding = "utf-8"

    def _convert_token(self, token):
        return token.decode("utf-8") if isinstance(token, bytes) else str(token)

    def get_config(self):
        return {**super().get_config(), "encoding": self.encoding}


class IntegerLookup(_IndexLookup):
    """Map integers (ids, categories) to contiguous indices through a vocabulary (given, or learned by
    ``adapt``); ``invert=True`` maps indices back. The OOV token is -1 by default.

    Example:
        >>> lookup = md.keras.layers.IntegerLookup(vocabulary=[12, 36, 1138])
        >>> lookup(np.array([[12, 1138, 42]])).tolist()
        [[1, 3, 0]]
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, **kwargs):
        if vocabulary_dtype not in ("int64", "int32"):
            raise ValueError(f"IntegerLookup: vocabulary_dtype must be 'int64' or 'int32', got {vocabulary_dtype!r}")
        for what, v in (("mask_token", mask_token), ("oov_token", oov_token)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))):
                raise ValueError(f"IntegerLookup: {what} must be an int or None, got {v!r}")
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=None if mask_token is None else int(mask_token),
                         oov_token=None if oov_token is None else int(oov_token), vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, **kwargs)
        self.vocabulary_dtype = vocabulary_dtype

    def _convert_token(self, token):
        if isinstance(token, float):
            if token != int(token):
                raise ValueError(f"IntegerLookup {self.name!r}: inputs must be integers, got {token!r}")
            return int(token)
        if isinstance(token, (str, bytes)) or isinstance(token, bool):
            raise ValueError(f"IntegerLookup {self.name!r}: inputs must be integers, got {token!r}")
        return int(token)

    def _inverted_dtype(self):
        return np.int64

    def get_config(self):
        return {**super().get_config(), "vocabulary_dtype": self.vocabulary_dtype}


# --- TextVectorization -------------------------------------------------------------------------------------------
_STANDARDIZE = (None, "lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = (None, "whitespace", "character")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


class TextVectorization(Layer):
    """Turn strings into token indices (``output_mode="int"``, padded with 0 to ``output_sequence_length`` or to
    the longest text of the batch) or into bag-of-words vectors (``"multi_hot"``, ``"count"``, ``"tf_idf"``).
    Texts are standardized (``"lower_and_strip_punctuation"`` by default, or a function), split
    (``"whitespace"``, ``"character"`` or a function), optionally joined into ``ngrams``, then looked up in a
    vocabulary learned by ``adapt(texts)`` (index 0 is padding, 1 the OOV token ``"[UNK]"``).

    Example:
        >>> vectorize = md.keras.layers.TextVectorization(output_sequence_length=4)
        >>> vectorize.adapt(["the cat sat", "the dog"])
        >>> vectorize(np.array(["the cat ran"])).tolist()
        [[2, 5, 1, 0]]
    """

    _autocast = False
    from_config = classmethod(_config_vocabulary)

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", **kwargs):
        super().__init__(**kwargs)
        who = f"TextVectorization {self.name!r}"
        if output_mode not in ("int", "multi_hot", "count", "tf_idf"):
            raise ValueError(f"{who}: output_mode must be one of ('int', 'multi_hot', 'count', 'tf_idf'), got "
                             f"{output_mode!r}")
        if not callable(standardize) and standardize not in _STANDARDIZE:
            raise ValueError(f"{who}: standardize must be one of {_STANDARDIZE} or a callable, got {standardize!r}")
        if not callable(split) and split not in _SPLIT:
            raise ValueError(f"{who}: split must be one of {_SPLIT} or a callable, got {split!r}")
        if ngrams is not None:
            if isinstance(ngrams, (int, np.integer)) and not isinstance(ngrams, bool) and ngrams >= 1:
                grams = tuple(range(1, int(ngrams) + 1))
            elif isinstance(ngrams, (list, tuple)) and ngrams and all(
                    isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in ngrams):
                grams = tuple(int(n) for n in ngrams)
            else:
                raise ValueError(f"{who}: `ngrams` must be None, an integer, or a tuple of integers. Received: "
                                 f"ngrams={ngrams}")
        else:
            grams = None
        if output_sequence_length is not None:
            if output_mode != "int":
                raise ValueError(f"{who}: `output_sequence_length` must not be set if `output_mode` is not 'int'. "
                                 f"Received output_sequence_length={output_sequence_length}.")
            if isinstance(output_sequence_length, bool) or not isinstance(output_sequence_length,
                                                                          (int, np.integer)) or \
                    output_sequence_length < 1:
                raise ValueError(f"{who}: output_sequence_length must be a positive int, got "
                                 f"{output_sequence_length!r}")
        if ragged:
            raise ValueError(f"{who}: ragged=True (ragged outputs) is not supported by md.keras")
        if encoding not in ("utf-8", "utf8"):
            raise ValueError(f"{who}: encoding must be 'utf-8' in md.keras, got {encoding!r}")
        self.standardize, self.split, self.ngrams, self._grams = standardize, split, ngrams, grams
        self.output_mode = output_mode
        self.output_sequence_length = None if output_sequence_length is None else int(output_sequence_length)
        self.sparse, self.ragged, self.encoding = False, False, "utf-8"
        self._lookup = StringLookup(max_tokens=max_tokens, num_oov_indices=1, mask_token="", oov_token="[UNK]",
                                    vocabulary=vocabulary, idf_weights=idf_weights, output_mode=output_mode,
                                    pad_to_max_tokens=pad_to_max_tokens, name=f"{self.name}_lookup")

    # --- text processing ------------------------------------------------------------------------------------------
    def _texts(self, inputs):
        arr = _as_array(inputs)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise ValueError(f"TextVectorization {self.name!r}: expects a batch of strings of shape (batch,) or "
                             f"(batch, 1), got shape {arr.shape}")
        texts = arr.tolist()
        bad = [t for t in texts if not isinstance(t, (str, bytes))]
        if bad:
            raise ValueError(f"TextVectorization {self.name!r}: inputs must be strings, got {bad[0]!r}")
        return [t.decode("utf-8") if isinstance(t, bytes) else t for t in texts]

    def _tokens(self, text):
        if callable(self.standardize):
            text = self.standardize(text)
        elif self.standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.lower()
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = text.translate(_PUNCTUATION)
        if callable(self.split):
            tokens = list(self.split(text))
        elif self.split == "whitespace":
            tokens = text.split()
        elif self.split == "character":
            tokens = list(text)
        else:
            tokens = [text]
        if self._grams:
            tokens = [" ".join(tokens[i:i + n]) for n in self._grams for i in range(len(tokens) - n + 1)]
        return tokens

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary (and idf weights for ``"tf_idf"``) from ``data``: an array or list of strings, a
        dataset or an iterable of batches of strings (``(text, label)`` batches contribute their texts)."""
        def documents():
            for batch in iter_batches(data, batch_size, steps, f"TextVectorization {self.name!r} adapt"):
                for text in self._texts(batch):
                    yield self._tokens(text)
        self._lookup._adapt_documents(documents())

    def _run(self, inputs):
        docs = [self._tokens(t) for t in self._texts(inputs)]
        if self.output_mode != "int":
            rows = [self._lookup._encode(self._lookup.lookup_indices(np.array(d, dtype=object))[None]
                                         if d else np.zeros((1, 0), np.int64)) for d in docs]
            return np.concatenate(rows).astype(self.dtype_name) if rows else \
                np.zeros((0, self._lookup._depth()), self.dtype_name)
        ids = [self._lookup.lookup_indices(np.array(d, dtype=object)) for d in docs]
        length = self.output_sequence_length
        if length is None:
            length = max((len(i) for i in ids), default=0)
        out = np.zeros((len(ids), length), np.int64)
        for r, i in enumerate(ids):
            out[r, :min(len(i), length)] = i[:length]
        return out

    def __call__(self, inputs, training=None, **kwargs):
        if isinstance(inputs, KerasTensor):
            return super().__call__(inputs, training=training, **kwargs)
        if not self.built:
            self._finish_build(None)
        return Tensor._wrap(self._run(inputs))

    def call(self, inputs):
        return Tensor._wrap(self._run(inputs))

    def _check_input(self, shape):
        if len(shape) > 2 or (len(shape) == 2 and shape[1] not in (1, None)):
            raise ValueError(f"TextVectorization {self.name!r}: expects inputs of shape (batch,) or (batch, 1), got "
                             f"{shape}")

    def compute_output_shape(self, input_shape):
        batch = input_shape[0] if len(input_shape) else None
        if self.output_mode == "int":
            return (batch, self.output_sequence_length)
        return (batch, self._lookup._depth())

    def _output_dtype(self, inputs):
        return "int64" if self.output_mode == "int" else self.dtype_name

    # --- vocabulary -----------------------------------------------------------------------------------------------
    def get_vocabulary(self, include_special_tokens=True):
        """The vocabulary, index by index (``""`` padding and ``"[UNK]"`` first in ``"int"`` mode)."""
        return self._lookup.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        """The number of indices, the special ones included."""
        return self._lookup.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Use ``vocabulary`` (and ``idf_weights`` for ``"tf_idf"``) instead of adapting."""
        self._lookup.set_vocabulary(vocabulary, idf_weights)

    def get_config(self):
        for what in ("standardize", "split"):
            if callable(getattr(self, what)):
                raise ValueError(f"TextVectorization {self.name!r}: a layer whose `{what}` is a Python function "
                                 "cannot be saved in a config (md.keras stores no code); use one of the named "
                                 "options, or rebuild the layer in code and load its vocabulary with "
                                 "set_vocabulary")
        lookup = self._lookup.get_config()
        return {**super().get_config(), "max_tokens": self._lookup.max_tokens, "standardize": self.standardize,
                "split": self.split, "ngrams": list(self.ngrams) if isinstance(self.ngrams, (list, tuple))
                else self.ngrams, "output_mode": self.output_mode,
                "output_sequence_length": self.output_sequence_length,
                "pad_to_max_tokens": self._lookup.pad_to_max_tokens, "sparse": self.sparse, "ragged": self.ragged,
                "vocabulary": lookup["vocabulary"], "idf_weights": lookup["idf_weights"], "encoding": self.encoding}
