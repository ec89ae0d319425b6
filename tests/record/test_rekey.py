"""Data-location keys are not part of the signature, and records made before they left it are
moved to their current folder rather than trained again or listed twice."""

import json

import pandas as pd

from frozen_bench.record.rekey import adopt, rekey_all
from frozen_bench.record.signature import legacy_signature, signature
from frozen_bench.record.store import run_dir, write_record
from frozen_bench.record.table import collect
from frozen_bench.run import to_yaml

CFG = {"dataset": {"name": "fashion_mnist", "root": None, "download": True, "subset": 100},
       "model": {"name": "frozen_mlp", "width": 64}, "seed": 0, "results_dir": "x"}


def with_data(root, download):
    return {**CFG, "dataset": {**CFG["dataset"], "root": root, "download": download}}


def test_the_same_data_from_two_folders_is_one_run_but_other_data_keys_still_count():
    assert signature(with_data("/a", True)) == signature(with_data("/b", False)) == signature(CFG)
    assert signature({**CFG, "dataset": {**CFG["dataset"], "subset": 200}}) != signature(CFG)
    assert signature({**CFG, "dataset": {**CFG["dataset"], "path": "/imgs1"}}) != \
        signature({**CFG, "dataset": {**CFG["dataset"], "path": "/imgs2"}})  # path names WHICH images
    assert legacy_signature(with_data("/a", True)) != legacy_signature(with_data("/b", True))


def old_record(results, cfg, acc=0.8):
    path = run_dir(results, legacy_signature(cfg))
    path.mkdir(parents=True)
    write_record(path, to_yaml(cfg), {"signature": path.name, "status": "ok", "test_accuracy": acc, "seed": 0}, [])
    return path


def test_adopt_moves_a_finished_legacy_record_once(tmp_path):
    old = old_record(tmp_path, CFG)
    assert adopt(tmp_path, CFG, log=lambda *_: None)
    new = run_dir(tmp_path, signature(CFG))
    assert not old.exists() and (new / "config.yaml").exists()
    m = json.loads((new / "metrics.json").read_text())
    assert m["signature"] == new.name and m["legacy_signature"] == old.name and m["test_accuracy"] == 0.8
    assert not adopt(tmp_path, CFG, log=lambda *_: None)  # nothing left to move


def test_adopt_never_replaces_a_current_record(tmp_path):
    old = old_record(tmp_path, CFG, acc=0.1)
    new = run_dir(tmp_path, signature(CFG))
    new.mkdir(parents=True)
    write_record(new, to_yaml(CFG), {"signature": new.name, "status": "ok", "test_accuracy": 0.9}, [])
    assert not adopt(tmp_path, CFG, log=lambda *_: None)
    assert old.exists() and json.loads((new / "metrics.json").read_text())["test_accuracy"] == 0.9


def test_rekey_all_then_collect_lists_each_run_once_under_its_new_signature(tmp_path):
    cfgs = [{**CFG, "seed": s} for s in (0, 1)]
    for c in cfgs:
        old_record(tmp_path, c)
    collect(tmp_path, log=lambda *_: None)  # an all.csv with the legacy signatures, as committed before
    assert rekey_all(tmp_path, log=lambda *_: None) == 2
    df = collect(tmp_path, log=lambda *_: None)
    assert sorted(df["signature"]) == sorted(signature(c) for c in cfgs)
    assert sorted(pd.read_csv(tmp_path / "all.csv")["legacy_signature"]) == sorted(legacy_signature(c) for c in cfgs)
    assert rekey_all(tmp_path, log=lambda *_: None) == 0


def test_a_legacy_copy_of_a_current_record_is_moved_aside_and_listed_once(tmp_path):
    """The same config run again under the current signature before its old record was re-keyed:
    two folders, one seed. collect must list it once (else the tables pool that seed twice)."""
    old = old_record(tmp_path, CFG, acc=0.8)
    new = run_dir(tmp_path, signature(CFG))
    new.mkdir(parents=True)
    write_record(new, to_yaml(CFG), {"signature": new.name, "status": "ok", "test_accuracy": 0.8, "seed": 0}, [])
    collect(tmp_path, log=lambda *_: None)  # the committed all.csv holds both rows
    assert len(pd.read_csv(tmp_path / "all.csv")) == 2
    assert rekey_all(tmp_path, log=lambda *_: None) == 1
    assert not old.exists() and (tmp_path / "runs" / ".superseded" / old.name / "metrics.json").exists()
    df = collect(tmp_path, log=lambda *_: None)
    assert list(df["signature"]) == [new.name] and list(df["legacy_signature"]) == [old.name]
    assert rekey_all(tmp_path, log=lambda *_: None) == 0


def test_a_record_written_before_prune_dropped_augment_none_is_the_current_run(tmp_path):
    """Records of one fair_tune sweep were stored with ``augment: {name: none}`` in their config and
    hashed with it; prune now drops it, so the same run was trained again under the pruned
    signature. rekey must hash a stored config as a run would (pruned) and retire the old copy."""
    cfg = {**CFG, "augment": {"name": "none"}}
    old = run_dir(tmp_path, signature(cfg))
    old.mkdir(parents=True)
    write_record(old, to_yaml(cfg), {"signature": old.name, "status": "ok", "test_accuracy": 0.8, "seed": 0}, [])
    new = run_dir(tmp_path, signature(CFG))
    assert new != old
    new.mkdir(parents=True)
    write_record(new, to_yaml(CFG), {"signature": new.name, "status": "ok", "test_accuracy": 0.8, "seed": 0}, [])
    assert rekey_all(tmp_path, log=lambda *_: None) == 1
    assert not old.exists() and (tmp_path / "runs" / ".superseded" / old.name).exists()
    assert list(collect(tmp_path, log=lambda *_: None)["signature"]) == [new.name]


def test_a_duplicate_is_retired_even_when_the_current_record_already_stands_for_another(tmp_path):
    """A current record that was re-keyed from a data-location copy (legacy_signature set) and also
    has a pre-prune copy: the copy is moved aside, its all.csv row dropped, the first name kept."""
    loc = old_record(tmp_path, CFG)
    assert adopt(tmp_path, CFG, log=lambda *_: None)
    new = run_dir(tmp_path, signature(CFG))
    cfg = {**CFG, "augment": {"name": "none"}}
    old = run_dir(tmp_path, signature(cfg))
    old.mkdir(parents=True)
    write_record(old, to_yaml(cfg), {"signature": old.name, "status": "ok", "test_accuracy": 0.8, "seed": 0}, [])
    collect(tmp_path, log=lambda *_: None)  # the committed all.csv lists both
    assert rekey_all(tmp_path, log=lambda *_: None) == 1
    df = collect(tmp_path, log=lambda *_: None)
    assert list(df["signature"]) == [new.name]
    assert json.loads((new / "metrics.json").read_text())["legacy_signature"] == loc.name


def test_a_failed_record_under_an_old_name_is_retired_only_when_the_current_folder_has_a_record(tmp_path):
    cfg = {**CFG, "augment": {"name": "none"}}
    old = run_dir(tmp_path, signature(cfg))
    old.mkdir(parents=True)
    write_record(old, to_yaml(cfg), {"signature": old.name, "status": "failed", "error": "x", "seed": 0}, [])
    assert rekey_all(tmp_path, log=lambda *_: None) == 0 and old.exists()  # nothing current: it stays
    new = run_dir(tmp_path, signature(CFG))
    new.mkdir(parents=True)
    write_record(new, to_yaml(CFG), {"signature": new.name, "status": "failed", "error": "x", "seed": 0}, [])
    assert rekey_all(tmp_path, log=lambda *_: None) == 1
    assert not old.exists() and list(collect(tmp_path, log=lambda *_: None)["signature"]) == [new.name]
