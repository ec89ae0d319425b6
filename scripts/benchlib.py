"""Shared by scripts/bench_*.py: machine info for the CSVs, interleaved timing, CSV writing."""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from frozen_bench.atomic import atomic_open  # noqa: E402
from frozen_bench.nn import fast  # noqa: E402
from frozen_bench.train.threads import available_cores  # noqa: E402


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    try:
        load = "%.2f" % os.getloadavg()[0]  # other work on the machine while measuring
    except OSError:
        load = ""
    return {
        "cpu": cpu,
        "cores": available_cores(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "backend": fast.backend_status(),
        "load_avg_1min": load,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_commit": commit,
        "command": "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]]),
    }


def timed_rounds(fns: dict, rounds: int, sample_s: float, clock=time.perf_counter) -> dict[str, list[float]]:
    """Seconds per call of each fn: one sample per round, candidates interleaved in rotating
    order, so slow drifts in machine load hit all of them alike. ``clock=time.process_time``
    counts the CPU time of all this process's threads instead of wall time (on a machine other
    processes load, it leaves out the time spent waiting for a core)."""
    inner = {}
    for name, f in fns.items():
        f()  # first call: plans, caches, lazy builds
        t0 = clock()
        f()
        one = clock() - t0
        inner[name] = max(1, min(50, math.ceil(sample_s / max(one, 1e-7))))
        for _ in range(inner[name]):
            f()
    names = list(fns)
    out = {k: [] for k in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            f, k = fns[name], inner[name]
            t0 = clock()
            for _ in range(k):
                f()
            out[name].append((clock() - t0) / k)
    return out


def paired_ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of a/b, each round's two samples taken back to back."""
    return statistics.median(x / y for x, y in zip(a, b))


def write_csv(path: Path, rows: list[dict]) -> None:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with atomic_open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    print(f"\nwrote {os.path.relpath(path, ROOT)}")
