"""MNIST and Fashion-MNIST, decoded once into tensors.

Files live in ``<root>/<MNIST|FashionMNIST>/raw`` (torchvision's layout). With ``download=true``
torchvision fetches them when online. Offline, Fashion-MNIST is also taken from the Debian package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist/*.gz``) when it is installed. Files
already there are read here (``read_idx``, the same tensors as torchvision's reader), without
importing torchvision: its import costs each run process about 1.5 s (it loads torch._dynamo).
"""

from __future__ import annotations

import gzip
import math
import shutil
from pathlib import Path

import torch

from frozen_bench.atomic import atomic_open
from frozen_bench.data import preprocess as P
from frozen_bench.data.bundle import DataBundle, DatasetError, split_train_val
from frozen_bench.data.paths import data_root
from frozen_bench.progress import say

# name -> (torchvision class name, mean, std, folders where a system package keeps the .gz files)
SOURCES = {
    "mnist": ("MNIST", 0.1307, 0.3081, ()),
    "fashion_mnist": ("FashionMNIST", 0.2860, 0.3530, ("/usr/share/datasets/fashion-mnist",)),
}
_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _adopt_system_copy(raw: Path, system_dirs: tuple[str, ...], name: str = "") -> None:
    """Decompress a system package's .gz files into torchvision's raw folder if they are missing,
    saying so in one line (the files appear under ``dataset.root`` without a download)."""
    if all((raw / f).exists() for f in _FILES):
        return
    for d in system_dirs:
        src = Path(d)
        if all((src / f"{f}.gz").exists() for f in _FILES):
            raw.mkdir(parents=True, exist_ok=True)
            missing = [f for f in _FILES if not (raw / f).exists()]
            for f in missing:
                with gzip.open(src / f"{f}.gz", "rb") as fin, atomic_open(raw / f, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
            say(f"[frozen-bench] dataset={name}: copied {len(missing)} file(s) from the system package in {src} "
                f"into {raw} (once; no download)")
            return


def read_idx(path: Path, ndim: int) -> torch.Tensor:
    """An unsigned-byte idx file (the MNIST format: magic 0x0800 | ndim, big-endian sizes, then
    the bytes) as a uint8 tensor; ValueError naming what is wrong where the file is not one."""
    blob = Path(path).read_bytes()
    if len(blob) < 4 + 4 * ndim or blob[:2] != b"\0\0" or blob[2] != 0x08 or blob[3] != ndim:
        raise ValueError(f"{Path(path).name} is not a {ndim}-d unsigned-byte idx file")
    dims = [int.from_bytes(blob[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = blob[4 + 4 * ndim:]
    if len(body) != math.prod(dims):
        raise ValueError(f"{Path(path).name} holds {len(body):,} bytes of data, its header says {math.prod(dims):,} (truncated?)")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).view(*dims)


def _read_raw(raw: Path) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """((train images, labels), (test images, labels)) from the four idx files in ``raw``."""
    x_tr, y_tr, x_te, y_te = (read_idx(raw / f, 3 if "images" in f else 1) for f in _FILES)
    for x, y in ((x_tr, y_tr), (x_te, y_te)):
        if len(x) != len(y):
            raise ValueError(f"{len(x):,} images but {len(y):,} labels")
    return (x_tr, y_tr.long()), (x_te, y_te.long())


def load_vision_bundle(cfg: dict) -> DataBundle:
    name = cfg["name"]
    cls_name, mean, std, system_dirs = SOURCES[name]
    root = data_root(cfg.get("root"))
    raw = root / cls_name / "raw"
    download = bool(cfg.get("download", True))
    try:
        _adopt_system_copy(raw, system_dirs, name)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DatasetError(f"dataset={name}: could not decompress the system copy into {raw} ({e})") from None
    if all((raw / f).exists() for f in _FILES):
        try:
            train, test = _read_raw(raw)
        except (OSError, ValueError) as e:
            raise DatasetError(f"dataset={name}: cannot read the files in {raw} ({e}); delete them and download again") from None
    else:
        train, test = _download(name, cls_name, root, raw, download)

    def prep(pair):
        data, targets = pair
        x = data.to(torch.float32).div_(255.0).sub_(mean).div_(std).unsqueeze(1)  # (N, 1, 28, 28)
        return x, targets.to(torch.long)

    x_tr, y_tr = prep(train)
    x_te, y_te = prep(test)
    x_tr, y_tr, x_va, y_va = split_train_val(x_tr, y_tr, float(cfg.get("val_fraction", 1 / 12)), seed=1)
    classes = P.FASHION_CLASSES if name == "fashion_mnist" else [str(i) for i in range(10)]
    info = {"root": str(root), "preprocess": P.image(name, x_tr.shape[1:], 1, (28, 28), mean, std, classes)}
    return DataBundle(name, x_tr, y_tr, x_va, y_va, x_te, y_te, num_classes=10, info=info)


def _download(name: str, cls_name: str, root: Path, raw: Path, download: bool):
    """The files through torchvision's class (which fetches them when ``download`` and online):
    ((train images, labels), (test images, labels))."""
    import torchvision

    cls = getattr(torchvision.datasets, cls_name)
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except RuntimeError as e:
        if "not found" in str(e).lower() or "download" in str(e).lower():
            raise DatasetError(
                f"dataset={name}: files not found in {raw}; go online and run with dataset.download=true, "
                f"or place {', '.join(_FILES)} there (or set dataset.root / FROZEN_BENCH_DATA)"
            ) from None
        raise DatasetError(f"dataset={name}: cannot read the files in {raw} ({e}); delete them and download again") from None
    except Exception as e:  # network errors when download=true offline, corrupt files
        if not all((raw / f).exists() for f in _FILES):
            raise DatasetError(
                f"dataset={name}: download failed and files not found in {raw} ({type(e).__name__}); go online with "
                f"dataset.download=true, or place {', '.join(_FILES)} there"
            ) from None
        raise DatasetError(f"dataset={name}: cannot read the files in {raw} ({e}); delete them and download again") from None
    return (train.data, train.targets), (test.data, test.targets)
