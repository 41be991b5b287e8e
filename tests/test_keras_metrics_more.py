"""The metrics of metrics_more.py against Keras 3 itself: running values over several batches with and without
sample weights, and names."""
import re

import numpy as np
import pytest

from keras_oracle import keras, to_numpy

from minidl import keras as mk
from minidl.keras import metrics_more


def _batches(name, rng):
    out = []
    for _ in range(3):
        p = rng.uniform(0.02, 0.98, (8, 5)).astype(np.float32)
        if name in ("SparseTopKCategoricalAccuracy", "SparseCategoricalCrossentropy"):
            y = rng.integers(0, 5, 8)
            p = p / p.sum(-1, keepdims=True)
        elif name in ("TopKCategoricalAccuracy", "CategoricalCrossentropy", "CategoricalHinge", "KLDivergence"):
            y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 8)]
            p = p / p.sum(-1, keepdims=True)
        elif name in ("BinaryCrossentropy", "AUC", "TruePositives", "FalsePositives", "TrueNegatives",
                      "FalseNegatives", "Hinge", "SquaredHinge"):
            y = rng.integers(0, 2, (8, 5)).astype(np.float32)
        else:
            y = rng.uniform(0.1, 2.0, (8, 5)).astype(np.float32)
        out.append((y, p, rng.uniform(0, 1, 8).astype(np.float32)))
    return out


NAMES = sorted(set(metrics_more.CLASSES) - {"Mean", "Sum"})
KWARGS = {"TopKCategoricalAccuracy": {"k": 2}, "SparseTopKCategoricalAccuracy": {"k": 3}}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_running_values_match_keras(name, weighted):
    rng = np.random.default_rng(0)
    ours = getattr(mk.metrics, name)(**KWARGS.get(name, {}))
    theirs = getattr(keras.metrics, name)(**KWARGS.get(name, {}))
    for y, p, w in _batches(name, rng):
        ours.update_state(y, p, sample_weight=w if weighted else None)
        theirs.update_state(y, p, sample_weight=w if weighted else None)
    np.testing.assert_allclose(ours.result(), to_numpy(theirs.result()), rtol=2e-5, atol=1e-6)
    assert ours.name == re.sub(r"_\d+$", "", theirs.name)        # (Keras numbers a second AUC "auc_1")
    ours.reset_state()
    assert np.all(np.asarray(ours.result()) == 0)


@pytest.mark.parametrize("kwargs", [{"curve": "PR"}, {"curve": "PR", "summation_method": "minoring"},
                                    {"num_thresholds": 7, "summation_method": "majoring"},
                                    {"from_logits": True}, {"thresholds": [0.2, 0.5, 0.7]}])
def test_auc_variants_match_keras(kwargs):
    rng = np.random.default_rng(1)
    ours, theirs = mk.metrics.AUC(**kwargs), keras.metrics.AUC(**kwargs)
    for y, p, _ in _batches("AUC", rng):
        p = p * 6 - 3 if kwargs.get("from_logits") else p
        ours.update_state(y, p)
        theirs.update_state(y, p)
    assert ours.result() == pytest.approx(float(to_numpy(theirs.result())), rel=1e-5, abs=1e-7)


def test_mean_and_sum_track_values_as_keras():
    for cls in ("Mean", "Sum"):
        ours, theirs = getattr(mk.metrics, cls)(), getattr(keras.metrics, cls)()
        for v, w in ((2.0, None), (np.array([1.0, 5.0]), np.array([1.0, 3.0])), (4.0, 0.5)):
            ours.update_state(v, sample_weight=w)
            theirs.update_state(v, sample_weight=w)
        assert ours.result() == pytest.approx(float(to_numpy(theirs.result())))
        assert ours.name == theirs.name


@pytest.mark.parametrize("name", ["top_k_categorical_accuracy", "auc", "root_mean_squared_error", "kl_divergence",
                                  "binary_crossentropy"])
def test_names_in_compile(name):
    model = mk.Sequential([mk.Input((4,)), mk.layers.Dense(3, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[name])
    rng = np.random.default_rng(2)
    logs = model.evaluate(rng.standard_normal((16, 4)).astype(np.float32),
                          rng.integers(0, 2, (16, 3)).astype(np.float32), verbose=0, return_dict=True)
    assert name in logs and np.isfinite(logs[name])


def _true_positives_metric(lib):
    class CategoricalTruePositives(lib.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = lib.ops.reshape(lib.ops.argmax(y_pred, axis=1), (-1, 1))
            values = lib.ops.cast(lib.ops.cast(y_true, "int32") == lib.ops.cast(y_pred, "int32"), "float32")
            if sample_weight is not None:
                values = lib.ops.multiply(values, lib.ops.cast(sample_weight, "float32"))
            self.true_positives.assign_add(lib.ops.sum(values))

        def result(self):
            return self.true_positives

        def reset_state(self):
            self.true_positives.assign(0.0)
    return CategoricalTruePositives


def test_a_metric_with_its_own_variables_runs_in_fit_as_in_keras():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((40, 4)).astype(np.float32), rng.integers(0, 3, (40, 1))
    models = []
    for lib in (keras, mk):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3)])
        model.compile(optimizer=lib.optimizers.SGD(0.1),
                      loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[_true_positives_metric(lib)()])
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    histories = [m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history for m in models]
    assert histories[1]["categorical_true_positives"] == pytest.approx(histories[0]["categorical_true_positives"])
    m = _true_positives_metric(mk)()
    m.update_state(np.array([[1], [0]]), np.array([[0.1, 0.9], [0.2, 0.8]]))
    assert float(m.result()) == 1.0 and [v.name for v in m.variables] == ["ctp"]
    m.reset_state()
    assert float(m.result()) == 0.0
