"""CIFAR-10 and CIFAR-100, read from the python-pickle batches torchvision downloads.

Files live in ``<root>/cifar-10-batches-py/{data_batch_1..5,test_batch}`` and
``<root>/cifar-100-python/{train,test}`` (torchvision's layout). With ``download=true`` and the
files missing, torchvision fetches and extracts them. The batches are then read here directly
with ``pickle`` rather than through ``torchvision.datasets.CIFAR10``, whose md5 check would reject
any file but the official one (so small fixtures in the real format exercise this same path).
The decoded uint8 tensors are cached once under ``<root>/frozen_bench_cache/``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from frozen_bench.atomic import atomic_open
from frozen_bench.data.bundle import DataBundle, DatasetError, split_train_val
from frozen_bench.data.paths import cache_dir, data_root

# name -> (folder, train files, test files, label key, classes, torchvision class, mean, std)
_SOURCES = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels", 10,
                "CIFAR10", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels", 100,
                 "CIFAR100", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


def _download(name: str, root: Path) -> None:
    """Fetch and extract the archive with torchvision (needs the network)."""
    import torchvision

    getattr(torchvision.datasets, _SOURCES[name][5])(str(root), train=True, download=True)


def _read_batches(folder: Path, files: list[str], label_key: bytes) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for f in files:
        with open(folder / f, "rb") as fh:
            entry = pickle.load(fh, encoding="bytes")
        xs.append(np.asarray(entry[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.extend(entry[label_key])
    return torch.from_numpy(np.concatenate(xs)), torch.tensor(ys, dtype=torch.long)


def load_cifar_bundle(cfg: dict) -> DataBundle:
    name = cfg["name"]
    folder_name, train_files, test_files, label_key, classes, _, mean, std = _SOURCES[name]
    root = data_root(cfg.get("root"))
    folder = root / folder_name
    files = train_files + test_files
    missing = lambda: [f for f in files if not (folder / f).exists()]  # noqa: E731
    fixes = (f"go online and run with dataset.download=true, or place {', '.join(files)} there "
             f"(or set dataset.root / FROZEN_BENCH_DATA)")
    if missing():
        if not cfg.get("download", True):
            raise DatasetError(f"dataset={name}: files not found in {folder}; {fixes}")
        try:
            _download(name, root)
        except Exception as e:  # offline: URLError / socket errors; a broken archive
            raise DatasetError(f"dataset={name}: download failed ({type(e).__name__}) and files not found in "
                               f"{folder}; {fixes}") from None
        if missing():
            raise DatasetError(f"dataset={name}: files still missing in {folder} after download: "
                               f"{', '.join(missing())}; place them there")
    cache = cache_dir(root) / f"{name}_uint8.pt"
    stamp = [(f, (folder / f).stat().st_size) for f in files]  # a replaced file invalidates the cache
    blob = None
    if cache.exists():
        try:
            blob = torch.load(cache, weights_only=True)
            if blob.get("stamp") != [list(s) for s in stamp]:
                blob = None
        except Exception:  # a corrupt cache is rebuilt, never fatal
            blob = None
    if blob is None:
        try:
            x_tr, y_tr = _read_batches(folder, train_files, label_key)
            x_te, y_te = _read_batches(folder, test_files, label_key)
        except (OSError, EOFError, KeyError, ValueError, pickle.UnpicklingError) as e:
            raise DatasetError(f"dataset={name}: cannot read the batches in {folder} ({type(e).__name__}: {e}); "
                               f"delete them and download again") from None
        blob = {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te, "stamp": [list(s) for s in stamp]}
        with atomic_open(cache, "wb") as f:
            torch.save(blob, f)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)

    def prep(x):
        return (x.to(torch.float32).div_(255.0) - m) / s  # (N, 3, 32, 32)

    x_tr, y_tr = prep(blob["x_train"]), blob["y_train"]
    x_te, y_te = prep(blob["x_test"]), blob["y_test"]
    x_tr, y_tr, x_va, y_va = split_train_val(x_tr, y_tr, float(cfg.get("val_fraction", 0.1)), seed=1)
    return DataBundle(name, x_tr, y_tr, x_va, y_va, x_te, y_te, num_classes=classes,
                      info={"root": str(root), "folder": str(folder)})
