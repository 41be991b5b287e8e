"""Data-parallel scaling of the MNIST CNN training step: images/s on 1 and 2 processes, and the communication share.

``PYTHONPATH=. python bench/distributed.py [--procs 1,2] [--steps 30] [--batch 64]`` launches itself under
``mpiexec -n P`` for each P. Every process runs ``md.models.CNN()`` (28x28 inputs, Adam) on its own batch of
``--batch`` images (a fixed *per-process* batch, as data-parallel training is used: the global batch grows with P).
A step is forward, backward, ``sync_gradients()`` (the bucketed allreduce) and the optimizer step; images/s counts
all processes' images. "comm" is the time inside collectives (``DistributedDataParallel.comm_seconds``) over the step
time, on rank 0 (median over ranks is close; the slowest rank's wait shows up as comm time on the others).
Each rank runs OMP_NUM_THREADS=cores/P threads so the runs share the same cores.
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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--procs", default="1,2")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--json", help="write the records here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if mpiexec is None:
        raise SystemExit('bench/distributed.py: no mpiexec; pip install "minidl[distributed]"')
    cores = os.cpu_count() or 1
    records = []
    for n in (int(s) for s in args.procs.split(",")):
        env = dict(os.environ, OMP_NUM_THREADS=str(max(1, cores // n)),
                   PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
        out = subprocess.run([mpiexec, "-n", str(n), sys.executable, __file__, "--worker", "--steps", str(args.steps),
                              "--batch", str(args.batch)], env=env, capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            raise SystemExit(f"mpiexec -n {n} failed:\n{out.stdout}\n{out.stderr}")
        records.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"MNIST CNN training step, batch {args.batch} per process, {args.steps} steps, {cores} cores")
    print(f"{'procs':>5} {'threads/proc':>12} {'step ms':>8} {'images/s':>9} {'comm ms':>8} {'comm share':>10}")
    for r in records:
        print(f"{r['procs']:>5} {r['threads_per_proc']:>12} {r['median_step_ms']:>8.1f} {r['images_per_s']:>9.0f} "
              f"{r['comm_ms_per_step']:>8.2f} {100 * r['comm_share']:>9.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
