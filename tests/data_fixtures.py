"""Tiny datasets written in the real on-disk formats, so loader tests exercise the real reading path."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def class_patterns(n_classes: int, seed: int = 0) -> np.ndarray:
    """One smooth random 3×32×32 uint8-range pattern per class: learnable, but not trivially by colour."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, size=(n_classes, 3, 8, 8))
    return low.repeat(4, axis=2).repeat(4, axis=3)  # (K, 3, 32, 32)


def cifar_images(labels: np.ndarray, patterns: np.ndarray, rng) -> np.ndarray:
    x = patterns[labels] + rng.normal(0, 40, size=(len(labels), 3, 32, 32))
    return np.clip(x, 0, 255).astype(np.uint8).reshape(len(labels), -1)  # (N, 3072) row-major RGB planes


def write_cifar10(root: Path, per_batch: int = 40, n_test: int = 100, seed: int = 0) -> Path:
    """cifar-10-batches-py/{data_batch_1..5,test_batch}: pickled dicts with b'data' (N, 3072) uint8, b'labels'."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pats = class_patterns(10, seed)
    for name, n in [*[(f"data_batch_{i}", per_batch) for i in range(1, 6)], ("test_batch", n_test)]:
        y = np.arange(n) % 10
        rng.shuffle(y)
        entry = {b"batch_label": name.encode(), b"labels": y.tolist(), b"data": cifar_images(y, pats, rng),
                 b"filenames": [f"{i}.png".encode() for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    return folder


def write_cifar100(root: Path, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """cifar-100-python/{train,test}: b'data', b'fine_labels', b'coarse_labels'."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pats = class_patterns(100, seed)
    for name, n in (("train", n_train), ("test", n_test)):
        y = np.arange(n) % 100
        entry = {b"fine_labels": y.tolist(), b"coarse_labels": (y // 5).tolist(), b"data": cifar_images(y, pats, rng)}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    return folder


def write_speech(folder: Path, words=("yes", "no", "up", "cat"), per_word: int = 12, seed: int = 0,
                 sample_rate: int = 16000) -> Path:
    """The Speech Commands v2 layout with tone-chord WAVs (one pitch pair per word, random timing,
    length and noise), speaker ids spk0..spkN; speaker 0 in testing_list, speaker 1 in validation_list."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    (folder / "_background_noise_").mkdir(parents=True, exist_ok=True)
    sf.write(str(folder / "_background_noise_" / "white_noise.wav"),
             (0.1 * rng.standard_normal(sample_rate * 3)).astype(np.float32), sample_rate, subtype="PCM_16")
    val, test = [], []
    for wi, w in enumerate(words):
        (folder / w).mkdir(exist_ok=True)
        f0, f1 = 300 + 350 * wi, 1100 + 500 * wi
        for n in range(per_word):
            spk = n % 6
            dur = rng.uniform(0.4, 1.2)  # some clips longer than 1 s (cropped), most shorter (padded)
            t = np.arange(int(dur * sample_rate)) / sample_rate
            tone = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.2 * np.sin(2 * np.pi * f1 * t)
            wav = (tone + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
            rel = f"{w}/spk{spk}_nohash_{n // 6}.wav"
            sf.write(str(folder / rel), wav, sample_rate, subtype="PCM_16")
            (test if spk == 0 else val if spk == 1 else []).append(rel)
    (folder / "validation_list.txt").write_text("".join(f"{r}\n" for r in val))
    (folder / "testing_list.txt").write_text("".join(f"{r}\n" for r in test))
    return folder
