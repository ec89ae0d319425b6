"""Every sweep preset composes with each profile and expands to the expected number of jobs."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from frozen_bench.run import conf_dir

CONF = Path(conf_dir())
EXPECTED_JOBS = {"transforms": 15, "activations": 18, "adapters": 18, "budget": 24, "latency": 18}


def expand(sweep: str, profile: str) -> list[list[str]]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"+sweep={sweep}", f"+profile={profile}"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    overrides = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def test_every_sweep_file_has_an_expected_count():
    assert sorted(p.stem for p in (CONF / "sweep").glob("*.yaml")) == sorted(EXPECTED_JOBS)


@pytest.mark.parametrize("profile", ["quick", "full"])
@pytest.mark.parametrize("sweep", sorted(EXPECTED_JOBS))
def test_sweep_expands_to_expected_jobs_and_each_job_composes(sweep, profile):
    jobs = expand(sweep, profile)
    assert len(jobs) == EXPECTED_JOBS[sweep]
    assert any(o.startswith("seed=") for o in jobs[0])
    for job in (jobs[0], jobs[-1]):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[f"+sweep={sweep}", f"+profile={profile}", *job])
        assert cfg.exp_name == f"sweep_{sweep}" and cfg.profile == profile
