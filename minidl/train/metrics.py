"""Metrics as running sums over batches: ``update(output, target)`` adds, ``result()`` averages."""
import numpy as np

from ..device import to_host


class Metric:
    name = "metric"

    def __init__(self):
        self.total, self.count = 0.0, 0

    def update(self, output, target):
        raise NotImplementedError

    def result(self):
        return self.total / self.count if self.count else float("nan")


class Accuracy(Metric):
    """Fraction of correct predictions: argmax over classes for (N, C) outputs with class-index targets;
    for (N,) or (N, 1) outputs (sigmoid probabilities) a 0.5 threshold against 0/1 targets."""

    name = "accuracy"

    def update(self, output, target):
        out, tgt = np.asarray(to_host(output)), np.asarray(to_host(target))
        if out.ndim >= 2 and out.shape[-1] > 1 and tgt.shape == out.shape[:-1]:
            correct = out.argmax(axis=-1) == tgt
        elif out.ndim >= 2 and out.shape[-1] > 1 and tgt.shape == out.shape:     # one-hot targets
            correct = out.argmax(axis=-1) == tgt.argmax(axis=-1)
        else:
            out, tgt = out.reshape(-1), tgt.reshape(-1)
            if out.shape != tgt.shape:
                raise ValueError(f"accuracy: output of shape {np.shape(to_host(output))} does not match target of "
                                 f"shape {np.shape(to_host(target))}")
            correct = (out > 0.5) == (tgt > 0.5)
        self.total += float(correct.sum())
        self.count += correct.size


class MeanAbsoluteError(Metric):
    name = "mae"

    def update(self, output, target):
        diff = np.abs(np.asarray(to_host(output), np.float64) - np.asarray(to_host(target), np.float64).reshape(
            np.shape(to_host(output))))
        self.total += float(diff.sum())
        self.count += diff.size


METRICS = {"accuracy": Accuracy, "acc": Accuracy, "mae": MeanAbsoluteError}


def get_metric(spec):
    """A fresh Metric from a name ("accuracy", "mae"), a Metric class or instance."""
    if isinstance(spec, str):
        if spec not in METRICS:
            raise ValueError(f"metric: unknown {spec!r} (choose from {', '.join(sorted(METRICS))})")
        return METRICS[spec]()
    if isinstance(spec, type) and issubclass(spec, Metric):
        return spec()
    if isinstance(spec, Metric):
        return type(spec)()
    raise TypeError(f"metric: expected a name or a Metric, got {type(spec).__name__}")
