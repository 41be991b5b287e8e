"""What ``fit``/``evaluate``/``predict`` read: arrays, a ``keras.utils.PyDataset`` (``Sequence``), a Python generator
(``steps_per_epoch``, ``validation_steps``), an ``md.utils.data.DataLoader``; and Keras' ``validation_freq``,
``initial_epoch``, ``class_weight``, ``sample_weight``, ``shuffle``, ``validation_split`` -- against Keras 3."""
import numpy as np
import pytest
from keras_helpers import fresh_session  # noqa: F401
from keras_oracle import keras as K

import minidl.keras as keras
from minidl.utils.data import DataLoader, TensorDataset


def _data(n=40):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.1).astype("float32")


def _model(lib):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, activation="tanh"), lib.layers.Dense(1)])
    return model


def _pair(lr=0.05):
    ours, theirs = _model(keras), _model(K)
    theirs.set_weights(ours.get_weights())
    ours.compile(keras.optimizers.SGD(lr), "mse", metrics=["mae"])
    theirs.compile(K.optimizers.SGD(lr), "mse", metrics=["mae"])
    return ours, theirs


def _dataset_class(base):
    class Batches(base):
        def __init__(self, x, y, batch_size, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y, self.batch_size, self.ends = x, y, batch_size, 0

        def __len__(self):
            return -(-len(self.x) // self.batch_size)

        def __getitem__(self, i):
            s = slice(i * self.batch_size, (i + 1) * self.batch_size)
            return self.x[s], self.y[s]

        def on_epoch_end(self):
            self.ends += 1
    return Batches


def _same(ours, theirs, h, k, rtol=1e-5):
    assert set(h.history) == set(k.history) and h.epoch == k.epoch
    for key in k.history:
        np.testing.assert_allclose(h.history[key], k.history[key], rtol=rtol, atol=1e-6, err_msg=key)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-6)


def test_pydataset_trains_as_in_keras_and_gets_on_epoch_end():
    x, y = _data()
    ours, theirs = _pair()
    ds_ours = _dataset_class(keras.utils.PyDataset)(x, y, 16, workers=2, use_multiprocessing=False)
    ds_theirs = _dataset_class(K.utils.PyDataset)(x, y, 16)
    h = ours.fit(ds_ours, epochs=3, verbose=0, shuffle=False,
                 validation_data=_dataset_class(keras.utils.Sequence)(x, y, 8))
    k = theirs.fit(ds_theirs, epochs=3, verbose=0, shuffle=False,
                   validation_data=_dataset_class(K.utils.Sequence)(x, y, 8))
    _same(ours, theirs, h, k)
    assert ds_ours.ends == 3 and ds_ours.workers == 2 and ds_ours.num_batches == 3
    assert keras.utils.Sequence is keras.utils.PyDataset
    assert ours.evaluate(ds_ours, verbose=0) == pytest.approx(theirs.evaluate(ds_theirs, verbose=0), rel=1e-5)
    np.testing.assert_allclose(ours.predict(ds_ours, verbose=0), K.ops.convert_to_numpy(theirs.predict(
        ds_theirs, verbose=0)), rtol=1e-5, atol=1e-6)


def test_fit_reads_the_batches_of_a_pydataset_in_a_shuffled_order():
    x, y = _data()
    read = []

    class Recorded(_dataset_class(keras.utils.PyDataset)):
        def __getitem__(self, i):
            read.append(i)
            return super().__getitem__(i)
    model, _ = _pair()
    keras.utils.set_random_seed(3)
    model.fit(Recorded(x, y, 4), epochs=2, verbose=0)
    first, second = read[-20:-10], read[-10:]
    assert sorted(first) == sorted(second) == list(range(10)) and first != second


def test_a_generator_with_steps_per_epoch_reads_on_across_epochs():
    x, y = _data()

    def batches():
        while True:
            for i in range(0, 40, 10):
                yield x[i:i + 10], y[i:i + 10]
    ours, theirs = _pair()
    h = ours.fit(batches(), steps_per_epoch=3, epochs=3, verbose=0, validation_data=(x, y))
    k = theirs.fit(batches(), steps_per_epoch=3, epochs=3, verbose=0, validation_data=(x, y))
    _same(ours, theirs, h, k)
    assert ours.evaluate(batches(), steps=4, verbose=0) == pytest.approx(theirs.evaluate(batches(), steps=4,
                                                                                         verbose=0), rel=1e-5)
    assert ours.predict(batches(), steps=2, verbose=0).shape == (20, 1)
    # validation_steps batches of a validation generator, read on from epoch to epoch
    h = ours.fit(x, y, epochs=2, batch_size=40, verbose=0, validation_data=batches(), validation_steps=2)
    want = [ours.evaluate(x[20:], y[20:], verbose=0)[0]]
    assert h.history["val_loss"][1] == pytest.approx(want[0], rel=1e-6)


def test_a_finite_generator_without_steps_says_what_to_do():
    x, y = _data()
    ours, _ = _pair()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        ours.fit(((x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10)), epochs=2, verbose=0)


def test_a_dataloader_equals_the_same_arrays():
    x, y = _data()
    ours, theirs = _pair()
    h = ours.fit(DataLoader(TensorDataset(x, y), batch_size=8, shuffle=False), epochs=2, verbose=0)
    k = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    _same(ours, theirs, h, k)


def test_validation_freq_initial_epoch_and_validation_split_as_keras():
    x, y = _data()
    ours, theirs = _pair()
    args = dict(batch_size=8, epochs=5, initial_epoch=1, validation_freq=2, validation_split=0.25, shuffle=False,
                verbose=0)
    _same(ours, theirs, ours.fit(x, y, **args), theirs.fit(x, y, **args))


def test_sample_weight_and_class_weight_as_keras():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 3)).astype("float32")
    labels = rng.integers(0, 2, 30)
    sw = rng.uniform(0.5, 2.0, 30)
    ours, theirs = _model(keras), _model(K)
    theirs.set_weights(ours.get_weights())
    for model, lib in ((ours, keras), (theirs, K)):
        model.compile(lib.optimizers.SGD(0.1), "mse", metrics=["mae"])
    common = dict(batch_size=10, epochs=2, shuffle=False, verbose=0)
    h = ours.fit(x, labels.astype("float32"), sample_weight=sw, **common)
    k = theirs.fit(x, labels.astype("float32"), sample_weight=sw, **common)
    _same(ours, theirs, h, k)
    h = ours.fit(x, labels.astype("float32"), class_weight={0: 1.0, 1: 3.0}, **common)
    k = theirs.fit(x, labels.astype("float32"), class_weight={0: 1.0, 1: 3.0}, **common)
    _same(ours, theirs, h, k)
    with pytest.raises(ValueError, match="class_weight.*sample_weight"):
        ours.fit(x, labels, sample_weight=sw, class_weight={0: 1.0, 1: 3.0}, verbose=0)


def test_class_weight_applies_to_batches_of_a_dataset():
    x, y = _data()
    labels = (y[:, 0] > 0).astype("float32")
    plain, weighted = _model(keras), _model(keras)
    weighted.set_weights(plain.get_weights())
    for m in (plain, weighted):
        m.compile(keras.optimizers.SGD(0.1), "mse")
    batches = [(x[i:i + 10], labels[i:i + 10]) for i in range(0, 40, 10)]
    sw = np.where(labels == 1, 3.0, 1.0)
    plain.fit(x, labels, sample_weight=sw, batch_size=10, shuffle=False, verbose=0)
    weighted.fit(batches, class_weight={0: 1.0, 1: 3.0}, verbose=0)
    for a, b in zip(plain.get_weights(), weighted.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("shuffle", [True, "batch"])
def test_shuffle_keeps_every_sample_once_per_epoch(shuffle):
    x, y = _data()
    seen = []

    class Spy(keras.layers.Layer):
        def call(self, inputs):
            seen.append(np.asarray(inputs.detach().numpy()).copy())
            return inputs
    model = keras.Sequential([keras.Input((3,)), Spy(), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    seen.clear()            # the calls that built the model
    model.fit(x, y, batch_size=8, epochs=1, shuffle=shuffle, verbose=0)
    rows = np.concatenate(seen)
    assert sorted(map(tuple, rows)) == sorted(map(tuple, x))
    if shuffle == "batch":      # whole batches move: each batch holds consecutive samples of x
        starts = [int(np.flatnonzero((x == b[0]).all(1))[0]) for b in seen]
        for b, s in zip(seen, starts):
            np.testing.assert_array_equal(b, x[s:s + len(b)])


def test_inputs_that_cannot_go_together_are_clear_errors():
    x, y = _data()
    ours, _ = _pair()
    ds = _dataset_class(keras.utils.PyDataset)(x, y, 8)
    with pytest.raises(ValueError, match="validation_split"):
        ours.fit(ds, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="`y` must not be given"):
        ours.fit(ds, y, verbose=0)
    with pytest.raises(ValueError, match="validation_freq"):
        ours.fit(x, y, validation_freq=0, verbose=0)
    with pytest.raises(ValueError, match="workers"):
        keras.utils.PyDataset(workers=0)

    class NoLen(keras.utils.PyDataset):
        def __getitem__(self, i):
            return x[:2], y[:2]
    with pytest.raises(NotImplementedError, match="__len__"):
        ours.fit(NoLen(), verbose=0)


@pytest.mark.parametrize("steps_per_epoch", [2, 3])
def test_steps_per_epoch_on_arrays_reads_on_across_epochs_as_keras(steps_per_epoch):
    x = np.arange(40, dtype="float32").reshape(40, 1)
    y = np.zeros((40, 1), "float32")
    def order_read(lib):
        seen = []

        class Spy(lib.layers.Layer):
            def call(self, t):
                first = lib.ops.convert_to_numpy(t)
                if first[0, 0] % 10 == 0:       # a training batch (Keras also traces the layer on ones)
                    seen.append(float(first[0, 0]))
                return t
        model = lib.Sequential([lib.Input((1,)), Spy(), lib.layers.Dense(1)])
        model.compile("sgd", "mse")
        seen.clear()
        model.fit(x, y, batch_size=10, epochs=3, steps_per_epoch=steps_per_epoch, shuffle=False, verbose=0)
        return seen
    assert order_read(keras) == order_read(K)
