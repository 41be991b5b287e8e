"""A LeNet-style convolutional classifier."""
from .. import nn


class CNN(nn.Module):
    """Two conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool), then a hidden Linear and the classifier.

    ``image_size`` (side of the square input) fixes the flattened width: ``channels[1] * (image_size // 4) ** 2``.

    Example:
        >>> CNN(in_channels=1, num_classes=10, image_size=28)(md.randn(2, 1, 28, 28)).shape
        (2, 10)
    """

    def __init__(self, in_channels=1, num_classes=10, image_size=28, channels=(32, 64), hidden=128, dropout=0.25):
        super().__init__()
        if image_size < 4:
            raise ValueError(f"CNN: image_size {image_size} is too small for two 2x2 poolings (need >= 4)")
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c2 * side * side, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
