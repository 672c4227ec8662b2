"""ReLU MLPs: the WGAN paper's figure-7 image generator and critic, and the WGAN-GP toy networks.

Choice recorded (Arjovsky et al. 2017, figs. 3 and 7, against martinarjovsky/WassersteinGAN
models/mlp.py): the paper says "4 hidden layers and 512 units", the code has
three hidden layers and no tanh. We follow the paper's text for images (4 hidden ReLU layers of
512, tanh output so samples live in the data's [-1, 1]) and the WGAN-GP toy code for 2-D data
(3 hidden ReLU layers of 512, linear output).
"""

from __future__ import annotations

import torch
from torch import nn


def relu_mlp(in_features: int, out_features: int, hidden: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU(True)]
        width = hidden
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z -> ``depth`` ReLU layers -> sample of ``shape`` (tanh for images, linear for points)."""

    def __init__(self, nz: int, shape: tuple[int, ...], hidden: int = 512, depth: int = 4,
                 tanh: bool = True) -> None:
        super().__init__()
        self.shape = shape
        self.net = relu_mlp(nz, int(torch.tensor(shape).prod()), hidden, depth)
        self.out = nn.Tanh() if tanh else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.net(z.flatten(1))).view(z.shape[0], *self.shape)


class MLPCritic(nn.Module):
    """sample -> ``depth`` ReLU layers -> ``out_features`` outputs per sample."""

    def __init__(self, shape: tuple[int, ...], hidden: int = 512, depth: int = 3, out_features: int = 1) -> None:
        super().__init__()
        self.net = relu_mlp(int(torch.tensor(shape).prod()), out_features, hidden, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))
