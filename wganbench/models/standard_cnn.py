"""The "standard CNN" of Miyato et al. 2018 (SN-GAN, table 3), the network of their table 2.

Generator: z -> dense to an (S/8)x(S/8)x8w map, BN, ReLU -> three 4x4 stride-2 deconvolutions
(4w, 2w, w filters), each BN + ReLU -> 3x3 stride-1 convolution to the image, tanh; w = ngf = 64
gives the paper's 512-256-128-64 (S/8 = 4 for CIFAR-10's 32x32, 6 for STL-10's 48x48). As in
pfnet-research/sngan_projection (DCGANGenerator), the dense layer is followed by BN and ReLU.

Critic: 3x3 stride-1 and 4x4 stride-2 convolutions alternating, w, w, 2w, 2w, 4w, 4w, 8w filters
(ndf = 64: 64 ... 512), each followed by leaky ReLU with slope 0.1, then a dense layer to the
output. The paper's critic has no normalisation (critic_norm none); its "batch norm" and "layer
norm" rows put one after every convolution but the first. Weights keep PyTorch's default
initialisation (the chainer code uses chainer's defaults).
"""

from __future__ import annotations

import torch
from torch import nn

from .dcgan import NORMS

SLOPE = 0.1  # the paper's leaky ReLU


def _base(image_size: int) -> int:
    if image_size % 8 or image_size < 16:
        raise ValueError(f"the standard CNN needs an image size divisible by 8 and >= 16, got {image_size}")
    return image_size // 8


class StandardCNNGenerator(nn.Module):
    def __init__(self, image_size: int, nz: int, channels: int, ngf: int = 64) -> None:
        super().__init__()
        self.base, self.width, self.nz = _base(image_size), 8 * ngf, nz
        self.dense = nn.Linear(nz, self.base * self.base * self.width)
        self.dense_out = nn.Sequential(nn.BatchNorm2d(self.width), nn.ReLU(True))
        layers: list[nn.Module] = []
        width = self.width
        for _ in range(3):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1), nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.dense(z.view(z.shape[0], self.nz)).view(z.shape[0], self.width, self.base, self.base)
        return self.net(self.dense_out(h))


class StandardCNNCritic(nn.Module):
    def __init__(self, image_size: int, channels: int, ndf: int = 64, norm: str = "none",
                 out_features: int = 1) -> None:
        super().__init__()
        widths = [ndf, ndf, 2 * ndf, 2 * ndf, 4 * ndf, 4 * ndf, 8 * ndf]
        layers: list[nn.Module] = []
        previous = channels
        for i, width in enumerate(widths):
            stride2 = i % 2 == 1
            layers.append(nn.Conv2d(previous, width, 4 if stride2 else 3, 2 if stride2 else 1, 1))
            if i > 0:
                layers.append(NORMS[norm](width))
            layers.append(nn.LeakyReLU(SLOPE, inplace=True))
            previous = width
        self.net = nn.Sequential(*layers)
        self.head = nn.Linear(_base(image_size) ** 2 * previous, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x).flatten(1))
