"""The rest of the bad-input table (issue 26, point 5): each case is one line naming the problem
and the fix, exit 2, and nothing written (docs/bad_input.md lists every case with its test)."""

from __future__ import annotations

import io
import sys

import pytest

from frozen_bench.cli import main
from tests.data_fixtures import snapshot

QUICK = ["trainer.epochs=1", "trainer.latency_reps=0"]


def one_line(code: int, err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and "Traceback" not in err and len(lines) == 1, err
    return lines[0]


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    d = tmp_path / "scratch"
    d.mkdir()
    monkeypatch.chdir(d)  # Hydra's own folders would land here
    return d


@pytest.mark.parametrize("argv, expect", [
    (["run", *QUICK, "foo"], ["'foo' is not an override", "key=value"]),
    (["run", *QUICK, "digits_wht"], ["did you mean +exp=digits_wht?"]),
    (["run", *QUICK, "seed=1", "seed=2"], ["seed is given twice (seed=1 and seed=2)", "give it once"]),
    (["run", "-m", *QUICK, "seed=0,1", "trainer.epochs=2"], ["trainer.epochs is given twice"]),
    (["run", *QUICK, "trainer.batch_size=5000"], ["trainer.batch_size=5000 exceeds the 1294 training samples",
                                                  "trainer.batch_size<=1294"]),
], ids=["stray-word", "stray-word-near-miss", "repeated-key", "repeated-key-sweep", "batch-larger-than-data"])
def test_run_words(argv, expect, results, scratch, capsys):
    before = snapshot(results)
    code = main([*argv, f"results_dir={results}"])
    line = one_line(code, capsys.readouterr().err)
    for want in expect:
        assert want in line, line
    assert snapshot(results) == before and not any(scratch.iterdir())


def test_the_same_value_twice_is_no_error(results, scratch, capsys):
    """A script joining two override lists (fair.sh: dataset=digits in both) repeats a value, harmlessly."""
    assert main(["run", "--cfg", "job", "dataset=digits", "dataset=digits", f"results_dir={results}"]) == 0


def test_a_sweep_into_an_unwritable_results_folder(results, tmp_path, scratch, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code = main(["run", "-m", *QUICK, "seed=0,1", f"results_dir={blocker / 'results'}"])
    line = one_line(code, capsys.readouterr().err)
    assert "is not writable" in line and "no job of this sweep was started" in line
    assert blocker.read_text() == "x" and not any(scratch.iterdir())


def lines(monkeypatch, text):
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


@pytest.mark.parametrize("line, expect", [
    ("hello", "'hello' is not an override"),  # composed the default config: counted as "finished"
    ("seed=1 stray", "'stray' is not an override"),  # the stray word was dropped
    ("seed=1 'unbalanced", "close its quotes"),
    ("seed=1 seed=2", "seed is given twice"),
])
def test_pending_names_a_line_that_is_no_run_line(line, expect, results, scratch, capsys, monkeypatch):
    """A bad line is an error naming its number, never "finished" or silently changed."""
    main(["run", *QUICK, f"results_dir={results}"])  # the default config has a finished record now
    capsys.readouterr()
    before = snapshot(results)
    lines(monkeypatch, f"{line} results_dir={results}\n")
    err = one_line(main(["pending"]), capsys.readouterr().err)
    assert "line 1" in err and expect in err
    assert snapshot(results) == before


def test_run_lines_names_the_bad_line_runs_the_others_and_refreshes_all_csv(results, scratch, capsys, monkeypatch):
    import pandas as pd

    before = len(pd.read_csv(results / "all.csv"))
    lines(monkeypatch, f"seed=1 {' '.join(QUICK)} results_dir={results}\n"
                       f"seed=2 'unbalanced results_dir={results}\n")
    code = main(["run-lines", "-j", "1"])
    err = capsys.readouterr().err
    assert code == 2
    bad = [ln for ln in err.splitlines() if "error" in ln]
    assert len(bad) == 1 and bad[0].startswith("[line 2]") and "close its quotes" in bad[0], err
    assert len(pd.read_csv(results / "all.csv")) == before + 1  # line 1 ran, and all.csv lists it


def test_export_out_under_a_file_or_in_proc_and_a_read_only_run_folder(tmp_path, capsys):
    from frozen_bench.run import execute
    from tests.predict.test_predict import config

    m = execute(config(*QUICK, "trainer.save_model=true", f"results_dir={tmp_path / 'r'}"), log=lambda *_: None)
    run = tmp_path / "r" / "runs" / m["signature"]
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    (run / "export").write_text("a file where the export folder goes, as a read-only run folder refuses it")
    before = snapshot(run)
    for argv, want in ((["--out", str(blocker / "exp")], "choose a writable folder with --out DIR"),
                       (["--out", "/proc/frozen-bench-export"], "choose a writable folder with --out DIR"),
                       ([], f"the run folder {run} is not writable: give --out DIR")):
        code = main(["export", str(run), "--format", "torchscript", *argv])
        line = one_line(code, capsys.readouterr().err)
        assert "cannot write the export into" in line and want in line, line
    assert snapshot(run) == before and blocker.read_text() == "x"


def test_figures_from_ad_hoc_runs(results, tmp_path, capsys):
    """Rows of no paper sweep: it drew 0 files and exited 0."""
    code = main(["figures", "--csv", str(results / "all.csv"), "--out", str(tmp_path / "figs")])
    line = one_line(code, capsys.readouterr().err)
    assert "no figure can be drawn" in line and "frozen-bench summary" in line
    assert not (tmp_path / "figs").exists() and not (results / "tables.md").exists()


def test_a_corrupt_image_is_named_without_python_object_addresses(tmp_path, results, scratch, capsys):
    from tests.data_fixtures import write_imagefolder

    tree = write_imagefolder(tmp_path / "imgs", per_class={"train": 12, "test": 2})
    (tree / "train" / "cat" / "0003.png").write_bytes(b"\x89PNG but not really")
    code = main(["run", *QUICK, "dataset=imagefolder", f"dataset.path={tree}", f"dataset.root={tmp_path / 'cache'}",
                 "trainer.batch_size=8", f"results_dir={results}"])
    line = one_line(code, capsys.readouterr().err)
    assert "0003.png" in line and "not an image file" in line and "0x" not in line
