"""Run records on disk: signatures, atomic writes, skip-if-done, and ``collect`` → all.csv.

A run lives in ``<results_dir>/runs/<signature>/`` with ``config.yaml``, ``history.csv``,
``curve.png`` and ``metrics.json``. ``metrics.json`` is written last, by rename, so its presence
means the run finished; a killed run leaves none and is re-run next time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# keys that change where/how results are written, not what is computed
OUTPUT_ONLY_KEYS = ("force", "results_dir")
FINISHED = ("ok", "diverged")
# the columns of all.csv that lead; any other metric follows in alphabetical order
COLUMNS = [
    "signature", "status", "exp", "profile", "budget_name", "dataset", "synthetic", "model", "transform", "activation", "adapter",
    "adapter_rank", "width", "depth", "seed", "test_accuracy", "test_f1_macro", "test_mse",
    "train_loss_final", "trainable_params", "total_params", "frozen_bytes", "model_bytes",
    "latency_ms_b1_p50", "latency_ms_b1_p95", "latency_ms_b256_p50", "latency_ms_b256_p95",
    "steps_to_converge", "steps", "train_seconds", "diverged_step", "torch_version", "git_commit",
]


def normalize(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in OUTPUT_ONLY_KEYS}


def signature(cfg: dict) -> str:
    """Short hash of the normalized resolved config: same config → same run directory."""
    blob = json.dumps(normalize(cfg), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def run_dir(results_dir: str | Path, sig: str) -> Path:
    return Path(results_dir) / "runs" / sig


def read_status(path: Path) -> str | None:
    """Status of a finished record, or None when there is no readable metrics.json."""
    try:
        return json.loads((path / "metrics.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


def is_done(path: Path) -> bool:
    return read_status(path) in FINISHED


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_safe(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def history_csv(history: list[dict]) -> str:
    keys: list[str] = []
    for r in history:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(history)
    return buf.getvalue()


def git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_record(path: Path, config_yaml: str, metrics: dict, history: list[dict]) -> None:
    """Write a run's files; metrics.json goes last so a partial record never looks finished."""
    atomic_write_text(path / "config.yaml", config_yaml)
    atomic_write_text(path / "history.csv", history_csv(history))
    try:
        plot_curve(history, path / "curve.png", title=f"{metrics.get('model')} on {metrics.get('dataset')}")
    except Exception as e:  # a plot must never cost the record
        print(f"[frozen-bench] warning: learning-curve plot failed ({e})", file=sys.stderr)
    atomic_write_text(path / "metrics.json", json.dumps({k: _json_safe(v) for k, v in metrics.items()}, indent=2, default=str) + "\n")


def plot_curve(history: list[dict], out: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    steps = [r["step"] for r in history]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(steps, [r["train_loss"] for r in history], label="train loss", color="C0")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("train loss")
    for key in ("val_accuracy", "val_mse"):
        pts = [(r["step"], r[key]) for r in history if r.get(key) is not None]
        if pts:
            ax2 = ax.twinx()
            ax2.plot(*zip(*pts), label=key.replace("_", " "), color="C1", marker="o", ms=3)
            ax2.set_ylabel(key.replace("_", " "))
            ax2.legend(loc="center right", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out)


def collect(results_dir: str | Path, out_csv: str | Path | None = None, log=print):
    """Rebuild ``<results_dir>/all.csv`` from every run record; unreadable records are reported
    and skipped, never fatal. Returns the DataFrame."""
    import pandas as pd

    results_dir = Path(results_dir)
    rows, bad = [], []
    for mfile in sorted((results_dir / "runs").glob("*/metrics.json")):
        try:
            rec = json.loads(mfile.read_text())
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            bad.append(f"{mfile} ({e})")
            continue
        rec.setdefault("signature", mfile.parent.name)
        rows.append(rec)
    for b in bad:
        log(f"[frozen-bench] collect: skipped unreadable record {b}")
    df = pd.DataFrame(rows)
    lead = [c for c in COLUMNS if c in df.columns] or COLUMNS
    df = df.reindex(columns=lead + sorted(c for c in df.columns if c not in COLUMNS))
    out_csv = Path(out_csv) if out_csv else results_dir / "all.csv"
    atomic_write_text(out_csv, df.to_csv(index=False))
    log(f"[frozen-bench] collect: {len(df)} runs -> {out_csv}" + (f" ({len(bad)} unreadable skipped)" if bad else ""))
    return df
