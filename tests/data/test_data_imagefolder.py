import os
import time

import numpy as np
import pytest
import torch
from PIL import Image

from frozen_bench.data import DatasetError, load_dataset
from frozen_bench.data import imagefolder
from frozen_bench.data.paths import shared_data_dir
from tests.data_fixtures import tar_splits, tar_tree, write_imagefolder

CIFAR_JPEG = shared_data_dir() / "cifar10-jpeg"


def _cfg(tmp_path, path, **kw):
    return {"name": "imagefolder", "path": str(path), "root": str(tmp_path / "cache"), "image_size": None,
            "channels": 3, "train_split": "train", "val_split": "val", "test_split": "test",
            "val_fraction": 0.2, "split_seed": 1, "mean": None, "std": None, **kw}


def test_png_tree_decodes_exactly_and_labels_follow_sorted_class_folders(tmp_path):
    tree = write_imagefolder(tmp_path / "imgs", classes=("frog", "cat", "dog"))
    b = load_dataset(_cfg(tmp_path, tree, mean=[0.0] * 3, std=[1.0] * 3))
    assert b.name == "imagefolder" and b.num_classes == 3 and b.info["classes"] == ["cat", "dog", "frog"]
    assert (len(b.x_train), len(b.x_val), len(b.x_test)) == (24, 6, 12)  # 30 train images, 20% to val
    assert b.x_test.shape == (12, 3, 8, 8) and b.x_test.dtype == torch.float32
    assert b.y_test.tolist() == [0] * 4 + [1] * 4 + [2] * 4  # test order: (class, file name)
    px = np.array(Image.open(tree / "test" / "dog" / "0002.png"))  # (H, W, 3), lossless
    assert torch.allclose(b.x_test[6], torch.from_numpy(px).permute(2, 0, 1).float() / 255, atol=1e-6)
    assert b.info["formats"] == ["png"] and "val_fraction=0.2" in b.info["val_from"]


def test_default_normalization_uses_training_split_channel_stats(tmp_path):
    tree = write_imagefolder(tmp_path / "imgs")
    b = load_dataset(_cfg(tmp_path, tree))
    assert b.x_train.mean((0, 2, 3)).abs().max() < 1e-4
    assert torch.allclose(b.x_train.std((0, 2, 3)), torch.ones(3), atol=1e-3)


def test_tar_gz_per_split_and_whole_archive_equal_the_folder_tree(tmp_path):
    tree = write_imagefolder(tmp_path / "imgs", fmt="jpg")
    ref = load_dataset(_cfg(tmp_path, tree))
    per_split = tar_splits(tree, tmp_path / "archives")  # train.tar.gz + test.tar.gz, members split/class/file
    whole = tar_tree(tree, tmp_path / "all.tar.gz", top="imgs")  # imgs/split/class/file
    plain = tar_tree(tree, tmp_path / "all.tar")
    for src in (per_split, whole, plain):
        b = load_dataset(_cfg(tmp_path, src))
        assert b.info["formats"] == ["jpeg"]
        for part in ("x_train", "y_train", "x_val", "x_test", "y_test"):
            assert torch.equal(getattr(b, part), getattr(ref, part)), (src, part)
    assert not any(p.name.endswith(".jpg") for p in (tmp_path / "archives").rglob("*"))  # nothing extracted


def test_val_folder_is_used_when_present(tmp_path):
    tree = write_imagefolder(tmp_path / "imgs", per_class={"train": 6, "val": 2, "test": 3})
    b = load_dataset(_cfg(tmp_path, tree))
    assert (len(b.x_train), len(b.x_val), len(b.x_test)) == (18, 6, 9) and b.info["val_from"] == "val split"


def test_split_names_are_options(tmp_path):
    tree = write_imagefolder(tmp_path / "imgs", per_class={"training": 5, "testing": 2})
    b = load_dataset(_cfg(tmp_path, tree, train_split="training", test_split="testing", val_fraction=0.0))
    assert (len(b.x_train), len(b.x_val), len(b.x_test)) == (15, 0, 6)
    with pytest.raises(DatasetError, match="no train split 'train'"):
        load_dataset(_cfg(tmp_path, tree))


def test_image_size_resizes_and_mixed_sizes_need_it(tmp_path):
    tree = write_imagefolder(tmp_path / "imgs", size=(8, 8))
    Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(tree / "train" / "cat" / "big.png")
    with pytest.raises(DatasetError, match="image_size"):
        load_dataset(_cfg(tmp_path, tree))
    b = load_dataset(_cfg(tmp_path, tree, image_size=16))
    assert b.x_train.shape[1:] == (3, 16, 16)
    g = load_dataset(_cfg(tmp_path, tree, image_size=[6, 4], channels=1))
    assert g.x_test.shape[1:] == (1, 6, 4)


def test_second_load_reads_the_cache_and_a_changed_file_invalidates_it(tmp_path, monkeypatch):
    tree = write_imagefolder(tmp_path / "imgs")
    fixed = {"mean": [0.5] * 3, "std": [0.25] * 3}  # not the (split-dependent) train statistics
    first = load_dataset(_cfg(tmp_path, tree, **fixed))
    caches = list((tmp_path / "cache" / "frozen_bench_cache").glob("imagefolder_imgs_*.pt"))
    assert len(caches) == 1 and first.info["cache"] == str(caches[0])
    real_decode = imagefolder._decode
    monkeypatch.setattr(imagefolder, "_decode", lambda *a: (_ for _ in ()).throw(AssertionError("decoded again")))
    again = load_dataset(_cfg(tmp_path, tree, val_fraction=0.3, **fixed))  # another cfg key: no in-process reuse
    assert torch.equal(again.x_test, first.x_test)
    f = tree / "test" / "cat" / "0000.png"
    Image.fromarray(np.full((8, 8, 3), 255, np.uint8)).save(f)
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 10**9))
    with pytest.raises(AssertionError, match="decoded again"):
        load_dataset(_cfg(tmp_path, tree, val_fraction=0.25, **fixed))
    monkeypatch.setattr(imagefolder, "_decode", real_decode)
    changed = load_dataset(_cfg(tmp_path, tree, **fixed))
    assert changed.x_test[0].max() > first.x_test[0].max()
    assert len(list((tmp_path / "cache" / "frozen_bench_cache").glob("imagefolder_imgs_*.pt"))) == 1  # overwritten


def test_clear_errors_for_missing_path_corrupt_image_and_unknown_test_class(tmp_path):
    with pytest.raises(DatasetError, match="set dataset.path"):
        load_dataset(_cfg(tmp_path, ""))
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(_cfg(tmp_path, tmp_path / "nope"))
    tree = write_imagefolder(tmp_path / "imgs")
    (tree / "train" / "cat" / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="bad.png") as e:
        load_dataset(_cfg(tmp_path, tree))
    assert "\n" not in str(e.value)
    (tree / "train" / "cat" / "bad.png").unlink()
    write_imagefolder(tree, classes=("emu",), per_class={"test": 1})
    with pytest.raises(DatasetError, match="emu"):
        load_dataset(_cfg(tmp_path, tree))


@pytest.mark.skipif(not (CIFAR_JPEG / "train.tar.gz").exists(), reason=f"real CIFAR-10 JPEG copy absent ({CIFAR_JPEG})")
def test_real_cifar10_jpeg_archives_as_imagefolder(tmp_path):
    """The real 60k-image archives: decoded once (~15 s) into the user cache (root null, outside the
    repo and the share), then loaded from it in seconds."""
    cfg = _cfg(tmp_path, CIFAR_JPEG, val_fraction=0.1, root=None)
    load_dataset(cfg)  # builds the cache if this machine has none yet
    t = time.perf_counter()
    b = load_dataset({**cfg, "split_seed": 1.0})  # another cfg key: a real load, from the cache
    assert time.perf_counter() - t < 20
    assert (len(b.x_train), len(b.x_val), len(b.x_test)) == (45000, 5000, 10000)
    assert b.info["classes"][:3] == ["airplane", "automobile", "bird"] and b.info["formats"] == ["jpeg"]
    assert torch.bincount(b.y_test).tolist() == [1000] * 10
    assert not str(b.info["cache"]).startswith(str(shared_data_dir()))


def test_parallel_loads_that_miss_the_cache_decode_once(tmp_path, monkeypatch):
    """Two jobs of a sweep starting together: one decodes, the other waits for its cache."""
    import threading

    tree = write_imagefolder(tmp_path / "imgs")
    calls, real = [], imagefolder._decode_all

    def slow_decode(*a):
        calls.append(1)
        time.sleep(0.3)  # long enough for the other job to reach the cache and wait
        return real(*a)

    monkeypatch.setattr(imagefolder, "_decode_all", slow_decode)
    fixed = {"mean": [0.5] * 3, "std": [0.25] * 3}
    out = {}
    jobs = [threading.Thread(target=lambda v=v: out.__setitem__(v, load_dataset(_cfg(tmp_path, tree, val_fraction=v, **fixed))))
            for v in (0.2, 0.3)]  # different configs: no in-process reuse, the same cache file
    for j in jobs:
        j.start()
    for j in jobs:
        j.join()
    assert len(calls) == 1 and torch.equal(out[0.2].x_test, out[0.3].x_test)
