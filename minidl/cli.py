"""The ``minidl`` command line."""
import argparse
import os
import platform
import sys


def build_info():
    """What ``setup.py`` recorded about the compiled parts, or why they are missing."""
    try:
        from ._build_info import BUILD, NATIVE_REASON  # noqa: PLC0415 -- generated at build time
    except ImportError:
        return {}, "minidl._C was not built: no build record (running from a source tree without `pip install`?)"
    return BUILD, NATIVE_REASON


def info_lines():
    import numpy as np  # noqa: PLC0415

    from . import __version__, backends  # noqa: PLC0415

    build, reason = build_info()
    lines = [f"minidl {__version__}  (python {platform.python_version()}, numpy {np.__version__}, "
             f"{platform.machine()})"]
    lines.append("build:")
    if build:
        lines.append(f"  compiler  {build.get('compiler', '?')}")
        lines.append(f"  flags     {' '.join(build.get('flags', []))}")
        lines.append(f"  openmp    {'yes' if build.get('openmp') else 'no'}")
        lines.append(f"  cuda      {build.get('cuda', '?')}")
    lines.append(f"  native    {'built' if reason is None else reason}")
    try:
        from . import _C  # noqa: PLC0415
        facts = _C.build_info()
        lines.append("  _C        " + ", ".join(f"{k}={v}" for k, v in sorted(facts.items())))
    except ImportError:
        pass
    try:
        from .backends import ops_native  # noqa: PLC0415
        tuned = ops_native.ALLOCATOR
        lines.append("  allocator " + ("glibc defaults (MINIDL_MALLOC_TUNING=0)" if tuned is None else
                                       ", ".join(f"{k}={v}" for k, v in sorted(tuned.items()))))
    except ImportError:
        pass
    omp = ", ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
                    if k in os.environ)
    lines.append(f"threads: {os.cpu_count()} cores" + (f", {omp}" if omp else ""))
    forced = backends.forced()
    lines.append("backends (dispatch order per device" + (f"; forced: {forced}" if forced else "") + "):")
    avail = backends.available()
    for device, order in backends.ORDER.items():
        for name in order:
            why = avail[name]
            lines.append(f"  {device:4s} {name:10s} {'available' if why is None else 'missing: ' + why}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="minidl", description="minidl: a deep-learning framework from scratch")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, build (compiler, flags, CUDA), available backends and why others are not")
    bench_parser = sub.add_parser(
        "bench", help="time every kernel (forward and backward) per provider beside PyTorch and NumPy",
        description="Kernel benchmark: each kernel forward and backward for every provider usable here, PyTorch "
                    "and plain NumPy when installed, on real-model shapes, plus whole training steps of the four "
                    "families and a ResNet block. "
                    "Prints a table (ms, GFLOP/s or GB/s, speed vs PyTorch).")
    from .bench import add_arguments  # noqa: PLC0415 -- keeps `minidl info` free of the benchmark's imports
    add_arguments(bench_parser)
    from .train import command as train_command  # noqa: PLC0415

    train_parser = sub.add_parser(
        "train", help="train a network family (default: the CNN on the offline digits set) and print test metrics")
    train_command.add_arguments(train_parser)
    _add_generate(sub)
    args = parser.parse_args(argv)
    if args.command == "info":
        print("\n".join(info_lines()))
    elif args.command == "bench":
        from .bench import main as bench_main  # noqa: PLC0415
        return bench_main(args, bench_parser)
    elif args.command == "train":
        train_command.check(args, train_parser)
        try:
            return train_command.run(args)
        except (RuntimeError, FileNotFoundError, ImportError, ValueError) as exc:
            # expected failures (no GPU, a provider or dataset file missing, bad data): one clear message;
            # MINIDL_DEBUG=1 shows the traceback (and md.distributed's excepthook then ends the job)
            if os.environ.get("MINIDL_DEBUG"):
                raise
            print(f"minidl train: error: {exc}", file=sys.stderr)
            _end_distributed_job(f"minidl train: error: {exc}", 1)
            return 1
        except SystemExit as exc:
            if exc.code not in (None, 0):            # e.g. a bad argument found on one rank only
                code = exc.code if isinstance(exc.code, int) else 1
                _end_distributed_job(f"exit status {code}" if isinstance(exc.code, int) else str(exc.code), code)
            raise
    elif args.command == "generate":
        return _generate(args)
    return 0


def _end_distributed_job(message, code):
    """In a distributed job of several ranks, a failure on this rank ends every rank now (``md.distributed.abort``):
    a plain exit of one rank would leave the others waiting in their next collective until MINIDL_DIST_TIMEOUT."""
    dist = sys.modules.get("minidl.distributed")
    if dist is not None and dist.is_initialized() and dist.world_size() > 1:
        dist.abort(message, code)


# --- issue 16: `minidl generate` samples from a GPT saved by `minidl train gpt --save` ---
def _add_generate(sub):
    from .train import gpt_command  # noqa: PLC0415

    parser = sub.add_parser("generate", help="continue a prompt with a GPT saved by `minidl train gpt --save`",
                            description="Load a model saved by `minidl train gpt --save PATH` (checked: a damaged or "
                                        "foreign file is an error) and print the prompt with its continuation.")
    gpt_command.add_generate_arguments(parser)
    return parser


def _generate(args):
    from .train import gpt_command  # noqa: PLC0415

    try:
        return gpt_command.generate(args)
    except (RuntimeError, FileNotFoundError, ValueError, TypeError) as exc:
        if os.environ.get("MINIDL_DEBUG"):
            raise
        print(f"minidl generate: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
