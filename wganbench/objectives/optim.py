"""Optimisers by name, so an objective's optimiser is plain config."""

from __future__ import annotations

from typing import Callable, Iterable

import torch

from ..registry import ConfigError, Registry

OptimizerFactory = Callable[..., torch.optim.Optimizer]
OPTIMIZERS: Registry[OptimizerFactory] = Registry("optimizer", allow_import_path=True)
OPTIMIZERS.add("adam", lambda params, lr, betas=(0.9, 0.999), **kw: torch.optim.Adam(params, lr=lr, betas=tuple(betas), **kw))
OPTIMIZERS.add("rmsprop", lambda params, lr, **kw: torch.optim.RMSprop(params, lr=lr, **kw))
OPTIMIZERS.add("sgd", lambda params, lr, **kw: torch.optim.SGD(params, lr=lr, **kw))


def build_optimizer(spec: dict, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    options = dict(spec)
    name = options.pop("name")
    factory = OPTIMIZERS.get(name, key="optimizer.name")
    try:
        return factory(params, **options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config key 'optimizer': bad options for {name!r}: {exc}") from None
