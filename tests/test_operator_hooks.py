"""Foreign operands (keras.Variable, sparse tensors) join Tensor's operators through one hook
(``__minidl_operand__``), never by wrapping the operators: after importing every module, ``a + b`` still calls
the op itself (no extra Python frame per operation)."""
import numpy as np

import minidl as md
import minidl.keras  # noqa: F401 -- imported for its effect on Tensor (there must be none)
import minidl.sparse  # noqa: F401
from minidl.ops import _METHODS


def test_operators_are_the_ops_themselves():
    for name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
                 "__rtruediv__", "__matmul__", "__rmatmul__", "__pow__"):
        assert getattr(md.Tensor, name) is _METHODS[name], name


def test_foreign_operands_still_take_part():
    layer = md.keras.layers.Dense(2, use_bias=False)
    layer.build((None, 3))
    w = layer.weights[0]
    x = md.tensor(np.ones((1, 3), np.float32))
    np.testing.assert_allclose((x @ w).numpy(), x.numpy() @ w.numpy())
    s = md.sparse.sparse_coo_tensor([[0, 1], [1, 0]], [2.0, 3.0], (2, 2))
    np.testing.assert_allclose((md.ones(2, 2) + s).numpy(), [[1, 3], [4, 1]])
