"""``frozen-bench run-lines``: a stage's run lines in long-lived workers give the very records that
one ``frozen-bench run`` process per line gives, whatever a worker ran before."""

import io
import json
import sys

from frozen_bench.cli import main

TINY = "+exp=digits_wht trainer.epochs=1 trainer.latency_reps=0"


def run_cli(monkeypatch, *args, stdin=None):
    monkeypatch.setattr(sys, "argv", ["frozen-bench", *args])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(list(args))


def record(res, sig):
    return json.loads((res / "runs" / sig / "metrics.json").read_text())


def computed(m):
    """The numbers a run computed (not when, where or how long)."""
    return {k: m[k] for k in ("signature", "test_accuracy", "val_accuracy", "train_loss_final", "steps", "trainable_params")}


def test_lines_in_one_worker_match_their_own_processes(tmp_path, monkeypatch, capfd):
    alone, batch = tmp_path / "alone", tmp_path / "batch"
    second = f"{TINY} transform=dct activation=pwl3 seed=3"
    assert run_cli(monkeypatch, "run", *second.split(), f"results_dir={alone}") == 0
    # one worker: the second line runs in the process that trained the first (other model, seed)
    lines = [f"{TINY} seed=1 results_dir={batch}", f"{second} results_dir={batch}"]
    capfd.readouterr()
    assert run_cli(monkeypatch, "run-lines", "-j", "1", stdin="\n".join(lines) + "\n") == 0
    err = capfd.readouterr().err
    assert "run-lines: 2 of 2 runs have no finished record; 1 worker(s)" in err and "run-lines: ok 2 of 2" in err
    sig = json.loads(next((alone / "runs").glob("*/metrics.json")).read_text())["signature"]
    mine = record(batch, sig)
    assert computed(mine) == computed(record(alone, sig))
    # the record names the line, as `frozen-bench run LINE` would
    assert mine["command"] == f"frozen-bench run {second} results_dir={batch}"
    assert mine["overrides"] == f"{second} results_dir={batch}"
    # all.csv is written once, at the end, with both runs
    import pandas as pd

    assert sorted(pd.read_csv(batch / "all.csv").signature) == sorted(p.name for p in (batch / "runs").iterdir())


def test_finished_lines_are_skipped_and_a_bad_line_does_not_stop_the_others(tmp_path, monkeypatch, capfd):
    res = tmp_path / "results"
    done = f"{TINY} seed=0 results_dir={res}"
    assert run_cli(monkeypatch, "run", *done.split()) == 0
    lines = [done, f"{TINY} seed=1 results_dir={res}", f"{TINY} activation=nope results_dir={res}"]
    capfd.readouterr()
    code = run_cli(monkeypatch, "run-lines", "-j", "2", stdin="\n".join(lines) + "\n")
    err = capfd.readouterr().err
    assert code == 2  # the one failure was bad input
    assert "run-lines: 2 of 3 runs have no finished record; 2 worker(s)" in err
    assert "unknown activation option 'nope'" in err and "failed input lines: 3" in err
    assert "[line 3] frozen-bench run-lines: error:" in err and "run-lines: 2 of 2 done (1 failed)" in err
    assert len([p for p in (res / "runs").iterdir() if (p / "metrics.json").exists()]) == 2


def test_nothing_to_do_starts_no_worker(tmp_path, monkeypatch, capfd):
    assert run_cli(monkeypatch, "run-lines", "-j", "2", stdin="\n\n") == 0
    assert "run-lines: 0 of 0 runs have no finished record" in capfd.readouterr().err


def test_a_row_of_all_csv_is_a_finished_record_without_its_run_folder(tmp_path, monkeypatch, capfd):
    # a fresh clone holds the paper's all.csv but not its run folders: resuming must not retrain
    import pandas as pd

    from frozen_bench.launch.pending import pending

    res = tmp_path / "results"
    line = f"{TINY} seed=0 results_dir={res}"
    assert run_cli(monkeypatch, "run", *line.split()) == 0
    assert run_cli(monkeypatch, "collect", "--results-dir", str(res)) == 0
    (res / "runs").rename(tmp_path / "runs_elsewhere")
    assert pending([line]) == ([], 1)
    assert pending([f"{line} force=true"]) == ([f"{line} force=true"], 1)  # force re-runs it
    assert pending([f"{TINY} seed=1 results_dir={res}"])[0]  # another seed is not that row
    df = pd.read_csv(res / "all.csv")
    df["status"] = "failed"  # a crashed run is not finished
    df.to_csv(res / "all.csv", index=False)
    assert pending([line]) == ([line], 1)


def test_run_and_a_sweep_skip_a_row_of_all_csv_without_its_run_folder(tmp_path, monkeypatch, capfd):
    # `frozen-bench run` and Hydra multirun skip what run-lines skips: a finished row of all.csv
    import pandas as pd

    res = tmp_path / "results"
    words = [*TINY.split(), "seed=0", f"results_dir={res}"]
    assert run_cli(monkeypatch, "run", *words) == 0
    sig = next((res / "runs").iterdir()).name
    acc = record(res, sig)["test_accuracy"]
    (res / "runs").rename(tmp_path / "runs_elsewhere")
    capfd.readouterr()
    assert run_cli(monkeypatch, "run", *words) == 0
    err = "".join(capfd.readouterr())
    assert f"skip {sig}: finished row of {res / 'all.csv'}" in err
    assert not (res / "runs" / sig).exists()  # nothing trained
    # a sweep over seeds 0 and 1 trains seed 1 alone; its summary reads seed 0's numbers from the row
    sweep = ["run", "-m", *TINY.split(), "seed=0,1", f"results_dir={res}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    assert run_cli(monkeypatch, *sweep) == 0
    err = "".join(capfd.readouterr())
    assert f"skip {sig}: finished row" in err and not (res / "runs" / sig).exists()
    assert f"{100 * acc:.2f}" in err
    assert len([p for p in (res / "runs").iterdir() if (p / "metrics.json").exists()]) == 1
    assert len(pd.read_csv(res / "all.csv")) == 2  # the row without its folder stays listed
    # force=true trains it again
    assert run_cli(monkeypatch, "run", *words, "force=true") == 0
    assert record(res, sig)["test_accuracy"] == acc
