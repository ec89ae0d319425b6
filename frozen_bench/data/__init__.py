"""Dataset registry: ``load_dataset(cfg)`` maps ``dataset.name`` to a loader returning a DataBundle."""

from __future__ import annotations

from typing import Callable

from frozen_bench.data.bundle import DataBundle, DatasetError

_LOADERS: dict[str, Callable[[dict], DataBundle]] = {}


def register_dataset(name: str):
    def deco(fn):
        _LOADERS[name] = fn
        return fn

    return deco


def _builtin() -> None:
    from frozen_bench.data.digits import load_digits_bundle
    from frozen_bench.data.vision import load_vision_bundle

    _LOADERS.setdefault("digits", load_digits_bundle)
    _LOADERS.setdefault("mnist", load_vision_bundle)
    _LOADERS.setdefault("fashion_mnist", load_vision_bundle)


def dataset_names() -> list[str]:
    _builtin()
    return sorted(_LOADERS)


def load_dataset(cfg: dict, seed: int = 0) -> DataBundle:
    """Load ``cfg['name']`` into tensors, then keep ``cfg['subset']`` training samples if set."""
    _builtin()
    name = cfg["name"]
    if name not in _LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(_LOADERS))}")
    bundle = _LOADERS[name](cfg)
    return bundle.subset(cfg.get("subset"), seed=seed)


__all__ = ["DataBundle", "DatasetError", "load_dataset", "register_dataset", "dataset_names"]
