"""Run records on disk: one folder per signature, written atomically, claimed with a lock.

A run lives in ``<results_dir>/runs/<signature>/`` with ``config.yaml``, ``history.csv``,
``curve.png`` and ``metrics.json``. ``metrics.json`` is written last, by rename, so its presence
means the run finished; a killed run leaves none and is re-run next time.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import sys
from pathlib import Path

from frozen_bench.atomic import atomic_write_text, locked, probe_writable
from frozen_bench.errors import UserError
from frozen_bench.record.curve import plot_curve

FINISHED = ("ok", "diverged")

# every status a record can have: failed = stopped by an error or Ctrl-C (see its `error` column)
STATUSES = ("ok", "diverged", "failed")


def run_dir(results_dir: str | Path, sig: str) -> Path:
    return Path(results_dir) / "runs" / sig


def check_writable(results_dir: str | Path) -> None:
    """Fail before training, not after it, when the records could not be written."""
    try:
        probe_writable(Path(results_dir) / "runs")
    except OSError as e:
        raise UserError(f"results_dir={results_dir} is not writable ({e.strerror or e}); "
                        f"choose a writable folder with results_dir=PATH") from None


def read_status(path: Path) -> str | None:
    """Status of a finished record, or None when there is no readable metrics.json."""
    try:
        return json.loads((path / "metrics.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


def is_done(path: Path) -> bool:
    return read_status(path) in FINISHED


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


def write_record(path: Path, config_yaml: str, metrics: dict, history: list[dict]) -> None:
    """Write a run's files; metrics.json goes last so a partial record never looks finished."""
    atomic_write_text(path / "config.yaml", config_yaml)
    atomic_write_text(path / "history.csv", history_csv(history))
    try:
        plot_curve(history, path / "curve.png", title=f"{metrics.get('model')} on {metrics.get('dataset')}")
    except Exception as e:  # a plot must never cost the record
        print(f"[frozen-bench] warning: learning-curve plot failed ({e})", file=sys.stderr)
    atomic_write_text(path / "metrics.json", json.dumps({k: _json_safe(v) for k, v in metrics.items()}, indent=2, default=str) + "\n")


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


@contextlib.contextmanager
def claim(path: Path):
    """Yield True if this process may run the record at ``path`` now, False if another process
    (an overlapping sweep on the same results folder) holds it; the claim ends with the process,
    even on SIGKILL, because it is a lock on ``<run>/.lock`` (``atomic.locked``)."""
    path.mkdir(parents=True, exist_ok=True)
    with locked(path / ".lock", wait=False) as mine:
        try:
            yield mine
        finally:
            # a run that failed before writing anything leaves no empty folder behind
            if mine and [p.name for p in path.iterdir()] == [".lock"]:
                (path / ".lock").unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    path.rmdir()
