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
])
def test_bad_arguments_are_one_line_and_exit_2(args, needle, tmp_path):
    r = subprocess.run(["bash", *args], cwd=ROOT, capture_output=True, text=True, timeout=30,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""  # nothing ran
