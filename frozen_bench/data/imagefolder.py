"""A class-folder image tree, or its tar archive(s), decoded once into cached uint8 tensors.

Layouts accepted at ``dataset.path`` (the class of an image is the folder holding it):

- ``<path>/<split>/<class>/<image>``: a folder tree;
- ``<path>/<split>.tar|.tar.gz|.tgz``: one archive per split, members ``[<split>/]<class>/<image>``;
- ``<path>`` itself a ``.tar|.tar.gz|.tgz``: members ``[<top>/]<split>/<class>/<image>``.

Archives are read member by member with ``tarfile`` (nothing is extracted). Images (jpg, png, bmp,
gif, webp, tiff, ppm) are decoded with PIL, converted to RGB (``channels=3``) or grayscale
(``channels=1``) and resized to ``image_size`` if given (bilinear, no crop). Decoding happens once:
the (N, C, H, W) uint8 tensors, labels and class names are cached in
``<root>/frozen_bench_cache/`` (``dataset.root``, else $FROZEN_BENCH_DATA, else ~/.cache), keyed by
the source path and image size, and invalidated when a source file's size or mtime changes.
Classes are the sorted folder names of the train split (so CIFAR's class folders give the
official label order). Image order is (class, file name), whatever the order inside an archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import zlib
from pathlib import Path

import numpy as np
import torch

from frozen_bench.data import preprocess as P
from frozen_bench.data.bundle import DataBundle, DatasetError, split_train_val
from frozen_bench.data.paths import cache_dir, cached, data_root

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
ARCHIVE_EXTS = (".tar.gz", ".tgz", ".tar")
FORMATS = {".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff"}


def is_archive(p: Path) -> bool:
    return p.is_file() and p.name.lower().endswith(ARCHIVE_EXTS)


def _is_image(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_EXTS)


def _size(image_size) -> tuple[int, int] | None:
    """null -> keep native; 32 -> (32, 32); [H, W] -> (H, W)."""
    if image_size in (None, "", 0):
        return None
    if isinstance(image_size, (int, str)):
        return int(image_size), int(image_size)
    h, w = (int(v) for v in image_size)
    return h, w


def locate(path: Path, splits: list[str]) -> dict[str, tuple[str, Path]]:
    """{split: (kind, source)} for the splits present; kind is dir | tar | whole (one archive, all splits)."""
    if is_archive(path):
        return {s: ("whole", path) for s in splits}  # presence is known only after reading
    found = {}
    for s in splits:
        if (path / s).is_dir():
            found[s] = ("dir", path / s)
            continue
        for ext in ARCHIVE_EXTS:
            if (path / f"{s}{ext}").is_file():
                found[s] = ("tar", path / f"{s}{ext}")
                break
    return found


def _stamp(sources: dict[str, tuple[str, Path]]) -> str:
    """A hash of every source file's name, size and mtime: a changed file invalidates the cache."""
    h = hashlib.sha1()
    for s, (kind, src) in sorted(sources.items()):
        if kind == "dir":
            files = sorted(f for f in src.rglob("*") if f.is_file() and _is_image(f.name))
        else:
            files = [src]
        for f in files:
            st = f.stat()
            h.update(f"{s}|{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _decode(data: bytes, size, mode: str, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert(mode)
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            a = np.asarray(im)
    except UnidentifiedImageError:  # PIL's own message names the in-memory buffer (<_io.BytesIO object at 0x...>)
        raise DatasetError(f"cannot decode image {where}: not an image file PIL can read (empty, truncated or another "
                           f"format); remove or replace it") from None
    except (OSError, ValueError) as e:
        msg = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the file", " ".join(str(e).split()))
        raise DatasetError(f"cannot decode image {where} ({type(e).__name__}: {msg}); remove or replace it") from None
    return a.reshape(a.shape[0], a.shape[1], -1)  # (H, W, C)


def _members(kind: str, src: Path, splits: list[str]):
    """Yield (split, class, file name, bytes) for every image of the requested splits."""
    if kind == "dir":
        (split,) = splits
        for f in sorted(src.rglob("*")):
            rel = f.relative_to(src).parts
            if len(rel) >= 2 and f.is_file() and _is_image(f.name):
                yield split, rel[0], "/".join(rel[1:]), f.read_bytes()
        return
    try:
        tf = tarfile.open(src, "r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DatasetError(f"cannot open archive {src} ({type(e).__name__}: {e})") from None
    with tf:
        try:
            for m in tf:  # sequential: a .tar.gz is decompressed once
                if not m.isfile() or not _is_image(m.name):
                    continue
                parts = [p for p in m.name.split("/") if p not in ("", ".")]
                if kind == "tar":
                    if len(parts) < 2:
                        continue
                    split = splits[0]
                else:  # whole archive: [<top>/]<split>/<class>/<file>
                    if len(parts) < 3 or parts[-3] not in splits:
                        continue
                    split = parts[-3]
                yield split, parts[-2], parts[-1], tf.extractfile(m).read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"cannot read archive {src} ({type(e).__name__}: {e}); it may be truncated") from None


def _decode_all(sources: dict[str, tuple[str, Path]], splits: list[str], size, channels: int, log) -> dict:
    mode = {3: "RGB", 1: "L"}.get(int(channels))
    if mode is None:
        raise ValueError(f"dataset.channels must be 3 (RGB) or 1 (grayscale), got {channels}")
    items: dict[str, list] = {s: [] for s in splits}
    formats: set[str] = set()
    jobs: dict[tuple[str, Path], list[str]] = {}
    for s, (kind, src) in sources.items():
        jobs.setdefault((kind, src), []).append(s)
    n = 0
    for (kind, src), want in jobs.items():
        for split, cls, fname, data in _members(kind, src, want):
            a = _decode(data, size, mode, f"{src}:{split}/{cls}/{fname}")
            items[split].append((cls, fname, a))
            ext = os.path.splitext(fname)[1].lower()
            formats.add(FORMATS.get(ext, ext.lstrip(".")))
            n += 1
            if n % 20000 == 0:
                log(f"[frozen-bench] imagefolder: decoded {n} images")
    out = {}
    for s, lst in items.items():
        if not lst:
            continue
        lst.sort(key=lambda t: (t[0], t[1]))
        shapes = {t[2].shape for t in lst}
        if len(shapes) > 1:
            raise DatasetError(f"images of split {s!r} differ in size ({', '.join(map(str, sorted(shapes)[:4]))}, ...); "
                               f"set dataset.image_size=<pixels> to resize them")
        x = torch.from_numpy(np.stack([t[2] for t in lst])).permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)
        out[s] = (x, [t[0] for t in lst])
    return {"splits": out, "formats": sorted(formats)}


def read_imagefolder(path, *, root=None, image_size=None, channels: int = 3, train_split: str = "train",
                     val_split: str | None = "val", test_split: str = "test", what: str = "imagefolder",
                     log=print) -> dict:
    """Decode (or load from the cache) a class-folder image source.

    Returns {"x": {split: uint8 (N, C, H, W)}, "y": {split: long (N,)}, "classes": [...], "formats": [...],
    "path": str, "cache": str}; "val" is present only when a val split exists in the source."""
    if not path:
        raise DatasetError(f"dataset={what}: set dataset.path to a folder <path>/<split>/<class>/<image> "
                           f"or its .tar/.tar.gz archive(s)")
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise DatasetError(f"dataset={what}: {path} not found; set dataset.path to a class-folder tree or its tar archive")
    names = {"train": train_split, "test": test_split, **({"val": val_split} if val_split else {})}
    splits = list(dict.fromkeys(names.values()))
    sources = locate(path, splits)
    for role in ("train", "test"):
        if names[role] not in sources:
            raise DatasetError(f"dataset={what}: no {role} split {names[role]!r} in {path}: expected a folder "
                               f"{names[role]}/<class>/<image> or {names[role]}.tar(.gz) there "
                               f"(set dataset.{role}_split to its name)")
    size = _size(image_size)
    present = {role: s for role, s in names.items() if s in sources}  # an absent val folder does not split the cache
    settings = {"path": str(path), "size": size, "channels": int(channels), "splits": present}
    key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", path.name.split(".")[0])[:40] or "images"
    cache = cache_dir(data_root(root)) / f"imagefolder_{slug}_{key}.pt"

    def decode() -> dict:
        log(f"[frozen-bench] {what}: decoding {path} once (cached in {cache.parent})")
        dec = _decode_all(sources, splits, size, channels, log)
        got = dec["splits"]
        for role in ("train", "test"):
            if names[role] not in got:
                raise DatasetError(f"dataset={what}: no images in split {names[role]!r} of {path} "
                                   f"(expected [<top>/]{names[role]}/<class>/<image>)")
        classes = sorted(set(got[train_split][1]))
        blob = {"classes": classes, "formats": dec["formats"], "x": {}, "y": {}}
        for role, s in names.items():
            if s not in got:
                continue
            x, cls = got[s]
            extra = sorted(set(cls) - set(classes))
            if extra:
                raise DatasetError(f"dataset={what}: split {s!r} has classes not in {train_split!r}: {', '.join(extra[:5])}")
            index = {c: i for i, c in enumerate(classes)}
            blob["x"][role] = x
            blob["y"][role] = torch.tensor([index[c] for c in cls], dtype=torch.long)
        return blob

    blob = cached(cache, _stamp(sources), decode, what, log)
    return {**blob, "path": str(path), "cache": str(cache)}


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 standardized per channel."""
    m = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x.to(torch.float32).div_(255.0) - m) / s


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images, in [0, 1] units."""
    xf = x.to(torch.float32).div_(255.0)
    return xf.mean((0, 2, 3)).tolist(), xf.std((0, 2, 3)).clamp(min=1e-3).tolist()


def split_blob(blob: dict, val_fraction: float, split_seed: int):
    """(x_tr, y_tr, x_va, y_va, x_te, y_te) as uint8: the val split of the source, else a seeded share of train."""
    x_tr, y_tr = blob["x"]["train"], blob["y"]["train"]
    if "val" in blob["x"]:
        x_va, y_va = blob["x"]["val"], blob["y"]["val"]
    else:
        x_tr, y_tr, x_va, y_va = split_train_val(x_tr, y_tr, float(val_fraction), seed=int(split_seed))
    return x_tr, y_tr, x_va, y_va, blob["x"]["test"], blob["y"]["test"]


def load_imagefolder_bundle(cfg: dict, log=print) -> DataBundle:
    name = cfg["name"]
    blob = read_imagefolder(cfg.get("path"), root=cfg.get("root"), image_size=cfg.get("image_size"),
                            channels=int(cfg.get("channels", 3)), train_split=cfg.get("train_split", "train"),
                            val_split=cfg.get("val_split", "val"), test_split=cfg.get("test_split", "test"),
                            what=name, log=log)
    val_fraction, split_seed = float(cfg.get("val_fraction", 0.1)), int(cfg.get("split_seed", 1))
    x_tr, y_tr, x_va, y_va, x_te, y_te = split_blob(blob, val_fraction, split_seed)
    mean, std = cfg.get("mean"), cfg.get("std")
    if mean is None or std is None:
        mean_tr, std_tr = channel_stats(x_tr)
        mean, std = mean if mean is not None else mean_tr, std if std is not None else std_tr
    mean, std = [float(v) for v in mean], [float(v) for v in std]
    if len(mean) != x_tr.shape[1] or len(std) != x_tr.shape[1]:
        raise ValueError(f"dataset.mean/std need {x_tr.shape[1]} values (one per channel), got {mean} / {std}")
    info = {"path": blob["path"], "cache": blob["cache"], "classes": blob["classes"], "formats": blob["formats"],
            "mean": mean, "std": std,
            "val_from": "val split" if "val" in blob["x"] else f"train (val_fraction={val_fraction}, split_seed={split_seed})",
            "preprocess": P.image(name, x_tr.shape[1:], x_tr.shape[1], x_tr.shape[2:], mean, std, blob["classes"])}
    return DataBundle(name, normalize(x_tr, mean, std), y_tr, normalize(x_va, mean, std), y_va,
                      normalize(x_te, mean, std), y_te, num_classes=len(blob["classes"]), info=info)
