"""Data-parallel scaling of the MNIST CNN training step: images/s on 1 and 2 processes, and the communication share.

``PYTHONPATH=. python bench/distributed.py [--procs 1,2] [--steps 30] [--batch 64]`` launches itself under
``mpiexec -n P`` for each P. Every process runs ``md.models.CNN()`` (28x28 inputs, Adam) on its own batch of
``--batch`` images (a fixed *per-process* batch, as data-parallel training is used: the global batch grows with P).
A step is forward, backward, ``sync_gradients()`` (the bucketed allreduce) and the optimizer step; images/s counts
all processes' images. "comm" is the time inside collectives (``DistributedDataParallel.comm_seconds``) over the step
time, on rank 0 (median over ranks is close; the slowest rank's wait shows up as comm time on the others).
Each rank runs OMP_NUM_THREADS=cores/P threads so the runs share the same cores.

PyTorch runs the same network (``--compare torch``, the default when it is installed) as
``torch.nn.parallel.DistributedDataParallel`` over gloo, launched by the same ``mpiexec``; its allreduces overlap
the backward, so only its images/s is reported, and the ratio minidl / PyTorch of images/s.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def worker(args):
    sys.path.insert(0, ROOT)
    import numpy as np  # noqa: PLC0415

    import minidl as md  # noqa: PLC0415
    from minidl import distributed as dist  # noqa: PLC0415

    dist.init()
    md.manual_seed(0)
    model = dist.DistributedDataParallel(md.models.CNN())
    opt = md.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(dist.rank())
    x = md.tensor(rng.random((args.batch, 1, 28, 28), dtype=np.float32))
    y = md.tensor(rng.integers(0, 10, args.batch))

    def step():
        opt.zero_grad()
        md.nn.functional.cross_entropy(model(x), y).backward()
        model.sync_gradients()
        opt.step()

    for _ in range(3):                              # warm-up: allocations, first kernel calls
        step()
    dist.barrier()
    model.comm_seconds = 0.0
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    comm = model.comm_seconds
    total = sum(times)
    if dist.rank() == 0:
        print(json.dumps({"procs": dist.world_size(), "batch_per_proc": args.batch, "steps": args.steps,
                          "median_step_ms": 1e3 * float(np.median(times)),
                          "images_per_s": dist.world_size() * args.batch * args.steps / total,
                          "comm_share": comm / total, "comm_ms_per_step": 1e3 * comm / args.steps,
                          "threads_per_proc": int(os.environ.get("OMP_NUM_THREADS", "0") or 0),
                          "buckets": len(model._grad_buckets),
                          "params": model.module.num_parameters()}), flush=True)


def torch_worker(args):
    """The same step in PyTorch: md.models.CNN's layers, Adam, DDP over gloo (rank and port from MPI)."""
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415
    import torch.distributed as tdist  # noqa: PLC0415
    from mpi4py import MPI  # noqa: PLC0415

    world = MPI.COMM_WORLD
    rank, size = world.Get_rank(), world.Get_size()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    port = world.bcast(_free_port() if rank == 0 else None, root=0)
    tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size)
    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))
    model = nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(rank)
    x = torch.from_numpy(rng.random((args.batch, 1, 28, 28), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, args.batch))

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()       # DDP allreduces inside backward
        opt.step()

    for _ in range(3):
        step()
    tdist.barrier()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    if rank == 0:
        print(json.dumps({"framework": "torch", "procs": size, "median_step_ms": 1e3 * float(np.median(times)),
                          "images_per_s": size * args.batch * args.steps / sum(times)}), flush=True)
    tdist.destroy_process_group()


def _free_port():
    import socket  # noqa: PLC0415
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(mpiexec, n, role, args, env):
    out = subprocess.run([mpiexec, "-n", str(n), sys.executable, __file__, role, "--steps", str(args.steps),
                          "--batch", str(args.batch)], env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"mpiexec -n {n} {role} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--procs", default="1,2")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--json", help="write the records here")
    p.add_argument("--compare", default="torch", help="'torch' (PyTorch DDP over gloo, when installed) or 'none'")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    if args.torch_worker:
        return torch_worker(args)
    compare = args.compare == "torch"
    if compare:
        try:
            import torch  # noqa: F401, PLC0415
        except ImportError:
            print("PyTorch is not installed: no comparison", file=sys.stderr)
            compare = False
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if mpiexec is None:
        raise SystemExit('bench/distributed.py: no mpiexec; pip install "minidl[distributed]"')
    cores = os.cpu_count() or 1
    records = []
    for n in (int(s) for s in args.procs.split(",")):
        env = dict(os.environ, OMP_NUM_THREADS=str(max(1, cores // n)),
                   PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
        record = _launch(mpiexec, n, "--worker", args, env)
        if compare:
            record["torch"] = _launch(mpiexec, n, "--torch-worker", args, env)
            record["ratio_vs_torch"] = record["images_per_s"] / record["torch"]["images_per_s"]
        records.append(record)
    print(f"MNIST CNN training step, batch {args.batch} per process, {args.steps} steps, {cores} cores")
    print(f"{'procs':>5} {'threads/proc':>12} {'step ms':>8} {'images/s':>9} {'comm ms':>8} {'comm share':>10}"
          + (f" {'torch img/s':>11} {'vs torch':>8}" if compare else ""))
    for r in records:
        line = (f"{r['procs']:>5} {r['threads_per_proc']:>12} {r['median_step_ms']:>8.1f} {r['images_per_s']:>9.0f} "
                f"{r['comm_ms_per_step']:>8.2f} {100 * r['comm_share']:>9.1f}%")
        if compare:
            line += f" {r['torch']['images_per_s']:>11.0f} {r['ratio_vs_torch']:>7.2f}x"
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
