"""The optional launchers and sweepers of the `launchers`/`optuna` extras, end to end on digits."""

import json
import sys

import pytest

from frozen_bench.cli import main

TINY = ["trainer.epochs=1", "trainer.latency_reps=2", "dataset.subset=300"]


def records(res):
    return [json.loads(p.read_text()) for p in sorted((res / "runs").glob("*/metrics.json"))]


def test_optuna_lr_search_runs_trials_and_records_them(tmp_path, monkeypatch):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    res = tmp_path / "results"
    args = ["run", "-m", "+sweep=lr_search", "hydra.sweeper.n_trials=2", f"results_dir={res}", *TINY]
    monkeypatch.setattr(sys, "argv", ["frozen-bench", *args])
    assert main(args) == 0
    recs = records(res)
    assert len(recs) == 2 and all(r["status"] == "ok" and r["exp"] == "sweep_lr_search" for r in recs)
    assert all(0 <= r["val_accuracy"] <= 1 for r in recs)  # the objective the study maximized


def test_submitit_local_launcher_runs_each_job_in_its_own_process(tmp_path, monkeypatch, capsys):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    res = tmp_path / "results"
    args = ["run", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", "seed=0,1",
            f"results_dir={res}", *TINY]
    monkeypatch.setattr(sys, "argv", ["frozen-bench", *args])
    assert main(args) == 0
    recs = records(res)
    assert sorted(r["seed"] for r in recs) == [0, 1] and all(r["status"] == "ok" for r in recs)
    # the sweep's table, from the notes each job left in its sweep subdir (read by SweepSummary)
    err = capsys.readouterr().err
    table = err[err.index("[frozen-bench] sweep: 2 ok of 2 jobs"):].splitlines()[2:4]
    assert [ln.split()[1:3] for ln in table] == [["0", "ok"], ["1", "ok"]], err


def test_parallel_workers_name_their_job_on_every_line(tmp_path):
    """joblib workers share one terminal: each line starts [job N <its sweep values>], and the
    per-job collect: line is at debug level (the sweep's table ends it)."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    res = tmp_path / "results"
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1", "transform=dct",
            f"results_dir={res}", "trainer.threads=1", *TINY]
    p = subprocess.run([sys.executable, "-m", "frozen_bench", "run", *args], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(root), "FROZEN_BENCH_PROGRESS": ""}, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = [ln for ln in p.stdout.splitlines() if "[frozen-bench]" in ln]
    for job in (0, 1):
        mine = [ln for ln in lines if ln.startswith(f"[job {job} seed={job}] [frozen-bench] ")]
        assert any(" ok: test_accuracy=" in ln for ln in mine) and any(" step " in ln for ln in mine), p.stdout
    assert all(ln.startswith("[job ") for ln in lines), p.stdout  # no line without its job
    assert "collect:" not in p.stdout + p.stderr
    assert "[frozen-bench] sweep: 2 ok of 2 jobs" in p.stderr
