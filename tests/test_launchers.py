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


def test_submitit_local_launcher_runs_each_job_in_its_own_process(tmp_path, monkeypatch):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    res = tmp_path / "results"
    args = ["run", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", "seed=0,1",
            f"results_dir={res}", *TINY]
    monkeypatch.setattr(sys, "argv", ["frozen-bench", *args])
    assert main(args) == 0
    recs = records(res)
    assert sorted(r["seed"] for r in recs) == [0, 1] and all(r["status"] == "ok" for r in recs)
