"""Model registry: ``build_model(cfg, data)`` maps ``cfg['model']['name']`` to a builder.

A builder takes the whole plain config dict (model, transform, activation, adapter sections) and
the DataBundle (for input shape and number of classes) and returns an ``nn.Module``.
"""

from __future__ import annotations

import importlib
from typing import Callable

from torch import nn

_BUILDERS: dict[str, Callable] = {}
# model name -> module that registers it; imported on first use so start-up stays light
_MODULES = {
    "frozen_mlp": "frozen_bench.models.frozen_mlp",
    "dense_mlp": "frozen_bench.models.dense",
}


def register_model(name: str):
    def deco(fn):
        _BUILDERS[name] = fn
        return fn

    return deco


def model_names() -> list[str]:
    return sorted(_MODULES)


def build_model(cfg: dict, data) -> nn.Module:
    name = cfg["model"]["name"]
    if name not in _MODULES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(model_names())}")
    importlib.import_module(_MODULES[name])
    return _BUILDERS[name](cfg, data)
