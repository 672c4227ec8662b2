"""Generators and critics by architecture name.

``arch`` picks the generator; ``critic`` picks the critic (by default the paper's pairing: a DCGAN
critic for every image generator, an MLP critic on 2-D data). ``critic_norm`` is resolved by the
config from the Lipschitz method, because gradient penalties forbid batch norm.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from ..registry import Registry
from .dcgan import DCGANCritic, DCGANGenerator, dcgan_init
from .mlp import MLPCritic, MLPGenerator
from .standard_cnn import StandardCNNCritic, StandardCNNGenerator

GeneratorFactory = Callable[[dict, tuple[int, ...]], nn.Module]
CriticFactory = Callable[[dict, tuple[int, ...], int], nn.Module]

GENERATORS: Registry[GeneratorFactory] = Registry("architecture")
CRITICS: Registry[CriticFactory] = Registry("critic")


def _toy(shape: tuple[int, ...]) -> bool:
    return len(shape) == 1


@GENERATORS.register("dcgan")
def _dcgan_generator(cfg: dict, shape: tuple[int, ...]) -> nn.Module:
    net = DCGANGenerator(shape[-1], cfg["nz"], shape[0], cfg["ngf"], norm="batch")
    net.apply(dcgan_init)
    return net


@GENERATORS.register("dcgan-nobn")
def _dcgan_nobn_generator(cfg: dict, shape: tuple[int, ...]) -> nn.Module:
    net = DCGANGenerator(shape[-1], cfg["nz"], shape[0], cfg["ngf"], norm="none", constant_filters=True)
    net.apply(dcgan_init)
    return net


@GENERATORS.register("mlp")
def _mlp_generator(cfg: dict, shape: tuple[int, ...]) -> nn.Module:
    if _toy(shape):
        return MLPGenerator(cfg["nz"], shape, cfg["mlp_hidden"], depth=3, tanh=False)
    return MLPGenerator(cfg["nz"], shape, cfg["mlp_hidden"], depth=4, tanh=True)


@GENERATORS.register("standard-cnn")
def _standard_cnn_generator(cfg: dict, shape: tuple[int, ...]) -> nn.Module:
    return StandardCNNGenerator(shape[-1], cfg["nz"], shape[0], cfg["ngf"])


@CRITICS.register("dcgan")
def _dcgan_critic(cfg: dict, shape: tuple[int, ...], out_features: int) -> nn.Module:
    net = DCGANCritic(shape[-1], shape[0], cfg["ndf"], norm=cfg["critic_norm"], out_features=out_features)
    net.apply(dcgan_init)
    return net


@CRITICS.register("dcgan-nobn")
def _dcgan_nobn_critic(cfg: dict, shape: tuple[int, ...], out_features: int) -> nn.Module:
    net = DCGANCritic(shape[-1], shape[0], cfg["ndf"], norm="none", out_features=out_features)
    net.apply(dcgan_init)
    return net


@CRITICS.register("mlp")
def _mlp_critic(cfg: dict, shape: tuple[int, ...], out_features: int) -> nn.Module:
    return MLPCritic(shape, cfg["mlp_hidden"], depth=3, out_features=out_features)


@CRITICS.register("standard-cnn")
def _standard_cnn_critic(cfg: dict, shape: tuple[int, ...], out_features: int) -> nn.Module:
    return StandardCNNCritic(shape[-1], shape[0], cfg["ndf"], norm=cfg["critic_norm"], out_features=out_features)


IMAGE_ONLY = frozenset({"dcgan", "dcgan-nobn", "standard-cnn"})
# the critic an image generator is paired with by default (critic: null), and the critic's own
# normalisation under critic_norm: auto when the Lipschitz method does not decide it
PAIRED_CRITIC = {"standard-cnn": "standard-cnn"}  # every other image generator: the WGAN paper's DCGAN critic
DEFAULT_CRITIC_NORM = {"dcgan": "batch", "standard-cnn": "none"}


def paired_critic(arch: str) -> str:
    return PAIRED_CRITIC.get(arch, "dcgan")


def build_generator(cfg: dict, shape: tuple[int, ...]) -> nn.Module:
    return GENERATORS.get(cfg["arch"], key="arch")(cfg, shape)


def build_critic(cfg: dict, shape: tuple[int, ...], out_features: int = 1) -> nn.Module:
    return CRITICS.get(cfg["critic"], key="critic")(cfg, shape, out_features)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
