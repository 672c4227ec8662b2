"""More seeds for some objectives of an experiment, without training the others again.

A claim may need more seeds of one objective than of another (the standard GAN's runs spread more
than WGAN's), but an experiment's seeds are shared by all its objectives, and its training jobs are
laid out by them. An experiment with ``extends: <parent>`` names only objectives and seeds; every
other key is the parent's, so its cells are the parent's cells with other seeds. It trains as an
experiment of its own (its own jobs and run folders), and the aggregate folds its runs into the
parent (``wganbench aggregate --fold child=parent``): tables, figures and claims see one
experiment with more seeds for those objectives.
"""

from __future__ import annotations

import copy
from typing import Any

from .registry import ConfigError

OWN_KEYS = ("extends", "objectives", "seeds", "description")


def resolve_extensions(config: dict[str, Any]) -> dict[str, str]:
    """Fill each extending experiment from its parent, in place, before the schema is checked.
    Returns child -> parent; a bad extension is one line naming its key."""
    experiments = config.get("experiments") or {}
    found: dict[str, str] = {}
    for name, experiment in experiments.items():
        if not isinstance(experiment, dict) or "extends" not in experiment:
            continue
        where = f"experiments.{name}"
        parent_name = experiment["extends"]
        parent = experiments.get(parent_name) if isinstance(parent_name, str) else None
        if not isinstance(parent, dict):
            raise ConfigError(f"config key '{where}.extends': {parent_name!r} is not an experiment of this grid; "
                              f"name one of {', '.join(n for n in experiments if n != name)}")
        if "extends" in parent:
            raise ConfigError(f"config key '{where}.extends': {parent_name!r} extends another experiment itself; "
                              "extend that one directly")
        other = sorted(set(experiment) - set(OWN_KEYS))
        if other:
            raise ConfigError(f"config key '{where}.{other[0]}': an extending experiment takes every key from "
                              f"{parent_name!r} but {', '.join(OWN_KEYS[1:])}; delete it")
        for key in ("objectives", "seeds"):
            if not isinstance(experiment.get(key), list) or not experiment[key]:
                raise ConfigError(f"config key '{where}.{key}': expected a list naming the {key} to add "
                                  f"to {parent_name!r}")
        parent_objectives = parent.get("objectives", "all")
        for index, objective in enumerate(experiment["objectives"]):
            if parent_objectives != "all" and objective not in parent_objectives:
                raise ConfigError(f"config key '{where}.objectives.{index}': {objective!r} is not an objective of "
                                  f"{parent_name!r}; more seeds extend the parent's own cells")
        parent_seeds = parent.get("seeds", config.get("seeds", [0, 1, 2]))
        shared = sorted(set(experiment["seeds"]) & set(parent_seeds))
        if shared:
            raise ConfigError(f"config key '{where}.seeds': seed {shared[0]} is already one of {parent_name!r}'s "
                              "seeds; give seeds it does not train")
        filled = copy.deepcopy({k: v for k, v in parent.items() if k not in ("search",)})
        filled.update({k: copy.deepcopy(experiment[k]) for k in ("objectives", "seeds")})
        filled["description"] = experiment.get("description") or (
            f"{parent_name} with seeds {', '.join(map(str, experiment['seeds']))} of "
            f"{', '.join(experiment['objectives'])} added (folded into {parent_name} by the aggregate)")
        experiments[name] = filled
        found[name] = parent_name
    return found
