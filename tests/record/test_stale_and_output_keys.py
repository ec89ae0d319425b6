"""Records made by other code are marked (issue 26, item 7), and output-only keys stay out of the
signature (item 6): ``trainer.save_model`` is hashed at its default, so saving a finished run's
model lands in that run's folder, and records made before are adopted, never trained twice."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest

from frozen_bench.record import identity
from frozen_bench.record.rekey import adopt, rekey_all
from frozen_bench.record.signature import legacy_signature, legacy_signatures, signature
from frozen_bench.record.store import run_dir, write_record
from frozen_bench.record.table import collect, mark_stale

CFG = {"dataset": {"name": "digits", "subset": None}, "model": {"name": "frozen_mlp", "width": 64},
       "trainer": {"epochs": 3, "save_model": False, "checkpoint_every": 0}, "seed": 0, "results_dir": "x",
       "logger": {"name": "csv"}}


def saving(cfg, value=True):
    return {**cfg, "trainer": {**cfg["trainer"], "save_model": value}}


def test_output_only_keys_leave_the_signature_and_old_names_are_known():
    assert signature(saving(CFG)) == signature(CFG)  # saving the model is the same run
    assert signature({**CFG, "logger": {"name": "mlflow"}}) == signature(CFG)
    assert signature({**CFG, "trainer": {**CFG["trainer"], "epochs": 4}}) != signature(CFG)
    # every record made with the default keeps its folder: the signature is what it was
    old = legacy_signatures(saving(CFG))
    assert signature(CFG) not in old and old
    assert legacy_signature(saving(CFG)) in old  # before the data-location keys left it, with save_model=true


def record(results, name, cfg, acc, model=False):
    path = run_dir(results, name)
    path.mkdir(parents=True)
    write_record(path, json.dumps(cfg), {"signature": name, "status": "ok", "test_accuracy": acc, "seed": 0}, [])
    if model:
        (path / "model.pt").write_bytes(b"weights")
    return path


def test_a_record_made_with_save_model_true_is_adopted(tmp_path):
    from frozen_bench.record.signature import _hash, normalize

    old_name = _hash(normalize(saving(CFG), defaults={}))  # its folder before save_model was output-only
    record(tmp_path, old_name, saving(CFG), 0.9, model=True)
    assert adopt(tmp_path, CFG, log=lambda *_: None)  # a run without save_model finds it: one record
    now = run_dir(tmp_path, signature(CFG))
    assert (now / "model.pt").exists() and json.loads((now / "metrics.json").read_text())["legacy_signature"] == old_name


def test_rekey_keeps_the_copy_with_the_model(tmp_path):
    """Two records of one run (one saved its model): collect --rekey keeps the one whose metrics
    and model.pt came from one training, and all.csv lists the run once."""
    import yaml

    from frozen_bench.record.signature import _hash, normalize

    full = {**CFG, "transform": {"name": "wht"}, "activation": {"name": "bislope"}, "adapter": {"name": "none"}}
    plain = record(tmp_path, signature(full), full, 0.80)
    (plain / "config.yaml").write_text(yaml.safe_dump(full))
    with_model = record(tmp_path, _hash(normalize(saving(full), defaults={})), saving(full), 0.81, model=True)
    (with_model / "config.yaml").write_text(yaml.safe_dump(saving(full)))
    assert rekey_all(tmp_path, log=lambda *_: None) == 1
    kept = run_dir(tmp_path, signature(full))
    assert (kept / "model.pt").exists() and json.loads((kept / "metrics.json").read_text())["test_accuracy"] == 0.81
    df = collect(tmp_path, log=lambda *_: None)
    assert list(df["signature"]) == [kept.name]


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A tiny git checkout with frozen_bench/{models,report}: commits a, b (models changed), c (the report only)."""
    repo = tmp_path / "repo"
    for d in ("frozen_bench/models", "frozen_bench/report"):
        (repo / d).mkdir(parents=True)
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "config", "user.email", "t@t")
    git(repo, "config", "user.name", "t")
    commits = {}
    for name, path in (("a", "frozen_bench/models/m.py"), ("b", "frozen_bench/models/m.py"), ("c", "frozen_bench/report/r.py")):
        (repo / path).write_text(f"# {name}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", name)
        commits[name] = git(repo, "rev-parse", "--short=12", "HEAD")
    here = repo / "frozen_bench" / "record"
    here.mkdir()
    monkeypatch.setattr(identity, "__file__", str(here / "identity.py"))  # git runs in this checkout
    identity._STALE.clear()
    return repo, commits


def test_stale_marks_rows_whose_result_code_differs_from_head(repo, tmp_path, capsys):
    _, c = repo
    # a: models/ differ from HEAD (c); b: only the report differs; a commit this checkout lacks: unknown
    assert identity.stale_commits([c["a"], c["b"], c["c"], "0123456789ab", None]) == {
        c["a"]: True, c["b"]: False, c["c"]: False, "0123456789ab": None}
    rows = pd.DataFrame({"signature": ["s1", "s2", "s3"], "status": "ok", "git_commit": [c["a"], c["b"], None]})
    assert mark_stale(rows)["stale"].tolist() == [True, False, pd.NA]

    from frozen_bench.cli import main

    res = tmp_path / "res"
    for sig, commit, dirty, words in (("s1", c["a"], False, "+exp=digits_wht seed=1 results_dir=old"),
                                      ("s2", c["b"], True, "seed=2"), ("s3", c["a"], False, None)):
        path = run_dir(res, sig)
        path.mkdir(parents=True)
        write_record(path, "seed: 0\n", {"signature": sig, "status": "ok", "dataset": "digits", "model": "frozen_mlp",
                                          "seed": 0, "git_commit": commit, "git_dirty": dirty, "overrides": words}, [])
    df = collect(res, log=print)
    assert "2 stale" in capsys.readouterr().out
    assert df.set_index("signature")["stale"].to_dict() == {"s1": True, "s2": False, "s3": True}
    assert main(["pending", "--stale", "--csv", str(res / "all.csv")]) == 0
    out, err = capsys.readouterr()
    # each stale row as the run line that re-runs it into the same folder, forced; s3 recorded no overrides
    assert out.splitlines() == [f"+exp=digits_wht seed=1 results_dir={res} force=true"]
    assert "2 of 3 rows are stale" in err and "s3" in err


def test_a_record_is_dirty_only_for_uncommitted_code_that_can_change_its_numbers(repo):
    # an edit to a launcher or the report cannot move a number (as for "stale"); one to models/ can
    root, _ = repo
    assert identity.git_dirty() is False
    (root / "frozen_bench" / "report" / "r.py").write_text("# edited\n")
    assert identity.git_dirty() is False
    (root / "frozen_bench" / "models" / "m.py").write_text("# edited\n")
    assert identity.git_dirty() is True


def test_a_record_names_the_code_its_process_loaded_not_the_checkout_at_its_end(monkeypatch):
    # a long-lived worker runs the code it loaded: a commit made while it trains must not be its records'
    # commit (that commit's model code may differ: the record would read stale, or dirty, for code it never ran)
    head = {"commit": "aaaaaaaaaaaa", "dirty": False}
    monkeypatch.setattr(identity, "_CODE", {})
    monkeypatch.setattr(identity, "git_commit", lambda: head["commit"])
    monkeypatch.setattr(identity, "git_dirty", lambda: head["dirty"])
    identity.code_version()  # run.execute asks at the start of the first run
    head.update(commit="bbbbbbbbbbbb", dirty=True)  # the checkout moves on while it trains
    p = identity.provenance(0.0, words=["seed=0"])
    assert (p["git_commit"], p["git_dirty"]) == ("aaaaaaaaaaaa", False)
