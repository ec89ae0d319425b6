"""``load_dataset`` keeps a loaded dataset in memory only inside ``keep_loaded()`` (a sweep's jobs
share one decode); outside it a second call reads the data again, so changed files, another data
folder or another working directory never return the first call's tensors."""

from __future__ import annotations

import os

import torch

from frozen_bench.data import keep_loaded, load_dataset
from tests.data_fixtures import write_imagefolder


def cfg(path, root) -> dict:
    return {"name": "imagefolder", "path": str(path), "root": str(root), "channels": 3}


def test_a_second_load_sees_the_new_files(tmp_path):
    tree = write_imagefolder(tmp_path / "imgs", classes=("a", "b"), seed=0)
    first = load_dataset(cfg(tree, tmp_path / "cache"))
    import shutil

    shutil.rmtree(tree)
    write_imagefolder(tree, classes=("a", "b", "c"), seed=1)  # the same path, other data
    second = load_dataset(cfg(tree, tmp_path / "cache"))
    assert first.num_classes == 2 and second.num_classes == 3


def test_inside_keep_loaded_equal_configs_share_one_decode(tmp_path):
    tree = write_imagefolder(tmp_path / "imgs", classes=("a", "b"))
    with keep_loaded():
        a = load_dataset(cfg(tree, tmp_path / "cache"))
        b = load_dataset({**cfg(tree, tmp_path / "cache"), "subset": 5}, seed=1)
        assert b.x_test is a.x_test and len(b.x_train) == 5
    c = load_dataset(cfg(tree, tmp_path / "cache"))
    assert c.x_test is not a.x_test and torch.equal(c.x_test, a.x_test)  # freed at the end of the block


def test_a_relative_path_in_another_folder_is_other_data(tmp_path):
    for d, classes in (("one", ("a", "b")), ("two", ("a", "b", "c", "d"))):
        write_imagefolder(tmp_path / d / "imgs", classes=classes)
    here = os.getcwd()
    try:
        with keep_loaded():
            os.chdir(tmp_path / "one")
            first = load_dataset(cfg("imgs", tmp_path / "cache"))
            os.chdir(tmp_path / "two")
            second = load_dataset(cfg("imgs", tmp_path / "cache"))
    finally:
        os.chdir(here)
    assert (first.num_classes, second.num_classes) == (2, 4)


def test_an_in_process_sweep_keeps_its_dataset_only_while_it_runs(tmp_path, monkeypatch):
    """The jobs of a sweep in this process share one decode (load_dataset is called once per
    distinct dataset); after the sweep a load reads the files again."""
    import frozen_bench.data as D
    from frozen_bench.cli import main

    from frozen_bench.registry import Entry

    calls = []
    real = D.DATASETS.entry("digits")
    monkeypatch.setitem(D.DATASETS._entries, "digits", Entry("digits", lambda cfg: calls.append(1) or real.build(cfg), real.meta))
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-m", "seed=0,1", "trainer.epochs=1", "trainer.latency_reps=0", f"results_dir={tmp_path / 'r'}"]) == 0
    assert len(calls) == 1
    assert D._last is None and not D._keep  # released: a later load is fresh
