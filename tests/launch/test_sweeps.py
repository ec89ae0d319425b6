"""Every sweep preset composes with each profile and expands to the expected number of jobs.
The profile comes first on the command line (as in scripts/reproduce.sh), so a sweep's own
settings win over the profile's."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from frozen_bench.config import conf_dir

CONF = Path(conf_dir())
EXPECTED_JOBS = {"transforms": 15, "activations": 36, "adapters": 18, "latency": 18,
                 "fn_shift": 27, "functions": 18, "masks": 12, "weightnet": 9, "frozen_layer": 3, "speech": 9,
                "act_delta": 21}


def expand(sweep: str, profile: str) -> list[list[str]]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"+profile={profile}", f"+sweep={sweep}"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    overrides = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


SEARCHES = {"lr_search", "fair_design", "fair_design_frozen",  # optuna: a number of trials, not a grid
            "fair_design_resnet", "fair_design_frozen_resnet", "fair_design_trained_resnet"}
FAIR = {"fair_tune": 140, "fair_final": 5}  # the fair protocol (scripts/fair.sh): no +profile grid
REAL = {"speech_why": 36}  # real-data diagnostics (scripts/reproduce.sh real): their own recipe, no +profile grid


def test_every_sweep_file_has_an_expected_count():
    assert sorted(p.stem for p in (CONF / "sweep").glob("*.yaml")) == sorted([*EXPECTED_JOBS, *SEARCHES, *FAIR, *REAL])


def test_lr_search_is_an_optuna_study_over_learning_rates():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["+sweep=lr_search"], return_hydra_config=True)
    assert "optuna" in cfg.hydra.sweeper._target_.lower()
    assert cfg.hydra.sweeper.direction == "maximize" and cfg.objective == "val_accuracy"
    assert set(cfg.hydra.sweeper.params) == {"optim.lr", "optim.act_lr_mult"}


def test_fair_design_searches_the_shared_cnn_axes_on_the_screen_recipe_without_test():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["+sweep=fair_design", "+family=trained_cnn"], return_hydra_config=True)
    assert "optuna" in cfg.hydra.sweeper._target_.lower() and cfg.hydra.sweeper.sampler.seed == 0
    assert cfg.objective == "val_accuracy" and cfg.trainer.test is False and cfg.exp_name == "fair_design_tune"
    assert cfg.hydra.sweeper.max_failure_rate == 1.0  # an unbuildable design fails alone, the search goes on
    assert "random" in cfg.hydra.sweeper.sampler._target_.lower()  # TPE repeats designs: unequal search
    screen = (cfg.dataset.subset, cfg.trainer.epochs, cfg.trainer.batch_size)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        tune = compose(config_name="config", overrides=["+sweep=fair_tune"])
    assert screen == (tune.dataset.subset, tune.trainer.epochs, tune.trainer.batch_size)  # the tuning screen's recipe
    shared = set(cfg.hydra.sweeper.params)
    assert {"optim.lr", "optim.weight_decay", "activation", "model.norm", "model.widths"} <= shared
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        frozen = compose(config_name="config", overrides=["+sweep=fair_design_frozen", "+family=frozen_cnn"], return_hydra_config=True)
    # the frozen family: the same trials and recipe, the shared space plus its own axes
    assert set(frozen.hydra.sweeper.params) == shared | {"transform", "model.filters", "adapter"}
    assert frozen.hydra.sweeper.n_trials == cfg.hydra.sweeper.n_trials and frozen.exp_name == cfg.exp_name


def test_the_resnet_design_spaces_share_the_screen_and_every_value_composes():
    """Both ResNet families search the same shared axes on the CNN search's recipe and trial count,
    each with its own shape axis (the frozen one: width and its frozen-only axes; the trained one:
    depth), and every value of every axis composes as a job of that family."""
    def space(sweep, family):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(config_name="config", overrides=[f"+sweep={sweep}", f"+family={family}"], return_hydra_config=True)
    cnn = space("fair_design", "trained_cnn")
    frozen, trained = space("fair_design_frozen_resnet", "frozen_resnet"), space("fair_design_trained_resnet", "trained_resnet")
    shared = {"optim.lr", "optim.weight_decay", "optim.act_lr_mult", "activation", "model.pool"}
    assert set(frozen.hydra.sweeper.params) == shared | {"model.width", "model.conv", "model.filters", "transform", "adapter"}
    assert set(trained.hydra.sweeper.params) == shared | {"model.depth", "model.fine_sizing"}
    # a fixed value, not an axis: every trained trial (and so its chosen design's finals) is sized finely
    assert str(trained.hydra.sweeper.params["model.fine_sizing"]).lower() == "true"
    for cfg in (frozen, trained):
        assert (cfg.exp_name, cfg.objective, cfg.trainer.test) == ("fair_design_tune", "val_accuracy", False)
        assert cfg.hydra.sweeper.n_trials == cnn.hydra.sweeper.n_trials and cfg.hydra.sweeper.sampler.seed == 0
        assert "random" in cfg.hydra.sweeper.sampler._target_.lower()
        assert (cfg.dataset.subset, cfg.trainer.epochs, cfg.trainer.batch_size) == (
            cnn.dataset.subset, cnn.trainer.epochs, cnn.trainer.batch_size)
    parser = OverridesParser.create()
    for sweep, family, cfg in (("fair_design_frozen_resnet", "frozen_resnet", frozen),
                               ("fair_design_trained_resnet", "trained_resnet", trained)):
        for key, spec in cfg.hydra.sweeper.params.items():
            override = parser.parse_override(f"{key}={spec}")
            # a fixed value among the params is one override of every trial
            values = override.sweep_string_iterator() if override.is_sweep_override() else [str(spec)]
            for value in values:
                with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
                    job = compose(config_name="config", overrides=[f"+sweep={sweep}", f"+family={family}", f"{key}={value}"])
                assert job.model.name == family
                if key == "model.fine_sizing":
                    assert job.model.fine_sizing is True


@pytest.mark.parametrize("profile", ["quick", "full"])
@pytest.mark.parametrize("sweep", sorted(EXPECTED_JOBS))
def test_sweep_expands_to_expected_jobs_and_each_job_composes(sweep, profile):
    jobs = expand(sweep, profile)
    assert len(jobs) == EXPECTED_JOBS[sweep]
    assert any(o.startswith("seed=") for o in jobs[0])
    for job in (jobs[0], jobs[-1]):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[f"+profile={profile}", f"+sweep={sweep}", *job])
        assert cfg.exp_name == f"sweep_{sweep}" and cfg.profile == profile


def fair_jobs(sweep: str, *extra: str) -> list[list[str]]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"+sweep={sweep}", *extra], return_hydra_config=True)
    params = dict(cfg.hydra.sweeper.params)
    params.update({o.split("=")[0]: o.split("=", 1)[1] for o in extra if "=" in o and not o.startswith("+")})
    overrides = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def test_fair_tune_gives_every_family_the_same_recipe_and_grid():
    """Equal tuning: each (family, budget) gets the same lr x weight-decay points; equal recipe:
    every composed job shares dataset, subset, epochs, batch, schedule, augmentation and steps."""
    jobs = fair_jobs("fair_tune")
    assert len(jobs) == FAIR["fair_tune"]
    grids: dict = {}
    for job in jobs:  # the grid each (family, budget) gets, from the job overrides
        o = dict(x.split("=", 1) for x in job)
        grids.setdefault((o["family"], o["model.budget"]), set()).add((o["optim.lr"], o["optim.weight_decay"]))
    assert len({frozenset(g) for g in grids.values()}) == 1 and len(next(iter(grids.values()))) == 10
    assert {f for f, _ in grids} >= {"frozen_cnn", "trained_cnn", "separable_cnn", "dense_mlp1", "linear"}
    recipes = set()
    for family, budget in grids:  # one composed job per (family, budget): the recipe is shared
        job = next(j for j in jobs if f"family={family}" in j and f"model.budget={budget}" in j)
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(config_name="config", overrides=["+sweep=fair_tune", *job])
        assert cfg.exp_name == "fair_tune" and cfg.profile == "screen" and cfg.trainer.test is False
        optim = {k: v for k, v in cfg.optim.items() if k not in ("lr", "weight_decay")}
        recipes.add(repr((dict(cfg.dataset), dict(cfg.trainer), optim, dict(cfg.augment))))
    assert len(recipes) == 1, "a family got another recipe"


def test_fair_final_runs_five_seeds_of_one_choice():
    jobs = fair_jobs("fair_final")
    assert len(jobs) == FAIR["fair_final"] and sorted(j[0] for j in jobs) == [f"seed={s}" for s in range(5)]


def test_speech_why_varies_mixing_time_axis_and_front_end_on_validation_only():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["+sweep=speech_why"], return_hydra_config=True)
    overrides = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()])
    jobs = [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    assert len(jobs) == REAL["speech_why"]
    assert cfg.trainer.test is False and cfg.family == "frozen_audio" and cfg.model.budget == 20000


def test_sweep_keys_are_what_tells_one_job_from_another():
    from frozen_bench.config import sweep_keys

    assert sweep_keys(["-m", "seed=0,1", "trainer.epochs=1", "transform=wht,dct"]) == ["seed", "transform"]
    assert sweep_keys(["-m", "+sweep=transforms"]) == ["transform", "seed"]  # the sweep config's own params
    assert sweep_keys(["-m", "+sweep=transforms", "seed=0"]) == ["transform"]  # a later value replaces the sweep
    assert sweep_keys(["-m", "+sweep=lr_search"]) == ["optim.lr", "optim.act_lr_mult"]  # optuna's search space
    assert sweep_keys(["-m", "seed=range(3)", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]) == ["seed"]  # hydra.* is not a job's


def test_job_prefix_names_the_job_and_its_own_values():
    from frozen_bench.progress import job_prefix

    task = ["seed=1", "transform=dct", "trainer.epochs=1", "results_dir=/tmp/r", "+family=linear"]
    assert job_prefix(3, task, ["transform", "seed", "family"]) == "[job 3 seed=1 transform=dct +family=linear]"
    assert job_prefix(0, task, None) == "[job 0]"
