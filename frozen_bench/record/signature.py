"""Run signatures: a short hash of the resolved config, so the same config finds the same folder.

The config hashed is the one a run records: groups the model does not read are already dropped
(``frozen_bench.models.prune``), and the keys below, which change where or how results are
written but not what is computed, are left out.
"""

from __future__ import annotations

import hashlib
import json

# keys that change where/how results are written, not what is computed (dotted: nested keys)
OUTPUT_ONLY_KEYS = ("force", "results_dir", "objective", "trainer.checkpoint_every", "logger")
# where the data are read from (the same images in two folders are the same data): a dataset's
# ``path`` stays, because for a class-folder dataset it names WHICH data
DATA_LOCATION_KEYS = ("dataset.root", "dataset.download")
# output-only keys that were hashed before they were known to be output-only: hashed at their
# default value, whatever the run asked. ``trainer.save_model=true`` only adds model.pt to a run's
# folder; dropping the key would have renamed every record (all have ``save_model: false``), so
# the default keeps every record where it is and a run saving its model lands in the same folder
# (re-running a finished config to save its model no longer trains a second record).
OUTPUT_DEFAULTS = {"trainer.save_model": False}
# the signature before the data-location keys left it (records made then are re-keyed, rekey.py)
LEGACY_KEYS = OUTPUT_ONLY_KEYS


def _set(cfg: dict, dotted: str, value) -> dict:
    """A copy of ``cfg`` with the existing dotted key set to ``value`` (unchanged where it is absent)."""
    head, _, leaf = dotted.rpartition(".")
    node = cfg.get(head) if head else cfg
    if not isinstance(node, dict) or leaf not in node:
        return cfg
    return {**cfg, head: {**node, leaf: value}} if head else {**cfg, leaf: value}


def normalize(cfg: dict, keys: tuple[str, ...] = OUTPUT_ONLY_KEYS + DATA_LOCATION_KEYS,
              defaults: dict | None = None) -> dict:
    out = {k: v for k, v in cfg.items() if k not in keys}
    for key in keys:
        head, _, leaf = key.rpartition(".")
        if head in out and isinstance(out[head], dict) and leaf in out[head]:
            out[head] = {k: v for k, v in out[head].items() if k != leaf}
    for key, value in (OUTPUT_DEFAULTS if defaults is None else defaults).items():
        out = _set(out, key, value)
    return out


def signature(cfg: dict) -> str:
    """Short hash of the normalized resolved config: same config → same run directory."""
    return _hash(normalize(cfg))


def legacy_signature(cfg: dict) -> str:
    """The signature this config had before ``DATA_LOCATION_KEYS`` left it (its old folder's name)."""
    return _hash(normalize(cfg, LEGACY_KEYS, defaults={}))


def legacy_signatures(cfg: dict) -> list[str]:
    """Every folder name an earlier signature gave this run, newest rule first: before
    ``OUTPUT_DEFAULTS`` (the key's own value, and each other value it can have: a run that saved its
    model is this run), and before ``DATA_LOCATION_KEYS`` left it. The current one excluded."""
    variants = [cfg] + [_set(cfg, k, True) for k in OUTPUT_DEFAULTS] + [_set(cfg, k, False) for k in OUTPUT_DEFAULTS]
    names = []
    for keys in (OUTPUT_ONLY_KEYS + DATA_LOCATION_KEYS, LEGACY_KEYS):
        for v in variants:
            names.append(_hash(normalize(v, keys, defaults={})))
    now = signature(cfg)
    return [n for n in dict.fromkeys(names) if n != now]


def _hash(cfg: dict) -> str:
    blob = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]

