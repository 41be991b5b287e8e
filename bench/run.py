"""Run minidl's kernel benchmark from a source checkout: ``python bench/run.py [options]``.

The same options as ``minidl bench`` (see ``--help``); the difference is that results are written
by default under ``bench/results/`` (git-ignored): ``kernels-<dtype>-<time>.json`` and, when
matplotlib is installed, the ratio plot ``kernels-<dtype>-<time>.png``. ``--json``/``--plot``
choose other paths.

Example:
    PYTHONPATH=. python bench/run.py --quick --ops matmul,conv2d
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))          # the checkout's minidl, not an installed one

from minidl.bench import add_arguments, main  # noqa: E402
from minidl.bench.report import have_matplotlib  # noqa: E402


def cli(argv=None):
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    stem = os.path.join(HERE, "results", f"kernels-{args.dtype}-{time.strftime('%Y%m%d-%H%M%S')}")
    if args.json is None and not args.from_json:
        args.json = stem + ".json"
    if args.plot is None and have_matplotlib():
        args.plot = stem + ".png"
    return main(args, parser)


if __name__ == "__main__":
    sys.exit(cli())
