"""A user's inputs as model tensors: image files, audio files, or ``.npy``/``.pt`` arrays.

Folders are read recursively (sorted); an array file may hold one input or a batch. Raw arrays are
what a file decodes to: pixels 0..255 as (H, W), (H, W, C), (N, H, W), (N, H, W, C) or
(N, C, H, W) for an image model; waveforms at 16 kHz as (samples,) or (N, samples) for a speech
model. ``prepared=True`` takes arrays already in the model's input form (what the data loader
made, e.g. a bundle's ``x_test``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from frozen_bench.data import preprocess as P
from frozen_bench.errors import UserError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
AUDIO_EXTS = (".wav", ".flac")
ARRAY_EXTS = (".npy", ".pt")
READS = {"image": ("images", IMAGE_EXTS), "audio": ("audio clips", AUDIO_EXTS), "values": ("arrays", ())}


def _usable(spec: dict) -> tuple[str, ...]:
    return READS[spec["kind"]][1] + ARRAY_EXTS


def files(paths: list[str | Path], spec: dict) -> list[Path]:
    """The input files named by ``paths``: files as given, folders expanded recursively to the files
    this model can read (hidden ones skipped). A missing path, a file of another kind, or nothing
    usable is one ``UserError``."""
    what, exts = READS[spec["kind"]]
    usable = _usable(spec)
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in usable
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not found:
                raise UserError(f"{p} holds no {' or '.join(e for e in usable)} files; this model reads {what}")
            out += found
        elif p.is_file():
            if p.suffix.lower() not in usable:
                raise UserError(f"{p}: a {p.suffix or 'extensionless'} file; this model ({spec['dataset']}) reads {what} "
                                f"({', '.join(usable)})")
            out.append(p)
        else:
            raise UserError(f"{p} not found; give files or folders of {what} ({', '.join(usable)})")
    if not out:
        raise UserError(f"no inputs given; name {what} files or folders")
    return out


def _array(path: Path) -> np.ndarray:
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        t = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to replace
        raise UserError(f"cannot read the array file {path} ({' '.join(str(e).split())[:120]}); "
                        f"give a .npy or a .pt holding one tensor") from None
    if not isinstance(t, torch.Tensor):
        raise UserError(f"{path} holds a {type(t).__name__}, not a tensor; save one tensor with torch.save(x, path)")
    return t.numpy()


def _from_array(spec: dict, a: np.ndarray, prepared: bool) -> torch.Tensor:
    if prepared or spec["kind"] == "values":
        return P.prepared(spec, a)
    if spec["kind"] == "image":
        if a.ndim in (2, 3) and not (a.ndim == 3 and a.shape[0] > 4 and a.shape[-1] not in (1, 3, 4)):
            a = a[None]  # one image: (H, W) or (H, W, C) or (C, H, W)
        return P.from_pixels(spec, a)
    return P.from_waves(spec, a)


def load(paths: list[str | Path], spec: dict, prepared: bool = False) -> tuple[list[str], torch.Tensor]:
    """(a name per input, the inputs as the model's tensor (N, *input_shape))."""
    names: list[str] = []
    parts: list[torch.Tensor] = []
    decoded: list[np.ndarray] = []  # consecutive image/audio files, turned into tensors together
    decoded_names: list[str] = []

    def flush():
        if decoded:
            x = P.from_pixels(spec, np.stack(decoded)) if spec["kind"] == "image" else P.from_waves(spec, np.stack(decoded))
            parts.append(x)
            names.extend(decoded_names)
            decoded.clear()
            decoded_names.clear()

    for f in files(paths, spec):
        if f.suffix.lower() in ARRAY_EXTS:
            flush()
            try:
                x = _from_array(spec, _array(f), prepared)
            except ValueError as e:
                raise UserError(f"{f}: {e}") from None
            parts.append(x)
            names += [str(f)] if len(x) == 1 else [f"{f}[{i}]" for i in range(len(x))]
            continue
        if prepared:
            raise UserError(f"{f}: --prepared takes .npy/.pt arrays in the model's input form, not files to decode; "
                            f"drop --prepared")
        try:
            decoded.append(P.read_image(spec, f) if spec["kind"] == "image" else P.read_audio(spec, f))
        except ValueError as e:
            raise UserError(str(e)) from None
        decoded_names.append(str(f))
        if len(decoded) >= 1024:
            flush()
    flush()
    try:
        return names, torch.cat(parts)
    except RuntimeError as e:
        raise UserError(f"the inputs differ in shape ({' '.join(str(e).split())[:120]})") from None
