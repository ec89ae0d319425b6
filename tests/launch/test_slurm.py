"""A sweep on a real (single-node) SLURM cluster with hydra/launcher=submitit_slurm: one job is
cancelled with scancel mid-run, the sweep is run again, and every run ends up recorded exactly once,
ok, with the right summary and no sacct noise (the cluster keeps no accounting). Needs root and
the Debian packages slurm-wlm and munge (`.ci/run` installs them); skips otherwise.
scripts/slurm_local.sh starts the cluster, or reuses the one it started before."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "slurm_local.sh"
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel")


def why_not() -> str | None:
    if os.geteuid() != 0:
        return "a local SLURM cluster needs root (slurmctld and slurmd as root)"
    missing = [b for b in BINARIES if not shutil.which(b) and not os.path.exists(f"/usr/sbin/{b}")]
    if missing:
        return f"SLURM not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge"
    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
        return "hydra-submitit-launcher not installed (pip install 'frozen-bench[launchers]')"
    return None


@pytest.fixture(scope="module")
def slurm_conf():
    """SLURM_CONF of a running single-node cluster; stopped afterwards if this fixture started it."""
    reason = why_not()
    if reason:
        pytest.skip(reason)
    p = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=120)
    if p.returncode:
        pytest.skip(f"could not start a local SLURM cluster: {p.stderr.strip()[-400:]}")
    conf = p.stdout.strip().splitlines()[-1].split("=", 1)[1]
    yield conf
    if "started" in p.stderr:
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, timeout=60)


def queue(env, name):
    """[(job id, state)] of this test's jobs; asked again while squeue fails (a busy controller)."""
    for _ in range(20):
        p = subprocess.run(["squeue", "--noheader", f"--name={name}", "--format=%i %T"], env=env, capture_output=True,
                           text=True, timeout=30)
        if p.returncode == 0:
            return [ln.split() for ln in p.stdout.splitlines() if ln.strip()]
        time.sleep(0.5)
    raise AssertionError(f"squeue keeps failing: {p.stderr.strip()}")


def records(res):
    return [json.loads(p.read_text()) for p in sorted((res / "runs").glob("*/metrics.json"))]


def test_a_slurm_sweep_survives_a_cancelled_job_and_resumes(slurm_conf, tmp_path):
    res = tmp_path / "results"
    name = f"fbtest-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "SLURM_CONF": slurm_conf, "PYTHONPATH": str(ROOT), "FROZEN_BENCH_PROGRESS": "lines"}
    cmd = [sys.executable, "-m", "frozen_bench", "run", "-m", "hydra/launcher=submitit_slurm",
           "hydra.launcher.partition=debug", "hydra.launcher.timeout_min=5", "hydra.launcher.cpus_per_task=1",
           f"hydra.launcher.name={name}", "seed=0,1,2", f"results_dir={res}", "trainer.threads=1",
           "trainer.epochs=3", "trainer.latency_reps=2", "dataset.subset=300"]
    first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cancelled, deadline = None, time.time() + 240  # generous: a loaded CI machine imports torch slowly
    while cancelled is None and time.time() < deadline and first.poll() is None:
        running = [jid for jid, state in queue(env, name) if jid.endswith("_0") and state == "RUNNING"]
        if running:
            cancelled = running[0]
            subprocess.run(["scancel", cancelled], env=env, check=True, timeout=30)
        time.sleep(0.2)
    out1, err1 = first.communicate(timeout=300)
    assert cancelled, f"job 0 never ran: {out1[-1500:]}{err1[-1500:]}"
    assert first.returncode != 0, err1[-2000:]  # a job without a result: the sweep says so
    while queue(env, name) and time.time() < deadline + 60:  # its siblings finish on the cluster
        time.sleep(0.5)
    assert sorted(r["seed"] for r in records(res) if r["status"] == "ok") == [1, 2], "job 0 finished before scancel"

    second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    recs = records(res)
    assert sorted(r["seed"] for r in recs) == [0, 1, 2] and all(r["status"] == "ok" for r in recs)
    assert len({r["signature"] for r in recs}) == 3 == len(list((res / "runs").iterdir()))
    csv = (res / "all.csv").read_text().splitlines()
    assert len(csv) == 4, csv  # header + one row per run
    # the first sweep counted the cancelled job, named its state and the fix, without a traceback
    assert "[frozen-bench] sweep: 1 failed, 2 ok of 3 jobs" in err1, err1[-2000:]
    assert "CANCELLED without a result" in err1 and "re-run the sweep" in err1 and "Traceback" not in err1, err1[-2000:]
    head = "[frozen-bench] sweep: 1 ok, 2 skipped of 3 jobs"  # job 0 ran again; 1 and 2 were done
    assert head in second.stderr, second.stderr[-2000:]
    table = second.stderr[second.stderr.index(head):].splitlines()[2:5]
    assert [ln.split()[1:3] for ln in table] == [["0", "ok"], ["1", "skipped"], ["2", "skipped"]], second.stderr
    for log in (out1 + err1, second.stdout + second.stderr):  # no sacct noise without accounting
        assert "sacct" not in log and "accounting storage is disabled" not in log, log[-2000:]


def test_the_watcher_reads_squeue_when_sacct_fails(monkeypatch):
    """No cluster needed: sacct failing (no accounting) switches the watcher to squeue, quietly."""
    pytest.importorskip("submitit")
    from frozen_bench.launch import slurm

    calls = []

    def fake(command):
        calls.append(command[0])
        if command[0] == "sacct":
            return subprocess.CompletedProcess(command, 1, b"", b"Slurm accounting storage is disabled")
        return subprocess.CompletedProcess(command, 0, b"7_0|CANCELLED|vm\n7_1|RUNNING|vm\n7_[2-3%256]|PENDING|\n", b"")

    monkeypatch.setattr(slurm, "_quiet", fake)
    w = slurm._watcher_class()(delay_s=60)
    for j in ("7_0", "7_1", "7_2"):
        w.register_job(j)
    w.update()
    assert calls == ["sacct", "squeue"] and w.source == "squeue"
    assert [w.get_state(j, mode="cache") for j in ("7_0", "7_1", "7_2")] == ["CANCELLED", "RUNNING", "PENDING"]
    assert w.is_done("7_0", mode="cache") and not w.is_done("7_1", mode="cache")


def test_a_job_lost_without_a_result_becomes_a_failed_note_not_a_traceback(tmp_path, monkeypatch):
    """No cluster needed: submitit's UncompletedJobError for one job is that job's failed outcome."""
    pytest.importorskip("submitit")
    from types import SimpleNamespace

    from submitit.core import core, utils

    from frozen_bench.launch import slurm
    from frozen_bench.launch.sweep import read_notes, summarize
    from frozen_bench.run import JOB_NOTE

    launcher = SimpleNamespace(config=SimpleNamespace(hydra=SimpleNamespace(sweep=SimpleNamespace(dir=str(tmp_path)))))
    job = SimpleNamespace(job_id="42_1", state="CANCELLED",
                          submission=lambda: SimpleNamespace(args=(["seed=1"], "hydra.sweep.dir", 1, "x", {}), function=launcher))

    def lose(self):
        raise utils.UncompletedJobError("no result")

    monkeypatch.setattr(core.Job, "results", lose)
    slurm._keep_sweeping_past_lost_jobs()
    [ret] = core.Job.results(job)
    assert ret.overrides == ["seed=1"] and ret.return_value != ret.return_value  # NaN: no value to optimize
    [note] = read_notes(tmp_path)
    assert (tmp_path / "1" / JOB_NOTE).exists() and note["status"] == "failed" and note["job"] == 1
    assert "SLURM job 42_1 ended CANCELLED without a result" in note["error"]
    assert summarize([note, {"status": "ok", "job": 0, "label": "seed=0"}]) == 1
