"""OpenMP settings that must be in place before ``minidl._C`` (and with it libgomp) loads."""
import os


def bound_spinning():
    """Let OpenMP worker threads spin ~10k iterations before sleeping instead of libgomp's default 300k.

    Measured on 2 cores: with one core busy elsewhere (another process, a compiler), the default spinning
    made the MNIST-CNN run 25x slower (70 s instead of 2.8 s) because the spinning thread holds the core
    the preempted one needs; 10k keeps full speed on an idle machine (GEMM 512^3: 193 GFLOP/s either
    way) while OMP_WAIT_POLICY=passive halved it. libgomp reads this once, when it loads with _C, so it
    is set before the import; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
    """
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "10000")


bound_spinning()
