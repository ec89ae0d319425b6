"""Opt-in saved weights of a finished run (``trainer.save_model=true``): ``<run dir>/model.pt``.

Written to a temporary file in the same folder and renamed, so a killed run never leaves a
half-written checkpoint; ``train()`` writes it before the record's ``metrics.json``, so a finished
record with ``save_model`` always has its ``model.pt``, and its ``preprocess.json`` (the data's
normalisation and front end). ``model=masked model.init=<run dir>``, ``predict``, ``evaluate`` and
``export`` read them.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from frozen_bench.atomic import atomic_open

CHECKPOINT = "model.pt"


def save_model(model: nn.Module, run_dir: str | Path) -> Path:
    """``model.pt``, the state dict. ``train()`` writes the data's ``preprocess.json`` beside it
    (``data.preprocess.write``: what an input must go through before this model sees it, for
    ``frozen-bench predict`` and ``export``); the model table imports no data wing."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    out = run_dir / CHECKPOINT
    with atomic_open(out, "wb") as f:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, f)
    return out


def load_run(run_dir: str | Path) -> tuple[dict, dict]:
    """(plain config, state dict) of a finished run saved with ``trainer.save_model=true``."""
    import yaml

    run_dir = Path(run_dir)
    cfg_file, ckpt = run_dir / "config.yaml", run_dir / CHECKPOINT
    if not cfg_file.exists():
        raise ValueError(f"model.init={run_dir}: no config.yaml there; give a run directory (results/runs/<signature>) or model.init=random")
    if not ckpt.exists():
        raise ValueError(f"model.init={run_dir}: no {CHECKPOINT}; re-run that config with trainer.save_model=true force=true")
    cfg = yaml.safe_load(cfg_file.read_text())
    return cfg, torch.load(ckpt, map_location="cpu", weights_only=True)
