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
# the signature before the data-location keys left it (records made then are re-keyed, rekey.py)
LEGACY_KEYS = OUTPUT_ONLY_KEYS


def normalize(cfg: dict, keys: tuple[str, ...] = OUTPUT_ONLY_KEYS + DATA_LOCATION_KEYS) -> dict:
    out = {k: v for k, v in cfg.items() if k not in keys}
    for key in keys:
        head, _, leaf = key.rpartition(".")
        if head in out and isinstance(out[head], dict) and leaf in out[head]:
            out[head] = {k: v for k, v in out[head].items() if k != leaf}
    return out


def signature(cfg: dict) -> str:
    """Short hash of the normalized resolved config: same config → same run directory."""
    return _hash(normalize(cfg))


def legacy_signature(cfg: dict) -> str:
    """The signature this config had before ``DATA_LOCATION_KEYS`` left it (its old folder's name)."""
    return _hash(normalize(cfg, LEGACY_KEYS))


def _hash(cfg: dict) -> str:
    blob = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]

