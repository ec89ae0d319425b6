"""Bad input everywhere (issue 15): each case is one line on stderr naming the problem and the fix,
exit 2, and nothing written; a sweep checks every point before its first job."""

from __future__ import annotations


import pytest
import torch

from frozen_bench.cli import main
from tests.data_fixtures import snapshot

QUICK = ["trainer.epochs=1", "dataset.subset=64", "trainer.latency_reps=1"]
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present here")




CASES = [
    # (argv with {rd} for the results folder and {tmp} for a scratch folder, what the line must say)
    pytest.param(["figures", "--csv", "{tmp}/missing.csv", "--out", "{tmp}/figs"],
                 ["frozen-bench figures: error:", "missing.csv not found", "frozen-bench collect"], id="figures-missing-csv"),
    pytest.param(["run", *QUICK, "trainer.device=cuda", "results_dir={rd}"],
                 ["no CUDA device", "trainer.device=cpu"], id="cuda-without-gpu", marks=NO_GPU),
    pytest.param(["run", *QUICK, "transform=wht,dct", "results_dir={rd}"],
                 ["transform=wht,dct", "add -m", "frozen-bench run -m transform=wht,dct"], id="sweep-without-m"),
    pytest.param(["run", *QUICK, "trainer.epoch=3", "results_dir={rd}"],
                 ["trainer.epoch", "did you mean trainer.epochs=3"], id="near-miss-key"),
    pytest.param(["run", *QUICK, "+trainer.epoch=3", "results_dir={rd}"],
                 ["+trainer.epoch", "did you mean trainer.epochs=3"], id="near-miss-added-key"),
    pytest.param(["run", "-m", *QUICK, "adapter=lora", "adapter.rank=2,-1", "results_dir={rd}"],
                 ["adapter.rank must be an integer >= 0, got -1", "adapter.rank=-1", "no job of this sweep was started"],
                 id="sweep-bad-point"),
    pytest.param(["run", "-m", *QUICK, "seed=0,1", "trainer.device=cuda", "results_dir={rd}"],
                 ["no CUDA device", "no job of this sweep was started"], id="sweep-cuda-without-gpu", marks=NO_GPU),
    pytest.param(["run", "-m", *QUICK, "+sweep=transforms", "trainer.epochs=0", "results_dir={rd}"],
                 ["trainer.epochs must be an integer >= 1, got 0", "no job of this sweep was started"],
                 id="sweep-config-points"),
]


@pytest.mark.parametrize("argv, expect", CASES)
def test_bad_input_is_one_line_exit_2_nothing_written(argv, expect, results, tmp_path, capsys, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(scratch)  # Hydra's own folders (outputs/, multirun/) would land here
    argv = [a.format(rd=results, tmp=scratch) for a in argv]
    before = snapshot(results)
    code = main(argv)
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert "Traceback" not in err and len(lines) == 1, err
    for want in expect:
        assert want in lines[0], lines[0]
    assert snapshot(results) == before, "bad input changed the results folder"
    assert not any(scratch.iterdir()), "bad input wrote files"
    assert "[frozen-bench] epoch" not in out  # no job trained


def test_a_good_sweep_still_runs_after_the_checks(results, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-m", *QUICK, "seed=0,1", f"results_dir={results}"]) == 0
    assert len(list((results / "runs").glob("*/metrics.json"))) == 3
