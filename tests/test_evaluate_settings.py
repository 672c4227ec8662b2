"""Evaluation settings: every key has a default, bad input is one line naming the key."""

from __future__ import annotations

import pytest
import yaml

from wganbench.evaluate.settings import read_settings_file, resolve_settings, schema
from wganbench.registry import ConfigError


def test_every_setting_has_a_default_and_defaults_validate() -> None:
    properties = schema()["properties"]
    assert schema()["additionalProperties"] is False
    missing = [name for name, spec in properties.items() if "default" not in spec]
    assert missing == []
    resolved = resolve_settings({})
    assert set(resolved) == set(properties)
    assert resolved["feature_extractor"] == "auto" and resolved["extractor_dir"].startswith("results/")
    assert resolve_settings(resolved) == resolved  # idempotent: filled settings pass unchanged


def test_overrides_and_given_values_win_over_defaults() -> None:
    resolved = resolve_settings({"kid_subset_size": 50}, {"evaluation.float64": True, "metrics": ["fid"]})
    assert resolved["kid_subset_size"] == 50 and resolved["float64"] is True and resolved["metrics"] == ["fid"]


@pytest.mark.parametrize(("given", "key"), [
    ({"kid_subset_size": 1}, "evaluation.kid_subset_size"),
    ({"feature_extractor": "vgg16"}, "evaluation.feature_extractor"),
    ({"metrics": ["fid", "lpips"]}, "evaluation.metrics.1"),
    ({"kid_subsetsize": 100}, "evaluation.kid_subsetsize"),
])
def test_bad_settings_are_one_line_errors_naming_the_key(given: dict, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_settings(given)
    message = str(caught.value)
    assert f"'{key}'" in message and "\n" not in message


def test_settings_file_is_the_mapping_or_a_workflow_config(tmp_path) -> None:
    plain, grid, bare_grid = tmp_path / "plain.yaml", tmp_path / "grid.yaml", tmp_path / "bare.yaml"
    plain.write_text(yaml.safe_dump({"w1_points": 300}))
    grid.write_text(yaml.safe_dump({"experiments": {}, "evaluation": {"curves": False}}))
    bare_grid.write_text(yaml.safe_dump({"experiments": {"a": {}}}))
    assert read_settings_file(plain) == {"w1_points": 300}
    assert read_settings_file(grid) == {"curves": False}
    assert read_settings_file(bare_grid) == {}
    with pytest.raises(ConfigError, match="does not exist"):
        read_settings_file(tmp_path / "missing.yaml")
