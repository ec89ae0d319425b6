"""Progress (issue 15): a bar on a terminal, plain step lines elsewhere, and neither changes a number."""

from __future__ import annotations

import copy

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from frozen_bench import progress as P
from frozen_bench.config import conf_dir
from frozen_bench.train import train

QUICK = ["trainer.epochs=2", "dataset.subset=160", "trainer.latency_reps=1", "trainer.device=cpu"]


def config(*overrides: str) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def untimed(d: dict) -> dict:
    return {k: v for k, v in d.items() if "seconds" not in k and "latency" not in k}


def test_lines_every_tenth_of_the_steps(monkeypatch):
    monkeypatch.setenv(P.ENV, "lines")
    lines: list[str] = []
    p = P.Progress(100, log=lines.append)
    for s in range(1, 101):
        p.update(s, 0.5, 1)
    p.close()
    assert len(lines) == 9 and lines[0].startswith("[frozen-bench] step 10/100 (10%) loss=0.5")
    assert all("steps/s, eta" in ln for ln in lines)


def test_bar_on_a_terminal_and_lines_write_through_it(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    monkeypatch.setenv(P.ENV, "bar")
    lines: list[str] = []
    p = P.Progress(20, log=lines.append)
    assert p.kind == "bar"
    for s in range(1, 21):
        p.update(s, 1.0, 1)
        if s == 10:
            p.write(lines.append, "[frozen-bench] epoch 1/2")
    p.close()
    assert lines == ["[frozen-bench] epoch 1/2"]  # the bar's own output goes to stderr only
    assert "step" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["bar", "lines"])
def test_progress_changes_no_number(monkeypatch, mode):
    cfg = config(*QUICK)
    monkeypatch.setenv(P.ENV, "off")
    ref = train(copy.deepcopy(cfg), None, log=lambda *_: None)
    monkeypatch.setenv(P.ENV, mode)
    logs: list[str] = []
    out = train(copy.deepcopy(cfg), None, log=logs.append)
    assert untimed(out["metrics"]) == untimed(ref["metrics"])
    assert [untimed(r) for r in out["history"]] == [untimed(r) for r in ref["history"]]
    assert any(ln.startswith("[frozen-bench] evaluating the test set") and "timing latency" in ln for ln in logs)
    assert any(ln.startswith("[frozen-bench] epoch 2/2") for ln in logs)
    if mode == "lines":
        assert any(ln.startswith("[frozen-bench] step ") for ln in logs)


def test_say_logs_where_logging_is_configured_and_prints_otherwise(monkeypatch, capsys, caplog):
    with caplog.at_level("INFO", logger="frozen_bench"):
        P.say("[frozen-bench] through logging")
    assert [r.getMessage() for r in caplog.records] == ["[frozen-bench] through logging"]
    monkeypatch.setattr(P.logger, "propagate", False)  # no handler anywhere: print
    P.say("[frozen-bench] printed")
    assert "[frozen-bench] printed" in capsys.readouterr().out
