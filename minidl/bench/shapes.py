"""The shapes the kernel benchmark runs: layers of real models, not round numbers.

Each entry is a ``Case``: the kernel (``op``), a short label for the table, and the geometry the
recipes in ``kernels.py`` turn into arrays. ``kernel_cases()`` is what ``minidl bench`` runs;
``TINY`` is a set of seconds-long smoke-test shapes (``--tiny``, used by the tests).
"""
from dataclasses import dataclass, field

KERNEL_OPS = ("matmul", "conv2d", "max_pool2d", "avg_pool2d", "batch_norm")


@dataclass(frozen=True)
class Case:
    """One benchmarked kernel call.

    ``params`` by op:
      matmul      m, k, n                    a (m, k) @ b (k, n)
      conv2d      x (N, C, H, W), out (O), kernel, stride, padding, groups   (dilation 1)
      max_pool2d  x (N, C, H, W), kernel, stride, padding
      avg_pool2d  x (N, C, H, W), kernel, stride, padding
      batch_norm  x (N, C, H, W)             training statistics, running buffers updated

    Example:
        >>> Case("matmul", "MLP 64x784x128", {"m": 64, "k": 784, "n": 128}).shape
        '64x784x128'
    """
    op: str
    label: str
    params: dict = field(hash=False)
    large: bool = False          # skipped under --quick

    @property
    def shape(self):
        """The geometry as a compact string, the ``shape`` field of the JSON records."""
        p = self.params
        if self.op == "matmul":
            return f"{p['m']}x{p['k']}x{p['n']}"
        x = "x".join(str(d) for d in p["x"])
        if self.op == "conv2d":
            g = f" g{p['groups']}" if p.get("groups", 1) != 1 else ""
            return f"{x} -> {p['out']} k{p['kernel']} s{p['stride']} p{p['padding']}{g}"
        if self.op in ("max_pool2d", "avg_pool2d"):
            return f"{x} k{p['kernel']} s{p['stride']} p{p['padding']}"
        return x


def _gemm(m, k, n, label, large=False):
    return Case("matmul", label, {"m": m, "k": k, "n": n}, large)


def _conv(x, out, kernel, label, stride=1, padding=0, groups=1):
    return Case("conv2d", label, {"x": x, "out": out, "kernel": kernel, "stride": stride, "padding": padding,
                                  "groups": groups})


def _pool(op, x, kernel, stride, padding, label):
    return Case(op, label, {"x": x, "kernel": kernel, "stride": stride, "padding": padding})


CASES = (
    _gemm(64, 784, 128, "MLP layer 784->128, batch 64"),
    _gemm(256, 256, 256, "square 256"),
    _gemm(512, 512, 512, "square 512"),
    _gemm(1024, 1024, 1024, "square 1024"),
    _gemm(2048, 2048, 2048, "square 2048", large=True),
    _conv((64, 1, 28, 28), 32, 3, "MNIST CNN conv1", padding=1),
    _conv((64, 32, 14, 14), 64, 3, "MNIST CNN conv2", padding=1),
    _conv((32, 64, 56, 56), 64, 3, "ResNet 3x3 (conv2_x)", padding=1),
    _conv((32, 256, 56, 56), 64, 1, "ResNet 1x1 bottleneck reduce"),
    _conv((64, 16, 14, 14), 32, 3, "conv autoencoder, stride 2", stride=2, padding=1),
    _pool("max_pool2d", (64, 32, 28, 28), 2, 2, 0, "MNIST CNN pool1"),
    _pool("max_pool2d", (32, 64, 112, 112), 3, 2, 1, "ResNet stem pool"),
    _pool("avg_pool2d", (64, 32, 28, 28), 2, 2, 0, "LeNet-style avg pool"),
    Case("batch_norm", "ResNet BN (conv2_x)", {"x": (32, 64, 56, 56)}),
    Case("batch_norm", "MNIST CNN BN", {"x": (64, 32, 28, 28)}),
)

TINY = (
    _gemm(8, 16, 12, "tiny gemm"),
    _conv((2, 3, 8, 8), 4, 3, "tiny conv", padding=1),
    _pool("max_pool2d", (2, 3, 8, 8), 2, 2, 0, "tiny max pool"),
    _pool("avg_pool2d", (2, 3, 8, 8), 2, 2, 0, "tiny avg pool"),
    Case("batch_norm", "tiny bn", {"x": (4, 3, 5, 5)}),
)


def kernel_cases(ops=KERNEL_OPS, quick=False, tiny=False):
    """The cases to run for ``ops``, in table order.

    Example:
        >>> [c.shape for c in kernel_cases(["matmul"], quick=True)]
        ['64x784x128', '256x256x256', '512x512x512', '1024x1024x1024']
    """
    pool = TINY if tiny else CASES
    return [c for op in ops for c in pool if c.op == op and not (quick and c.large)]
