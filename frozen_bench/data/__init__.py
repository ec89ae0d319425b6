"""The dataset table: ``dataset=NAME`` → the loader that returns its DataBundle of tensors."""

from __future__ import annotations

import json

from frozen_bench.data.bundle import DataBundle, DatasetError
from frozen_bench.data.cifar import load_cifar_bundle
from frozen_bench.data.digits import load_digits_bundle
from frozen_bench.data.functions import load_functions_bundle
from frozen_bench.data.imagefolder import load_imagefolder_bundle
from frozen_bench.data.speech import load_speech_bundle
from frozen_bench.data.speech_test12 import load_test12_bundle
from frozen_bench.data.vision import load_vision_bundle
from frozen_bench.registry import Registry

DATASETS = Registry("dataset")
DATASETS.add("digits", load_digits_bundle)
DATASETS.add("mnist", load_vision_bundle)
DATASETS.add("fashion_mnist", load_vision_bundle)
DATASETS.add("cifar10", load_cifar_bundle)
DATASETS.add("cifar100", load_cifar_bundle)
DATASETS.add("imagefolder", load_imagefolder_bundle)
DATASETS.add("speech_commands", load_speech_bundle)
DATASETS.add("speech_commands_synth", load_speech_bundle)
DATASETS.add("speech_commands_test12", load_test12_bundle)
DATASETS.add("functions", load_functions_bundle)


# The last loaded bundle, so the jobs of a sweep (one process, many configs) decode a dataset once.
_last: tuple[str, DataBundle] | None = None


def load_dataset(cfg: dict, seed: int = 0) -> DataBundle:
    """Load ``cfg['name']`` into tensors, then keep only the classes ``cfg['keep_classes']`` (opt-in,
    relabelled 0..k-1) and ``cfg['subset']`` training samples if set.
    Tensors are shared with the cached bundle: callers must not modify them in place."""
    global _last
    name = cfg["name"]
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)} (dataset=NAME)")
    key = json.dumps({k: v for k, v in cfg.items() if k not in ("subset", "keep_classes")}, sort_keys=True, default=str)
    if _last is not None and _last[0] == key:
        bundle = _last[1]
    else:
        _last = None  # free the previous dataset before loading the next
        bundle = DATASETS.build(name, cfg)
        _last = (key, bundle)
    return bundle.keep_classes(cfg.get("keep_classes")).subset(cfg.get("subset"), seed=seed)


__all__ = ["DATASETS", "DataBundle", "DatasetError", "load_dataset"]
