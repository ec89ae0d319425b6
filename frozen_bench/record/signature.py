"""Run signatures: a short hash of the resolved config, so the same config finds the same folder.

The config hashed is the one a run records: groups the model does not read are already dropped
(``frozen_bench.config.prune``), and the keys below, which change where or how results are
written but not what is computed, are left out.
"""

from __future__ import annotations

import hashlib
import json

# keys that change where/how results are written, not what is computed (dotted: nested keys)
OUTPUT_ONLY_KEYS = ("force", "results_dir", "objective", "trainer.checkpoint_every", "logger")


def normalize(cfg: dict) -> dict:
    out = {k: v for k, v in cfg.items() if k not in OUTPUT_ONLY_KEYS}
    for key in OUTPUT_ONLY_KEYS:
        head, _, leaf = key.rpartition(".")
        if head in out and isinstance(out[head], dict) and leaf in out[head]:
            out[head] = {k: v for k, v in out[head].items() if k != leaf}
    return out


def signature(cfg: dict) -> str:
    """Short hash of the normalized resolved config: same config → same run directory."""
    blob = json.dumps(normalize(cfg), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]

