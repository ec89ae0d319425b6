"""CIFAR-10 and CIFAR-100, read from the python-pickle batches torchvision downloads.

Files live in ``<root>/cifar-10-batches-py/{data_batch_1..5,test_batch}`` and
``<root>/cifar-100-python/{train,test}`` (torchvision's layout). With ``download=true`` and the
files missing, torchvision fetches and extracts them. The batches are then read here directly
with ``pickle`` rather than through ``torchvision.datasets.CIFAR10``, whose md5 check would reject
any file but the official one (so small fixtures in the real format exercise this same path).
The decoded uint8 tensors are cached once under ``<root>/frozen_bench_cache/``.

``dataset.source`` picks where the images come from: ``official`` (the batches above, downloaded
if missing), ``imagefolder`` (a class-folder tree or its tar archives at ``dataset.path``, read by
frozen_bench.data.imagefolder: e.g. the JPEG re-encoding ``cifar10-jpeg/{train,test}.tar.gz``), or
``auto`` (the default): the official batches when present in ``dataset.root``, else an image folder
at ``dataset.path`` (null: ``<root>/cifar10-jpeg``, else ``../shared/data/cifar10-jpeg`` next to the
checkout), else the official download. Both sources are normalized with the same per-channel
mean/std and split 45k/5k (seeded) + 10k test. A bundle from JPEG files is named ``cifar10_jpeg``
(``cifar10_imagefolder`` for other formats), so records and figures say which pixels they saw.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from frozen_bench.atomic import atomic_open
from frozen_bench.data import preprocess as P
from frozen_bench.data.bundle import DataBundle, DatasetError, split_train_val
from frozen_bench.data.paths import cache_dir, data_root, first_existing, shared_data_dir

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


SOURCES = ("auto", "official", "imagefolder")


def _imagefolder_path(cfg: dict, name: str, root: Path) -> Path | None:
    if cfg.get("path"):
        return Path(cfg["path"]).expanduser()
    return first_existing(root / f"{name}-jpeg", shared_data_dir() / f"{name}-jpeg")


def _load_from_imagefolder(cfg: dict, name: str, path: Path | None, log=print) -> DataBundle:
    from frozen_bench.data.imagefolder import normalize, read_imagefolder

    _, _, _, _, classes, _, mean, std = _SOURCES[name]
    if path is None:
        raise DatasetError(f"dataset={name} dataset.source=imagefolder: set dataset.path to a folder with "
                           f"train/ and test/ class folders (or train.tar.gz and test.tar.gz)")
    blob = read_imagefolder(path, root=cfg.get("root"), image_size=None, channels=3, train_split="train",
                            val_split=None, test_split="test", what=name, log=log)  # the cache dataset=imagefolder uses
    shapes = {tuple(x.shape[1:]) for x in blob["x"].values()}
    if shapes != {(3, 32, 32)}:
        raise DatasetError(f"dataset={name}: images in {path} are {sorted(shapes)}, expected 3x32x32")
    if len(blob["classes"]) != classes:
        raise DatasetError(f"dataset={name}: {path} has {len(blob['classes'])} class folders, expected {classes}")
    x_tr, y_tr, x_va, y_va = split_train_val(blob["x"]["train"], blob["y"]["train"],
                                             float(cfg.get("val_fraction", 0.1)), seed=1)
    fmt = blob["formats"]
    bname = f"{name}_jpeg" if fmt == ["jpeg"] else f"{name}_imagefolder"
    info = {"source": "imagefolder", "path": blob["path"], "cache": blob["cache"], "formats": fmt,
            "classes": blob["classes"]}
    info["preprocess"] = P.image(bname, (3, 32, 32), 3, (32, 32), mean, std, blob["classes"])
    if fmt == ["jpeg"]:
        info["note"] = (f"{name} re-encoded as JPEG: pixels differ slightly from the official batches, "
                        f"accuracies are not bit-comparable with published numbers")
    return DataBundle(bname, normalize(x_tr, mean, std), y_tr, normalize(x_va, mean, std), y_va,
                      normalize(blob["x"]["test"], mean, std), blob["y"]["test"], num_classes=classes, info=info)


def load_cifar_bundle(cfg: dict) -> DataBundle:
    name = cfg["name"]
    folder_name, train_files, test_files, label_key, classes, _, mean, std = _SOURCES[name]
    root = data_root(cfg.get("root"))
    folder = root / folder_name
    files = train_files + test_files
    source = cfg.get("source") or "auto"
    if source not in SOURCES:
        raise ValueError(f"dataset.source must be one of {', '.join(SOURCES)}, got {source!r}")
    if source == "auto" and not all((folder / f).exists() for f in files):
        path = _imagefolder_path(cfg, name, root)
        if path is not None and path.exists():
            source = "imagefolder"
    if source == "imagefolder":
        return _load_from_imagefolder(cfg, name, _imagefolder_path(cfg, name, root))
    missing = lambda: [f for f in files if not (folder / f).exists()]  # noqa: E731
    fixes = (f"go online and run with dataset.download=true, or place {', '.join(files)} there "
             f"(or set dataset.root / FROZEN_BENCH_DATA), or point dataset.path at a class-folder copy")
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
    spec = P.image(name, (3, 32, 32), 3, (32, 32), mean, std, _class_names(name, folder, classes))
    return DataBundle(name, x_tr, y_tr, x_va, y_va, x_te, y_te, num_classes=classes,
                      info={"source": "official", "root": str(root), "folder": str(folder), "preprocess": spec})


def _class_names(name: str, folder: Path, classes: int) -> list[str]:
    """The class names of the official batches (their meta file), else CIFAR-10's known ones or numbers."""
    meta, key = (folder / "batches.meta", b"label_names") if name == "cifar10" else (folder / "meta", b"fine_label_names")
    try:
        with open(meta, "rb") as fh:
            names = [n.decode() for n in pickle.load(fh, encoding="bytes")[key]]
        if len(names) == classes:
            return names
    except (OSError, EOFError, KeyError, ValueError, AttributeError, pickle.UnpicklingError):
        pass
    return list(P.CIFAR10_CLASSES) if name == "cifar10" else [str(i) for i in range(classes)]
