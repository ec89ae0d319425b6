"""What a record says about the run besides its metrics: identity columns and provenance."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def record_fields(cfg: dict) -> dict:
    """The identity columns of a run: what was trained, as named in the configs."""
    model = cfg.get("model", {})
    adapter = cfg.get("adapter", {})
    return {
        "exp": cfg.get("exp_name"),
        "profile": cfg.get("profile"),
        "budget_name": cfg.get("budget_name"),
        "model": model.get("name"),
        "transform": cfg.get("transform", {}).get("name") if "frozen" in str(model.get("name")) else None,
        "activation": cfg.get("activation", {}).get("name") if "frozen" in str(model.get("name")) else None,
        "adapter": adapter.get("name"),
        "adapter_rank": _int_or_raw(adapter.get("rank")) if adapter.get("name") != "none" else 0,
        "width": model.get("width"),
        "depth": model.get("depth"),
        "seed": cfg.get("seed"),
        "lr": (cfg.get("optim") or {}).get("lr"),
        "act_lr_mult": (cfg.get("optim") or {}).get("act_lr_mult"),
    }


def _int_or_raw(v):
    """An int where the value is one; a failed record of a bad value (rank=abc) keeps it as given."""
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return v


def provenance(started: float) -> dict:
    import torch

    return {
        "torch_version": torch.__version__,
        "git_commit": git_commit(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "command": " ".join(["frozen-bench", "run", *sys.argv[1:]]),
    }


def git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None

