"""Dataset registry: ``load_dataset(cfg)`` maps ``dataset.name`` to a loader returning a DataBundle."""

from __future__ import annotations

import json
from typing import Callable

from frozen_bench.data.bundle import DataBundle, DatasetError

_LOADERS: dict[str, Callable[[dict], DataBundle]] = {}


def _builtin() -> None:
    from frozen_bench.data.cifar import load_cifar_bundle
    from frozen_bench.data.digits import load_digits_bundle
    from frozen_bench.data.functions import load_functions_bundle
    from frozen_bench.data.imagefolder import load_imagefolder_bundle
    from frozen_bench.data.speech import load_speech_bundle
    from frozen_bench.data.speech_test12 import load_test12_bundle
    from frozen_bench.data.vision import load_vision_bundle

    for name, loader in (("digits", load_digits_bundle), ("mnist", load_vision_bundle),
                         ("fashion_mnist", load_vision_bundle), ("functions", load_functions_bundle),
                         ("cifar10", load_cifar_bundle), ("cifar100", load_cifar_bundle),
                         ("speech_commands", load_speech_bundle), ("speech_commands_synth", load_speech_bundle),
                         ("speech_commands_test12", load_test12_bundle), ("imagefolder", load_imagefolder_bundle)):
        _LOADERS.setdefault(name, loader)


# The last loaded bundle, so the jobs of a sweep (one process, many configs) decode a dataset once.
_last: tuple[str, DataBundle] | None = None


def load_dataset(cfg: dict, seed: int = 0) -> DataBundle:
    """Load ``cfg['name']`` into tensors, then keep ``cfg['subset']`` training samples if set.
    Tensors are shared with the cached bundle: callers must not modify them in place."""
    global _last
    _builtin()
    name = cfg["name"]
    if name not in _LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(_LOADERS))}")
    key = json.dumps({k: v for k, v in cfg.items() if k != "subset"}, sort_keys=True, default=str)
    if _last is not None and _last[0] == key:
        bundle = _last[1]
    else:
        _last = None  # free the previous dataset before loading the next
        bundle = _LOADERS[name](cfg)
        _last = (key, bundle)
    return bundle.subset(cfg.get("subset"), seed=seed)


__all__ = ["DataBundle", "DatasetError", "load_dataset"]
