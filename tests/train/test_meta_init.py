"""Meta-learned activation priors: the Reptile step, the init file a run loads exactly
(+activation.init_from=PATH), class-subset tasks (+dataset.keep_classes) and the one-line errors."""

import json
import subprocess
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from frozen_bench.config import check_overrides, conf_dir
from frozen_bench.models import prune
from frozen_bench.data import load_dataset
from frozen_bench.errors import UserError
from frozen_bench.models import build_model
from frozen_bench.record.signature import signature
from frozen_bench.train import act_init as AI
from frozen_bench.train import meta, train
from frozen_bench.train.check_config import validate

torch.set_num_threads(1)
QUIET = lambda *_: None  # noqa: E731


def config(*overrides: str) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def test_reptile_step_moves_the_init_toward_the_adapted_values():
    phi = {"a": torch.tensor([1.0, 1.0, 1.0]), "b": torch.tensor([[0.0, 2.0], [0.0, 2.0]])}
    t1 = {"a": torch.tensor([2.0, 1.0, 0.0]), "b": torch.tensor([[1.0, 2.0], [0.0, 0.0]])}
    t2 = {"a": torch.tensor([4.0, 1.0, 0.0]), "b": torch.tensor([[1.0, 2.0], [2.0, 4.0]])}
    new = meta.reptile_step(phi, [t1, t2], eps=0.5)
    # φ + ε·mean(θ − φ): a moves by 0.5·(2, 0, -1)
    assert torch.equal(new["a"], torch.tensor([2.0, 1.0, 0.5]))
    assert torch.equal(new["b"], torch.tensor([[0.5, 2.0], [0.5, 2.0]]))
    assert torch.equal(phi["a"], torch.ones(3))  # φ itself is not modified
    full = meta.reptile_step(phi, [t1], eps=1.0)  # ε = 1 with one task: the adapted values
    assert all(torch.equal(full[k], t1[k]) for k in phi)
    # every step shrinks the distance to the (single) adapted point by (1 - ε)
    d0, d1 = meta.distance(phi, t1), meta.distance(meta.reptile_step(phi, [t1], eps=0.25), t1)
    assert d1 == pytest.approx(0.75 * d0)
    # block sharing: one move per parameter and block, the mean over the channels
    shared = meta.reptile_step(phi, [t1, t2], eps=0.5, share="block")
    assert torch.allclose(shared["a"], torch.full((3,), 1 + 0.5 * (1 / 3)))
    assert torch.allclose(shared["b"], torch.tensor([[0.5, 2.0], [0.5, 2.0]]))
    with pytest.raises(ValueError, match="share"):
        meta.reptile_step(phi, [t1], 0.5, share="tasks")


def test_an_outer_step_moves_the_init_toward_the_values_training_adapted_it_to():
    """One outer step of meta_train on digits (one task, ε = 0.5, 20 inner steps) is exactly
    φ₀ + 0.5·(θ − φ₀), θ being what the normal training of that task made of φ₀."""
    base = prune(config("trainer.threads=1"))
    suite = meta.SUITES["digits"]
    device = torch.device("cpu")
    phi0 = meta.initial_values(base, suite, device)
    task = meta.sample_tasks(suite, 1, seed=0)[0]
    assert set(task) <= set(suite.source_classes) and not set(suite.heldout_classes) & set(suite.source_classes)
    adapted = meta.inner(base, suite, task, 1, phi0, 20, device)  # the seed meta_train gives its first task
    assert meta.distance(adapted, phi0) > 1e-4
    p0, phi = meta.meta_train(base, suite, outer=1, inner_steps=20, meta_lr=0.5, meta_batch=1, decay=False, log=QUIET)
    assert all(torch.equal(p0[k], phi0[k]) for k in phi0)
    for k in phi0:
        assert torch.allclose(phi[k], phi0[k] + 0.5 * (adapted[k] - phi0[k]), atol=1e-7, rtol=0)
    assert meta.distance(phi, adapted) == pytest.approx(0.5 * meta.distance(phi0, adapted), rel=1e-5)


def test_a_run_with_init_from_starts_from_exactly_those_values(tmp_path, monkeypatch):
    import frozen_bench.train.train_run as job

    short = ("trainer.epochs=1", "trainer.latency_reps=0")
    data = load_dataset(config()["dataset"])
    model = build_model(prune(config()), data)
    g = torch.Generator().manual_seed(3)
    values = {name: torch.randn(p.shape, generator=g) * 0.3 + p.detach() for name, p in meta.pact_params(model)}
    path = AI.write(tmp_path / "prior.json", values, "bislope", meta={"suite": "test"})
    cfg = prune(config(*short, f"+activation.init_from={path}"))
    validate(cfg)
    assert "init_from" not in prune(config())["activation"]  # opt-in: absent from the defaults
    assert signature(cfg) != signature(prune(config(*short)))
    # the model each run hands to fit, before it trains
    seen, real_fit = [], job.fit
    monkeypatch.setattr(job, "fit", lambda model, *a, **k: (seen.append({k_: v.clone() for k_, v in model.state_dict().items()}),
                                                            real_fit(model, *a, **k))[1])
    out = train(cfg, log=QUIET)
    train(prune(config(*short)), log=QUIET)
    mine, default = seen
    assert all(torch.equal(mine[k], values[k]) for k in values)  # every PAct value is the file's, bit for bit
    assert any(not torch.equal(default[k], values[k]) for k in values)
    others = [k for k in mine if k not in values]
    assert others and all(torch.equal(mine[k], default[k]) for k in others)  # the rest as in the default run
    assert out["metrics"]["status"] == "ok" and out["metrics"]["act_init_sha256"] == AI.sha256(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == AI.FORMAT and doc["suite"] == "test"


def test_a_file_for_another_model_is_one_line(tmp_path):
    base = config()
    data = load_dataset(base["dataset"])
    model = build_model(prune(config("model.depth=3")), data)
    path = AI.write(tmp_path / "p.json", meta.pact_values(build_model(prune(base), data)), "bislope")
    with pytest.raises(UserError, match="does not fit this model.*blocks.2.act"):
        AI.apply(model, path)
    with pytest.raises(UserError, match="activation=pwl3"):
        AI.apply(build_model(prune(config("activation=pwl3")), data), path, activation="pwl3")


def test_init_from_passes_the_override_check_and_a_bad_path_is_one_line(tmp_path):
    check_overrides([f"+activation.init_from={tmp_path}/x.json"])  # not taken for a typo of activation.init_pos
    with pytest.raises(UserError, match="no such file"):
        validate(prune(config(f"+activation.init_from={tmp_path}/x.json")))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"params": {}}))
    with pytest.raises(UserError, match="not a PAct init file"):
        validate(prune(config(f"+activation.init_from={bad}")))


def test_bad_init_path_exits_2_with_one_line_and_writes_nothing(tmp_path):
    rd = tmp_path / "results"
    r = subprocess.run([sys.executable, "-m", "frozen_bench", "run", f"results_dir={rd}",
                        f"+activation.init_from={tmp_path}/missing.json"], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "activation.init_from" in lines[0] and "no such file" in lines[0], r.stderr
    assert not (rd / "runs").exists() or not any((rd / "runs").iterdir())
    r = subprocess.run([sys.executable, "-m", "frozen_bench", "meta-init", "--out", str(tmp_path / "p.json"),
                        "dataset=mnist"], capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "suite chooses the dataset" in r.stderr


def test_classes_make_a_relabelled_class_subset_task():
    full = load_dataset({"name": "digits"})
    b = load_dataset({"name": "digits", "keep_classes": [9, 7]})
    assert b.num_classes == 2 and set(b.y_train.tolist()) == {0, 1}
    assert len(b.x_test) == int(((full.y_test == 9) | (full.y_test == 7)).sum())
    assert torch.equal(b.x_train[b.y_train == 0], full.x_train[full.y_train == 9])  # order of the list: 9 -> 0
    assert load_dataset({"name": "digits"}).num_classes == 10  # the cached bundle is not changed
    with pytest.raises(UserError, match="dataset.keep_classes"):
        validate(config("+dataset.keep_classes=[3]"))
    assert "keep_classes" not in prune(config())["dataset"]


def test_meta_init_command_writes_a_file_a_run_accepts(tmp_path):
    out = tmp_path / "prior.json"
    r = subprocess.run([sys.executable, "-m", "frozen_bench", "meta-init", "--out", str(out), "--outer", "1", "--inner", "5",
                        "--meta-batch", "1", "--share", "block", "--eval-seeds", "none", "trainer.threads=1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = AI.read(out)
    assert doc["suite"] == "digits" and doc["share"] == "block" and doc["heldout_classes"] == [7, 8, 9]
    for v in AI.values(doc).values():  # block sharing: one value per parameter and block
        assert torch.equal(v, v[:1].expand_as(v))
    validate(prune(config(f"+activation.init_from={out}")))
