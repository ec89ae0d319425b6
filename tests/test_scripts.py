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
