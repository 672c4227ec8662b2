"""Architectures: the WGAN paper's parameter counts and output shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wganbench.models import build_critic, build_generator, count_parameters

BASE = {"nz": 100, "ngf": 64, "ndf": 64, "mlp_hidden": 512, "critic_norm": "batch", "critic": "dcgan"}


def conv_weights(module: nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))


def test_dcgan_64_matches_the_official_code_counts() -> None:
    shape = (3, 64, 64)
    generator = build_generator({**BASE, "arch": "dcgan"}, shape)
    critic = build_critic(BASE, shape)
    # martinarjovsky/WassersteinGAN models/dcgan.py at 64x64, ngf=ndf=64, nz=100: DCGAN_G 3,574,784
    # weights (+1,920 BN); DCGAN_D 2,763,776 (+1,792 BN)
    assert conv_weights(generator) == 3_574_784
    assert count_parameters(generator) == 3_574_784 + 1_920
    assert conv_weights(critic) == 2_763_776
    assert count_parameters(critic) == 2_763_776 + 1_792
    assert not any(getattr(m, "bias", None) is not None for m in generator.modules() if isinstance(m, nn.ConvTranspose2d))


def test_constant_filter_generator_is_an_order_of_magnitude_smaller_without_batch_norm() -> None:
    shape = (3, 64, 64)
    nobn = build_generator({**BASE, "arch": "dcgan-nobn"}, shape)
    dcgan = build_generator({**BASE, "arch": "dcgan"}, shape)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in nobn.modules())
    widths = {m.out_channels for m in nobn.modules() if isinstance(m, nn.ConvTranspose2d)}
    assert widths == {64, 3}
    assert 10 < count_parameters(dcgan) / count_parameters(nobn) < 15


@pytest.mark.parametrize("size", [16, 32, 64])
@pytest.mark.parametrize("arch", ["dcgan", "dcgan-nobn", "mlp"])
def test_image_shapes(arch: str, size: int) -> None:
    shape = (1, size, size)
    generator = build_generator({**BASE, "arch": arch, "ngf": 8, "ndf": 8, "mlp_hidden": 16}, shape)
    x = generator(torch.randn(4, 100))
    assert x.shape == (4, 1, size, size) and float(x.detach().abs().max()) <= 1.0
    for critic_name, norm in (("dcgan", "batch"), ("dcgan", "layer"), ("dcgan-nobn", "batch"), ("mlp", "none")):
        critic = build_critic({**BASE, "critic": critic_name, "critic_norm": norm, "ndf": 8, "mlp_hidden": 16}, shape, 3)
        assert critic(x).shape == (4, 3)


def test_mlp_generator_has_four_hidden_layers_of_512_and_toy_nets_three() -> None:
    image = build_generator({**BASE, "arch": "mlp"}, (3, 64, 64))
    assert [m.out_features for m in image.modules() if isinstance(m, nn.Linear)] == [512] * 4 + [3 * 64 * 64]
    toy_g = build_generator({**BASE, "arch": "mlp", "nz": 2}, (2,))
    toy_d = build_critic({**BASE, "critic": "mlp"}, (2,))
    assert [m.out_features for m in toy_g.modules() if isinstance(m, nn.Linear)] == [512, 512, 512, 2]
    assert [m.out_features for m in toy_d.modules() if isinstance(m, nn.Linear)] == [512, 512, 512, 1]
    assert toy_g(torch.randn(7, 2)).shape == (7, 2)


def test_gradient_penalty_critic_uses_layer_norm_not_batch_norm() -> None:
    from wganbench.config import resolve_cell

    cfg = resolve_cell({"objective": "wgan-gp", "arch": "dcgan", "dataset": "digits", "iterations": 1})
    assert cfg["critic_norm"] == "layer"
    critic = build_critic(cfg, (1, 32, 32))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    assert any(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in critic.modules())
    wgan = resolve_cell({"objective": "wgan", "arch": "dcgan", "dataset": "digits", "iterations": 1})
    assert wgan["critic_norm"] == "batch"


def test_standard_cnn_is_sngan_table_3() -> None:
    """Miyato et al. 2018, table 3 (CIFAR-10, M = 32): parameter counts by the table's layer list,
    shapes, leaky ReLU 0.1, no normalisation in the SN critic, and its own critic by default."""
    import torch
    from torch import nn

    from wganbench.config import resolve_cell
    from wganbench.models import build_critic, build_generator, count_parameters

    cfg = resolve_cell({"objective": "sngan", "arch": "standard-cnn", "dataset": "digits", "iterations": 1},
                       overrides={"image_size": 32, "nz": 128})
    assert cfg["critic"] == "standard-cnn" and cfg["critic_norm"] == "none"
    generator, critic = build_generator(cfg, (3, 32, 32)), build_critic(cfg, (3, 32, 32))
    dense = 128 * 4 * 4 * 512 + 4 * 4 * 512 + 2 * 512  # z -> 4x4x512, bias, BN
    deconvs = sum(a * b * 16 + b + 2 * b for a, b in ((512, 256), (256, 128), (128, 64)))  # + bias + BN
    assert count_parameters(generator) == dense + deconvs + (64 * 3 * 9 + 3)
    convs = [(3, 64, 3), (64, 64, 4), (64, 128, 3), (128, 128, 4), (128, 256, 3), (256, 256, 4), (256, 512, 3)]
    assert count_parameters(critic) == sum(a * b * k * k + b for a, b, k in convs) + (4 * 4 * 512 + 1)
    images = generator(torch.randn(5, 128))
    assert images.shape == (5, 3, 32, 32) and images.abs().max() <= 1
    assert critic(images).shape == (5, 1)
    slopes = {m.negative_slope for m in critic.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.1} and not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in critic.modules())
    # table 2's "Batch Norm" row: the standard GAN with BN after every critic convolution but the first
    batch_norm = resolve_cell({"objective": "nsgan", "arch": "standard-cnn", "dataset": "digits", "iterations": 1},
                              overrides={"image_size": 32, "critic_norm": "batch"})
    assert sum(isinstance(m, nn.BatchNorm2d) for m in build_critic(batch_norm, (3, 32, 32)).modules()) == 6
