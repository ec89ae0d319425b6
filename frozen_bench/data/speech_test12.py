"""``dataset=speech_commands_test12``: a SMALL REAL SUBSET of Speech Commands v0.02, split by speaker.

The source is the official 12-class v0.02 *test* set (4,890 one-second clips: yes no up down left
right on off stop go, ``_unknown_``, ``_silence_``), as ``speech_commands_test12/<class>/<name>.flac``
(or .wav) in a folder or in its uncompressed/compressed tar (members read directly, nothing
extracted). Only a test split exists upstream, so this loader makes a seeded **speaker-disjoint**
train/val/test split: the speaker id is the hex token before ``_nohash_`` (``_unknown_`` names start
with the source word, ``backward_0c540988_nohash_0``); every speaker's clips go to one split, so
the same voice (and its 119 duplicate clips) never appears on both sides. ``_silence_`` clips are
noise cuts with no speaker: each file is its own group, and they are split separately so every
split gets its share. Groups are shuffled with ``split_seed`` and taken in that order until a split
holds ``test_fraction`` (then ``val_fraction``) of the clips, so the sizes are close to, not exactly,
the fractions; the sizes and speaker counts are in ``bundle.info``.

Numbers on it are not comparable with published ones (trained on ~85k clips): the bundle is named
``speech_commands_test12`` so every record and figure says which data it saw. Features use the
front ends of frozen_bench.data.speech (fft | logmel | mfcc), cached once per front end setting
under ``<root>/frozen_bench_cache/``; the split is made after the cache, so changing the seed or the
fractions decodes nothing again.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import torch

from frozen_bench.data import speech
from frozen_bench.data import preprocess as P
from frozen_bench.data.bundle import DataBundle, DatasetError
from frozen_bench.data.paths import cache_dir, cached, data_root, first_existing, shared_data_dir

NAME = "speech_commands_test12"
LABELS12 = (*speech.KEYWORDS12, "_unknown_", "_silence_")
SILENCE = "_silence_"
_SPEAKER = re.compile(r"(?:^|_)([0-9a-fA-F]{8})_nohash_\d+$")


def default_path(root: Path) -> Path | None:
    shared = shared_data_dir() / "speech-commands-v0.02-test12"
    return first_existing(root / NAME, root / f"{NAME}.tar", shared / NAME, shared / f"{NAME}.tar")


def group_of(cls: str, name: str) -> str:
    """The split unit of a clip: its speaker id, or the file itself for silence / unparsable names."""
    stem = name.rsplit(".", 1)[0]
    m = _SPEAKER.search(stem)
    if cls == SILENCE or m is None:
        return f"file:{cls}/{name}"
    return m.group(1).lower()


def speaker_split(items: list[tuple[str, str]], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[int]]:
    """{"train"|"val"|"test": clip indices}; items are (class, file name). Speech and silence are
    split separately; within each, whole groups are dealt in a seeded order."""
    if not (0 <= val_fraction and 0 <= test_fraction and val_fraction + test_fraction < 1):
        raise ValueError(f"dataset.val_fraction + dataset.test_fraction must be in [0, 1), got {val_fraction} + {test_fraction}")
    rng = np.random.default_rng(seed)
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for silence in (False, True):
        groups: dict[str, list[int]] = {}
        for i, (cls, name) in enumerate(items):
            if (cls == SILENCE) == silence:
                groups.setdefault(group_of(cls, name), []).append(i)
        keys = sorted(groups)
        n = sum(len(v) for v in groups.values())
        n_test, n_val = test_fraction * n, (test_fraction + val_fraction) * n
        taken = 0
        for k in (keys[j] for j in rng.permutation(len(keys))):
            part = "test" if taken < n_test else "val" if taken < n_val else "train"
            out[part].extend(groups[k])
            taken += len(groups[k])
    return {p: sorted(v) for p, v in out.items()}


def _clips(src: Path) -> tuple[list[tuple[str, str]], dict | None]:
    """(sorted [(class, file name)], {(class, name): bytes} for a tar else None)."""
    exts = speech.AUDIO_EXTS
    if src.is_dir():
        items = [(d.name, f.name) for d in sorted(src.iterdir()) if d.is_dir() for f in speech.audio_files(d)]
        return items, None
    data = {}
    try:
        with tarfile.open(src, "r:*") as tf:
            for m in tf:
                parts = [p for p in m.name.split("/") if p not in ("", ".")]
                if m.isfile() and len(parts) >= 2 and parts[-1].lower().endswith(exts) and not parts[-1].startswith("."):
                    data[(parts[-2], parts[-1])] = tf.extractfile(m).read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DatasetError(f"dataset={NAME}: cannot read the archive {src} ({type(e).__name__}: {e})") from None
    return sorted(data), data


def _stamp(src: Path) -> str:
    files = [src] if src.is_file() else sorted(f for f in src.rglob("*") if f.is_file())
    h = hashlib.sha1()
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _features(src: Path, items, data, frontend, log) -> torch.Tensor:
    feats, batch = [], []
    for i, (cls, name) in enumerate(items):
        where = io.BytesIO(data[(cls, name)]) if data is not None else src / cls / name
        batch.append(speech.read_wav(where))
        if len(batch) == 1024 or i == len(items) - 1:
            feats.append(frontend(torch.from_numpy(np.stack(batch))).to(torch.float16))  # (B, F, T)
            batch = []
            log(f"[frozen-bench] {NAME} features: {i + 1}/{len(items)} clips")
    return torch.cat(feats)


def load_test12_bundle(cfg: dict, log=print) -> DataBundle:
    root = data_root(cfg.get("root"))
    src = Path(cfg["path"]).expanduser() if cfg.get("path") else default_path(root)
    if src is None or not src.exists():
        looked = src if src is not None else f"{root / NAME}[.tar] and {shared_data_dir() / 'speech-commands-v0.02-test12'}"
        raise DatasetError(f"dataset={NAME}: not found at {looked}; set dataset.path to the folder "
                           f"{NAME}/<class>/*.flac|wav or its .tar")
    src = src.resolve()
    frontend_name = cfg.get("frontend", "logmel")
    settings = {k: cfg.get(k) for k in ("frontend", "n_fft", "hop_length", "n_mels", "n_mfcc")}
    key = hashlib.sha1(json.dumps([NAME, str(src), settings], sort_keys=True, default=str).encode()).hexdigest()[:12]
    cache = cache_dir(root) / f"{NAME}_{frontend_name}_{key}.pt"

    def decode() -> dict:
        items, data = _clips(src)
        if not items:
            raise DatasetError(f"dataset={NAME}: no audio clips in {src}; expected <class>/<name>.flac|wav")
        frontend = speech.make_frontend(cfg)
        try:
            x = _features(src, items, data, frontend, log)
        except (OSError, RuntimeError) as e:  # soundfile raises LibsndfileError (a RuntimeError)
            raise DatasetError(f"dataset={NAME}: cannot decode the audio in {src} ({type(e).__name__}: {e})") from None
        return {"x": x, "classes": [c for c, _ in items], "names": [n for _, n in items]}

    blob = cached(cache, _stamp(src), decode, NAME, log)
    items = list(zip(blob["classes"], blob["names"]))
    present = sorted(set(blob["classes"]))
    labels = [c for c in LABELS12 if c in present] + [c for c in present if c not in LABELS12]
    y = torch.tensor([labels.index(c) for c, _ in items], dtype=torch.long)
    val_fraction, test_fraction = float(cfg.get("val_fraction", 0.1)), float(cfg.get("test_fraction", 0.2))
    seed = int(cfg.get("split_seed", 0))
    parts = speaker_split(items, val_fraction, test_fraction, seed)
    if not parts["train"]:
        raise DatasetError(f"dataset={NAME}: the split left no training clips; lower dataset.val_fraction/test_fraction")
    idx = {p: torch.tensor(v, dtype=torch.long) for p, v in parts.items()}
    x_tr = blob["x"][idx["train"]].float()
    mean = x_tr.mean((0, 2), keepdim=True)
    std = x_tr.std((0, 2), keepdim=True).clamp(min=1e-3)
    norm = lambda x: (x.float() - mean) / std  # noqa: E731  per-frequency-row standardization, train stats
    xs = {p: norm(blob["x"][i]) if len(i) else blob["x"][:0].float() for p, i in idx.items()}
    speakers = {p: len({group_of(*items[i]) for i in v if items[i][0] != SILENCE}) for p, v in parts.items()}
    info = {"subset": "small real subset: the official Speech Commands v0.02 12-class test set, split by speaker; "
                      "not comparable with published numbers (trained on ~85k clips)",
            "split": "speaker-disjoint", "split_seed": seed, "val_fraction": val_fraction,
            "test_fraction": test_fraction, "clips": {p: len(v) for p, v in parts.items()}, "speakers": speakers,
            "labels": labels, "frontend": frontend_name, "source": str(src), "cache": str(cache),
            "preprocess": P.audio(NAME, x_tr.shape[1:], cfg, mean, std, labels)}  # what a user's clip goes through
    return DataBundle(NAME, xs["train"], y[idx["train"]], xs["val"], y[idx["val"]], xs["test"], y[idx["test"]],
                      num_classes=len(labels), info=info)
