"""A feed-forward classifier (multi-layer perceptron)."""
from .. import nn

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


def activation(name):
    """An activation module by name (relu, tanh, sigmoid, gelu)."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation: unknown {name!r} (choose from {', '.join(_ACTIVATIONS)})")
    return _ACTIVATIONS[name]()


class MLP(nn.Module):
    """Flatten, then Linear + activation (+ Dropout) per hidden width, then a Linear to the classes.

    Example:
        >>> MLP(64, hidden=(128, 64), num_classes=10)(md.randn(5, 8, 8)).shape   # inputs are flattened
        (5, 10)
    """

    def __init__(self, in_features, hidden=(128, 64), num_classes=10, dropout=0.0, activation_name="relu"):
        super().__init__()
        layers, width = [nn.Flatten()], in_features
        for h in hidden:
            layers += [nn.Linear(width, h), activation(activation_name)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
