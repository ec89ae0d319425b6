import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from frozen_bench.data import DatasetError, load_dataset
from frozen_bench.data import cifar
from tests.data_fixtures import write_cifar10, write_cifar100


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
