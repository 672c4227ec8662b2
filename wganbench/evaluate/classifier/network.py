"""The offline classifier: a small CNN, and the layouts that turn its outputs into a data set's modes.

One network classifies one image into ``num_classes``. A *layout* says how a data set's images
map onto it: ``image`` classifies the whole image (digits, MNIST, CIFAR-10); ``per-channel``
classifies each channel with the same single-channel network and combines the classes into a
mode (stacked digits: mode = 100·red + 10·green + blue, 1,000 modes).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import Registry

FEATURE_DIM = 64  # penultimate width: small enough for a well-conditioned covariance from ~300 images


class ConvClassifier(nn.Module):
    """conv3x3-ReLU-maxpool blocks down to 4x4, then a 64-unit hidden layer (the features) and logits.

    Inputs are resized (area averaging) to ``resolution`` first: digits are 8x8 at heart, so 16x16
    keeps every detail a generator can get wrong while training in seconds on a CPU.
    """

    def __init__(self, in_channels: int, num_classes: int, resolution: int, width: int = 16,
                 feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"classifier resolution must be a power of two >= 8, not {resolution}")
        self.in_channels, self.num_classes, self.resolution, self.width = in_channels, num_classes, resolution, width
        blocks: list[nn.Module] = []
        channels, size = in_channels, resolution
        while size > 4:
            blocks += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels, width, size = width, min(2 * width, 128), size // 2
        self.body = nn.Sequential(*blocks, nn.Flatten(), nn.Linear(channels * 16, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, num_classes)
        # features are returned divided by their RMS on the training images (set by calibrate), so
        # FID and KID come out on a scale like Inception's instead of one set by training noise
        self.register_buffer("feature_scale", torch.ones(()))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] (N, in_channels, H, W) -> (scaled features, logits)."""
        if images.shape[-1] != self.resolution or images.shape[-2] != self.resolution:
            images = F.interpolate(images, size=(self.resolution, self.resolution), mode="area")
        hidden = self.body(images)
        return hidden * self.feature_scale, self.head(hidden)

    @torch.no_grad()
    def calibrate(self, images: torch.Tensor) -> None:
        """Set the feature scale to 1 / RMS of the raw features on ``images``."""
        self.feature_scale.fill_(1.0)
        hidden = torch.cat([self(chunk)[0] for chunk in images.split(1024)])
        self.feature_scale.fill_(1.0 / float(hidden.pow(2).mean().sqrt().clamp_min(1e-12)))


def _match_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Grey images fed as RGB (torch-fidelity wants 3 channels) go back to one channel, and vice versa."""
    if images.shape[1] == channels:
        return images
    if channels == 1:
        return images.mean(dim=1, keepdim=True)
    if images.shape[1] == 1:
        return images.expand(-1, channels, -1, -1)
    raise ValueError(f"classifier takes {channels} channels, images have {images.shape[1]}")


def _image_layout(net: ConvClassifier, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    features, logits = net(_match_channels(images, net.in_channels))
    return features, logits.log_softmax(dim=1)


def _per_channel_layout(net: ConvClassifier, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n, c, h, w = images.shape
    features, logits = net(images.reshape(n * c, 1, h, w))
    log_p = logits.log_softmax(dim=1).reshape(n, c, net.num_classes)
    joint = log_p[:, 0]
    for channel in range(1, c):  # log p(mode) over all class tuples, first channel most significant
        joint = (joint[:, :, None] + log_p[:, channel, None, :]).reshape(n, -1)
    return features.reshape(n, -1), joint


LAYOUTS: Registry[Callable[[ConvClassifier, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]] = Registry("layout")
LAYOUTS.add("image", _image_layout)
LAYOUTS.add("per-channel", _per_channel_layout)


class ModeClassifier(nn.Module):
    """A trained network plus its layout: images -> (features, log-probabilities of the modes)."""

    def __init__(self, net: ConvClassifier, layout: str) -> None:
        super().__init__()
        self.net, self.layout = net, layout
        self._apply_layout = LAYOUTS.get(layout, key="layout")

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._apply_layout(self.net, images)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """The most likely mode of each image (evaluation mode, in batches)."""
        self.eval()
        device = next(self.parameters()).device
        return torch.cat([self(chunk.to(device))[1].argmax(dim=1).cpu() for chunk in images.split(batch_size)])
