"""WGAN-GP figure 1b, small: clipping sets a deep critic's gradient scale, the penalty does not."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from wganbench.theory.gradient_norms import GradientNormsConfig, METHODS, deep_critic, run, table
from wganbench.theory.critics import torch_generator

SMALL = GradientNormsConfig(depth=12, width=256, steps=8, measured_steps=4, batch_size=64)


def test_clipping_scales_gradients_by_the_layer_gain_and_the_penalty_does_not(tmp_path: Path) -> None:
    files = run(tmp_path, seed=0, config=SMALL)
    frame = pd.read_csv(tmp_path / "gradient_norms.csv")
    assert {p.name for p in files} == {"gradient_norms.csv", "gradient_norms.png", "gradient_norms.pdf"}
    assert list(frame.columns) == ["method", "label", "layer", "grad_norm", "log10_grad_norm"]
    assert sorted(set(frame["method"])) == sorted(METHODS) and set(frame["layer"]) == set(range(1, 13))
    mean = frame.groupby("method")["grad_norm"].mean()
    # a ReLU layer of width n with weights uniform in ±c scales a signal by about c·sqrt(n/3)·sqrt(1/2)
    # per layer: 0.01 and 0.001 shrink it by orders of magnitude over 11 layers (vanishing)
    assert mean["clip_0.01"] < 1e-4 * mean["gp"]
    assert mean["clip_0.001"] < mean["clip_0.01"] * 1e-6
    gp = frame[frame["method"] == "gp"]["log10_grad_norm"]
    assert gp.max() - gp.min() < 2  # within a factor of 100 across the layers


def test_deterministic_and_layers_initialised_from_the_generator() -> None:
    first = table(SMALL, seed=3)
    again = table(SMALL, seed=3)
    pd.testing.assert_frame_equal(first, again)
    net = deep_critic(SMALL, torch_generator(0, "x"))
    weights = [m.weight for m in net if hasattr(m, "weight")]
    assert len(weights) == 12 and weights[0].shape == (256, 2) and weights[-1].shape == (1, 256)
    bound = 1 / math.sqrt(256)
    assert float(weights[5].detach().abs().max()) <= bound
