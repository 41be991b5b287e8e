"""Autoencoders: a dense one for vectors and a convolutional one for images."""
from .. import nn


class Autoencoder(nn.Module):
    """Dense encoder to a ``latent``-wide code and a mirrored decoder ending in a sigmoid (inputs in [0, 1]).

    Example:
        >>> ae = Autoencoder(64, hidden=(32,), latent=8)
        >>> ae(md.rand(5, 64)).shape, ae.encode(md.rand(5, 64)).shape
        ((5, 64), (5, 8))
    """

    def __init__(self, in_features, hidden=(128,), latent=16):
        super().__init__()
        self.in_features = in_features
        enc, width = [nn.Flatten()], in_features
        for h in hidden:
            enc += [nn.Linear(width, h), nn.ReLU()]
            width = h
        enc.append(nn.Linear(width, latent))
        dec, width = [], latent
        for h in reversed(hidden):
            dec += [nn.Linear(width, h), nn.ReLU()]
            width = h
        dec += [nn.Linear(width, in_features), nn.Sigmoid()]
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)

    def encode(self, x):
        return self.encoder(x)

    def forward(self, x):
        return self.decoder(self.encoder(x)).reshape(x.shape)


class ConvAutoencoder(nn.Module):
    """Two stride-2 convolutions down, two stride-2 transposed convolutions up, a sigmoid at the end.

    The image side must be divisible by 4.

    Example:
        >>> ConvAutoencoder(in_channels=1)(md.rand(2, 1, 28, 28)).shape
        (2, 1, 28, 28)
    """

    def __init__(self, in_channels=1, channels=(16, 32)):
        super().__init__()
        c1, c2 = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c1, in_channels, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid(),
        )

    def encode(self, x):
        return self.encoder(x)

    def forward(self, x):
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"ConvAutoencoder: image sides must be divisible by 4, got input of shape {x.shape}")
        return self.decoder(self.encoder(x))
