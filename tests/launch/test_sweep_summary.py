"""The end of a sweep (issue 15, item 1): one table of its jobs' key metrics read from the run
records, and the per-job ``collect: N runs ...`` lines at debug level during a multirun only."""

import json
import sys

from frozen_bench import progress
from frozen_bench.cli import main
from frozen_bench.launch.sweep import jobs_table, summarize

TINY = ["trainer.epochs=1", "trainer.latency_reps=0"]


def run_cli(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["frozen-bench", *args])
    return main(list(args))


def test_jobs_table_reads_the_records(tmp_path, capsys):
    for sig, m in {"aaaaaaaaaaaa": {"status": "ok", "test_accuracy": 0.9123, "val_accuracy": 0.9, "trainable_params": 1290},
                   "bbbbbbbbbbbb": {"status": "ok", "val_accuracy": 0.5, "trainable_params": 12345}}.items():
        (tmp_path / "runs" / sig).mkdir(parents=True)
        (tmp_path / "runs" / sig / "metrics.json").write_text(json.dumps(m))
    entries = [  # ledger order is completion order; the table is in job order
        {"signature": "bbbbbbbbbbbb", "status": "skipped", "label": "seed=1", "job": 1, "results_dir": str(tmp_path)},
        {"signature": "aaaaaaaaaaaa", "status": "ok", "label": "seed=0", "job": 0, "results_dir": str(tmp_path)},
        {"signature": "cccccccccccc", "status": "failed", "label": "seed=2", "job": 2, "results_dir": str(tmp_path),
         "error": "boom"},
    ]
    lines = jobs_table(entries)
    assert lines[0].split()[1:] == ["job", "status", "test_acc", "val_acc", "trainable", "signature", "overrides"]
    assert lines[1].split()[1:] == ["0", "ok", "91.23%", "90.00%", "1,290", "aaaaaaaaaaaa", "seed=0"]
    assert lines[2].split()[1:] == ["1", "skipped", "-", "50.00%", "12,345", "bbbbbbbbbbbb", "seed=1"]
    assert lines[3].split()[1:] == ["2", "failed", "-", "-", "-", "cccccccccccc", "seed=2"]
    assert summarize(entries) == 1
    err = capsys.readouterr().err
    assert err.startswith("[frozen-bench] sweep: 1 failed, 1 ok, 1 skipped of 3 jobs\n")
    assert "91.23%" in err and "[frozen-bench]   failed cccccccccccc [seed=2]: boom" in err


def test_a_sweep_ends_with_the_table_and_keeps_collect_at_debug(tmp_path, monkeypatch, capsys):
    res = tmp_path / "results"
    debug = []
    monkeypatch.setattr(progress.logger, "debug", debug.append)  # what went to debug level
    assert run_cli(monkeypatch, "run", "-m", "seed=0,1", f"results_dir={res}", *TINY) == 0
    out, err = capsys.readouterr()
    assert "collect:" not in out and "collect:" not in err  # not at INFO
    assert sum(m.startswith("[frozen-bench] collect: ") for m in debug) == 2
    assert out.count("[frozen-bench] ok: ") == 2  # the per-run lines stay as they are
    sigs = sorted(p.name for p in (res / "runs").iterdir())
    assert len(sigs) == 2 and (res / "all.csv").exists()  # all.csv is still refreshed after every job
    table = err[err.index("[frozen-bench] sweep: 2 ok of 2 jobs"):].splitlines()[1:4]
    assert table[0].split()[1:4] == ["job", "status", "test_acc"]
    for job, line in enumerate(table[1:]):
        words = line.split()
        assert words[1:3] == [str(job), "ok"] and words[3].endswith("%") and words[7:] == [f"seed={job}"]  # the shared overrides left out
        assert words[6] in sigs and words[5] == "1,290"
    # a single run still prints its collect line at INFO, and no table
    capsys.readouterr()
    assert run_cli(monkeypatch, "run", f"results_dir={res}", "seed=2", *TINY) == 0
    out, err = capsys.readouterr()
    assert "[frozen-bench] collect: 3 runs -> " in out and "sweep:" not in err


def test_the_summary_comes_from_the_jobs_notes_in_the_sweep_folder(tmp_path, capsys):
    """SweepSummary (a Hydra callback in the launching process) reads what each job wrote into
    its own sweep subdir, so a launcher whose jobs run elsewhere (SLURM) still gets the table;
    a previous sweep's notes in the same folder are cleared when a sweep starts."""
    from omegaconf import OmegaConf

    from frozen_bench.launch.sweep import SweepSummary, read_notes
    from frozen_bench.run import JOB_NOTE

    sweep = tmp_path / ".multirun"
    for job in range(3):
        (sweep / str(job)).mkdir(parents=True)
        (sweep / str(job) / JOB_NOTE).write_text(json.dumps({"signature": f"{job}" * 12, "status": "ok", "job": job}))
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
    cb = SweepSummary()
    cb.on_multirun_start(config)
    assert read_notes(sweep) == []  # stale
    for job, status in ((0, "ok"), (1, "failed")):
        (sweep / str(job) / JOB_NOTE).write_text(json.dumps({"signature": f"{job}" * 12, "status": status, "job": job,
                                                             "label": f"seed={job}", "error": "boom" if job else None}))
    cb.on_multirun_end(config)
    err = capsys.readouterr().err
    assert "[frozen-bench] sweep: 1 failed, 1 ok of 2 jobs" in err and "failed 111111111111 [seed=1]: boom" in err


def test_a_sweep_leaves_one_note_per_job(tmp_path, monkeypatch, capsys):
    res = tmp_path / "results"
    assert run_cli(monkeypatch, "run", "-m", "seed=0,1", f"results_dir={res}", *TINY) == 0
    notes = sorted((res / ".multirun").glob("*/frozen-bench-job.json"))
    assert [json.loads(p.read_text())["job"] for p in notes] == [0, 1]
    assert "[frozen-bench] sweep: 2 ok of 2 jobs" in capsys.readouterr().err
