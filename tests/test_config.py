"""Config resolution: defaults filled in, bad input refused in one line before any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wganbench.config import parse_overrides, resolve_cell, validate
from wganbench.registry import ConfigError

CELL = {"objective": "wgan", "arch": "dcgan", "dataset": "digits", "iterations": 3}


def test_defaults_and_objective_parts_are_filled_in() -> None:
    cfg = resolve_cell(CELL)
    assert cfg["optimizer"] == {"name": "rmsprop", "lr": 5e-5}
    assert cfg["lipschitz"] == {"clip": 0.01} and cfg["n_critic"] == 5
    assert cfg["critic_warmup"] == {"first": 25, "every": 500, "steps": 100}
    assert (cfg["batch_size"], cfg["nz"], cfg["critic"], cfg["image_size"]) == (64, 100, "dcgan", 32)
    toy = resolve_cell({**CELL, "objective": "wgan-gp", "arch": "mlp", "dataset": "8gaussians"})
    assert (toy["batch_size"], toy["nz"], toy["critic"], toy["image_size"]) == (256, 2, "mlp", None)
    assert toy["optimizer"] == {"name": "adam", "lr": 1e-4, "betas": [0.0, 0.9]}


def test_resolved_config_is_itself_a_valid_cell() -> None:
    cfg = resolve_cell(CELL)
    assert validate(yaml.safe_load(yaml.safe_dump(cfg)), "cell") == cfg


def test_overrides_are_typed_and_dotted() -> None:
    overrides = parse_overrides(["optimizer.lr=1e-3", "image_size=16", "critic_warmup=null", "batch_size=32"])
    cfg = resolve_cell(CELL, overrides=overrides)
    assert cfg["optimizer"]["lr"] == 1e-3 and cfg["image_size"] == 16
    assert cfg["critic_warmup"] is None and cfg["batch_size"] == 32


def test_grid_objectives_compose_parts_and_override_builtins() -> None:
    grid = {"objectives": {"wgan-gp-toy": {"loss": "wasserstein", "lipschitz": {"gradient_penalty": 0.1},
                                           "optimizer": {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.9]},
                                           "n_critic": 5}},
            "defaults": {"image_size": 16}}
    cfg = resolve_cell({**CELL, "objective": "wgan-gp-toy"}, grid)
    assert cfg["lipschitz"] == {"gradient_penalty": 0.1} and cfg["image_size"] == 16
    assert cfg["critic_warmup"] is None and cfg["critic_norm"] == "layer"


@pytest.mark.parametrize("cell, overrides, message", [
    ({"objective": "wgna"}, [], r"config key 'objective': unknown objective 'wgna'; choose one of cramer, .*wgan-gp"),
    ({"arch": "resnet"}, [], r"config key 'arch': unknown architecture 'resnet'; choose one of dcgan, dcgan-nobn, mlp, standard-cnn"),
    ({"dataset": "lsun"}, [], r"config key 'dataset': unknown dataset 'lsun'; choose one of"),
    ({"iterations": "many"}, [], r"config key 'iterations': 'many' is not of type 'integer'"),
    ({}, ["optimizer.lr=-0.1"], r"config key 'optimizer.lr': -0.1 is less than or equal to the minimum of 0"),
    ({}, ["image_size=48"], r"config key 'image_size': 48 is not one of"),
    ({}, ["optimzer.lr=1"], r"'optimzer' was unexpected"),
    ({"objective": "wgan-gp"}, ["critic_norm=batch"], r"config key 'critic_norm': batch norm is not allowed"),
    ({"dataset": "swissroll"}, [], r"config key 'arch': 'dcgan' is an image architecture"),
    ({}, ["loss=nope"], r"config key 'loss': unknown loss 'nope'"),
])
def test_bad_input_is_one_clear_line(cell: dict, overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        resolve_cell({**CELL, **cell}, overrides=parse_overrides(overrides))
    assert "\n" not in str(info.value)


def test_cli_refuses_bad_input_with_exit_2_before_touching_the_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "wganbench.cli", "train", "--objective", "wgan",
                             "--arch", "dcgan", "--dataset", "digits", "--iterations", "2", "--out", str(out),
                             "--set", "optimizer.lr=-1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "wganbench: error: config key 'optimizer.lr': -1 is less than or equal to the minimum of 0"]
    assert not out.exists()


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf"])
def test_non_finite_numbers_are_refused_with_their_key(text: str) -> None:
    """JSON-schema bounds cannot see NaN; YAML reads .nan/.inf as floats: refuse them by key."""
    from wganbench.config import validate

    grid = yaml.safe_load(f"defaults: {{batch_size: 64}}\nobjectives:\n  x: {{loss: wasserstein, optimizer: {{name: adam, lr: {text}}}}}\n")
    with pytest.raises(ConfigError, match=r"^config key 'objectives\.x\.optimizer\.lr': -?(nan|inf) is not a finite number"):
        validate(grid)


def test_experiment_settings_list_every_run_key_by_reference_and_fill_no_defaults() -> None:
    """`settings` (and `defaults`) refer to each cell key instead of copying it: a copied default
    would be filled into every experiment's settings and override the grid's `defaults`."""
    from wganbench.schema import load_schema

    schema = load_schema("config.schema.yaml")
    settings = schema["properties"]["experiments"]["additionalProperties"]["properties"]["settings"]["properties"]
    run_keys = set(schema["$defs"]["cell"]["properties"]) - {"objective", "arch", "dataset", "seed", "iterations"}
    assert set(settings) == run_keys
    assert all(spec == {"$ref": f"#/$defs/cell/properties/{key}"} for key, spec in settings.items())
    grid = validate({"defaults": {"log_every": 2}, "experiments": {"toy": {
        "datasets": ["8gaussians"], "objectives": ["nsgan"], "archs": ["mlp"], "iterations": 3}}})
    assert grid["experiments"]["toy"]["settings"] == {} and grid["defaults"] == {"log_every": 2}
