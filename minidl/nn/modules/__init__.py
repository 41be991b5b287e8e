"""``md.nn.modules``: the layers under PyTorch's file names (``torch.nn.modules.linear.Linear``,
``torch.nn.modules.activation.MultiheadAttention``, ...), for programs that spell classes by those paths (pickling
allow-lists such as ``torch.serialization.safe_globals([...])``, ``isinstance`` checks).

Each name is the class of ``md.nn`` itself, not a copy. Where minidl keeps a layer in a file of the same name, the
submodule is that file; ``activation`` and ``linear`` gather what PyTorch keeps there from several minidl files.

Example:
    >>> md.nn.modules.transformer.TransformerEncoderLayer is md.nn.TransformerEncoderLayer
    True
"""
import sys

from .. import (container, conv, distance, dropout, loss, module, normalization, padding, pixelshuffle, pooling,  # noqa: F401
                rnn, sparse, transformer, upsampling)
from . import activation, linear  # noqa: F401

for _name in ("container", "conv", "distance", "dropout", "loss", "module", "normalization", "padding",
              "pixelshuffle", "pooling", "rnn", "sparse", "transformer", "upsampling"):
    sys.modules[f"{__name__}.{_name}"] = globals()[_name]       # so `import minidl.nn.modules.rnn` works too
del _name
