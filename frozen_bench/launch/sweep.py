"""The sweep's summary: what each job of a ``-m`` sweep left in its Hydra job folder, as one table.

Each job writes its outcome next to its record (``run.JOB_NOTE`` in ``<results_dir>/.multirun/<num>/``);
the ``SweepSummary`` callback of the launching process reads those notes and the run records they
name when the sweep ends, so the table is the same for every launcher (joblib workers, submitit
jobs on other nodes). ``frozen-bench run`` (``launch.command``) takes its exit code from here:
``begin`` before Hydra starts, ``finish`` after it returns.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from frozen_bench.errors import EXIT_FAILED, one_line
from frozen_bench.record.store import run_dir
from frozen_bench.run import JOB_NOTE

_SWEEP: dict = {}  # the sweep of this process: {"dir": its folder, "code": the summary's exit code}


def begin() -> None:
    """Forget any earlier sweep of this process (``frozen-bench run`` may be called again in it)."""
    _SWEEP.clear()


def finish(code: int) -> int:
    """The exit code of ``frozen-bench run`` once Hydra returned ``code``: the summary's where
    ``SweepSummary`` printed it; for a sweep that stopped early (Ctrl-C, a launcher error), the
    summary of what its jobs finished, from their notes."""
    if "code" in _SWEEP:
        return code or _SWEEP["code"]
    return summarize(read_notes(_SWEEP["dir"]) if "dir" in _SWEEP else [], code)


def read_notes(sweep_dir: str | Path) -> list[dict]:
    """The outcomes the jobs of a sweep left in their folders (``<sweep_dir>/<num>/JOB_NOTE``)."""
    entries = []
    for f in sorted(Path(sweep_dir).glob(f"*/{JOB_NOTE}")):
        try:
            entries.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            pass
    return entries


try:
    from hydra.experimental.callback import Callback
except ImportError:  # an older Hydra: no callbacks, no summary
    Callback = object


class SweepSummary(Callback):
    """The sweep's summary, from the outcomes its jobs wrote next to their records, not from the
    memory or /tmp of the process that launched them, so it holds for any launcher (joblib
    workers, submitit jobs on other nodes). Configured in ``conf/config.yaml``
    (``hydra.callbacks``); both hooks run in the launching process."""

    def on_multirun_start(self, config, **kwargs) -> None:
        folder = Path(str(config.hydra.sweep.dir))
        for stale in folder.glob(f"*/{JOB_NOTE}"):  # a previous sweep's, in the same folder
            stale.unlink(missing_ok=True)
        _SWEEP["dir"] = folder

    def on_multirun_end(self, config, **kwargs) -> None:
        _SWEEP["code"] = summarize(read_notes(str(config.hydra.sweep.dir)))


def _record_metrics(entry: dict) -> dict:
    """A job note's run record (metrics.json), else its finished all.csv row (a job skipped as
    finished there: its run folder is not here), or {} where there is neither (bad input, a crash)."""
    from frozen_bench.record.table import finished_row

    sig = entry.get("signature")
    if not sig:
        return {}
    results = entry.get("results_dir") or "results"
    try:
        return json.loads((run_dir(results, sig) / "metrics.json").read_text())
    except (OSError, ValueError):
        return finished_row(results, [sig]) or {}


def jobs_table(entries: list[dict]) -> list[str]:
    """One line per job of a sweep, read from the run records: job, status, test and validation
    accuracy (or mse), trainable parameters, signature and the job's own overrides (those not
    shared by every job)."""
    def pct(v):
        return f"{100 * v:.2f}%" if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else "-"

    def num(v, fmt):
        return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else "-"

    # the overrides every job shares (results_dir, the recipe) say nothing about one job: left out
    words = [str(e.get("label") or "").split() for e in entries]
    shared = set.intersection(*map(set, words)) if len(words) > 1 else set()
    rows = []
    order = sorted(range(len(entries)), key=lambda i: (entries[i].get("job") is None, entries[i].get("job") or 0, i))
    records = [_record_metrics(entries[i]) for i in order]
    mse = any(r.get("test_mse") is not None or r.get("val_mse") is not None for r in records)
    head = ["job", "status", "test_acc", "val_acc"] + (["test_mse", "val_mse"] if mse else []) + ["trainable", "signature", "overrides"]
    for i, m in zip(order, records):
        e = entries[i]
        row = [str(e.get("job") if e.get("job") is not None else i), str(e.get("status")),
               pct(m.get("test_accuracy")), pct(m.get("val_accuracy"))]
        if mse:
            row += [num(m.get("test_mse"), ".4g"), num(m.get("val_mse"), ".4g")]
        own = " ".join(w for w in words[i] if w not in shared)
        row += [num(m.get("trainable_params"), ","), str(e.get("signature") or "-"), own]
        rows.append(row)
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head) - 1)]
    fmt = lambda r: "  ".join(x.ljust(w) for x, w in zip(r[:-1], widths)) + "  " + r[-1]  # noqa: E731
    return ["[frozen-bench]   " + fmt(head).rstrip()] + ["[frozen-bench]   " + fmt(r).rstrip() for r in rows]


def summarize(entries: list[dict], code: int = 0) -> int:
    """Print a sweep's outcome (when it had more than one job or any failure): the counts, one
    table of its jobs' key metrics from their records, the failures; the exit code is non-zero
    when any job failed."""
    failed = [e for e in entries if e.get("status") == "failed"]
    if len(entries) > 1:
        counts: dict[str, int] = {}
        for e in entries:
            counts[e.get("status")] = counts.get(e.get("status"), 0) + 1
        print("[frozen-bench] sweep: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
              + f" of {len(entries)} jobs", file=sys.stderr)
        try:
            for line in jobs_table(entries):
                print(line, file=sys.stderr)
        except Exception as e:  # the table is a convenience; the records are the truth
            print(f"[frozen-bench]   (no jobs table: {one_line(e)})", file=sys.stderr)
        for e in failed:
            print(f"[frozen-bench]   failed {e.get('signature')} [{e.get('label')}]: {e.get('error')}", file=sys.stderr)
    if code:
        return code
    return EXIT_FAILED if failed else 0
