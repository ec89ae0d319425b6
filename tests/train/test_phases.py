"""A run is a list of phases: one fit for a plain run, one per target for a distribution shift."""

import copy

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from frozen_bench.config import conf_dir
from frozen_bench.train import train
from frozen_bench.train.phases import plan, sequence

torch.set_num_threads(1)


def config(*overrides: str) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def test_a_plain_run_is_one_phase_of_its_own_config():
    cfg = config("trainer.epochs=1")
    (phase,) = plan(cfg)
    assert phase.cfg is cfg and phase.tags == {}


def test_shift_phases_follow_the_targets():
    assert sequence({"pair": "step"}) == ["step", "step_shift"] * 4
    assert sequence({"functions": ["sin", "lin"], "cycles": 2}) == ["sin", "lin", "sin", "lin"]
    with pytest.raises(ValueError, match="unknown shift.pair"):
        sequence({"pair": "nope"})
    cfg = config("+exp=fn_shift", "shift.pair=inv", "shift.first_epochs=7", "trainer.epochs=3")
    before = copy.deepcopy(cfg)
    phases = plan(cfg)
    assert [p.tags for p in phases] == [{"phase": 0, "function": "inv"}, {"phase": 1, "function": "inv_shift"}]
    assert [p.cfg["trainer"]["epochs"] for p in phases] == [7, 3]
    assert [p.cfg["dataset"]["function"] for p in phases] == ["inv", "inv_shift"]
    assert cfg == before  # each phase has its own copy


def test_a_shift_run_records_every_phase_and_the_common_fields():
    cfg = config("+exp=fn_shift", "shift.pair=exp", "trainer.epochs=2", "trainer.eval_every=1",
                 "trainer.latency_reps=2", "trainer.device=cpu")
    out = train(copy.deepcopy(cfg), log=lambda *_: None)
    m, hist = out["metrics"], out["history"]
    assert [r["phase"] for r in hist] == [0, 0, 1, 1] and [r["function"] for r in hist] == ["exp", "exp", "exp_neg", "exp_neg"]
    steps = [r["step"] for r in hist]
    assert steps == sorted(steps) and steps[-1] == m["steps"]  # one step count over all phases
    assert m["status"] == "ok" and m["dataset"] == "synthetic_fn_shift_exp" and m["shift_phases"] == 2
    assert m["test_mse"] == m["phase1_mse_after"] and m["shift_mse_after"] == m["phase1_mse_after"]
    assert m["function"] == "exp_neg"  # the model's own numbers describe the last target
    for key in ("trainable_params", "total_params", "model_bytes", "train_loss_final", "val_mse", "latency_ms_b1_p50"):
        assert m[key] is not None, key
    assert out["data"].name == "synthetic_fn_exp_neg"


def test_a_diverged_phase_stops_the_run_at_its_global_step():
    cfg = config("+exp=fn_shift", "shift.pair=exp", "trainer.epochs=2", "optim.lr=1e8", "optim.warmup_frac=0",
                 "activation=bislope", "trainer.device=cpu")
    m = train(copy.deepcopy(cfg), log=lambda *_: None)["metrics"]
    assert m["status"] == "diverged" and m["diverged_step"] == m["steps"]
    assert "phase0_mse_after" in m and "test_mse" not in m
