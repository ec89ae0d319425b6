"""``collect``: every run record → one row of ``results/all.csv``; and the checked reader of it."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

from frozen_bench.errors import UserError
from frozen_bench.atomic import atomic_write_text, locked
from frozen_bench.record.store import STATUSES
from frozen_bench.record.rekey import SUPERSEDED

# the columns of all.csv that lead; any other metric follows in alphabetical order
COLUMNS = [
    "signature", "status", "error", "exp", "profile", "budget_name", "dataset", "synthetic", "model", "transform",
    "activation", "adapter",    "adapter_rank", "width", "depth", "seed", "lr", "act_lr_mult", "test_accuracy", "test_f1_macro", "test_mse",
    "train_loss_final", "trainable_params", "total_params", "frozen_bytes", "model_bytes",
    "latency_ms_b1_p50", "latency_ms_b1_p95", "latency_ms_b256_p50", "latency_ms_b256_p95",
    "steps_to_converge", "steps", "train_seconds", "diverged_step", "torch_version", "git_commit",
    "git_dirty", "stale",
]

# columns that are counts or sizes by construction (record/identity.py, train/train_run.py run_record):
# written as integers even where a missing value (a failed run) would make pandas hold floats
INT_COLUMNS = (
    "adapter_rank", "width", "depth", "seed", "budget", "subset", "epochs", "batch_size", "trainable_params",
    "total_params", "frozen_bytes", "model_bytes", "steps", "steps_to_converge", "diverged_step",
)

# hex names read as text: a commit like 0260669... would otherwise be read as the number 260669
# read as text: a hex commit or signature of digits only (or digits around one "e") would parse as a number
TEXT_COLUMNS = {"git_commit": str, "signature": str, "legacy_signature": str}

# all.csv columns a reader (figures, notebooks) relies on
REQUIRED_COLUMNS = ("signature", "status", "dataset", "model", "seed")


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
    # a re-keyed record (rekey.py) also stands for the all.csv row under its legacy signature, and a
    # duplicate moved to runs/.superseded/ for its own old row (the current record is listed instead)
    local = {d.name for d in (results_dir / "runs").glob("*") if d.is_dir()} | {
        str(r["legacy_signature"]) for r in rows if r.get("legacy_signature")} | {
        d.name for d in (results_dir / "runs" / SUPERSEDED).glob("*") if d.is_dir()}
    kept = _rows_without_local_run(out_csv, local, log)
    df = pd.concat([pd.DataFrame(rows), kept], ignore_index=True) if len(kept) else pd.DataFrame(rows)
    df = mark_stale(df)
    lead = [c for c in COLUMNS if c in df.columns] or COLUMNS
    df = df.reindex(columns=lead + sorted(c for c in df.columns if c not in COLUMNS))
    df = _integers_as_integers(df, _int_keys(rows))
    atomic_write_text(out_csv, df.to_csv(index=False))
    notes = [f"{len(bad)} corrupt skipped"] if bad else []
    if len(kept):
        notes.append(f"{len(kept)} rows kept from the previous all.csv (no run folder here)")
    stale = int(df["stale"].eq(True).sum()) if "stale" in df else 0
    if stale:
        notes.append(f"{stale} stale: made by code whose models/nn/train/data differ from HEAD; `frozen-bench pending "
                     f"--stale --csv {out_csv}` lists them")
    if unfinished:
        notes.append(f"{len(unfinished)} without a record yet (running or killed; re-run to finish)")
    log(f"[frozen-bench] collect: {len(df)} runs -> {out_csv}" + (f" ({'; '.join(notes)})" if notes else ""))
    return df


def mark_stale(df):
    """The ``stale`` column: True where the row's ``git_commit`` differs from HEAD in the files that
    can change a result (``identity.RESULT_PATHS``), False where not, empty where it cannot be told
    (no commit recorded, one this checkout lacks, no git). Rows kept from an earlier all.csv are
    judged again: staleness is relative to today's HEAD."""
    import pandas as pd

    from frozen_bench.record.identity import stale_commits

    if "git_commit" not in df.columns or df.empty:
        return df
    table = stale_commits(df["git_commit"].dropna().astype(str).unique())
    stale = df["git_commit"].map(lambda c: table.get(str(c)) if pd.notna(c) else None)
    return df.assign(stale=pd.array(stale.tolist(), dtype="boolean"))


def _int_keys(rows: list[dict]) -> set[str]:
    """The keys whose every present value in the records is an integer (JSON int, not bool)."""
    seen: dict[str, bool] = {}
    for r in rows:
        for k, v in r.items():
            if v is None:
                continue
            seen[k] = seen.get(k, True) and isinstance(v, int) and not isinstance(v, bool)
    return {k for k, ok in seen.items() if ok}


def _integers_as_integers(df, int_keys: set[str]):
    """Integer columns stay integers in the CSV (``64``, not ``64.0``): pandas turns an int
    column with a missing value into floats; a nullable integer column writes the numbers as
    given and the gaps as empty cells. Only columns whose values are all whole numbers and that
    are integers in the records (or counts by construction, ``INT_COLUMNS``) are touched."""
    import pandas as pd

    for c in df.columns:
        if c not in int_keys and c not in INT_COLUMNS:
            continue
        col = df[c]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col) or pd.api.types.is_integer_dtype(col):
            continue
        vals = col.dropna()
        if len(vals) and ((vals % 1 != 0).any() or vals.abs().max() >= 2**53):
            continue
        df[c] = col.astype("Int64")
    return df


def _rows_without_local_run(out_csv: Path, local: set[str], log=print):
    """Rows of an existing all.csv whose signature has no run folder under runs/. An all.csv that
    cannot be read as such is moved aside (never deleted) and the rebuild starts from the records."""
    import pandas as pd

    if not out_csv.exists():
        return pd.DataFrame()
    try:
        old = pd.read_csv(out_csv, dtype=TEXT_COLUMNS)
        if "signature" not in old.columns:
            raise ValueError("no signature column")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        aside = out_csv.with_name(f"{out_csv.stem}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}{out_csv.suffix}")
        os.replace(out_csv, aside)
        log(f"[frozen-bench] collect: {out_csv} was not a readable all.csv ({' '.join(str(e).split())[:80]}); "
            f"moved to {aside.name}, rebuilding from the records")
        return pd.DataFrame()
    return old[old["signature"].notna() & ~old["signature"].astype(str).isin(local)]


def update_all_csv(results_dir: str | Path, log=print):
    """``collect`` after each run, serialised between parallel workers: each scan starts after the
    previous write, and every worker collects after writing its own record, so the last all.csv
    written holds every record (and each one is whole: written by rename)."""
    results_dir = Path(results_dir)
    with locked(results_dir / ".all.csv.lock"):
        return collect(results_dir, log=log)


def read_all_csv(path: str | Path):
    """Read an all.csv written by ``collect`` and check its shape; a file edited into a bad shape
    is one clear error (``ValueError``) naming the problem and the fix, never a deep KeyError."""
    import pandas as pd

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
        df = pd.read_csv(path, dtype=TEXT_COLUMNS)
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


FINISHED_KEYS = ("signature", "legacy_signature", "status")  # all that says whether a row is finished


def finished_signatures(results_dir: str | Path) -> frozenset[str]:
    """The signatures (and legacy signatures) of the finished rows (ok or diverged) of
    ``<results_dir>/all.csv``; empty where there is none or it does not read. Run folders are not
    committed, so in a fresh clone of the paper's results these rows are the only record of runs
    that took core-hours: a resumed run must not train them again. Only the three columns that
    say so are read (a few hundredths of a second): every run that trains asks first."""
    import pandas as pd

    from frozen_bench.record.store import FINISHED

    try:
        df = pd.read_csv(Path(results_dir) / "all.csv", usecols=lambda c: c in FINISHED_KEYS, dtype=str)
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError):
        return frozenset()
    if "signature" not in df.columns or "status" not in df.columns:
        return frozenset()
    done = df[df["status"].isin(FINISHED)]
    sigs = set(done["signature"].dropna())
    if "legacy_signature" in done.columns:
        sigs |= set(done["legacy_signature"].dropna())
    return frozenset(sigs)


def finished_row(results_dir: str | Path, signatures) -> dict | None:
    """The finished row of ``<results_dir>/all.csv`` whose signature or legacy signature is one of
    ``signatures``, as a dict of its non-empty cells; None where there is none, or the file does
    not read whole (a broken all.csv holds no finished record: the run trains, and ``collect`` sets
    the file aside). The whole table is read only where ``finished_signatures`` holds one."""
    import pandas as pd

    from frozen_bench.record.store import FINISHED

    wanted = set(signatures)
    if not wanted & finished_signatures(results_dir):
        return None
    try:
        df = read_all_csv(Path(results_dir) / "all.csv")
    except UserError:
        return None
    done = df[df["status"].isin(FINISHED)]
    hit = done["signature"].isin(wanted)
    if "legacy_signature" in done.columns:
        hit |= done["legacy_signature"].isin(wanted)
    if not hit.any():
        return None
    row = done[hit].iloc[0]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items() if not pd.isna(v)}
