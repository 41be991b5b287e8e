"""Keras' progress line: ``45/45 ━━━━━━━━━━━━━━━━━━━━ 1s 11ms/step - accuracy: 0.9305 - loss: 0.2467``.

``verbose=1`` redraws the bar after every batch when the output is a terminal and prints the final line at the
end; ``verbose=2`` prints one line per epoch, ``45/45 - 1s - 11ms/step - ...``. Logs are printed sorted by
name, four decimals, as Keras 3.
"""
import sys
import time


def _per_step(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def format_logs(logs):
    return "".join(f" - {k}: {v:.4f}" if isinstance(v, float) and 1e-3 <= abs(v) < 1e4 or v == 0
                   else f" - {k}: {v:.4e}" if isinstance(v, float) else f" - {k}: {v}" for k, v in sorted(logs.items()))


class Progbar:
    def __init__(self, steps, verbose, stream=None):
        self.steps, self.verbose = steps, verbose
        self.stream = stream or sys.stdout
        self.live = verbose == 1 and getattr(self.stream, "isatty", lambda: False)()
        self.start = time.perf_counter()
        self.seen = 0

    def _line(self, step, logs, final):
        elapsed = time.perf_counter() - self.start
        total = self.steps if self.steps is not None else step
        if self.verbose == 2:
            return f"{step}/{total} - {elapsed:.0f}s - {_per_step(elapsed / max(step, 1))}{format_logs(logs)}"
        width = 20
        done = width if final or not total else int(width * step / total)
        bar = "\u2501" * done + ("\u2500" * (width - done))
        return f"{step}/{total} {bar} {elapsed:.0f}s {_per_step(elapsed / max(step, 1))}{format_logs(logs)}"

    def update(self, step, logs):
        self.seen = step
        if self.live:
            self.stream.write("\r" + self._line(step, logs, False) + "\x1b[K")
            self.stream.flush()

    def finish(self, logs):
        if not self.verbose:
            return
        line = self._line(self.seen, logs, True)
        self.stream.write(("\r" + line + "\x1b[K\n") if self.live else line + "\n")
        self.stream.flush()
