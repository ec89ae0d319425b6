"""The dataset table: ``dataset=NAME`` → the loader that returns its DataBundle of tensors."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

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


# The last loaded bundle, kept only inside ``keep_loaded()`` (the jobs of one sweep, a run-lines
# worker, meta-init's tasks: one process, many configs, one dataset decoded once). Outside it every
# call loads afresh: a bundle kept across unrelated calls returned the first caller's data to a
# second whose files, data folder ($FROZEN_BENCH_DATA) or working directory had changed.
_last: tuple[str, DataBundle] | None = None
_keep = 0  # how many keep_loaded() blocks are open


@contextlib.contextmanager
def keep_loaded():
    """Within this block ``load_dataset`` returns the bundle it loaded last for an equal config
    (same keys, same resolved data folder and path); leaving the outermost block frees it."""
    global _keep, _last
    _keep += 1
    try:
        yield
    finally:
        _keep -= 1
        if not _keep:
            _last = None


def keep_loaded_in_this_process() -> None:
    """``keep_loaded()`` for the rest of this process: the jobs of a sweep (one process runs them
    one after another, or a joblib worker several) and a run-lines worker, whose configs share
    their data and whose data files do not change while they run."""
    global _keep, _process
    if not _process:
        _process, _keep = True, _keep + 1


def release_kept_in_this_process() -> None:
    """The end of ``keep_loaded_in_this_process``: the sweep that ran in this process is over."""
    global _keep, _process, _last
    if _process:
        _process, _keep = False, _keep - 1
        if not _keep:
            _last = None


_process = False


def _key(cfg: dict) -> str:
    """What identifies the loaded tensors: the config (less the per-run views), where the data are
    read from once resolved (``dataset.root`` or $FROZEN_BENCH_DATA, a relative ``dataset.path``), and
    the loader registered under the name."""
    from frozen_bench.data.paths import data_root

    where = {"root": str(data_root(cfg.get("root")).resolve()),
             "path": str(Path(str(cfg["path"])).expanduser().resolve()) if cfg.get("path") else None,
             "loader": id(DATASETS.entry(cfg["name"]))}
    body = {k: v for k, v in cfg.items() if k not in ("subset", "keep_classes")}
    return json.dumps([body, where], sort_keys=True, default=str)


def load_dataset(cfg: dict, seed: int = 0) -> DataBundle:
    """Load ``cfg['name']`` into tensors, then keep only the classes ``cfg['keep_classes']`` (opt-in,
    relabelled 0..k-1) and ``cfg['subset']`` training samples if set.
    Inside ``keep_loaded()`` tensors are shared with the kept bundle: callers must not modify them in place."""
    global _last
    name = cfg["name"]
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)} (dataset=NAME)")
    key = _key(cfg) if _keep else None
    if key is not None and _last is not None and _last[0] == key:
        bundle = _last[1]
    else:
        _last = None  # free the previous dataset before loading the next
        bundle = DATASETS.build(name, cfg)
        if key is not None:
            _last = (key, bundle)
    return bundle.keep_classes(cfg.get("keep_classes")).subset(cfg.get("subset"), seed=seed)


__all__ = ["DATASETS", "DataBundle", "DatasetError", "keep_loaded", "keep_loaded_in_this_process", "load_dataset"]
