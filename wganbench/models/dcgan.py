"""DCGAN generator and critic as in the WGAN paper's code (martinarjovsky/WassersteinGAN,
models/dcgan.py: every conv without bias), and the paper's figure-6 generator without batch norm
and with a constant number of filters (Arjovsky et al. 2017, fig. 6; the official DCGAN_G_nobn
keeps the pyramid of filters, WGAN-GP's WGANPaper_CrippledDCGANGenerator has 64 throughout).

All convolutions are 4x4 without bias; image sizes are powers of two from 16 up.
"""

from __future__ import annotations

import math

import torch
from torch import nn

NORMS = {
    "batch": lambda channels: nn.BatchNorm2d(channels),
    # GroupNorm with one group normalises over (C, H, W) per sample: WGAN-GP's layer norm.
    "layer": lambda channels: nn.GroupNorm(1, channels),
    "none": lambda channels: nn.Identity(),
}


def _pyramid_steps(image_size: int) -> int:
    """Number of stride-2 (de)convolutions between 4x4 and image_size x image_size."""
    steps = math.log2(image_size / 4)
    if image_size < 16 or steps != int(steps):
        raise ValueError(f"image_size must be a power of two >= 16, got {image_size}")
    return int(steps)


class DCGANGenerator(nn.Module):
    """z (nz) -> ConvT 4x4 to a 4x4 map, then doubling resolution and halving filters, tanh out.

    ``constant_filters`` keeps ``ngf`` filters on every layer (the figure-6 generator); ``norm``
    is "batch" for the DCGAN generator and "none" for the figure-6 one.
    """

    def __init__(self, image_size: int, nz: int, channels: int, ngf: int = 64, norm: str = "batch",
                 constant_filters: bool = False) -> None:
        super().__init__()
        steps = _pyramid_steps(image_size)
        width = ngf if constant_filters else ngf * 2 ** (steps - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False), NORMS[norm](width),
                                   nn.ReLU(True)]
        for _ in range(steps - 1):
            narrower = width if constant_filters else width // 2
            layers += [nn.ConvTranspose2d(width, narrower, 4, 2, 1, bias=False), NORMS[norm](narrower),
                       nn.ReLU(True)]
            width = narrower
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.nz = nz

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.nz, 1, 1))


class DCGANCritic(nn.Module):
    """Conv 4x4 s2 + LeakyReLU(0.2) (no norm on the first layer), doubling filters down to 4x4, then
    a 4x4 convolution to ``out_features`` outputs per sample (1, or the Cramér GAN's vector).

    ``norm`` is "batch" (WGAN paper), "layer" (gradient penalties forbid batch norm) or "none".
    """

    def __init__(self, image_size: int, channels: int, ndf: int = 64, norm: str = "batch",
                 out_features: int = 1) -> None:
        super().__init__()
        steps = _pyramid_steps(image_size)
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        width = ndf
        for _ in range(steps - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), NORMS[norm](width * 2),
                       nn.LeakyReLU(0.2, True)]
            width *= 2
        layers.append(nn.Conv2d(width, out_features, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN code's initialisation: conv weights N(0, 0.02), BN gamma N(1, 0.02), beta 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
