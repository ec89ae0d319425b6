"""Hydra's shell completion through ``frozen-bench`` (issue 15): the override pre-check leaves
``-sc install=bash`` / ``query=bash`` to Hydra, the installed script is registered for
``frozen-bench``, and a query completes the command word, then Hydra's words after ``run``."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from frozen_bench.cli import main

ROOT = Path(__file__).resolve().parents[2]


def query(monkeypatch, capsys, line, *argv):
    """What ``frozen-bench [ARGV] -sc query=bash`` prints for the command line ``line``."""
    monkeypatch.setenv("COMP_LINE", line)
    assert main([*(argv or ["-sc"]), "query=bash"]) == 0
    out, err = capsys.readouterr()
    assert "error" not in err, err
    return out.split()


def test_install_prints_hydras_script_for_frozen_bench(capsys):
    assert main(["run", "--shell-completion", "install=bash"]) == 0
    out, err = capsys.readouterr()
    assert "error" not in err and "hydra_bash_completion()" in out
    assert out.rstrip().endswith("-F hydra_bash_completion frozen-bench")  # not "frozen-bench run"


def test_queries_complete_commands_then_hydras_words(monkeypatch, capsys):
    assert query(monkeypatch, capsys, "frozen-bench run tra", "run", "-sc") == ["trainer.", "trainer=", "transform.", "transform="]
    assert query(monkeypatch, capsys, "frozen-bench run tra") == ["trainer.", "trainer=", "transform.", "transform="]
    assert "transform=dct" in query(monkeypatch, capsys, "frozen-bench run transform=")
    assert query(monkeypatch, capsys, "frozen-bench run trainer.ep") == ["trainer.epochs="]
    assert {"run", "collect", "summary", "list"} <= set(query(monkeypatch, capsys, "frozen-bench su"))
    assert query(monkeypatch, capsys, "frozen-bench collect --res") == []  # the shell offers file names
    assert os.environ["COMP_LINE"] == "frozen-bench collect --res"


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")
def test_the_installed_script_completes_in_bash(tmp_path):
    """The real thing: bash evaluates the script and calls its completion function, which runs
    ``frozen-bench -sc query=bash`` (a stand-in for the entry point that runs this tree)."""
    exe = tmp_path / "frozen-bench"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} -m frozen_bench \"$@\"\n")
    exe.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    script = ('eval "$(frozen-bench run -sc install=bash)"\n'
              'COMP_LINE="frozen-bench run transform=d"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=($COMP_LINE); COMP_CWORD=2\n'
              'hydra_bash_completion; printf "%s\\n" "${COMPREPLY[@]}"\n')
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["transform=dct"], p.stdout + p.stderr
