"""An experiment that `extends` another adds seeds of some of its objectives: its cells are the
parent's (every key but objectives and seeds is copied), and the aggregate folds its runs into the
parent, so that a claim reads one cell with more seeds for the noisier objective."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from wganbench.aggregate import fold_experiments
from wganbench.extends import resolve_extensions
from wganbench.registry import ConfigError

PARENT = {"datasets": ["digits"], "objectives": ["nsgan", "wgan"], "archs": ["dcgan"], "iterations": 2100,
          "seeds": [0, 1, 2], "metric": "fid", "settings": {"image_size": 16, "snapshot_every": 50}}


def grid(child: dict) -> dict:
    return {"seeds": [0], "experiments": {"architectures": copy.deepcopy(PARENT), "more": child}}


def test_an_extension_takes_every_key_of_its_parent_but_objectives_and_seeds() -> None:
    config = grid({"extends": "architectures", "objectives": ["nsgan"], "seeds": [3, 4, 5]})
    assert resolve_extensions(config) == {"more": "architectures"}
    more = config["experiments"]["more"]
    assert more["objectives"] == ["nsgan"] and more["seeds"] == [3, 4, 5]
    for key in ("datasets", "archs", "iterations", "metric", "settings"):
        assert more[key] == PARENT[key]
    assert "extends" not in more and "architectures" in more["description"]
    more["settings"]["image_size"] = 32  # a copy: the parent keeps its own
    assert config["experiments"]["architectures"]["settings"]["image_size"] == 16


@pytest.mark.parametrize("child, key", [
    ({"extends": "nowhere", "objectives": ["nsgan"], "seeds": [3]}, "experiments.more.extends"),
    ({"extends": "architectures", "objectives": ["nsgan"], "seeds": [3], "iterations": 50}, "experiments.more.iterations"),
    ({"extends": "architectures", "objectives": ["lsgan"], "seeds": [3]}, "experiments.more.objectives.0"),
    ({"extends": "architectures", "objectives": ["nsgan"], "seeds": [2, 3]}, "experiments.more.seeds"),
    ({"extends": "architectures", "objectives": ["nsgan"]}, "experiments.more.seeds"),
])
def test_a_bad_extension_is_one_line_naming_its_key(child: dict, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        resolve_extensions(grid(child))
    assert f"'{key}'" in str(error.value) and "\n" not in str(error.value)


def runs_of(experiment: str, objective: str, seeds: list[int]) -> list[dict]:
    return [{"experiment": experiment, "dataset": "digits", "objective": objective, "arch": "dcgan", "seed": seed,
             "run_dir": f"results/runs/{experiment}/digits/{objective}/dcgan/seed{seed}"} for seed in seeds]


def test_the_aggregate_folds_an_extension_into_its_parent_and_refuses_a_run_given_twice() -> None:
    runs = pd.DataFrame(runs_of("architectures", "nsgan", [0, 1]) + runs_of("architectures", "wgan", [0, 1])
                        + runs_of("more", "nsgan", [2, 3]))
    folded = fold_experiments(runs, {"more": "architectures"})
    assert set(folded["experiment"]) == {"architectures"}
    assert sorted(folded.query("objective == 'nsgan'")["seed"]) == [0, 1, 2, 3]
    assert folded["run_dir"].str.contains("/more/").sum() == 2  # where they live is kept
    twice = pd.concat([runs, pd.DataFrame(runs_of("more", "nsgan", [1]))])
    with pytest.raises(ConfigError, match="nsgan/dcgan/1 comes from two experiments"):
        fold_experiments(twice, {"more": "architectures"})
