import pickle
import time

import numpy as np
import pytest
import torch

from frozen_bench.data import DatasetError, load_dataset
from frozen_bench.data import cifar
from frozen_bench.data.paths import shared_data_dir
from tests.data_fixtures import tar_splits, write_cifar10, write_cifar100, write_imagefolder

CIFAR_JPEG = shared_data_dir() / "cifar10-jpeg"
CLASSES10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture(autouse=True)
def no_shared_copy(tmp_path_factory, monkeypatch):
    """Fixture tests must not pick up the real ../shared/data copy through source=auto."""
    monkeypatch.setenv("FROZEN_BENCH_SHARED_DATA", str(tmp_path_factory.mktemp("no_shared")))


def test_cifar10_reads_the_pickle_batches_in_torchvision_layout(tmp_path):
    folder = write_cifar10(tmp_path)
    b = load_dataset({"name": "cifar10", "root": str(tmp_path), "download": False, "val_fraction": 0.1})
    assert b.name == "cifar10" and not b.synthetic and b.num_classes == 10
    assert b.x_train.shape == (180, 3, 32, 32) and len(b.x_val) == 20 and b.x_test.shape == (100, 3, 32, 32)
    # pixel (image 0, channel 1, row 2, col 3) of test_batch equals the raw byte, normalized
    raw = pickle.load(open(folder / "test_batch", "rb"), encoding="bytes")
    px = raw[b"data"][0].reshape(3, 32, 32)[1, 2, 3] / 255.0
    assert b.x_test[0, 1, 2, 3].item() == pytest.approx((px - 0.4822) / 0.2435, abs=1e-5)
    assert b.y_test.tolist() == raw[b"labels"]
    assert (tmp_path / "frozen_bench_cache" / "cifar10_uint8.pt").exists()
    again = load_dataset({"name": "cifar10", "root": str(tmp_path), "download": False})  # from the cache
    assert torch.equal(again.x_test, b.x_test)


def test_cifar100_fine_labels(tmp_path):
    write_cifar100(tmp_path)
    b = load_dataset({"name": "cifar100", "root": str(tmp_path), "download": False})
    assert b.num_classes == 100 and b.x_test.shape == (100, 3, 32, 32)
    assert b.y_test.tolist() == list(range(100))  # fine, not coarse (which stop at 19)


def test_offline_missing_cifar_is_one_line_naming_folder_and_fixes(tmp_path, monkeypatch):
    with pytest.raises(DatasetError) as e:
        load_dataset({"name": "cifar10", "root": str(tmp_path), "download": False})
    msg = str(e.value)
    assert "\n" not in msg and "cifar10" in msg and str(tmp_path / "cifar-10-batches-py") in msg
    assert "download=true" in msg and "place" in msg

    def offline(name, root):
        import urllib.error
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(cifar, "_download", offline)
    with pytest.raises(DatasetError) as e:
        load_dataset({"name": "cifar100", "root": str(tmp_path), "download": True})
    msg = str(e.value)
    assert "\n" not in msg and "cifar100" in msg and "download failed (URLError)" in msg and "place" in msg


def test_corrupt_cifar_batch_is_a_clear_error(tmp_path):
    folder = write_cifar10(tmp_path, per_batch=10, n_test=10)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="cannot read the batches"):
        load_dataset({"name": "cifar10", "root": str(tmp_path), "download": False})


def _jpeg_tree(folder, fmt="jpg", classes=CLASSES10):
    return write_imagefolder(folder, classes=classes, per_class={"train": 10, "test": 3}, fmt=fmt, size=(32, 32))


def test_cifar10_from_jpeg_archives_is_named_cifar10_jpeg_with_the_official_normalization(tmp_path):
    tree = _jpeg_tree(tmp_path / "tree")
    archives = tar_splits(tree, tmp_path / "cifar10-jpeg")  # train.tar.gz, test.tar.gz as in ../shared/data
    cfg = {"name": "cifar10", "root": str(tmp_path / "root"), "download": False, "source": "imagefolder",
           "path": str(archives), "val_fraction": 0.1}
    b = load_dataset(cfg)
    assert b.name == "cifar10_jpeg" and not b.synthetic and b.num_classes == 10
    assert b.info["source"] == "imagefolder" and "JPEG" in b.info["note"]
    assert (len(b.x_train), len(b.x_val), len(b.x_test)) == (90, 10, 30) and b.x_test.shape[1:] == (3, 32, 32)
    from PIL import Image

    px = np.array(Image.open(tree / "test" / "bird" / "0001.jpg"))[2, 3, 1] / 255.0  # decoded as stored
    assert b.x_test[7, 1, 2, 3].item() == pytest.approx((px - 0.4822) / 0.2435, abs=1e-5)  # bird = label 2
    assert b.y_test.tolist() == [c for c in range(10) for _ in range(3)]
    png = load_dataset({**cfg, "path": str(_jpeg_tree(tmp_path / "png", fmt="png"))})
    assert png.name == "cifar10_imagefolder" and "note" not in png.info


def test_cifar10_auto_prefers_the_official_batches_then_an_image_folder(tmp_path):
    root = tmp_path / "root"
    tar_splits(_jpeg_tree(tmp_path / "tree"), root / "cifar10-jpeg")
    cfg = {"name": "cifar10", "root": str(root), "download": False, "source": "auto", "path": None}
    assert load_dataset(cfg).name == "cifar10_jpeg"  # no batches: <root>/cifar10-jpeg
    write_cifar10(root, per_batch=10, n_test=10)
    b = load_dataset({**cfg, "val_fraction": 0.2})
    assert b.name == "cifar10" and b.info["source"] == "official"
    with pytest.raises(DatasetError, match="3 class folders, expected 10"):
        load_dataset({**cfg, "source": "imagefolder", "path": str(_jpeg_tree(tmp_path / "t3", classes=("a", "b", "c")))})
    with pytest.raises(DatasetError, match="dataset.path"):
        load_dataset({"name": "cifar10", "root": str(tmp_path / "empty"), "source": "imagefolder", "path": None})
    with pytest.raises(ValueError, match="dataset.source"):
        load_dataset({**cfg, "source": "jpeg"})


@pytest.mark.skipif(not (CIFAR_JPEG / "train.tar.gz").exists(), reason=f"real CIFAR-10 JPEG copy absent ({CIFAR_JPEG})")
def test_real_cifar10_jpeg_full_split_from_the_cache(monkeypatch):
    """dataset=cifar10 on the real JPEG copy: 45k / 5k / 10k; the cache (in the user cache folder,
    outside the repo and the share) makes a second load take seconds."""
    monkeypatch.setenv("FROZEN_BENCH_SHARED_DATA", str(CIFAR_JPEG.parent))
    cfg = {"name": "cifar10", "root": None, "source": "imagefolder", "path": None, "val_fraction": 0.1}
    load_dataset(cfg)  # builds the cache if this machine has none yet (~15 s)
    t = time.perf_counter()
    b = load_dataset({**cfg, "download": False})  # another cfg key: a real load, from the cache
    assert time.perf_counter() - t < 20
    assert b.name == "cifar10_jpeg" and (len(b.x_train), len(b.x_val), len(b.x_test)) == (45000, 5000, 10000)
    assert abs(b.x_train.mean().item()) < 0.05  # the official mean/std fit the JPEG copy too
    assert not b.info["cache"].startswith(str(shared_data_dir()))
