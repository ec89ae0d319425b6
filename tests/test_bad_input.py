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
    # near misses: the word the user probably meant, in the line
    pytest.param(["run", *QUICK, "transform=whtt", "results_dir={rd}"],
                 ["unknown transform option 'whtt'", "did you mean transform=wht?", "choose one of dct"], id="near-miss-option"),
    pytest.param(["run", "-m", *QUICK, "transform=wht,dtc", "results_dir={rd}"],
                 ["unknown transform option 'dtc'", "did you mean transform=wht,dct?"], id="near-miss-sweep-option"),
    pytest.param(["run", *QUICK, "+sweep=transform", "results_dir={rd}"],
                 ["did you mean +sweep=transforms?"], id="near-miss-appended-option"),
    pytest.param(["run", *QUICK, "transfrom=dct", "results_dir={rd}"],
                 ["'transfrom'", "did you mean transform=dct?"], id="near-miss-group"),
    pytest.param(["run", *QUICK, "sed=1", "results_dir={rd}"], ["'sed'", "did you mean seed=1?"], id="near-miss-top-key"),
    pytest.param(["run", *QUICK, "famliy=linear", "results_dir={rd}"], ["did you mean +family=linear?"],
                 id="near-miss-appended-group"),
    pytest.param(["run", *QUICK, "+famliy=linear", "results_dir={rd}"],  # composes (adds a key), trains nothing
                 ["+famliy adds a key", "did you mean +family=linear?"], id="near-miss-added-group"),
    pytest.param(["run", *QUICK, "hydra/launcher=jobib", "results_dir={rd}"],
                 ["unknown hydra/launcher option 'jobib'", "did you mean hydra/launcher=joblib?", "basic"],
                 id="near-miss-hydra-group-option"),
    pytest.param(["colect"], ["unknown command 'colect'", "did you mean collect?"], id="near-miss-command"),
    pytest.param(["run", "-m", *QUICK, "adapter=lora", "adapter.rank=2,-1", "results_dir={rd}"],
                 ["adapter.rank must be an integer >= 0, got -1", "adapter.rank=-1", "no job of this sweep was started"],
                 id="sweep-bad-point"),
    pytest.param(["run", "-m", *QUICK, "seed=0,1", "trainer.device=cuda", "results_dir={rd}"],
                 ["no CUDA device", "no job of this sweep was started"], id="sweep-cuda-without-gpu", marks=NO_GPU),
    pytest.param(["run", "-m", *QUICK[1:], "+sweep=transforms", "trainer.epochs=0", "results_dir={rd}"],  # epochs once: a key given twice is its own error
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


# an option the chosen groups do not read: one warning line (not an error), the run goes on
NO_EFFECT = [
    pytest.param(["model=dense_mlp", "transform=dct"],
                 ["warning: transform=dct has no effect", "model=dense_mlp reads no transform", "drop it", "frozen_mlp"],
                 id="transform-with-dense-mlp"),
    pytest.param(["adapter.rank=8"], ["warning: adapter.rank=8 has no effect with adapter=none", "adapter=lora"],
                 id="rank-without-adapter"),
    pytest.param(["model=trained_cnn", "transform=fft", "adapter=lora"],
                 ["transform=fft adapter=lora have no effect", "model=trained_cnn reads no transform/adapter (only activation)"],
                 id="two-groups-one-line"),
    pytest.param(["model=frozen_mlp", "transform=dct", "adapter=lora", "adapter.rank=4"], [], id="all-read"),
    pytest.param(["model=dense_mlp", "adapter=none"], [], id="no-adapter-agrees-with-any-model"),
]


@pytest.mark.parametrize("words, expect", NO_EFFECT)
def test_an_option_without_effect_is_one_warning_line(words, expect, capsys):
    assert main(["run", "--cfg", "job", *words]) == 0  # composes and prints; a warning never stops a run
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == (1 if expect else 0), err
    for want in expect:
        assert want in lines[0], lines[0]


def test_a_sweep_warns_only_about_what_no_point_reads():
    from frozen_bench.config import component_words
    from frozen_bench.launch.command import no_effect, validate_sweep

    def warnings(*argv):
        return no_effect(component_words(list(argv)), validate_sweep(list(argv), keep=True))

    assert warnings("-m", "model=dense_mlp,linear", "transform=dct,fft") == [
        "transform=dct,fft has no effect: model=dense_mlp,linear reads no transform; drop it, "
        "or choose a model that reads transform (frozen_audio, frozen_audio_cnn, frozen_cnn, frozen_mlp, frozen_transformer)"]
    assert warnings("-m", "model=dense_mlp,frozen_mlp", "transform=dct") == []  # frozen_mlp reads it
    assert warnings("-m", "adapter=none,lora", "adapter.rank=2") == []  # the lora points read it
