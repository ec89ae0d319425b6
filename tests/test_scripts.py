"""The experiment scripts refuse a bad profile or dataset in one line, before any set-up or run."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args,needle", [
    (["scripts/fair.sh", "fast"], "usage: scripts/fair.sh quick|full"),
    (["scripts/fair.sh", "quick", "cifar10,mnist"], "unknown dataset 'mnist'"),
    (["scripts/real.sh", "all"], "usage: scripts/real.sh quick|full"),
    (["scripts/reproduce.sh", "everything"], "usage: scripts/reproduce.sh"),
    (["scripts/reproduce.sh", "frontier"], "retired"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, needle, tmp_path):
    r = subprocess.run(["bash", *args], cwd=ROOT, capture_output=True, text=True, timeout=30,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""  # nothing ran


def test_reproduce_runs_every_ablation_sweep_and_no_fair_stage():
    """The fair_* sweeps need the family and budget that scripts/fair.sh gives them; run bare they
    would train an unnamed default. reproduce.sh's own list (its `sweeps=` line, run here) is every
    other sweep of conf/sweep/ bar the search and real.sh's diagnosis."""
    line = next(ln for ln in (ROOT / "scripts/reproduce.sh").read_text().splitlines() if ln.startswith("sweeps="))
    r = subprocess.run(["bash", "-c", f"{line}; echo $sweeps"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    listed = set(r.stdout.split())
    every = {p.stem for p in (ROOT / "conf/sweep").glob("*.yaml")}
    assert listed == {s for s in every if not s.startswith("fair_")} - {"lr_search", "speech_why"}
    assert {"transforms", "adapters", "latency"} <= listed


def test_resnets_refuses_an_unknown_stage_before_any_setup(tmp_path):
    r = subprocess.run(["bash", "scripts/resnets.sh", "cifar10,desgin"], cwd=ROOT, capture_output=True, text=True,
                       timeout=30, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == ("resnets.sh: unknown stage 'desgin'; the stages are "
                                "cifar10,fashion_mnist,depth,anchor,epochs,design,design_epochs,speech")


def test_resnets_design_epochs_needs_the_design_stage_first(tmp_path):
    # FB=true: no set-up and no run; the stage must stop on the missing selection, not run nothing quietly
    r = subprocess.run(["bash", "scripts/resnets.sh", "design_epochs"], cwd=ROOT, capture_output=True, text=True,
                       timeout=30, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "FB": "true",
                                        "RESULTS": str(tmp_path / "res")})
    assert r.returncode == 2
    assert r.stderr.strip() == (f"resnets.sh: {tmp_path / 'res'}/fair/design_selected.txt is missing; "
                                "run the design stage first")


def _epoch_run(results: Path, sig: str, exp: str, family: str, vals: list[float]):
    import json
    d = results / "runs" / sig
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({
        "exp": exp, "status": "ok", "family": family, "dataset": "cifar10_jpeg", "budget": 8000,
        "family_kind": "frozen", "profile": "quick", "seed": 0, "signature": sig}))
    rows = ["epoch,step,train_loss,val_accuracy"] + [f"{i + 1},{79 * (i + 1)},1.0,{v}" for i, v in enumerate(vals)]
    (d / "history.csv").write_text("\n".join(rows) + "\n")


def test_epoch_curves_keeps_committed_curves_and_draws_the_design_set(tmp_path):
    import pandas as pd
    res = tmp_path / "results"
    (res / "fair").mkdir(parents=True)
    # an earlier session's curve, whose run folder is gone (run folders are not committed)
    pd.DataFrame([{"exp": "fair_epochs", "dataset": "cifar10_jpeg", "budget": 8000, "family": "trained_cnn",
                   "family_kind": "trained", "profile": "quick", "seed": 0, "signature": "old000000000",
                   "epoch": e, "step": 79 * e, "train_loss": 1.0, "val_accuracy": 0.4 + 0.01 * e} for e in (1, 2)]
                 ).to_csv(res / "fair" / "epochs.csv", index=False)
    _epoch_run(res, "new000000000", "fair_design", "frozen_resnet", [0.3, 0.4])
    _epoch_run(res, "new000000001", "fair_design_epochs", "frozen_resnet", [0.3, 0.35, 0.4, 0.45])
    _epoch_run(res, "new000000002", "fair_tune", "frozen_resnet", [0.2])  # a screen run: not a curve
    r = subprocess.run([str(Path(__import__("sys").executable)), "scripts/epoch_curves.py", "--results", str(res)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(res / "fair" / "epochs.csv")
    assert sorted(df["signature"].unique()) == ["new000000000", "new000000001", "old000000000"]
    assert len(df) == 2 + 2 + 4
    for name in ("fair_epochs", "fair_design_epochs"):
        assert (res / "figures" / f"{name}.png").stat().st_size > 0


def test_epoch_curves_draws_only_the_budgets_with_a_longer_run():
    import importlib.util

    import pandas as pd

    spec = importlib.util.spec_from_file_location("epoch_curves", ROOT / "scripts" / "epoch_curves.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    df = pd.DataFrame([{"exp": e, "dataset": ds, "budget": 8000, "signature": f"{e}{ds}"}
                       for e, ds in [("fair_final", "cifar10_jpeg"), ("fair_epochs", "cifar10_jpeg"),
                                     ("fair_final", "digits"), ("fair_design", "cifar10_jpeg")]])
    got = mod.leaders(df, "fair_epochs")
    assert sorted(zip(got["exp"], got["dataset"])) == [("fair_epochs", "cifar10_jpeg"), ("fair_final", "cifar10_jpeg")]
    assert mod.leaders(df, "fair_design_epochs").empty  # a design final without its 20-epoch partner


def test_screen_seeds_repeat_every_grid_point_at_each_seed(tmp_path):
    cmd = "results=R; source scripts/protocol.sh; grid frozen_cnn,linear 8000 0.01,0.1 0.0 dataset=digits"
    one = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, timeout=30,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}).stdout.splitlines()
    two = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, timeout=30,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SCREEN_SEEDS": "0,1"}).stdout.splitlines()
    assert len(one) == 4 and all(" seed=0 " in x for x in one)  # the default: seed 0 alone
    assert two[:4] == one and [x.replace(" seed=1 ", " seed=0 ") for x in two[4:]] == one


def test_fair_full_searches_the_same_number_of_designs_for_both_families_at_each_budget(tmp_path):
    """The full profile's design search: 48 random trials a family at 8k, 24 at 20k, frozen and trained alike."""
    import re

    fake, log = stand_in_fb(tmp_path), tmp_path / "lines"
    subprocess.run(["bash", "scripts/fair.sh", "full", "fashion_mnist"], cwd=ROOT, capture_output=True, text=True,
                   timeout=120, env=stand_in_env(tmp_path, fake, log))
    searches = sorted((re.search(r"\+family=(\S+)", ln)[1], re.search(r"model\.budget=(\d+)", ln)[1],
                       re.search(r"n_trials=(\d+)", ln)[1])
                      for ln in log.read_text().splitlines() if ln.startswith("run -m +sweep=fair_design"))
    assert searches == [("frozen_cnn", "20000", "24"), ("frozen_cnn", "8000", "48"),
                        ("trained_cnn", "20000", "24"), ("trained_cnn", "8000", "48")]


def test_fair_screens_the_small_sets_at_two_seeds_and_the_large_ones_at_one(tmp_path):
    """Fashion-MNIST and digits select on the mean of seeds 0 and 1, CIFAR-10 and speech on seed 0 (their
    points cost minutes); SCREEN_SEEDS sets every dataset's seeds (FB: a stand-in that keeps the run lines)."""
    import re

    def seeds(extra_env):
        fake, log = stand_in_fb(tmp_path), tmp_path / "lines"
        log.unlink(missing_ok=True)
        subprocess.run(["bash", "scripts/fair.sh", "quick", "fashion_mnist,digits,cifar10,speech"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, env=stand_in_env(tmp_path, fake, log, **extra_env))
        out = {}
        for ln in log.read_text().splitlines():
            if "+sweep=fair_tune" in ln:
                ds = re.search(r"dataset=(digits|cifar10|speech_commands_test12)\b", ln)
                out.setdefault(ds[1] if ds else "fashion_mnist", set()).add(re.search(r" seed=(\d+) ", ln)[1])
        return out

    assert seeds({}) == {"fashion_mnist": {"0", "1"}, "digits": {"0", "1"}, "cifar10": {"0"},
                         "speech_commands_test12": {"0"}}
    assert set(map(frozenset, seeds({"SCREEN_SEEDS": "0,1,2"}).values())) == {frozenset({"0", "1", "2"})}


def stand_in_env(tmp_path, fake, log, **extra):
    """The environment a script runs in with the stand-in frozen-bench ``fake`` writing to ``log``: a bare
    PATH and HOME, results under tmp_path/res; ``extra`` adds or replaces variables."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "FB": str(fake), "FAKE_LOG": str(log),
            "RESULTS": str(tmp_path / "res"), **extra}


def stand_in_fb(tmp_path, selection=False):
    """A stand-in for the frozen-bench command (a script's FB=): it appends the lines given to `run-lines`,
    and the arguments of a `run`, to $FAKE_LOG and runs nothing; with ``selection``, `fair-select` writes $FAKE_DIR/sel.csv to its --out
    and prints $FAKE_DIR/sel.txt as the chosen overrides."""
    fake = tmp_path / "fb"
    select = ('  fair-select) while [ $# -gt 0 ]; do [ "$1" = --out ] && cp "$FAKE_DIR/sel.csv" "$2"; shift; done\n'
              '               cat "$FAKE_DIR/sel.txt" ;;\n') if selection else ""
    fake.write_text(f'#!/bin/bash\ncase "$1" in\n  run-lines) cat >> "$FAKE_LOG" ;;\n'
                    f'  run) echo "$*" >> "$FAKE_LOG" ;;\n{select}esac\nexit 0\n')
    fake.chmod(0o755)
    return fake


def test_fair_screens_every_family_of_a_budget_at_the_same_number_of_points(tmp_path):
    """The PAct lr multiplier is a tuned axis: a family with a PAct is screened at 0.1 and 1.0, one
    without it on a denser lr grid, the same 20 points each, and a grid grows past a top-edge pick
    (FB: a stand-in that keeps the run lines)."""
    import re
    from collections import Counter

    fake, log = stand_in_fb(tmp_path), tmp_path / "lines"
    r = subprocess.run(["bash", "scripts/fair.sh", "full", "fashion_mnist,digits"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120, env=stand_in_env(tmp_path, fake, log))
    assert "1/6 tune" in r.stdout
    screened = [ln for ln in log.read_text().splitlines() if "+sweep=fair_tune" in ln]
    tune = [ln for ln in screened if " seed=0 " in ln]  # each point once (both sets screen at seeds 0 and 1)
    assert sorted(ln.replace(" seed=1 ", " seed=0 ") for ln in screened if " seed=1 " in ln) == sorted(tune)
    points, pact = Counter(), {}
    for ln in tune:
        fam = re.search(r"family=(\S+)", ln)[1]
        key = ("digits" if "dataset=digits" in ln else "fashion_mnist", re.search(r"model\.budget=(\d+)", ln)[1])
        points[(*key, fam)] += 1
        pact.setdefault(fam, set()).add("optim.act_lr_mult=1.0" in ln)
    # a family that chose the top lr has its grid grown past it (4 more points, lr 0.3)
    grown = {("fashion_mnist", "8000", "frozen_cnn"), ("fashion_mnist", "8000", "frozen_mlp"),
             ("fashion_mnist", "8000", "frozen_transformer"), ("fashion_mnist", "20000", "frozen_transformer")}
    assert {k: n for k, n in points.items() if k in grown} == {k: 24 for k in grown}
    assert {n for k, n in points.items() if k not in grown} == {20}, points
    top = Counter((("digits" if "dataset=digits" in ln else "fashion_mnist"), re.search(r"model\.budget=(\d+)", ln)[1],
                   re.search(r"family=(\S+)", ln)[1]) for ln in tune if " optim.lr=0.3 " in ln)
    assert top == {k: 4 for k in grown}
    assert len({k[:2] for k in points}) == 4 and ("fashion_mnist", "8000", "frozen_transformer") in points
    assert pact["frozen_cnn"] == pact["trained_cnn"] == pact["frozen_transformer"] == {True, False}
    assert pact["dense_mlp1"] == pact["linear"] == pact["frozen_cnn_relu"] == pact["transformer"] == {False}


def test_twin_width_needs_the_frozen_transformer_finals_and_builds_the_twin_at_their_width(tmp_path):
    """scripts/twin_width.sh reads the frozen transformer's width from its fair_final rows: without them it
    stops in one line; with them, the twin's screen lines carry that width (FB: a stand-in keeping the lines)."""
    import sys

    import pandas as pd

    fake, log, res = stand_in_fb(tmp_path), tmp_path / "lines", tmp_path / "res"
    res.mkdir()
    env = stand_in_env(tmp_path, fake, log, PY=sys.executable, RESULTS=str(res))
    row = {"exp": "fair_final", "family": "frozen_transformer", "dataset": "fashion_mnist", "budget": 8000.0,
           "status": "ok", "built": "dim=243 mlp=521"}
    pd.DataFrame([{**row, "family": "frozen_cnn", "built": None}]).to_csv(res / "all.csv", index=False)
    r = subprocess.run(["bash", "scripts/twin_width.sh"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2 and not log.exists()
    assert r.stderr.strip().startswith("twin_width.sh: no finished frozen_transformer fair_final run on fashion_mnist")
    pd.DataFrame([row]).to_csv(res / "all.csv", index=False)
    r = subprocess.run(["bash", "scripts/twin_width.sh"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    screen = [ln for ln in log.read_text().splitlines() if "exp_name=twin_width_8000_tune" in ln]
    assert len(screen) == 20, r.stdout + r.stderr  # fair_tune's 10 and the 10 of the denser lrs
    assert {ln.split("optim.lr=")[1].split()[0] for ln in screen} == {
        "0.001", "0.003", "0.01", "0.03", "0.1", "0.0005", "0.002", "0.005", "0.02", "0.05"}
    assert all("family=transformer model.budget=null model.dim=243 model.mlp=521 model.heads=3" in ln for ln in screen)


def test_the_full_profile_trains_a_control_that_leads_the_frozen_side_on_the_whole_set(tmp_path):
    """A control is a frozen network: where one validates best of the frozen side in the screen, the full
    profile trains it on the whole Fashion-MNIST set beside the two CNNs and the dense MLP; a family that
    leads nothing stays on the quick recipe (FB: a stand-in that keeps the run lines and plays fair-select)."""
    import pandas as pd

    sel = pd.DataFrame([
        ("frozen_cnn_identity_mix", "control", 0.87), ("frozen_cnn", "frozen", 0.85), ("frozen_mlp", "frozen", 0.84),
        ("trained_cnn", "trained", 0.88), ("dense_mlp1", "trained", 0.83), ("separable_cnn", "trained", 0.86)],
        columns=["family", "family_kind", "best_val_accuracy"]).assign(dataset="fashion_mnist", budget=8000)
    sel.to_csv(tmp_path / "sel.csv", index=False)
    (tmp_path / "sel.txt").write_text("".join(
        f"+family={f} model.budget=8000 optim.lr=0.01 optim.weight_decay=0.0 optim.act_lr_mult=0.1 dataset=fashion_mnist\n"
        for f in sel.family))
    fake, log = stand_in_fb(tmp_path, selection=True), tmp_path / "lines"
    subprocess.run(["bash", "scripts/fair.sh", "full", "fashion_mnist"], cwd=ROOT, capture_output=True, text=True,
                   timeout=120, env=stand_in_env(tmp_path, fake, log, FAKE_DIR=str(tmp_path)))
    final = [ln for ln in log.read_text().splitlines() if "+sweep=fair_final" in ln and "exp_name=" not in ln]
    whole_set = {ln.split("+family=")[1].split()[0] for ln in final if "dataset.subset=null" in ln}
    assert whole_set == {"frozen_cnn_identity_mix", "frozen_cnn", "trained_cnn", "dense_mlp1"}, final
    assert len(final) == 4 * 5
