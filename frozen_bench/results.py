"""Run records on disk: signatures, atomic writes, skip-if-done, and ``collect`` → all.csv.

A run lives in ``<results_dir>/runs/<signature>/`` with ``config.yaml``, ``history.csv``,
``curve.png`` and ``metrics.json``. ``metrics.json`` is written last, by rename, so its presence
means the run finished; a killed run leaves none and is re-run next time.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# keys that change where/how results are written, not what is computed (dotted: nested keys)
OUTPUT_ONLY_KEYS = ("force", "results_dir", "objective", "trainer.checkpoint_every")
FINISHED = ("ok", "diverged")
# every status a record can have: failed = stopped by an error or Ctrl-C (see its `error` column)
STATUSES = ("ok", "diverged", "failed")
# the columns of all.csv that lead; any other metric follows in alphabetical order
COLUMNS = [
    "signature", "status", "error", "exp", "profile", "budget_name", "dataset", "synthetic", "model", "transform",
    "activation", "adapter",    "adapter_rank", "width", "depth", "seed", "lr", "act_lr_mult", "test_accuracy", "test_f1_macro", "test_mse",
    "train_loss_final", "trainable_params", "total_params", "frozen_bytes", "model_bytes",
    "latency_ms_b1_p50", "latency_ms_b1_p95", "latency_ms_b256_p50", "latency_ms_b256_p95",
    "steps_to_converge", "steps", "train_seconds", "diverged_step", "torch_version", "git_commit",
]


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


def _read_record(mfile: Path) -> dict:
    rec = json.loads(mfile.read_text())
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    if rec.get("status") not in STATUSES:
        raise ValueError(f"status {rec.get('status')!r} is not one of {', '.join(STATUSES)}")
    return rec


def collect(results_dir: str | Path, out_csv: str | Path | None = None, log=print):
    """Rebuild ``<results_dir>/all.csv`` from every run record. A corrupt or partial record
    (unreadable JSON, no status) is reported and left out, never fatal; run folders without a
    metrics.json (running now, killed, or interrupted before a record) are counted. Rows of the
    existing all.csv whose run has no folder here (e.g. the committed paper's runs, in a fresh
    clone) are kept: collecting never loses a row. Returns the DataFrame; all.csv is replaced by
    rename, so a reader never sees half a file."""
    import pandas as pd

    results_dir = Path(results_dir)
    rows, bad, unfinished = [], [], []
    for d in sorted(p for p in (results_dir / "runs").glob("*") if p.is_dir() and not p.name.startswith(".")):
        mfile = d / "metrics.json"
        if not mfile.exists():
            unfinished.append(d.name)
            continue
        try:
            rec = _read_record(mfile)
        except (OSError, ValueError) as e:
            bad.append(f"{mfile} ({' '.join(str(e).split())[:120]})")
            continue
        rec.setdefault("signature", d.name)
        rows.append(rec)
    for b in bad:
        log(f"[frozen-bench] collect: skipped corrupt record {b}; delete that folder to re-run it")
    out_csv = Path(out_csv) if out_csv else results_dir / "all.csv"
    local = {d.name for d in (results_dir / "runs").glob("*") if d.is_dir()}
    kept = _rows_without_local_run(out_csv, local, log)
    df = pd.concat([pd.DataFrame(rows), kept], ignore_index=True) if len(kept) else pd.DataFrame(rows)
    lead = [c for c in COLUMNS if c in df.columns] or COLUMNS
    df = df.reindex(columns=lead + sorted(c for c in df.columns if c not in COLUMNS))
    atomic_write_text(out_csv, df.to_csv(index=False))
    notes = [f"{len(bad)} corrupt skipped"] if bad else []
    if len(kept):
        notes.append(f"{len(kept)} rows kept from the previous all.csv (no run folder here)")
    if unfinished:
        notes.append(f"{len(unfinished)} without a record yet (running or killed; re-run to finish)")
    log(f"[frozen-bench] collect: {len(df)} runs -> {out_csv}" + (f" ({'; '.join(notes)})" if notes else ""))
    return df


def _rows_without_local_run(out_csv: Path, local: set[str], log=print):
    """Rows of an existing all.csv whose signature has no run folder under runs/. An all.csv that
    cannot be read as such is moved aside (never deleted) and the rebuild starts from the records."""
    import pandas as pd

    if not out_csv.exists():
        return pd.DataFrame()
    try:
        old = pd.read_csv(out_csv)
        if "signature" not in old.columns:
            raise ValueError("no signature column")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        aside = out_csv.with_name(f"{out_csv.stem}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}{out_csv.suffix}")
        os.replace(out_csv, aside)
        log(f"[frozen-bench] collect: {out_csv} was not a readable all.csv ({' '.join(str(e).split())[:80]}); "
            f"moved to {aside.name}, rebuilding from the records")
        return pd.DataFrame()
    return old[old["signature"].notna() & ~old["signature"].astype(str).isin(local)]


@contextlib.contextmanager
def _locked(lock_path: Path):
    """An exclusive advisory lock (flock) so parallel workers take turns on one file."""
    import fcntl

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def claim(path: Path):
    """Yield True if this process may run the record at ``path`` now, False if another process
    (an overlapping sweep on the same results folder) holds it; the claim ends with the process,
    even on SIGKILL, because it is an flock on ``<run>/.lock``."""
    import fcntl

    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            # a run that failed before writing anything leaves no empty folder behind
            if [p.name for p in path.iterdir()] == [".lock"]:
                (path / ".lock").unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    path.rmdir()
            fcntl.flock(f, fcntl.LOCK_UN)


def update_all_csv(results_dir: str | Path, log=print):
    """``collect`` after each run, serialised between parallel workers: each scan starts after the
    previous write, and every worker collects after writing its own record, so the last all.csv
    written holds every record (and each one is whole: written by rename)."""
    results_dir = Path(results_dir)
    with _locked(results_dir / ".all.csv.lock"):
        return collect(results_dir, log=log)


# all.csv columns a reader (figures, notebooks) relies on
REQUIRED_COLUMNS = ("signature", "status", "dataset", "model", "seed")


def read_all_csv(path: str | Path):
    """Read an all.csv written by ``collect`` and check its shape; a file edited into a bad shape
    is one clear error (``ValueError``) naming the problem and the fix, never a deep KeyError."""
    import pandas as pd

    from frozen_bench.errors import UserError

    path = Path(path)
    fix = f"rebuild it from the run records with `frozen-bench collect --results-dir {path.parent}`"
    if not path.is_file():
        raise UserError(f"{path} not found; {fix}")
    try:
        with open(path, newline="") as f:
            rows = csv.reader(f)
            header = next(rows, None)
            if not header:
                raise ValueError("the file is empty")
            for line, row in enumerate(rows, start=2):
                # pandas would silently turn surplus leading cells into an index
                if row and len(row) != len(header):
                    raise ValueError(f"line {line} has {len(row)} cells, the header {len(header)}")
        df = pd.read_csv(path)
    except (csv.Error, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise UserError(f"{path} is not a readable CSV ({' '.join(str(e).split())[:150]}); {fix}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{path} lacks the column(s) {', '.join(missing)}; {fix}")
    if df["signature"].isna().any() or df["signature"].duplicated().any():
        raise UserError(f"{path} has empty or repeated signatures (each run must appear once); {fix}")
    bad = sorted(set(df["status"].astype(str)) - set(STATUSES))
    if bad:
        raise UserError(f"{path} has unknown status value(s) {', '.join(bad)} (expected {', '.join(STATUSES)}); {fix}")
    if "seed" in df and not pd.api.types.is_numeric_dtype(df["seed"]):
        raise UserError(f"{path}: column seed holds non-numbers; {fix}")
    return df


def write_failed_record(path: Path, config_yaml: str, fields: dict, error: str, log=print) -> bool:
    """Record a run that stopped with an error (status=failed, ``error`` = the one-line reason) so
    that ``collect`` lists it. Never replaces a finished record. Returns whether it was written."""
    if is_done(path):
        return False
    try:
        atomic_write_text(path / "config.yaml", config_yaml)
        atomic_write_text(path / "metrics.json", json.dumps(
            {k: _json_safe(v) for k, v in {**fields, "status": "failed", "error": error}.items()},
            indent=2, default=str) + "\n")
        return True
    except OSError as e:
        log(f"[frozen-bench] warning: could not record the failure in {path} ({e})")
        return False
