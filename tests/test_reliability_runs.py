"""In-process reliability: divergence, determinism, checkpoint/resume, collect on damaged records."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from frozen_bench.train import checkpoint as C
from frozen_bench.record.signature import signature
from frozen_bench.record.store import claim, run_dir
from frozen_bench.record.table import collect, read_all_csv
from frozen_bench.cli import main
from frozen_bench.config import conf_dir
from frozen_bench.models import prune
from frozen_bench.run import execute
from frozen_bench.train import train

QUICK = ["trainer.epochs=2", "dataset.subset=160", "trainer.latency_reps=1"]


def config(*overrides: str) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def untimed(d: dict) -> dict:
    """A metrics/history row without wall-clock numbers (the only things allowed to differ)."""
    return {k: v for k, v in d.items() if "seconds" not in k and "latency" not in k and k != "started_at"}


def test_divergence_is_recorded_and_sweep_continues(tmp_path, capsys):
    rd = tmp_path / "results"
    code = main(["run", "-m", *QUICK, "optim.warmup_frac=0", "optim.grad_clip=null", "optim.lr=1e8,0.003",
                 f"results_dir={rd}"])
    err = capsys.readouterr().err
    assert code == 0, err  # a diverged run is a finished result, not a failure
    assert "1 diverged, 1 ok of 2 jobs" in err
    df = read_all_csv(rd / "all.csv")
    assert sorted(df["status"]) == ["diverged", "ok"]
    div = df[df["status"] == "diverged"].iloc[0]
    assert div["diverged_step"] >= 0
    rec = json.loads((rd / "runs" / div["signature"] / "metrics.json").read_text())
    assert rec["status"] == "diverged" and isinstance(rec["diverged_step"], int) and rec["steps"] == rec["diverged_step"]
    assert df[df["status"] == "ok"]["test_accuracy"].notna().all()
    # a diverged record is finished: the same sweep again skips both
    assert main(["run", "-m", *QUICK, "optim.warmup_frac=0", "optim.grad_clip=null", "optim.lr=1e8,0.003",
                 f"results_dir={rd}"]) == 0
    assert "2 skipped of 2 jobs" in capsys.readouterr().err


def test_same_config_and_seed_give_identical_metrics_on_cpu(tmp_path):
    # dropout and a random orthogonal transform exercise every seeded source of randomness
    cfg = config(*QUICK, "trainer.device=cpu", "transform=random_orth", "model.dropout=0.2", "model.head=mlp")
    a = train(copy.deepcopy(cfg), None, log=lambda *_: None)
    b = train(copy.deepcopy(cfg), None, log=lambda *_: None)
    assert untimed(a["metrics"]) == untimed(b["metrics"])
    assert [untimed(r) for r in a["history"]] == [untimed(r) for r in b["history"]]
    assert a["metrics"]["steps"] == 6 and a["metrics"]["test_accuracy"] is not None


def test_threads_setting_is_honoured(tmp_path):
    before = torch.get_num_threads()
    try:
        execute(config(*QUICK, "trainer.epochs=1", "trainer.threads=1", f"results_dir={tmp_path}"), log=lambda *_: None)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_checkpoint_resume_equals_uninterrupted_run(tmp_path, monkeypatch):
    """Crash right after the 4th checkpoint (mid-epoch: 5 steps per epoch, a save every 3), then
    resume: the run continues at step 12 and ends with the uninterrupted run's metrics and history."""
    cfg = config("trainer.epochs=3", "dataset.subset=300", "trainer.latency_reps=1", "trainer.device=cpu",
                 "trainer.checkpoint_every=3", "model.dropout=0.1", "model.head=mlp")
    ref = train(copy.deepcopy(cfg), tmp_path / "ref", log=lambda *_: None)

    real_save, saves = C.Checkpointer.save, []

    def save_then_crash(self, state):
        real_save(self, state)
        saves.append(state["step"])
        if len(saves) == 4:
            raise RuntimeError("simulated crash after a checkpoint")

    monkeypatch.setattr(C.Checkpointer, "save", save_then_crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(copy.deepcopy(cfg), tmp_path / "run", log=lambda *_: None)
    assert saves == [3, 6, 9, 12] and (tmp_path / "run" / C.FILENAME).exists()
    monkeypatch.setattr(C.Checkpointer, "save", real_save)

    logs: list[str] = []
    resumed = train(copy.deepcopy(cfg), tmp_path / "run", log=logs.append)
    assert any("resumed from" in ln and "at step 12/15" in ln for ln in logs), logs
    assert not any(ln.startswith("[frozen-bench] epoch 1/") for ln in logs)  # epochs 1-2 were not redone
    assert untimed(resumed["metrics"]) == untimed(ref["metrics"])
    assert [untimed(r) for r in resumed["history"]] == [untimed(r) for r in ref["history"]]


def test_unreadable_or_foreign_checkpoint_is_ignored(tmp_path):
    cfg = config(*QUICK, "trainer.device=cpu", "trainer.checkpoint_every=2")
    ref = train(copy.deepcopy(cfg), None, log=lambda *_: None)
    run = tmp_path / "run"
    run.mkdir()
    (run / C.FILENAME).write_bytes(b"truncated checkpoint")
    logs: list[str] = []
    out = train(copy.deepcopy(cfg), run, log=logs.append)
    assert any("ignoring unreadable checkpoint" in ln for ln in logs)
    assert untimed(out["metrics"]) == untimed(ref["metrics"])
    # a checkpoint of another config (other seed) in this folder is not resumed either
    other = C.Checkpointer(run / C.FILENAME, 2, key=signature(config(*QUICK, "seed=1")))
    other.save({"step": 2})
    logs.clear()
    train(copy.deepcopy(cfg), run, log=logs.append)
    assert any("saved for another config" in ln for ln in logs)


def test_execute_removes_checkpoint_and_signature_ignores_checkpoint_every(tmp_path):
    a = config(*QUICK, f"results_dir={tmp_path}", "trainer.checkpoint_every=2")
    b = config(*QUICK, f"results_dir={tmp_path}")
    assert signature(a) == signature(b)  # turning checkpoints on must not start a new run
    m = execute(a, log=lambda *_: None)
    run = run_dir(tmp_path, m["signature"])
    assert m["status"] == "ok" and (run / "metrics.json").exists() and not (run / C.FILENAME).exists()
    assert execute(b, log=lambda *_: None).get("skipped")


def test_collect_reports_corrupt_and_partial_records(tmp_path):
    runs = tmp_path / "runs"
    good = runs / "aaaaaaaaaaaa"
    good.mkdir(parents=True)
    (good / "metrics.json").write_text(json.dumps({"status": "ok", "dataset": "digits", "model": "m", "seed": 0}))
    for name, text in {"bbbbbbbbbbbb": '{"status": "ok", "data', "cccccccccccc": "[1, 2]",
                       "dddddddddddd": '{"dataset": "digits"}'}.items():
        (runs / name).mkdir()
        (runs / name / "metrics.json").write_text(text)
    (runs / "eeeeeeeeeeee").mkdir()
    (runs / "eeeeeeeeeeee" / "config.yaml").write_text("seed: 0\n")  # killed before its record
    (good / ".metrics.json.x.tmp").write_text("{")  # a killed atomic write
    logs: list[str] = []
    df = collect(tmp_path, log=logs.append)
    assert list(df["signature"]) == ["aaaaaaaaaaaa"]
    assert sum("skipped corrupt record" in ln for ln in logs) == 3
    assert "3 corrupt skipped" in logs[-1] and "1 without a record yet" in logs[-1]
    assert list(read_all_csv(tmp_path / "all.csv")["signature"]) == ["aaaaaaaaaaaa"]


def test_a_config_running_elsewhere_is_not_run_twice(tmp_path):
    """Two overlapping sweeps on one results folder: the second skips what the first is training."""
    cfg = config(*QUICK, f"results_dir={tmp_path}")
    path = run_dir(tmp_path, signature(prune(cfg)))  # the signature of what execute runs
    with claim(path) as mine:  # stands in for the other process's claim (flock per open file)
        assert mine
        logs: list[str] = []
        out = execute(cfg, log=logs.append)
        assert out["status"] == "busy" and out["skipped"] and "another process is running it" in logs[-1]
        assert not (path / "metrics.json").exists()
    assert execute(cfg, log=lambda *_: None)["status"] == "ok"  # free again once released


def test_failing_job_is_recorded_and_sweep_goes_on(tmp_path, capsys):
    """A job of a sweep that fails where only the data can tell (a rank above the block width; a
    bad value is caught before the first job, tests/test_bad_input.py): that job gets
    status=failed with its error, the others run, a summary lists it, and the exit code is non-zero."""
    quick = [q for q in QUICK if not q.startswith("trainer.epochs=")]  # epochs once: a key given twice is an error
    code = main(["run", "-m", *quick, "trainer.epochs=1", "adapter=lora", "adapter.rank=1000,4", f"results_dir={tmp_path}"])
    err = capsys.readouterr().err
    assert code == 1
    assert "1 failed, 1 ok of 2 jobs" in err and "adapter.rank=1000 is larger than the width" in err
    df = read_all_csv(tmp_path / "all.csv")
    assert sorted(df["status"]) == ["failed", "ok"]
    failed = df[df["status"] == "failed"].iloc[0]
    assert failed["error"].startswith("adapter.rank=1000 is larger than the width")
