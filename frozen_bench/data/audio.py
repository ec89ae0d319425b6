"""A 1 s clip and its features: the wave reader and the fixed front end that every speech loader
(``speech``, ``speech_test12``) and the saved model's preprocessing (``preprocess``, for a
user's own clip) share, so a clip is turned into the same numbers by both."""

from __future__ import annotations

import numpy as np
import torch

SAMPLE_RATE = 16000
FRONTENDS = ("fft", "logmel", "mfcc")


def read_wav(path) -> np.ndarray:
    """Mono float32 at 16 kHz, exactly 1 s (right zero-padding or cropping). WAV or FLAC; a path or
    a binary file object (e.g. a tar member)."""
    import soundfile as sf

    wav, sr = sf.read(path if hasattr(path, "read") else str(path), dtype="float32", always_2d=True)
    wav = wav.mean(1)
    if sr != SAMPLE_RATE:
        import torchaudio.functional as AF

        wav = AF.resample(torch.from_numpy(wav), sr, SAMPLE_RATE).numpy()
    out = np.zeros(SAMPLE_RATE, dtype=np.float32)
    out[: min(len(wav), SAMPLE_RATE)] = wav[:SAMPLE_RATE]
    return out


def make_frontend(cfg: dict):
    """Waveforms (N, 16000) -> log features (N, F, T)."""
    import torchaudio.transforms as AT

    kind = cfg.get("frontend", "logmel")
    n_fft, hop = int(cfg.get("n_fft", 480)), int(cfg.get("hop_length", 320))
    n_mels = int(cfg.get("n_mels", 40))
    if kind == "fft":
        tf = AT.Spectrogram(n_fft=n_fft, hop_length=hop, power=2.0)
    elif kind == "logmel":
        tf = AT.MelSpectrogram(SAMPLE_RATE, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
    elif kind == "mfcc":
        return AT.MFCC(SAMPLE_RATE, n_mfcc=int(cfg.get("n_mfcc", 40)), log_mels=True,
                       melkwargs={"n_fft": n_fft, "hop_length": hop, "n_mels": n_mels})
    else:
        raise ValueError(f"dataset.frontend must be one of {', '.join(FRONTENDS)}, got {kind!r}")
    return lambda w: torch.log(tf(w) + 1e-6)
