"""Real processes killed for real: SIGKILL of a parallel (joblib, 2 workers) sweep, Ctrl-C of a run.

Each test starts ``python -m frozen_bench run`` from this tree in its own session, so a kill of
the group reaches the joblib workers too, as on a cluster when a job is cancelled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from frozen_bench.record.table import read_all_csv

ROOT = Path(__file__).resolve().parents[1]


def start(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "frozen_bench", "run", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_sigint, **kw)


def _default_sigint():
    # a suite started in the background by a non-interactive shell inherits SIGINT ignored, and
    # Python then installs no KeyboardInterrupt handler: give the child the default a user has
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process ended (rc={proc.returncode}) before the kill point:\n{out[-2000:]}\n{err[-2000:]}")
        if time.monotonic() - t0 > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("timed out waiting for the kill point")
        time.sleep(0.05)


def test_sigkill_mid_sweep_then_rerun_gives_each_run_once_ok(tmp_path):
    rd = tmp_path / "results"
    sweep = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "trainer.threads=1",
             "trainer.epochs=3", "dataset.subset=300", "trainer.latency_reps=1", "trainer.checkpoint_every=3",
             "seed=0,1,2", f"results_dir={rd}"]
    proc = start(sweep)
    wait_for(lambda: any((rd / "runs").glob("*/metrics.json")), proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole sweep, workers included, mid-training
    proc.communicate()
    finished = list((rd / "runs").glob("*/metrics.json"))
    assert 1 <= len(finished) < 3, "the kill came too late to test anything"
    had_checkpoint = any((rd / "runs").glob("*/checkpoint.pt"))
    for f in finished:  # whatever survived a SIGKILL is a complete record
        assert json.loads(f.read_text())["status"] == "ok"
    # damage left for collect: a corrupt record and a partial one (config only)
    (rd / "runs" / "badbadbadbad").mkdir()
    (rd / "runs" / "badbadbadbad" / "metrics.json").write_text('{"status": "o')
    (rd / "runs" / "halfhalfhalf").mkdir()
    (rd / "runs" / "halfhalfhalf" / "config.yaml").write_text("seed: 9\n")

    again = start(sweep)
    out, err = again.communicate(timeout=240)
    assert again.returncode == 0, err[-3000:]
    assert out.count("[frozen-bench] skip ") == len(finished)  # finished ones were not redone
    assert f"{3 - len(finished)} ok, {len(finished)} skipped of 3 jobs" in err  # the sweep summary
    if had_checkpoint:  # a run killed after a checkpoint continues from it
        assert "resumed from" in out
    assert "skipped corrupt record" in out and "badbadbadbad" in out  # reported, not fatal
    # all.csv as left by the parallel workers: whole, every run exactly once, all ok
    df = read_all_csv(rd / "all.csv")
    assert len(df) == 3 and df["signature"].is_unique and set(df["status"]) == {"ok"}
    assert sorted(df["seed"]) == [0, 1, 2]
    assert df["test_accuracy"].notna().all()
    assert not list((rd / "runs").glob("*/checkpoint.pt")), "finished runs keep no checkpoint"
    assert not [p for p in (rd / "runs").rglob(".*.tmp")], "no half-written file is left behind"


def test_ctrl_c_marks_run_failed_interrupted_and_keeps_others(tmp_path):
    rd = tmp_path / "results"
    other = rd / "runs" / "0123456789ab"
    other.mkdir(parents=True)
    (other / "metrics.json").write_text('{"status": "ok", "dataset": "digits", "model": "m", "seed": 0}\n')
    # long enough (it is killed anyway) that a loaded machine cannot finish it between checkpoint and kill
    proc = start(["trainer.epochs=5000", "dataset.subset=300", "trainer.checkpoint_every=5",
                  f"results_dir={rd}"])
    wait_for(lambda: any((rd / "runs").glob("*/checkpoint.pt")), proc)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "interrupted" in err
    recs = {p.parent.name: json.loads(p.read_text()) for p in (rd / "runs").glob("*/metrics.json")}
    assert recs.pop("0123456789ab") == {"status": "ok", "dataset": "digits", "model": "m", "seed": 0}
    (sig, rec), = recs.items()
    assert rec["status"] == "failed" and rec["error"] == "interrupted"
    assert (rd / "runs" / sig / "checkpoint.pt").exists()  # the next run resumes from here
    df = read_all_csv(rd / "all.csv")
    assert set(df["status"]) == {"ok", "failed"} and len(df) == 2
