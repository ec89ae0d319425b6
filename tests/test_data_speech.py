import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from frozen_bench.data import DatasetError, load_dataset
from frozen_bench.data import speech
from tests.data_fixtures import write_speech


def _cfg(tmp_path, **kw):
    return {"name": "speech_commands", "root": str(tmp_path), "download": False, "classes": 35,
            "frontend": "logmel", "n_fft": 400, "hop_length": 320, "n_mels": 32, "n_mfcc": 20, **kw}


def real_folder(tmp_path):
    return write_speech(tmp_path / "SpeechCommands" / "speech_commands_v0.02")


def test_wav_is_padded_or_cropped_to_one_second_at_16k(tmp_path):
    short = (0.5 * np.ones(8000)).astype(np.float32)
    sf.write(str(tmp_path / "s.wav"), short, 16000)
    w = speech.read_wav(tmp_path / "s.wav")
    assert w.shape == (16000,) and w[:8000].min() > 0.49 and np.all(w[8000:] == 0)
    sf.write(str(tmp_path / "l.wav"), np.zeros(8000 * 3, np.float32), 8000)  # 3 s at 8 kHz: resampled, cropped
    assert speech.read_wav(tmp_path / "l.wav").shape == (16000,)


def test_standard_split_from_the_lists_and_feature_shapes(tmp_path):
    real_folder(tmp_path)
    b = load_dataset(_cfg(tmp_path))
    assert b.name == "speech_commands" and not b.synthetic
    assert b.info["labels"] == ["cat", "no", "up", "yes"] and b.num_classes == 4
    # 12 clips per word, speaker 0 (2 clips) to test, speaker 1 (2 clips) to val
    assert (len(b.x_train), len(b.x_val), len(b.x_test)) == (32, 8, 8)
    assert b.x_train.shape[1:] == (32, 51)  # n_mels rows x (1 + 16000 // 320) frames
    assert abs(b.x_train.mean().item()) < 1e-3  # standardized with train statistics
    caches = list((tmp_path / "frozen_bench_cache").glob("speech_commands_logmel_*.pt"))
    assert len(caches) == 1
    # a different front end is a different cache entry with its own shape
    f = load_dataset(_cfg(tmp_path, frontend="fft"))
    assert f.x_train.shape[1:] == (201, 51)
    m = load_dataset(_cfg(tmp_path, frontend="mfcc"))
    assert m.x_train.shape[1:] == (20, 51)
    assert len(list((tmp_path / "frozen_bench_cache").glob("speech_commands_*.pt"))) == 3


def test_cache_is_reused(tmp_path, monkeypatch):
    real_folder(tmp_path)
    first = load_dataset(_cfg(tmp_path))
    monkeypatch.setattr(speech, "read_wav", lambda p: (_ for _ in ()).throw(AssertionError("decoded again")))
    second = load_dataset(_cfg(tmp_path))
    assert torch.equal(first.x_train, second.x_train)


def test_twelve_class_variant_has_unknown_and_silence(tmp_path):
    real_folder(tmp_path)
    b = load_dataset(_cfg(tmp_path, classes=12))
    labels = b.info["labels"]
    assert labels[-2:] == ["_unknown_", "_silence_"] and b.num_classes == 12
    counts = torch.bincount(b.y_train, minlength=12)
    # yes/no/up are keywords (8 train clips each); cat becomes _unknown_; silence = one mean keyword class
    assert counts[labels.index("yes")] == 8 and counts[labels.index("_unknown_")] == 8
    assert counts[labels.index("_silence_")] == 8 and counts.sum() == len(b.x_train) == 40


def test_offline_missing_speech_is_one_line_naming_folder_and_fixes(tmp_path, monkeypatch):
    with pytest.raises(DatasetError) as e:
        load_dataset(_cfg(tmp_path))
    msg = str(e.value)
    assert "\n" not in msg and "speech_commands" in msg and "SpeechCommands" in msg
    assert "download=true" in msg and "place" in msg
    monkeypatch.setattr(speech, "_download", lambda root: (_ for _ in ()).throw(OSError("network unreachable")))
    with pytest.raises(DatasetError, match=r"download failed \(OSError\)"):
        load_dataset(_cfg(tmp_path, download=True))
    with pytest.raises(DatasetError, match="make_synthetic_speech.py") as e:
        load_dataset(_cfg(tmp_path, name="speech_commands_synth"))
    assert "\n" not in str(e.value)


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng not installed (apt-get install espeak-ng)")
def test_synthetic_generator_writes_the_layout_and_loads_as_synthetic(tmp_path):
    from frozen_bench.data.speech_synth import generate

    out = tmp_path / "speech_commands_synth"
    counts = generate(out, words=["yes", "no"], per_word=4, speakers=4, engines=["espeak-ng"], log=lambda *_: None)
    assert counts == {"train": 4, "val": 2, "test": 2}
    assert (out / "_background_noise_" / "pink_noise.wav").exists()
    data, sr = sf.read(str(next((out / "yes").glob("*.wav"))))
    assert sr == 16000 and len(data) == 16000 and np.abs(data).max() > 0.05  # audible speech, 1 s
    b = load_dataset({**_cfg(tmp_path), "name": "speech_commands_synth"})
    assert b.synthetic and b.name == "speech_commands_synth"
    assert (len(b.x_train), len(b.x_val), len(b.x_test)) == (4, 2, 2)
