"""Hyperparameter search spaces, and the trials drawn from them, for equal-budget comparisons
(Lucic et al. 2018; the ranges of the public compare_gan code, branch v1, ``src/params.py``).

An experiment with a ``search:`` key trains each of its objectives as N trials: trial 0 is the
objective's own setting, trials 1 ... N-1 are drawn by an optuna sampler with a fixed seed. Each
trial is an ordinary objective named ``<objective>--t<k>`` (the workflow adds it to the grid's
``objectives`` when the DAG is built), so training, evaluation and tables treat it like any other.
Torch-free: the Snakefile calls it while parsing.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from .registry import ConfigError

TRIAL_SEPARATOR = "--t"
# lipschitz methods whose number (or `weight`) is a penalty weight λ: searched as one "penalty" range
PENALTIES = ("gradient_penalty", "dragan", "r1", "r2")


@dataclass(frozen=True)
class Range:
    """One hyperparameter's range: ``low``-``high`` (log scale or not, integers or not), a list of
    ``choices``, or a ``value`` that every trial takes."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple | None = None
    value: Any = None


# compare_gan v1: the "wide" phase (100 samples per model) and the "narrow" one (50 samples). Its
# params.py draws the critic steps from {1, 5} (not 1...5) and also switches the critic's batch norm
# on and off; that switch is not searched here (a gradient penalty forbids batch norm in the critic).
# Keys: lr (the critic's and generator's learning rate), beta1 (Adam only), n_critic, clip (weight
# clipping's bound, where the objective clips), penalty (λ of a gradient penalty, where it has one).
BUILTIN_SPACES: dict[str, dict[str, Range]] = {
    "wide": {"lr": Range(1e-5, 1e-2, log=True), "beta1": Range(0.0, 1.0), "n_critic": Range(choices=(1, 5)),
             "clip": Range(1e-3, 1.0, log=True), "penalty": Range(1e-1, 1e2, log=True)},
    "narrow": {"lr": Range(1e-4, 1e-3, log=True), "beta1": Range(value=0.5), "n_critic": Range(value=1),
               "clip": Range(1e-2, 1.0, log=True), "penalty": Range(1e-1, 1e1, log=True)},
}
KEYS = ("lr", "beta1", "n_critic", "clip", "penalty")


class SearchError(ConfigError):
    """A search space that cannot be sampled; the message names the config key."""


def parse_space(raw: str | dict, where: str) -> dict[str, Range]:
    """A built-in space by name, or a mapping key -> {low, high, log, integer} | {choices} | {value}."""
    if isinstance(raw, str):
        if raw not in BUILTIN_SPACES:
            raise SearchError(f"config key '{where}': unknown search space {raw!r}; choose "
                              f"{' or '.join(BUILTIN_SPACES)}, or give a mapping of {', '.join(KEYS)}")
        return dict(BUILTIN_SPACES[raw])
    space = {}
    for key, spec in raw.items():
        at = f"{where}.{key}"
        if key not in KEYS:
            raise SearchError(f"config key '{at}': unknown hyperparameter; searchable ones are {', '.join(KEYS)}")
        if not isinstance(spec, dict):
            raise SearchError(f"config key '{at}': expected a mapping such as {{low: 1.0e-4, high: 1.0e-3, log: true}}")
        if "value" in spec:
            space[key] = Range(value=spec["value"])
        elif "choices" in spec:
            if not spec["choices"]:
                raise SearchError(f"config key '{at}.choices': give at least one choice")
            space[key] = Range(choices=tuple(spec["choices"]))
        else:
            low, high = spec.get("low"), spec.get("high")
            if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or not low < high:
                raise SearchError(f"config key '{at}': needs numbers low < high (got low={low!r}, high={high!r})")
            if spec.get("log") and low <= 0:
                raise SearchError(f"config key '{at}.low': a log-scale range needs low > 0 (got {low!r})")
            space[key] = Range(float(low), float(high), log=bool(spec.get("log")), integer=bool(spec.get("integer")))
    return space


def applicable(key: str, definition: dict) -> bool:
    """Whether a hyperparameter exists in an objective: beta1 for Adam, clip where it clips, penalty
    where a gradient penalty is configured; lr and n_critic everywhere."""
    lipschitz = definition.get("lipschitz") or {}
    lipschitz = lipschitz if isinstance(lipschitz, dict) else {lipschitz: {}}
    if key == "beta1":
        return definition["optimizer"].get("name") == "adam"
    if key == "clip":
        return "clip" in lipschitz
    if key == "penalty":
        return any(method in lipschitz for method in PENALTIES)
    return True


def apply(definition: dict, params: dict[str, Any]) -> dict:
    """The objective's definition with a trial's hyperparameters put in (both optimisers' lr and beta1)."""
    out = copy.deepcopy(definition)
    optimizers = [out["optimizer"]] + ([out["generator_optimizer"]] if out.get("generator_optimizer") else [])
    for key, value in params.items():
        if key in ("lr", "beta1"):
            for optimizer in optimizers:
                if key == "lr":
                    optimizer["lr"] = float(value)
                elif optimizer.get("name") == "adam":
                    optimizer["betas"] = [float(value), optimizer.get("betas", [0.9, 0.999])[1]]
        elif key == "n_critic":
            out["n_critic"] = int(value)
        elif key == "clip":
            out["lipschitz"]["clip"] = float(value)
        elif key == "penalty":
            for method in PENALTIES:
                if method in out["lipschitz"]:
                    setting = out["lipschitz"][method]
                    if isinstance(setting, dict):
                        setting["weight"] = float(value)
                    else:
                        out["lipschitz"][method] = float(value)
    return out


def _distributions(space: dict[str, Range], definition: dict) -> tuple[dict, dict]:
    """(optuna distributions to sample, fixed values) for the keys that apply to this objective."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    sampled, fixed = {}, {}
    for key in KEYS:
        if key not in space or not applicable(key, definition):
            continue
        r = space[key]
        if r.value is not None:
            fixed[key] = r.value
        elif r.choices is not None:
            sampled[key] = CategoricalDistribution(r.choices)
        elif r.integer:
            sampled[key] = IntDistribution(int(r.low), int(r.high), log=r.log)
        else:
            sampled[key] = FloatDistribution(r.low, r.high, log=r.log)
    return sampled, fixed


def draw_trials(definition: dict, space: dict[str, Range], trials: int, seed: int,
                sampler: str = "random") -> list[dict[str, Any]]:
    """The hyperparameters of trials 1 ... trials-1 (trial 0 is the definition itself: ``{}``),
    drawn by optuna's seeded random or scrambled-Sobol sampler through its ask interface."""
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    samplers = {"random": lambda: optuna.samplers.RandomSampler(seed=seed),
                "sobol": lambda: optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed,
                                                            warn_independent_sampling=False)}
    study = optuna.create_study(sampler=samplers[sampler]())
    sampled, fixed = _distributions(space, definition)
    drawn: list[dict[str, Any]] = [{}]
    for _ in range(trials - 1):
        trial = study.ask(sampled)
        drawn.append({**fixed, **trial.params})
        study.tell(trial, 0.0)  # a sampler that learns from results would need them; these do not
    return drawn


def trial_name(objective: str, index: int) -> str:
    return f"{objective}{TRIAL_SEPARATOR}{index:02d}"


def base_objective(name: str) -> tuple[str, int | None]:
    """``wgan--t03`` -> ("wgan", 3); a plain name -> (name, None)."""
    base, sep, index = name.rpartition(TRIAL_SEPARATOR)
    return (base, int(index)) if sep and index.isdigit() else (name, None)


def expand(objective: str, definition: dict, search: dict, where: str) -> dict[str, tuple[dict, dict]]:
    """trial name -> (its objective definition, its drawn hyperparameters), trial 0 first."""
    space = parse_space(search.get("space", "narrow"), f"{where}.space")
    trials = search.get("trials", 10)
    if not isinstance(trials, int) or trials < 1:
        raise SearchError(f"config key '{where}.trials': expected a whole number ≥ 1 (got {trials!r})")
    drawn = draw_trials(definition, space, trials, int(search.get("seed", 0)), search.get("sampler", "random"))
    return {trial_name(objective, k): (apply(definition, params), params) for k, params in enumerate(drawn)}


def expand_searches(config: dict, builtins: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """Replace each searched experiment's objectives by their trials, and define every trial under
    the config's ``objectives`` (the config is Snakemake's, already validated). Returns trial name
    -> {experiment, objective, trial, and the drawn hyperparameters}: rule `trials` writes it."""
    found: dict[str, dict[str, Any]] = {}
    for name, experiment in config["experiments"].items():
        search = experiment.get("search")
        if not search:
            continue
        chosen = experiment["objectives"]
        objectives = list(dict.fromkeys(list(builtins) + list(config["objectives"]))) if chosen == "all" else chosen
        names = []
        for objective in objectives:
            definition = config["objectives"].get(objective) or builtins.get(objective)
            if definition is None:  # unknown: the grid check names the key
                names.append(objective)
                continue
            for trial, (trial_definition, params) in expand(objective, definition, search,
                                                            f"experiments.{name}.search").items():
                config["objectives"][trial] = trial_definition
                names.append(trial)
                found[trial] = {"experiment": name, "objective": objective, "trial": base_objective(trial)[1],
                                **params}
        experiment["objectives"] = names
    return found


RERUN_SUFFIX = "-best"


def add_reruns(config: dict) -> dict[str, str]:
    """For each searched experiment with ``rerun_seeds``, an experiment ``<name>-best`` on the same
    cells whose objectives are all the trials (so that each resolves when the DAG is built) and whose
    seeds are the rerun seeds; the workflow trains only each objective's best trial there, once the
    trials are evaluated. Returns rerun experiment -> searched experiment."""
    reruns = {}
    for name, experiment in list(config["experiments"].items()):
        search = experiment.get("search") or {}
        if not search.get("rerun_seeds"):
            continue
        rerun = f"{name}{RERUN_SUFFIX}"
        if rerun in config["experiments"]:
            raise SearchError(f"config key 'experiments.{rerun}': the name is taken by the rerun of searched "
                              f"experiment {name!r}; rename the experiment")
        # the rerun's seeds train as one job per cell (an ensemble), whatever the trials did: one
        # start-up instead of one per seed
        config["experiments"][rerun] = {**copy.deepcopy(experiment), "search": None, "ensemble": True,
                                        "seeds": list(search["rerun_seeds"]),
                                        "description": f"each objective's best trial of {name}, again with "
                                                       f"seeds {', '.join(map(str, search['rerun_seeds']))}"}
        reruns[rerun] = name
    return reruns


DEFAULTS_SUFFIX = "-defaults"


def add_default_reruns(config: dict) -> dict[str, str]:
    """For each searched experiment with ``rerun_seeds`` and ``rerun_defaults``, an experiment
    ``<name>-defaults``: trial 0 of every objective (its own, published setting) trained with the rerun
    seeds. The ranking under the papers' settings is then measured as the tuned ranking is (same
    seeds, same cells), so the two can be compared. Call after `expand_searches`. Returns defaults
    experiment -> searched experiment."""
    defaults = {}
    for name, experiment in list(config["experiments"].items()):
        search = experiment.get("search") or {}
        if not (search.get("rerun_seeds") and search.get("rerun_defaults")):
            continue
        rerun = f"{name}{DEFAULTS_SUFFIX}"
        if rerun in config["experiments"]:
            raise SearchError(f"config key 'experiments.{rerun}': the name is taken by the own-settings rerun of "
                              f"searched experiment {name!r}; rename the experiment")
        own = [trial for trial in experiment["objectives"] if base_objective(trial)[1] == 0]
        config["experiments"][rerun] = {**copy.deepcopy(experiment), "search": None, "ensemble": True,
                                        "objectives": own, "seeds": list(search["rerun_seeds"]),
                                        "description": f"every objective's own setting (trial 0) of {name}, again "
                                                       f"with seeds {', '.join(map(str, search['rerun_seeds']))}"}
        defaults[rerun] = name
    return defaults
