"""MNIST-format sets (data/vision): Fashion-MNIST taken from the Debian package into an empty
dataset.root is said in one line, once; idx files in place are read without torchvision."""

import gzip
import struct
import subprocess
import sys

import pytest
import torch

from frozen_bench.data import vision
from frozen_bench.data.bundle import DatasetError


def _idx_images(n: int) -> bytes:
    return struct.pack(">IIII", 0x803, n, 28, 28) + bytes(range(256)) * (n * 28 * 28 // 256) + bytes(n * 28 * 28 % 256)


def _idx_labels(n: int) -> bytes:
    return struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n))


def test_the_system_copy_into_an_empty_root_is_one_line_once(tmp_path, monkeypatch):
    sysdir = tmp_path / "usr-share-datasets-fashion-mnist"
    sysdir.mkdir()
    for f, blob in zip(vision._FILES, (_idx_images(24), _idx_labels(24), _idx_images(10), _idx_labels(10))):
        (sysdir / f"{f}.gz").write_bytes(gzip.compress(blob))
    monkeypatch.setitem(vision.SOURCES, "fashion_mnist", ("FashionMNIST", 0.286, 0.353, (str(sysdir),)))
    said = []
    monkeypatch.setattr(vision, "say", said.append)
    cfg = {"name": "fashion_mnist", "root": str(tmp_path / "empty"), "download": False, "val_fraction": 0.25}
    b = vision.load_vision_bundle(cfg)
    assert len(b.x_train) + len(b.x_val) == 24 and len(b.x_test) == 10
    raw = tmp_path / "empty" / "FashionMNIST" / "raw"
    assert said == [f"[frozen-bench] dataset=fashion_mnist: copied 4 file(s) from the system package in {sysdir} "
                    f"into {raw} (once; no download)"]
    vision.load_vision_bundle(cfg)
    assert len(said) == 1  # the files are there now: nothing to copy, nothing said


def _raw_folder(tmp_path, n_train=24, n_test=10):
    raw = tmp_path / "root" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f, blob in zip(vision._FILES, (_idx_images(n_train), _idx_labels(n_train), _idx_images(n_test), _idx_labels(n_test))):
        (raw / f).write_bytes(blob)
    return raw


def test_idx_files_read_as_torchvision_reads_them(tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    raw = _raw_folder(tmp_path)
    images, labels = raw / vision._FILES[0], raw / vision._FILES[1]
    assert torch.equal(vision.read_idx(images, 3), read_image_file(str(images)))
    assert torch.equal(vision.read_idx(labels, 1).long(), read_label_file(str(labels)))


def test_a_truncated_file_is_one_clear_error(tmp_path):
    raw = _raw_folder(tmp_path)
    f = raw / vision._FILES[2]
    f.write_bytes(f.read_bytes()[:-5])
    cfg = {"name": "fashion_mnist", "root": str(tmp_path / "root"), "download": False}
    with pytest.raises(DatasetError, match=r"cannot read the files in .*raw \(t10k-images-idx3-ubyte holds 7,835 bytes of data, "
                                           r"its header says 7,840 \(truncated\?\)\); delete them and download again"):
        vision.load_vision_bundle(cfg)


def test_files_in_place_need_no_torchvision(tmp_path):
    """torchvision's import (about 1.5 s of every run process) only where a download may be needed."""
    _raw_folder(tmp_path)
    code = ("import sys; from frozen_bench.data import vision; "
            f"b = vision.load_vision_bundle({{'name': 'fashion_mnist', 'root': {str(tmp_path / 'root')!r}, 'download': False}}); "
            "print(len(b.x_test), 'torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["10", "False"]
