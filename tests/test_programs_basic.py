"""What the basics/tutorials/graph/RL programs of issue 14 needed, used the way they use it, against PyTorch:
``randint(high, size)``
"""
import numpy as np
import torch
from hypothesis import settings

import minidl as md

SETTINGS = settings(max_examples=25, deadline=None)


# --- randint(high, size) --------------------------------------------------------------------------------------
def test_randint_high_size_overload_as_torch():
    md.manual_seed(0)
    y = md.randint(10, (500,))
    assert y.shape == tuple(torch.randint(10, (500,)).shape) == (500,)
    assert y.dtype == md.int64 and int(y.min()) >= 0 and int(y.max()) <= 9
    assert set(np.unique(y.numpy())) == set(range(10))
    z = md.randint(3, 5, (4, 2))                               # the (low, high, size) form is unchanged
    assert z.shape == (4, 2) and ((z.numpy() >= 3) & (z.numpy() < 5)).all()
    assert md.randint(4, size=[3]).shape == (3,)
