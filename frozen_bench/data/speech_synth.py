"""Synthetic Speech Commands: the v2 words spoken by espeak-ng and/or flite, written in the real
folder layout so the same loader reads them (``dataset=speech_commands_synth``; synthetic=True).

Each "speaker" is a fixed random voice setting (engine, voice/variant, speed, pitch, level);
utterance n of a word is said by speaker n mod S, file ``<speaker>_nohash_<rep>.wav``. As in the
real set, the split is by speaker: speaker k goes to the test list if k % 10 == 0, to the
validation list if k % 10 == 1, else train. Audio is resampled to 16 kHz, trimmed, placed at a
random offset inside 1 s, and with probability ``noise_prob`` mixed with one of the generated
``_background_noise_`` files (white/pink/brown noise, also synthetic) at 5–30 dB SNR.

    python scripts/make_synthetic_speech.py --out DATA/speech_commands_synth --per-word 40
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from math import gcd
from pathlib import Path

import numpy as np

from frozen_bench.data.speech import NOISE_DIR, SAMPLE_RATE, WORDS35

_ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")
_ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5", "klatt")
_FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")


def engines_available() -> list[str]:
    return [e for e in ("espeak-ng", "flite") if shutil.which(e)]


def make_speakers(n: int, engines: list[str], seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        eng = engines[k % len(engines)]
        if eng == "espeak-ng":
            voice = f"{rng.choice(_ESPEAK_VOICES)}+{rng.choice(_ESPEAK_VARIANTS)}"
            spk = {"engine": eng, "voice": voice, "speed": int(rng.integers(110, 230)), "pitch": int(rng.integers(10, 90))}
        else:
            spk = {"engine": eng, "voice": str(rng.choice(_FLITE_VOICES)),
                   "stretch": round(float(rng.uniform(0.75, 1.35)), 3), "f0": int(rng.integers(80, 220))}
        spk["level"] = round(float(rng.uniform(0.2, 0.9)), 3)
        spk["id"] = hashlib.sha1(repr(sorted(spk.items())).encode()).hexdigest()[:8]
        out.append(spk)
    return out


def _speak(word: str, spk: dict, tmp: Path) -> np.ndarray:
    import soundfile as sf
    from scipy.signal import resample_poly

    wav_path = tmp / "utt.wav"
    if spk["engine"] == "espeak-ng":
        cmd = ["espeak-ng", "-v", spk["voice"], "-s", str(spk["speed"]), "-p", str(spk["pitch"]), "-w", str(wav_path), word]
    else:
        cmd = ["flite", "-voice", spk["voice"], "--setf", f"duration_stretch={spk['stretch']}",
               "--setf", f"int_f0_target_mean={spk['f0']}", "-t", word, "-o", str(wav_path)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)
    wav, sr = sf.read(str(wav_path), dtype="float32", always_2d=True)
    wav = wav.mean(1)
    if sr != SAMPLE_RATE:
        g = gcd(sr, SAMPLE_RATE)
        wav = resample_poly(wav, SAMPLE_RATE // g, sr // g).astype(np.float32)
    loud = np.flatnonzero(np.abs(wav) > 0.02 * (np.abs(wav).max() + 1e-9))  # trim leading/trailing silence
    return wav[loud[0]:loud[-1] + 1] if len(loud) else wav


def _noises(rng: np.random.Generator, seconds: int = 20) -> dict[str, np.ndarray]:
    n = SAMPLE_RATE * seconds
    white = rng.standard_normal(n)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n), 1 / n)
    pink = np.fft.irfft(spec / np.sqrt(f), n)
    brown = np.fft.irfft(spec / f, n)
    return {k: (0.3 * v / np.abs(v).max()).astype(np.float32) for k, v in
            {"white_noise": white, "pink_noise": pink, "brown_noise": brown}.items()}


def generate(out: Path, words=WORDS35, per_word: int = 20, speakers: int = 20, engines=None,
             noise_prob: float = 0.5, seed: int = 0, log=print) -> dict:
    """Write the synthetic set under ``out``; returns counts per split."""
    import soundfile as sf

    engines = list(engines or engines_available())
    missing = [e for e in engines if not shutil.which(e)]
    if not engines or missing:
        raise RuntimeError(f"speech synthesis engine(s) not found: {', '.join(missing) or 'espeak-ng, flite'}; "
                           f"install them (apt-get install espeak-ng flite) or pass --engines with one that exists")
    unknown = [w for w in words if w not in WORDS35]
    if unknown:
        raise ValueError(f"unknown word(s) {', '.join(unknown)}; choose from the Speech Commands v2 words")
    rng = np.random.default_rng(seed)
    out = Path(out)
    (out / NOISE_DIR).mkdir(parents=True, exist_ok=True)
    noises = _noises(rng)
    for k, v in noises.items():
        sf.write(str(out / NOISE_DIR / f"{k}.wav"), v, SAMPLE_RATE, subtype="PCM_16")
    noise_list = list(noises.values())
    spk = make_speakers(speakers, engines, seed)
    lists = {"val": [], "test": []}
    counts = {"train": 0, "val": 0, "test": 0}
    with tempfile.TemporaryDirectory() as td:
        for wi, word in enumerate(words):
            (out / word).mkdir(exist_ok=True)
            for n in range(per_word):
                k = n % len(spk)
                s = spk[k]
                speech = _speak(word, s, Path(td))[:SAMPLE_RATE]
                clip = np.zeros(SAMPLE_RATE, dtype=np.float32)
                start = int(rng.integers(0, SAMPLE_RATE - len(speech) + 1))
                clip[start:start + len(speech)] = speech * (s["level"] / (np.abs(speech).max() + 1e-9))
                if rng.random() < noise_prob:
                    src = noise_list[rng.integers(len(noise_list))]
                    off = int(rng.integers(0, len(src) - SAMPLE_RATE + 1))
                    noise = src[off:off + SAMPLE_RATE]
                    snr_db = rng.uniform(5, 30)
                    scale = np.sqrt((clip ** 2).mean() / ((noise ** 2).mean() + 1e-12) / 10 ** (snr_db / 10))
                    clip = np.clip(clip + scale * noise, -1, 1)
                rel = f"{word}/{s['id']}_nohash_{n // len(spk)}.wav"
                sf.write(str(out / rel), clip, SAMPLE_RATE, subtype="PCM_16")
                part = "test" if k % 10 == 0 else "val" if k % 10 == 1 else "train"
                counts[part] += 1
                if part != "train":
                    lists[part].append(rel)
            log(f"[make_synthetic_speech] {wi + 1}/{len(words)} {word}: {per_word} clips")
    (out / "validation_list.txt").write_text("".join(f"{r}\n" for r in lists["val"]))
    (out / "testing_list.txt").write_text("".join(f"{r}\n" for r in lists["test"]))
    (out / "README.txt").write_text("SYNTHETIC speech commands: generated by frozen-bench's make_synthetic_speech "
                                    f"with {', '.join(engines)}; not human speech.\n")
    return counts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Write a synthetic Speech Commands set (espeak-ng/flite) in the v2 layout.")
    p.add_argument("--out", required=True, help="output folder, e.g. ~/.cache/frozen-bench/data/speech_commands_synth")
    p.add_argument("--words", default="all", help="comma-separated words, or 'all' (the 35 v2 words) or '12' (the 10 keywords + 5 others)")
    p.add_argument("--per-word", type=int, default=40, help="utterances per word")
    p.add_argument("--speakers", type=int, default=20, help="number of distinct voice settings")
    p.add_argument("--engines", default="", help="comma-separated: espeak-ng,flite (default: those installed)")
    p.add_argument("--noise-prob", type=float, default=0.5, help="fraction of clips mixed with background noise")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.words == "all":
        words = list(WORDS35)
    elif a.words == "12":
        words = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "bed", "cat", "dog", "happy", "wow"]
    else:
        words = [w.strip() for w in a.words.split(",") if w.strip()]
    try:
        counts = generate(Path(a.out).expanduser(), words, a.per_word, a.speakers,
                          [e for e in a.engines.split(",") if e] or None, a.noise_prob, a.seed)
    except (RuntimeError, ValueError, subprocess.SubprocessError) as e:
        print(f"make_synthetic_speech: {e}", file=sys.stderr)
        return 1
    print(f"[make_synthetic_speech] wrote {sum(counts.values())} clips to {a.out} "
          f"(train {counts['train']}, val {counts['val']}, test {counts['test']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
