from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from frozen_bench.config import conf_dir

CONF = Path(conf_dir())
EXPS = sorted(p.stem for p in (CONF / "exp").glob("*.yaml"))


def test_conf_dir_is_the_top_level_conf():
    assert (CONF / "config.yaml").exists()


@pytest.mark.parametrize("exp", EXPS)
def test_every_exp_preset_composes(exp):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"+exp={exp}"])
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert plain["exp_name"] == exp
    for group in ("dataset", "model", "trainer", "optim"):
        assert "name" in plain[group] or group == "trainer"


@pytest.mark.parametrize("group", ["dataset", "transform", "activation", "adapter", "model", "optim"])
def test_every_group_option_composes_and_names_itself(group):
    for option in sorted(p.stem for p in (CONF / group).glob("*.yaml")):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[f"{group}={option}"])
        assert cfg[group].name == option, f"{group}/{option}.yaml must set name: {option}"


def test_default_job_is_frozen_wht_bislope_on_digits():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config")
    assert (cfg.dataset.name, cfg.model.name, cfg.transform.name, cfg.activation.name) == ("digits", "frozen_mlp", "wht", "bislope")
