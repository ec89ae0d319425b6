"""The CLI end to end, in process: run, skip, multirun, collect, list, help."""

import json
import sys

import pandas as pd

from frozen_bench.cli import main

RECORD_KEYS = [
    "status", "dataset", "model", "transform", "activation", "adapter", "adapter_rank", "seed",
    "test_accuracy", "test_f1_macro", "train_loss_final", "trainable_params", "total_params",
    "frozen_bytes", "model_bytes", "latency_ms_b1_p50", "latency_ms_b1_p95", "latency_ms_b256_p50",
    "latency_ms_b256_p95", "steps_to_converge", "train_seconds", "torch_version", "git_commit",
    # provenance (issue 15): what explains the latency, and whether the code was committed
    "kernel_backend", "torch_threads", "cpu_model", "cuda_version", "gpu", "git_dirty", "overrides",
]
FAST = ["trainer.epochs=8", "trainer.latency_reps=3"]


def run_cli(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["frozen-bench", *args])
    return main(list(args))


def records(results):
    return sorted((results / "runs").glob("*/metrics.json"))


def test_run_writes_a_complete_record_then_skips(tmp_path, monkeypatch, capsys):
    res = tmp_path / "results"
    run_cli(monkeypatch, "run", f"results_dir={res}", *FAST)
    [mfile] = records(res)
    m = json.loads(mfile.read_text())
    missing = [k for k in RECORD_KEYS if k not in m]
    assert not missing
    assert m["status"] == "ok" and m["dataset"] == "digits" and m["transform"] == "wht"
    assert m["test_accuracy"] > 0.8  # 10 classes: chance is 0.1
    assert 0 < m["trainable_params"] == m["total_params"]  # WHT holds no numbers
    assert m["frozen_bytes"] == 0
    assert m["kernel_backend"].startswith(("native", "torch")) and m["torch_threads"] >= 1  # WHT ran the kernel
    assert m["git_dirty"] in (True, False, None)
    run_dir = mfile.parent
    for f in ("config.yaml", "history.csv", "curve.png"):
        assert (run_dir / f).exists(), f
    hist = pd.read_csv(run_dir / "history.csv")
    assert len(hist) == 8 and hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]
    before = mfile.stat().st_mtime_ns
    capsys.readouterr()
    run_cli(monkeypatch, "run", f"results_dir={res}", *FAST)
    assert "skip" in capsys.readouterr().out
    assert mfile.stat().st_mtime_ns == before
    run_cli(monkeypatch, "run", f"results_dir={res}", "force=true", *FAST)
    assert mfile.stat().st_mtime_ns != before


def test_multirun_over_two_transforms_then_collect(tmp_path, monkeypatch):
    res = tmp_path / "results"
    run_cli(monkeypatch, "run", "-m", "transform=wht,random_orth", f"results_dir={res}", "trainer.epochs=2", "trainer.latency_reps=2")
    assert len(records(res)) == 2
    assert run_cli(monkeypatch, "collect", "--results-dir", str(res)) == 0
    df = pd.read_csv(res / "all.csv")
    assert sorted(df["transform"]) == ["random_orth", "wht"]
    assert (df["status"] == "ok").all()
    # random_orth stores its n×n matrix in memory but only its seed on disk
    ro = df[df["transform"] == "random_orth"].iloc[0]
    assert ro["total_params"] > ro["trainable_params"] and ro["frozen_bytes"] == 16  # 2 blocks × one seed


def test_list_shows_groups_and_presets(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "transform: dct, fft, identity, random_orth, wht" in out
    assert "+exp:" in out and "digits_wht" in out
    assert "+sweep: " in out and "transforms" in out and "+profile: full, quick" in out
    assert "activation: bislope, glu, identity, leaky_relu, prelu, pwl3, relu, spline" in out


def test_help_and_unknown_command(capsys):
    assert main(["--help"]) == 0
    assert "collect" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_cfg_job_prints_config_without_running(tmp_path, monkeypatch, capsys):
    run_cli(monkeypatch, "run", "--cfg", "job", f"results_dir={tmp_path}", "transform=dct")
    out = capsys.readouterr().out
    assert "name: dct" in out and not (tmp_path / "runs").exists()


def test_lora_rank_zero_runs_as_pact_only(tmp_path, monkeypatch):
    """The adapter sweep starts at rank 0: a LoRA of rank 0 is no adapter, not an error."""
    res = tmp_path / "results"
    assert run_cli(monkeypatch, "run", "adapter=lora", "adapter.rank=0", f"results_dir={res}", "trainer.epochs=1",
                   "trainer.latency_reps=2") == 0
    [mfile] = records(res)
    m = json.loads(mfile.read_text())
    assert m["status"] == "ok" and m["adapter_rank"] == 0 and m["trainable_params"] == 1290


def test_collect_keeps_rows_whose_runs_are_not_here(tmp_path, monkeypatch):
    """A fresh clone has the committed all.csv but not its run folders: a new run must add its
    row, not wipe the others; a row whose run folder is here is replaced by its record."""
    res = tmp_path / "results"
    res.mkdir()
    pd.DataFrame([{"signature": "paper0001", "status": "ok", "dataset": "fashion_mnist", "model": "frozen_cnn",
                   "seed": 0, "test_accuracy": 0.89}]).to_csv(res / "all.csv", index=False)
    run_cli(monkeypatch, "run", f"results_dir={res}", "trainer.epochs=1", "trainer.latency_reps=2")
    df = pd.read_csv(res / "all.csv")
    assert "paper0001" in set(df["signature"]) and len(df) == 2
    assert main(["collect", "--results-dir", str(res)]) == 0
    assert len(pd.read_csv(res / "all.csv")) == 2  # idempotent: the record and the kept row, once each


def test_collect_moves_an_unreadable_all_csv_aside(tmp_path, monkeypatch):
    res = tmp_path / "results"
    run_cli(monkeypatch, "run", f"results_dir={res}", "trainer.epochs=1", "trainer.latency_reps=2")
    (res / "all.csv").write_text("this,is\nnot,a results table\n")
    assert main(["collect", "--results-dir", str(res)]) == 0
    assert len(pd.read_csv(res / "all.csv")) == 1
    [aside] = res.glob("all.unreadable-*.csv")
    assert "not,a results table" in aside.read_text()


def test_design_search_choice_reruns_from_its_recorded_overrides(tmp_path, monkeypatch, capsys):
    """A design trial's record names its own overrides; fair-select --design prints the best one
    by validation, and a run of that line builds the same model (same trainable count)."""
    res = tmp_path / "results"
    tiny = ["dataset=digits", "dataset.image=true", "dataset.subset=300", "trainer.epochs=1", f"results_dir={res}"]
    assert run_cli(monkeypatch, "run", "-m", "+sweep=fair_design", "+family=trained_cnn", "model.budget=2000",
                   "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=1", f"hydra.sweep.dir={tmp_path}/sweep", *tiny) == 0
    trial = {json.loads(p.read_text())["signature"]: json.loads(p.read_text()) for p in records(res)}
    assert len(trial) == 2 and all("+family=trained_cnn" in m["overrides"] for m in trial.values())
    capsys.readouterr()
    assert main(["fair-select", "--design", "--csv", str(res / "all.csv"), "--out", str(tmp_path / "d.csv"),
                 "--print-overrides"]) == 0
    [line] = capsys.readouterr().out.strip().splitlines()
    best = max(trial.values(), key=lambda m: m["val_accuracy"])
    assert all(o in best["overrides"].split() for o in line.split()) and "seed=" not in line
    assert run_cli(monkeypatch, "run", *line.split(), "exp_name=fair_design", "seed=1", "trainer.epochs=1",
                   "dataset.subset=300", f"results_dir={res}") in (0, None)
    final = [m for p in records(res) if (m := json.loads(p.read_text()))["exp"] == "fair_design"]
    assert len(final) == 1 and final[0]["trainable_params"] == best["trainable_params"]


def test_a_record_made_under_the_legacy_signature_is_skipped_not_trained_again(tmp_path, monkeypatch, capsys,
                                                                               fmnist_available):
    from omegaconf import OmegaConf

    from frozen_bench.record.signature import legacy_signature

    res = tmp_path / "results"
    tiny = ["dataset=fashion_mnist", "dataset.subset=300", "trainer.epochs=1", "trainer.latency_reps=0"]
    run_cli(monkeypatch, "run", f"results_dir={res}", f"dataset.root={tmp_path}/data", *tiny)
    [mfile] = records(res)
    old = mfile.parent.with_name(legacy_signature(OmegaConf.to_container(OmegaConf.load(mfile.parent / "config.yaml"))))
    mfile.parent.rename(old)  # as written by a frozen-bench whose signature held dataset.root/download
    capsys.readouterr()
    run_cli(monkeypatch, "run", f"results_dir={res}", f"dataset.root={tmp_path}/data", *tiny)
    out = capsys.readouterr()
    assert "re-keyed" in out.out + out.err and "skip" in out.out + out.err
    [again] = records(res)
    assert again.parent.name == mfile.parent.name and not old.exists()
    # and now the same data read from another folder is the same run
    run_cli(monkeypatch, "run", f"results_dir={res}", f"dataset.root={tmp_path}/data2", "dataset.download=false", *tiny)
    out = capsys.readouterr()
    assert "skip" in out.out + out.err and records(res) == [again]


def test_a_design_the_budget_cannot_build_fails_alone_and_the_search_goes_on(tmp_path, monkeypatch):
    """An unbuildable trial (adapter rank above a stage's width) is one failed job scored worst;
    the Optuna search still runs all its trials (a NaN used to crash the sweeper)."""
    res = tmp_path / "results"
    code = run_cli(monkeypatch, "run", "-m", "+sweep=fair_design_frozen", "+family=frozen_cnn", "model.budget=2000",
                   "dataset=digits", "dataset.image=true", "dataset.subset=300", "trainer.epochs=1", "adapter.rank=64",
                   "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=1", f"hydra.sweep.dir={tmp_path}/sweep", f"results_dir={res}")
    status = sorted(json.loads(p.read_text())["status"] for p in records(res))
    assert code == 1 and len(status) == 4 and "failed" in status and "ok" in status, status


def test_pending_passes_on_only_the_lines_without_a_finished_record(tmp_path, monkeypatch, capsys):
    """What scripts/fair.sh pipes into its runs: one process decides which lines still need one."""
    import io

    res = tmp_path / "results"
    done = f"+exp=digits_wht trainer.epochs=1 trainer.latency_reps=0 seed=0 results_dir={res}"
    assert run_cli(monkeypatch, "run", *done.split()) == 0
    lines = [done,
             "",  # blank lines are not runs
             done.replace("seed=0", "seed=1"),  # another seed: not trained yet
             f"frozen-bench run {done} objective=val_loss",  # the command word; a key outside the signature
             done + " force=true",  # a forced re-run is the run's to decide
             done + " model.nonexistent_key=3",  # cannot compose: passed on, its run reports the error
             f"+exp=digits_wht   trainer.epochs=1 seed=0  results_dir={res} trainer.latency_reps=0"]  # reordered
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert run_cli(monkeypatch, "pending") == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == [lines[2], lines[4], lines[5]]  # the others are the finished run
    assert "pending: 3 of 6 runs have no finished record" in out.err


def test_fair_select_exp_chooses_an_unsized_screen_and_prints_overrides_without_a_budget(tmp_path, monkeypatch, capsys):
    # scripts/twin_width.sh: a trained transformer screened at a given width (model.budget=null) is chosen
    # from its own experiment's rows; its overrides carry no budget (the script adds the shape)
    res = tmp_path / "results"
    shape = ["+family=transformer", "model.budget=null", "model.dim=12", "model.mlp=10", "model.heads=3", "model.patch=4"]
    tiny = ["dataset=digits", "dataset.image=true", "dataset.subset=300", "trainer.epochs=1", "trainer.test=false",
            "trainer.latency_reps=0", "exp_name=twin_width_2000_tune", f"results_dir={res}"]
    for lr in ("0.001", "0.03"):
        assert run_cli(monkeypatch, "run", *shape, f"optim.lr={lr}", *tiny) in (0, None)
    vals = {m["lr"]: m["val_accuracy"] for p in records(res) if (m := json.loads(p.read_text()))}
    capsys.readouterr()
    assert main(["fair-select", "--exp", "twin_width_2000_tune", "--csv", str(res / "all.csv"), "--out",
                 str(tmp_path / "t.csv"), "--print-overrides"]) == 0
    [line] = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("+family=transformer optim.lr=") and "model.budget" not in line
    assert float(line.split()[1].split("=")[1]) == max(vals, key=lambda lr: (vals[lr], -lr))
    assert main(["fair-select", "--design", "--exp", "twin_width_2000_tune", "--csv", str(res / "all.csv")]) == 2
    assert "drop --exp" in capsys.readouterr().err
