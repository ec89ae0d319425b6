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


def write_imagefolder(folder: Path, classes=("cat", "dog", "frog"), per_class: dict | None = None, fmt: str = "png",
                      size: tuple[int, int] = (8, 8), mode: str = "RGB", seed: int = 0) -> Path:
    """<folder>/<split>/<class>/NNNN.<fmt>, written with PIL like a user's export (and like cifar10-jpeg's
    split/<class>/NNNN.jpg). Each class has its own base colour plus noise."""
    from PIL import Image

    per_class = per_class or {"train": 10, "test": 4}
    rng = np.random.default_rng(seed)
    ch = 3 if mode == "RGB" else 1
    for split, n in per_class.items():
        for ci, c in enumerate(classes):
            (folder / split / c).mkdir(parents=True, exist_ok=True)
            base = rng.uniform(30, 220, size=ch)
            for i in range(n):
                a = np.clip(base + rng.normal(0, 25, size=(*size, ch)), 0, 255).astype(np.uint8)
                img = Image.fromarray(a[..., 0] if ch == 1 else a, mode)
                img.save(folder / split / c / f"{i:04d}.{fmt}", **({"quality": 75} if fmt == "jpg" else {}))
    return folder


def tar_splits(tree: Path, out: Path, gz: bool = True) -> Path:
    """One archive per split (<out>/<split>.tar.gz holding <split>/<class>/<file>), as cifar10-jpeg ships."""
    import tarfile

    out.mkdir(parents=True, exist_ok=True)
    for split in sorted(p.name for p in tree.iterdir() if p.is_dir()):
        name = out / f"{split}.tar{'.gz' if gz else ''}"
        with tarfile.open(name, "w:gz" if gz else "w") as tf:
            tf.add(tree / split, arcname=split)
    return out


def tar_tree(tree: Path, archive: Path, top: str | None = None) -> Path:
    """The whole tree in one archive: [<top>/]<split>/<class>/<file>."""
    import tarfile

    with tarfile.open(archive, "w:gz" if archive.name.endswith("gz") else "w") as tf:
        for split in sorted(p.name for p in tree.iterdir() if p.is_dir()):
            tf.add(tree / split, arcname=f"{top}/{split}" if top else split)
    return archive


def write_speech_test12(folder: Path, words=("yes", "no", "up"), speakers: int = 10, per_speaker: int = 2,
                        unknown_words=("bed", "cat"), silence: int = 6, fmt: str = "flac", seed: int = 0) -> Path:
    """The 12-class test-set layout: <folder>/<class>/<name>.flac with real-style names:
    keywords <speaker>_nohash_<n>, _unknown_ <word>_<speaker>_nohash_<n>, _silence_ <n> (noise cuts).
    Speakers are 8-hex ids; each has a voice pitch shared by all its clips (so a leak would be learnable)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    ids = [f"{rng.integers(0, 2**32):08x}" for _ in range(speakers)]
    t = np.arange(16000) / 16000
    for d in (*words, "_unknown_", "_silence_"):
        (folder / d).mkdir(parents=True, exist_ok=True)

    def clip(f0, f1):
        return (0.3 * np.sin(2 * np.pi * f0 * t) + 0.2 * np.sin(2 * np.pi * f1 * t)
                + 0.02 * rng.standard_normal(16000)).astype(np.float32)

    for si, spk in enumerate(ids):
        for wi, w in enumerate(words):
            for n in range(per_speaker):
                sf.write(str(folder / w / f"{spk}_nohash_{n}.{fmt}"), clip(300 + 350 * wi, 1000 + 40 * si), 16000, subtype="PCM_16")
        for u in unknown_words:
            sf.write(str(folder / "_unknown_" / f"{u}_{spk}_nohash_0.{fmt}"), clip(2500, 1000 + 40 * si), 16000, subtype="PCM_16")
    for i in range(silence):
        sf.write(str(folder / "_silence_" / f"{1000 + i}.{fmt}"), (0.05 * rng.standard_normal(16000)).astype(np.float32),
                 16000, subtype="PCM_16")
    return folder


def snapshot(folder):
    """Every file under ``folder`` with its bytes: equal snapshots mean nothing was written."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
