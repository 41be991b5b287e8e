"""``minidl train {mlp,cnn,rnn,autoencoder,gpt}``: train one of the families and print its test metrics (``gpt``:
see ``minidl.train.gpt_command``).

Every option is checked before any data is read or any training starts (a bad ``--save`` path, ``--lr``,
``--device`` or option combination is a one-line usage error, exit status 2), so a finished training is never
lost to a typo.
"""
import argparse
import contextlib
import math
import os
import tempfile
import time

import numpy as np

FAMILIES = ("mlp", "cnn", "rnn", "autoencoder", "gpt")
IMAGE_SETS = ("digits", "mnist", "fashion_mnist", "synthetic")
DATASETS = {"mlp": IMAGE_SETS, "cnn": IMAGE_SETS, "autoencoder": IMAGE_SETS, "rnn": ("synthetic", "imdb"),
            "gpt": ("addition",)}
DEFAULT_DATASET = {"rnn": "synthetic", "gpt": "addition"}
# Defaults that reach the accuracy targets on the offline sets in well under a minute on 2 cores.
# Data sets read from files (``--data-path``); digits ships inside minidl and synthetic is generated.
FILE_SETS = ("mnist", "fashion_mnist", "imdb")
DEFAULTS = {"mlp": dict(epochs=30, batch_size=32, lr=1e-3), "cnn": dict(epochs=12, batch_size=32, lr=2e-3),
            "rnn": dict(epochs=8, batch_size=32, lr=3e-3), "autoencoder": dict(epochs=30, batch_size=32, lr=2e-3)}


def _positive_int(text):
    value = int(text) if text.strip().lstrip("+-").isdigit() else None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _learning_rate(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _device(text):
    from ..device import Device  # noqa: PLC0415

    try:
        return str(Device(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}") from None


def _save_path(text):
    """``--save PATH``: refused now, before training, unless a file can be written there."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file path, got an empty one")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file path such as "
                                         f"{os.path.join(text, 'model.safetensors')}")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"folder {folder} does not exist")
    try:       # the real test (permission bits do not tell for root, read-only mounts or ACLs)
        fd, probe = tempfile.mkstemp(prefix=".minidl-write-check-", dir=folder)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot write in folder {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    os.remove(probe)
    return text


def add_arguments(parser):
    parser.add_argument("family", nargs="?", default="cnn", choices=FAMILIES,
                        help="network family (default: cnn); gpt: a small GPT learns 3-digit addition "
                             "(\"123+456=0579\"): 99.5%% exact match on 1,000 unseen sums after its default 4 "
                             "epochs, about 95 CPU-seconds on a 2-core VM")
    parser.add_argument("--dataset", help="digits (default for images), mnist, fashion_mnist, synthetic "
                                          "(default for rnn), imdb, addition (gpt)")
    parser.add_argument("--epochs", type=_positive_int)
    parser.add_argument("--batch-size", type=_positive_int)
    parser.add_argument("--optimizer", default="adam", choices=("sgd", "adam", "rmsprop"))
    parser.add_argument("--lr", type=_learning_rate, help="learning rate, a finite number > 0")
    parser.add_argument("--device", default="cpu", type=_device, help="cpu, cuda or cuda:N")
    parser.add_argument("--backend", help="force a kernel provider (native, numba, numpy, cuda, cupy, numba_cuda)")
    parser.add_argument("--save", metavar="PATH", type=_save_path,
                        help="write the trained weights here (safetensors); its folder must exist and be writable")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-path", help="folder (or .npz file) holding the files of mnist, fashion_mnist or "
                                            "imdb (else MINIDL_DATA); read as is, without the digest check")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over MPI: run as `mpirun -n N minidl train ... --distributed`; each "
                             "process trains on its shard with --batch-size samples per step, only rank 0 prints "
                             "and saves (needs pip install \"minidl[distributed]\")")


def _images(name, family, seed, path):
    """(x_train, y_train), (x_test, y_test) as float32 images (N, C, H, W) scaled to [0, 1]."""
    from .. import datasets  # noqa: PLC0415

    if name == "synthetic":
        (xtr, ytr), (xte, yte) = datasets.synthetic.images(seed=seed)
    else:
        loader = getattr(datasets, name)
        (xtr, ytr), (xte, yte) = loader.load_data() if name == "digits" else loader.load_data(path=path)
    scale = float(max(xtr.max(), 1))
    prep = [x.astype(np.float32) / scale for x in (xtr, xte)]
    prep = [x[:, None] if x.ndim == 3 else x for x in prep]          # (N, H, W) -> (N, 1, H, W)
    return (prep[0], ytr.astype(np.int64)), (prep[1], yte.astype(np.int64))


def _sequences(name, seed, path):
    from .. import datasets  # noqa: PLC0415

    if name == "imdb":
        (xtr, ytr), (xte, yte) = datasets.imdb.load_data(path=path, num_words=10000, maxlen=200)
        xtr, xte = (datasets.pad_sequences(x, maxlen=200) for x in (xtr, xte))
        vocab = 10000
    else:
        (xtr, ytr), (xte, yte) = datasets.synthetic.sequences(seed=seed)
        vocab = int(max(xtr.max(), xte.max())) + 1
    return (xtr.astype(np.int64), ytr.astype(np.int64)), (xte.astype(np.int64), yte.astype(np.int64)), vocab


def build(family, train, vocab=None):
    """The model of ``family`` sized for the training inputs."""
    from .. import models  # noqa: PLC0415

    x, y = train
    if family == "rnn":
        return models.RNNClassifier(vocab, num_classes=int(y.max()) + 1, cell="lstm")
    classes = int(y.max()) + 1
    if family == "mlp":
        return models.MLP(int(np.prod(x.shape[1:])), hidden=(128, 64), num_classes=classes)
    if family == "cnn":
        return models.CNN(in_channels=x.shape[1], num_classes=classes, image_size=x.shape[-1],
                          hidden=64 if x.shape[-1] <= 8 else 128)
    return models.Autoencoder(int(np.prod(x.shape[1:])), hidden=(128,), latent=16)


def check(args, parser):
    """Usage errors that need several options at once: end through ``parser.error`` (exit status 2)."""
    dataset = args.dataset or DEFAULT_DATASET.get(args.family, "digits")
    if dataset not in DATASETS[args.family]:
        parser.error(f"dataset {dataset!r} does not fit the {args.family} family "
                     f"(choose from {', '.join(DATASETS[args.family])})")
    if args.data_path is not None and dataset not in FILE_SETS:
        parser.error(f"--data-path is for the data sets read from files ({', '.join(FILE_SETS)}); {dataset} "
                     + ("ships inside minidl" if dataset == "digits" else "is generated"))
    if args.family == "gpt":
        from . import gpt_command  # noqa: PLC0415
        gpt_command.check(args, parser)


def run(args):
    if args.family == "gpt":
        from . import gpt_command  # noqa: PLC0415
        return gpt_command.run(args)
    import minidl as md  # noqa: PLC0415

    from . import evaluate, fit  # noqa: PLC0415

    dist = None
    if args.distributed:
        from .. import distributed as dist  # noqa: PLC0415
        try:
            dist.init()
        except ImportError as e:
            raise SystemExit(f"minidl train --distributed: {e}") from None
    main = dist is None or dist.rank() == 0
    say = print if main else (lambda *a, **k: None)
    dataset = args.dataset or DEFAULT_DATASET.get(args.family, "digits")
    if dataset not in DATASETS[args.family]:         # main() reports this as a usage error before we get here
        raise ValueError(f"dataset {dataset!r} does not fit the {args.family} family "
                         f"(choose from {', '.join(DATASETS[args.family])})")
    opts = dict(DEFAULTS[args.family])
    opts.update({k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr))
                 if v is not None})
    md.manual_seed(args.seed)
    vocab = None
    if args.family == "rnn":
        train, test, vocab = _sequences(dataset, args.seed, args.data_path)
    else:
        train, test = _images(dataset, args.family, args.seed, args.data_path)
    model = build(args.family, train, vocab).to(args.device)
    if dist is not None:
        model = dist.DistributedDataParallel(model)         # rank 0's initial weights everywhere
        md.manual_seed(args.seed + dist.rank())             # but each rank its own dropout masks
    if args.family == "autoencoder":
        loss, metrics = md.nn.functional.mse_loss, ()
        train, test = (train[0], train[0]), (test[0], test[0])
    else:
        loss, metrics = md.nn.functional.cross_entropy, ("accuracy",)
    optimizer = {"sgd": lambda p, lr: md.optim.SGD(p, lr=lr, momentum=0.9),
                 "adam": lambda p, lr: md.optim.Adam(p, lr=lr),
                 "rmsprop": lambda p, lr: md.optim.RMSprop(p, lr=lr)}[args.optimizer](model.parameters(), opts["lr"])
    train_data = train
    if dist is not None:            # this rank's shard; the loader's batch size is per process
        sampler = dist.DistributedSampler(md.data.TensorDataset(*train), shuffle=True, seed=args.seed)
        train_data = md.data.DataLoader(md.data.TensorDataset(*train), batch_size=opts["batch_size"],
                                        sampler=sampler)
    say(f"training {args.family} on {dataset}: {len(train[0])} train / {len(test[0])} test samples, "
          f"{model.num_parameters():,} parameters, {args.optimizer} lr={opts['lr']}, batch {opts['batch_size']}, "
          f"{opts['epochs']} epochs, device {args.device}"
        + (f", {dist.world_size()} processes (batch {opts['batch_size']} per process)" if dist else ""), flush=True)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if args.backend:
            stack.enter_context(md.backends.use(args.backend))    # an unavailable provider fails here, clearly
        # a diverging run is reported once, as a clear error below, not as a stream of NumPy overflow warnings
        stack.enter_context(np.errstate(over="ignore", invalid="ignore", divide="ignore"))
        before = evaluate(model, loss, test, metrics=metrics)["loss"] if args.family == "autoencoder" else None
        # cosine decay to 0 over the run: the last epochs settle instead of bouncing around the optimum
        schedule = md.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=opts["epochs"])
        try:
            fit(model, loss, optimizer, train_data, epochs=opts["epochs"], batch_size=opts["batch_size"],
                validation_data=test, metrics=metrics, seed=args.seed,
                verbose=(2 if args.quiet else 1) if main else 0, device=args.device, scheduler=schedule)
        except FloatingPointError as exc:
            raise RuntimeError(f"training diverged: {exc}; nothing was saved") from exc
        result = evaluate(model, loss, test, metrics=metrics)
    say(f"trained in {time.perf_counter() - start:.1f} s")
    if args.save and main:
        try:
            md.save((model.module if dist else model).state_dict(), args.save)    # plain keys, loadable by the model
        except OSError as exc:     # checked before training, but the folder may have changed since
            raise RuntimeError(f"--save {args.save}: {exc.strerror or exc}") from exc
        say(f"saved weights to {args.save}")
    if args.family == "autoencoder":
        say(f"initial test loss: {before:.4f}")
        say(f"test loss: {result['loss']:.4f}")
    else:
        say(f"test accuracy: {result['accuracy']:.4f}")
    return 0
