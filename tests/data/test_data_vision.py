"""MNIST-format sets (data/vision): Fashion-MNIST taken from the Debian package into an empty
dataset.root is said in one line, once."""

import gzip
import struct

from frozen_bench.data import vision


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
