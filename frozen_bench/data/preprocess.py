"""What a model's input is, and how to make it from a user's own file: the preprocessing that
travels with a trained model.

A loader turns its source into tensors once (pixels scaled and standardized, audio through a
fixed front end and standardized per band with training statistics). Those numbers used to live
only in the loader's memory, so a saved model expected inputs only the training loader could
make. Each loader now describes its preprocessing as a plain, JSON-able ``spec``
(``bundle.info["preprocess"]``); ``trainer.save_model=true`` writes it beside ``model.pt`` as
``preprocess.json``; ``frozen-bench predict|evaluate`` apply it to image or audio files; ``export``
copies it beside the exported file. Applying a spec repeats the loader's own operations in the
same order and dtype, so a file gives the tensor the loader made of it.

Kinds:

- ``image``: a picture is converted to ``mode`` (``L`` or ``RGB``), resized to ``size`` (bilinear,
  as the class-folder loader does) if it differs, scaled to [0, 1] (/255) and standardized per
  channel, ``(x - mean) / std``, then shaped to ``input_shape`` ((C, H, W), or flat for an MLP
  dataset such as digits);
- ``audio``: a clip is read mono at ``sample_rate``, right-padded or cut to ``samples``, turned
  into log features by the fixed front end ``frontend`` (``data.audio.make_frontend``), rounded
  to ``feature_dtype`` (the loaders cache features in float16), and standardized per band
  (frequency row) with the training split's ``mean``/``std``: (F, T);
- ``values``: a regression input, used as given.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

FILE = "preprocess.json"
VERSION = 1
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FRONTEND_KEYS = ("frontend", "n_fft", "hop_length", "n_mels", "n_mfcc")


def _floats(v) -> list[float]:
    """A scalar, list or tensor as a list of Python floats (float32 values are exact in JSON)."""
    if isinstance(v, torch.Tensor):
        return [float(t) for t in v.detach().float().reshape(-1)]
    if isinstance(v, (int, float)):
        return [float(v)]
    return [float(t) for t in v]


def image(dataset: str, input_shape, channels: int, size, mean, std, classes) -> dict:
    """The spec of an image dataset: pixels/255 standardized per channel (``mean``/``std`` one
    value per channel, or one for all), at ``size`` (H, W)."""
    channels = int(channels)
    mean, std = _floats(mean), _floats(std)
    if len(mean) == 1:
        mean, std = mean * channels, std * channels
    return {"version": VERSION, "kind": "image", "dataset": dataset, "input_shape": [int(s) for s in input_shape],
            "mode": {1: "L", 3: "RGB"}[channels], "channels": channels, "size": [int(s) for s in size],
            "scale": "1/255", "mean": mean, "std": std, "classes": [str(c) for c in classes]}


def audio(dataset: str, input_shape, cfg: dict, mean, std, classes, sample_rate: int = 16000,
          samples: int = 16000, feature_dtype: str = "float16") -> dict:
    """The spec of a speech dataset: the front end settings of ``cfg`` and the per-band
    training statistics ``mean``/``std`` (one value per frequency row)."""
    frontend = {k: cfg.get(k) for k in FRONTEND_KEYS if cfg.get(k) is not None}
    frontend.setdefault("frontend", "logmel")
    return {"version": VERSION, "kind": "audio", "dataset": dataset, "input_shape": [int(s) for s in input_shape],
            "sample_rate": int(sample_rate), "samples": int(samples), "frontend": frontend,
            "feature_dtype": feature_dtype, "mean": _floats(mean), "std": _floats(std),
            "classes": [str(c) for c in classes]}


def values(dataset: str, input_shape, note: str = "") -> dict:
    return {"version": VERSION, "kind": "values", "dataset": dataset, "input_shape": [int(s) for s in input_shape],
            "note": note, "classes": []}


def describe(spec: dict) -> str:
    """What the model's input must be, in one paragraph (the export record's ``input``)."""
    shape = "x".join(map(str, spec["input_shape"]))
    if spec["kind"] == "image":
        size = "x".join(map(str, spec["size"]))
        return (f"float32 (N, {', '.join(map(str, spec['input_shape']))}): a {spec['mode']} image of {size} pixels "
                f"(resized bilinearly if not), pixel/255, minus mean {_short(spec['mean'])} over std {_short(spec['std'])} "
                f"per channel" + (f", flattened to {shape}" if len(spec["input_shape"]) == 1 else "")
                + f"; outputs: logits over {len(spec['classes'])} classes {_short(spec['classes'], 4)}")
    if spec["kind"] == "audio":
        fe = spec["frontend"]
        settings = ", ".join(f"{k}={v}" for k, v in fe.items() if k != "frontend")
        return (f"float32 (N, {', '.join(map(str, spec['input_shape']))}): {spec['samples']} samples of mono audio at "
                f"{spec['sample_rate']} Hz (right zero-padded or cut), the {fe['frontend']} front end "
                f"(torchaudio, {settings}; log(power + 1e-6)), rounded to {spec['feature_dtype']}, minus the per-band "
                f"mean over the per-band std in preprocess.json (training split, {len(spec['mean'])} bands); "
                f"outputs: logits over {len(spec['classes'])} classes {_short(spec['classes'], 4)}")
    return f"float32 (N, {', '.join(map(str, spec['input_shape']))}): the input values as given" + (
        f" ({spec['note']})" if spec.get("note") else "")


def _short(v, n: int = 3) -> str:
    items = [f"{x:.4g}" if isinstance(x, float) else str(x) for x in v]
    return "[" + ", ".join(items[:n]) + (", ...]" if len(items) > n else "]")


def write(spec: dict, folder: str | Path) -> Path:
    """``<folder>/preprocess.json``, written whole (by rename)."""
    from frozen_bench.atomic import atomic_write_text

    path = Path(folder) / FILE
    atomic_write_text(path, json.dumps({**spec, "input": describe(spec)}, indent=1) + "\n")
    return path


def read(folder: str | Path) -> dict | None:
    """The spec saved in ``folder``, or None where there is none."""
    path = Path(folder) / FILE
    if not path.is_file():
        return None
    spec = json.loads(path.read_text())
    if not isinstance(spec, dict) or spec.get("kind") not in ("image", "audio", "values"):
        raise ValueError(f"{path} is not a frozen-bench preprocessing record")
    return spec


# ---------------------------------------------------------------- applying a spec


def read_image(spec: dict, path) -> np.ndarray:
    """One image file as uint8 (H, W, C) in the spec's mode and size (as ``data.imagefolder``
    decodes); ValueError naming the file where it is not an image PIL can read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert(spec["mode"])
            h, w = spec["size"]
            if im.size != (w, h):
                im = im.resize((w, h), Image.Resampling.BILINEAR)
            a = np.asarray(im)
    except UnidentifiedImageError:
        raise ValueError(f"{path} is not an image PIL can read; remove or replace it") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot decode the image {path} ({' '.join(str(e).split())[:120]}); remove or replace it") from None
    return a.reshape(a.shape[0], a.shape[1], -1)


def from_pixels(spec: dict, pixels) -> torch.Tensor:
    """Pixels (N, H, W, C) or (N, C, H, W) with values 0..255 (uint8 or float) -> the model input
    (N, *input_shape), by the loaders' own operations: float32 /255, minus mean, over std."""
    x = torch.as_tensor(np.asarray(pixels))
    c, (h, w) = spec["channels"], spec["size"]
    if x.dim() == 3:  # (N, H, W): one channel
        x = x.unsqueeze(-1)
    if x.dim() != 4:
        raise ValueError(f"image arrays must be (N, H, W), (N, H, W, C) or (N, C, H, W), got shape {tuple(x.shape)}")
    if tuple(x.shape[1:]) == (h, w, c):
        x = x.permute(0, 3, 1, 2)
    if tuple(x.shape[1:]) != (c, h, w):
        raise ValueError(f"images of shape {tuple(x.shape[1:])} do not fit this model: it reads {c} channel(s) "
                         f"of {h}x{w} pixels; give image files (resized for you) or arrays of that size")
    m = torch.tensor(spec["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(spec["std"], dtype=torch.float32).view(1, -1, 1, 1)
    out = (x.to(torch.float32).div_(255.0) - m) / s
    return out.reshape(len(out), *spec["input_shape"])


def read_audio(spec: dict, path) -> np.ndarray:
    """One WAV/FLAC clip as float32 (samples,), mono at the spec's rate, padded or cut (soundfile;
    torchaudio.load would need torchcodec)."""
    from frozen_bench.data.audio import read_wav

    if spec["sample_rate"] != 16000 or spec["samples"] != 16000:
        raise ValueError("only 1 s clips at 16 kHz are supported by this front end")
    try:
        return read_wav(path)
    except (RuntimeError, OSError) as e:  # soundfile raises LibsndfileError (a RuntimeError)
        raise ValueError(f"cannot read the audio file {path} ({' '.join(str(e).split())[:120]}); "
                         f"give a WAV or FLAC file") from None


def from_waves(spec: dict, waves) -> torch.Tensor:
    """Waveforms (N, samples) or (samples,) float in [-1, 1] -> the model input (N, F, T): the
    front end, rounded to the loaders' feature dtype, standardized per band."""
    from frozen_bench.data.audio import make_frontend

    w = torch.as_tensor(np.asarray(waves, dtype=np.float32))
    if w.dim() == 1:
        w = w.unsqueeze(0)
    if w.dim() != 2:
        raise ValueError(f"waveform arrays must be (samples,) or (N, samples), got shape {tuple(w.shape)}")
    n = spec["samples"]
    if w.shape[1] != n:  # as read_wav: right zero-padding or cutting to the clip length
        w = torch.nn.functional.pad(w, (0, max(0, n - w.shape[1])))[:, :n]
    feats = make_frontend(spec["frontend"])(w).to(getattr(torch, spec["feature_dtype"]))  # (N, F, T)
    mean = torch.tensor(spec["mean"], dtype=torch.float32).view(1, -1, 1)
    std = torch.tensor(spec["std"], dtype=torch.float32).view(1, -1, 1)
    out = (feats.float() - mean) / std
    if tuple(out.shape[1:]) != tuple(spec["input_shape"]):
        raise ValueError(f"the front end made {tuple(out.shape[1:])} features, the model reads {tuple(spec['input_shape'])}")
    return out


def prepared(spec: dict, x) -> torch.Tensor:
    """An array already in the model's input form (``--prepared``): checked, as float32."""
    t = torch.as_tensor(np.asarray(x)).to(torch.float32)
    shape = tuple(spec["input_shape"])
    if tuple(t.shape) == shape:
        t = t.unsqueeze(0)
    if tuple(t.shape[1:]) != shape:
        raise ValueError(f"a prepared input must be (N, {', '.join(map(str, shape))}) as the model reads it, "
                         f"got shape {tuple(t.shape)}")
    return t
