"""Google Speech Commands v2 (and its synthetic stand-in) as fixed front-end features.

Layout (torchaudio's): ``<root>/SpeechCommands/speech_commands_v0.02/<word>/<speaker>_nohash_<n>.wav``
with ``validation_list.txt``, ``testing_list.txt`` and ``_background_noise_/*.wav``; the synthetic
set (``dataset=speech_commands_synth``, written by ``scripts/make_synthetic_speech.py``) uses the
same layout under ``<root>/speech_commands_synth``. Standard split: files in the two lists are
validation/test, the rest train.

``classes=35``: one class per word folder. ``classes=12``: yes no up down left right on off stop go,
``_unknown_`` (every other word, downsampled to the mean keyword-class size with a fixed seed) and
``_silence_`` (1 s crops of the background-noise files at random volume, as many as a mean keyword
class). WAV and FLAC files are decoded with soundfile (a FLAC copy matches the split lists' .wav
names by stem), resampled to 16 kHz if needed, right-padded with zeros or
cropped to 1 s, then turned into log features by a fixed torchaudio front end:

- ``fft``: log power spectrum, (n_fft/2+1) × frames
- ``logmel``: log mel spectrogram, n_mels × frames
- ``mfcc``: n_mfcc × frames

Each sample is a (F, T) tensor (frames = 1 + 16000 // hop_length), standardized per frequency row
with training-split statistics. Features are computed once and cached under
``<root>/frozen_bench_cache/`` keyed by a hash of the settings and the file list.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from frozen_bench.atomic import atomic_open
from frozen_bench.data import preprocess as P
from frozen_bench.data.audio import SAMPLE_RATE, make_frontend, read_wav
from frozen_bench.data.bundle import DataBundle, DatasetError
from frozen_bench.data.paths import cache_dir, data_root

WORDS35 = ("backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go",
           "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven",
           "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero")
KEYWORDS12 = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
NOISE_DIR = "_background_noise_"
AUDIO_EXTS = (".wav", ".flac")


def audio_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in AUDIO_EXTS and not f.name.startswith("."))


def dataset_folder(name: str, root: Path) -> Path:
    if name == "speech_commands_synth":
        return root / "speech_commands_synth"
    return root / "SpeechCommands" / "speech_commands_v0.02"


def _download(root: Path) -> None:
    """Fetch and extract the v2 archive through torchaudio's dataset class (needs the network)."""
    import torchaudio

    root.mkdir(parents=True, exist_ok=True)
    torchaudio.datasets.SPEECHCOMMANDS(str(root), url="speech_commands_v0.02", download=True)


def _ensure_files(cfg: dict, name: str, root: Path, folder: Path) -> None:
    present = lambda: (folder / "validation_list.txt").exists() and (folder / "testing_list.txt").exists()  # noqa: E731
    if present():
        return
    need = "validation_list.txt, testing_list.txt and the <word>/*.wav folders"
    if name == "speech_commands_synth":
        raise DatasetError(f"dataset={name}: files not found in {folder}; generate them with "
                           f"`python scripts/make_synthetic_speech.py --out {folder}` (needs espeak-ng or flite), "
                           f"or place {need} there")
    fixes = f"go online and run with dataset.download=true, or place {need} there (or set dataset.root)"
    if not cfg.get("download", True):
        raise DatasetError(f"dataset={name}: files not found in {folder}; {fixes}")
    try:
        _download(root)
    except Exception as e:  # offline: URLError / socket errors
        raise DatasetError(f"dataset={name}: download failed ({type(e).__name__}) and files not found in {folder}; "
                           f"{fixes}") from None
    if not present():
        raise DatasetError(f"dataset={name}: download finished but {folder} lacks the split lists; place {need} there")


def _list(folder: Path, fname: str) -> set[str]:
    return {ln.strip() for ln in (folder / fname).read_text().splitlines() if ln.strip()}


def _index(folder: Path, classes: int, seed: int = 0) -> tuple[dict, list[str]]:
    """{split: [(relative wav path or None for silence, label)]}, label names."""
    words = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("_"))
    if not words:
        raise DatasetError(f"no word folders in {folder}; place the <word>/*.wav folders there")
    val, test = _list(folder, "validation_list.txt"), _list(folder, "testing_list.txt")
    if classes == 35:
        labels = words
    elif classes == 12:
        labels = [*KEYWORDS12, "_unknown_", "_silence_"]
    else:
        raise ValueError(f"dataset.classes must be 35 or 12, got {classes}")
    split: dict[str, list] = {"train": [], "val": [], "test": []}
    for w in words:
        for f in audio_files(folder / w):
            rel, listed = f"{w}/{f.name}", f"{w}/{f.stem}.wav"  # the lists name .wav files
            part = "val" if rel in val or listed in val else "test" if rel in test or listed in test else "train"
            lab = labels.index(w) if w in labels else labels.index("_unknown_")
            split[part].append((rel, lab))
    if classes == 12:
        rng = np.random.default_rng(seed)
        unk = labels.index("_unknown_")
        for part, items in split.items():
            known = [it for it in items if it[1] != unk]
            others = [it for it in items if it[1] == unk]
            per_class = max(1, round(len(known) / max(1, len({it[1] for it in known}))))  # mean present keyword class
            if len(others) > per_class:
                keep = sorted(rng.choice(len(others), per_class, replace=False))
                others = [others[i] for i in keep]
            split[part] = known + others + [(None, labels.index("_silence_"))] * per_class
    return split, labels


def _silence(folder: Path, n: int, seed: int) -> np.ndarray:
    """n 1-second background-noise crops at random volume (zeros where no noise files exist)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    noises = []
    for f in audio_files(folder / NOISE_DIR) if (folder / NOISE_DIR).is_dir() else []:
        wav, sr = sf.read(str(f), dtype="float32", always_2d=True)
        wav = wav.mean(1)
        if sr == SAMPLE_RATE and len(wav) >= SAMPLE_RATE:
            noises.append(wav)
    out = np.zeros((n, SAMPLE_RATE), dtype=np.float32)
    for i in range(n if noises else 0):
        src = noises[rng.integers(len(noises))]
        start = rng.integers(len(src) - SAMPLE_RATE + 1)
        out[i] = src[start:start + SAMPLE_RATE] * rng.uniform(0.0, 1.0)
    return out


def _features(folder: Path, items: list, frontend, seed: int, log) -> torch.Tensor:
    n_sil = sum(1 for rel, _ in items if rel is None)
    sil = _silence(folder, n_sil, seed)
    feats, batch, si = [], [], 0
    for i, (rel, _) in enumerate(items):
        if rel is None:
            batch.append(sil[si])
            si += 1
        else:
            batch.append(read_wav(folder / rel))
        if len(batch) == 2048 or i == len(items) - 1:
            feats.append(frontend(torch.from_numpy(np.stack(batch))).to(torch.float16))
            batch = []
            if len(items) > 4096:
                log(f"[frozen-bench] speech features: {i + 1}/{len(items)} clips")
    return torch.cat(feats) if feats else torch.empty(0)


def load_speech_bundle(cfg: dict, log=print) -> DataBundle:
    name = cfg["name"]
    root = data_root(cfg.get("root"))
    folder = dataset_folder(name, root)
    _ensure_files(cfg, name, root, folder)
    classes = int(cfg.get("classes", 35))
    split, labels = _index(folder, classes)
    settings = {k: cfg.get(k) for k in ("frontend", "n_fft", "hop_length", "n_mels", "n_mfcc")}
    listing = {p: [it[0] for it in v] for p, v in split.items()}
    key = hashlib.sha1(json.dumps([name, classes, settings, listing], sort_keys=True, default=str).encode()).hexdigest()[:12]
    cache = cache_dir(root) / f"{name}_{cfg.get('frontend', 'logmel')}_{key}.pt"
    blob = None
    if cache.exists():
        try:
            blob = torch.load(cache, weights_only=True)
        except Exception:  # a corrupt cache is rebuilt, never fatal
            blob = None
    if blob is None:
        try:
            frontend = make_frontend(cfg)
            blob = {}
            for i, part in enumerate(("train", "val", "test")):
                blob[f"x_{part}"] = _features(folder, split[part], frontend, seed=100 + i, log=log)
                blob[f"y_{part}"] = torch.tensor([lab for _, lab in split[part]], dtype=torch.long)
        except (OSError, RuntimeError) as e:  # soundfile raises LibsndfileError (a RuntimeError)
            raise DatasetError(f"dataset={name}: cannot decode the audio files in {folder} ({type(e).__name__}: {e})") from None
        with atomic_open(cache, "wb") as f:
            torch.save(blob, f)
    if len(blob["x_train"]) == 0:
        raise DatasetError(f"dataset={name}: no training clips in {folder}; every file is in a split list")
    x_tr = blob["x_train"].float()
    mean = x_tr.mean((0, 2), keepdim=True)
    std = x_tr.std((0, 2), keepdim=True).clamp(min=1e-3)
    norm = lambda x: (x.float() - mean) / std  # noqa: E731  per-frequency-row standardization, train stats
    spec = P.audio(name, x_tr.shape[1:], cfg, mean, std, labels)  # what a user's clip goes through (predict)
    return DataBundle(name, norm(blob["x_train"]), blob["y_train"], norm(blob["x_val"]), blob["y_val"],
                      norm(blob["x_test"]), blob["y_test"], num_classes=len(labels),
                      synthetic=name == "speech_commands_synth",
                      info={"root": str(root), "folder": str(folder), "labels": labels,
                            "frontend": cfg.get("frontend", "logmel"), "cache": str(cache), "preprocess": spec})
