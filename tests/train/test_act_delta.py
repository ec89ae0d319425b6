"""Sparse PAct deltas (+optim.act_delta_l1=λ): an L1 penalty on θ − θ₀ of every activation, and the
record's fraction of channels that moved (act_channels_moved)."""

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from frozen_bench.config import conf_dir
from frozen_bench.models import prune
from frozen_bench.errors import UserError
from frozen_bench.nn.activations import make_activation
from frozen_bench.record.signature import signature
from frozen_bench.report.companion import parse_moved
from frozen_bench.train import act_delta as AD
from frozen_bench.train import train
from frozen_bench.train.check_config import validate

torch.set_num_threads(1)


def config(*overrides: str) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def test_penalty_is_zero_at_init_and_counts_moved_channels():
    act = torch.nn.Sequential(make_activation("pwl3", 4), make_activation("bislope", 4))
    init = AD.snapshot(act)
    assert AD.l1_penalty(act, init).item() == 0 and AD.moved_fraction(AD.moved_channels(act, init)) == 0
    with torch.no_grad():
        act[0].knots[1, 0] += 0.5  # one channel of the first activation, one of its parameters
        act[1].c[3] -= 2 * AD.ACT_DELTA_TOL
        act[1].a[0] += AD.ACT_DELTA_TOL / 2  # below the tolerance: not moved
    assert AD.l1_penalty(act, init).item() == pytest.approx(0.5 + 2.5 * AD.ACT_DELTA_TOL)
    which = AD.moved_channels(act, init)
    assert AD.moved_fraction(which) == 2 / 8
    assert which == {"0": ([1], 4), "1": ([3], 4)}  # knots[1, 0]: channel 1 of act 0; c[3]: channel 3 of act 1
    assert parse_moved(AD.moved_text(which)) == which and AD.moved_text(which) == "0:1/4;1:3/4"  # the report reads it back
    assert AD.moved_channels(torch.nn.Linear(2, 2), {}) == {}  # no PAct: nothing recorded


def test_the_key_is_opt_in_and_checked():
    plain = prune(config())
    assert "act_delta_l1" not in plain["optim"]  # absent: existing records keep their signatures
    assert signature(prune(config("+optim.act_delta_l1=0.01"))) != signature(plain)
    with pytest.raises(UserError, match="optim.act_delta_l1"):
        validate(config("+optim.act_delta_l1=-1"))


def test_l1_on_the_deltas_moves_fewer_channels_on_digits():
    moved = {}
    for lam in (0.0, 0.01):
        cfg = prune(config(f"+optim.act_delta_l1={lam}", "trainer.epochs=5", "trainer.latency_reps=0"))
        m = train(cfg, log=lambda *_: None)["metrics"]
        assert m["status"] == "ok" and m["act_delta_tol"] == AD.ACT_DELTA_TOL
        moved[lam] = m["act_channels_moved"]
        which = parse_moved(m["act_moved_channels"])  # which channels, per activation module
        assert sum(len(i) for i, _ in which.values()) / sum(c for _, c in which.values()) == pytest.approx(moved[lam])
    assert moved[0.0] > 0.6  # without the penalty most channels change shape
    assert moved[0.01] < 0.5 * moved[0.0], moved
