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


# ---- FLAC and the 12-class test set split by speaker (dataset=speech_commands_test12) ----

import tarfile  # noqa: E402
import time  # noqa: E402

from frozen_bench.data import speech_test12  # noqa: E402
from frozen_bench.data.paths import shared_data_dir  # noqa: E402
from tests.data_fixtures import write_speech_test12  # noqa: E402

TEST12 = shared_data_dir() / "speech-commands-v0.02-test12" / "speech_commands_test12.tar"


def test_flac_copy_of_the_v2_layout_reads_like_the_wavs_and_matches_the_lists_by_stem(tmp_path):
    folder = real_folder(tmp_path)
    wav = load_dataset(_cfg(tmp_path))
    for f in sorted(folder.rglob("*.wav")):  # lossless re-encoding, the lists still name .wav
        data, sr = sf.read(str(f), dtype="int16")
        sf.write(str(f.with_suffix(".flac")), data, sr)
        f.unlink()
    flac = load_dataset(_cfg(tmp_path, n_mels=30))
    assert (len(flac.x_train), len(flac.x_val), len(flac.x_test)) == (len(wav.x_train), len(wav.x_val), len(wav.x_test))
    assert flac.y_test.tolist() == wav.y_test.tolist()
    assert speech.read_wav(next(folder.rglob("*.flac"))).shape == (16000,)


def _t12(tmp_path, path, **kw):
    return {"name": "speech_commands_test12", "root": str(tmp_path / "cache"), "path": str(path),
            "frontend": "logmel", "n_fft": 400, "hop_length": 320, "n_mels": 32, "n_mfcc": 20,
            "val_fraction": 0.2, "test_fraction": 0.3, "split_seed": 0, **kw}


def test_group_of_reads_the_speaker_from_real_style_names():
    assert speech_test12.group_of("yes", "0a2b400e_nohash_0.flac") == "0a2b400e"
    assert speech_test12.group_of("_unknown_", "backward_0c540988_nohash_0.flac") == "0c540988"
    assert speech_test12.group_of("_silence_", "1024.flac") == "file:_silence_/1024.flac"
    assert speech_test12.group_of("yes", "odd.wav") == "file:yes/odd.wav"


def test_split_is_speaker_disjoint_seeded_and_recorded(tmp_path):
    folder = write_speech_test12(tmp_path / "speech_commands_test12")
    b = load_dataset(_t12(tmp_path, folder))
    assert b.name == "speech_commands_test12" and not b.synthetic and "small real subset" in b.info["subset"]
    assert b.info["labels"] == ["yes", "no", "up", "_unknown_", "_silence_"] and b.num_classes == 5
    assert (b.info["split"], b.info["split_seed"], b.info["val_fraction"], b.info["test_fraction"]) == \
        ("speaker-disjoint", 0, 0.2, 0.3)
    n = 10 * (3 * 2 + 2) + 6  # 10 speakers x (3 words x 2 + 2 unknown) + 6 silence
    assert sum(b.info["clips"].values()) == n == len(b.x_train) + len(b.x_val) + len(b.x_test)
    assert b.x_train.shape[1:] == (32, 51) and abs(b.x_train.mean().item()) < 1e-3
    items = sorted((d.name, f.name) for d in folder.iterdir() for f in d.iterdir())
    parts = speech_test12.speaker_split(items, 0.2, 0.3, seed=0)
    assert [len(parts[p]) for p in ("train", "val", "test")] == [b.info["clips"][p] for p in ("train", "val", "test")]
    spk = {p: {speech_test12.group_of(*items[i]) for i in v if items[i][0] != "_silence_"} for p, v in parts.items()}
    assert not (spk["train"] & spk["val"]) and not (spk["train"] & spk["test"]) and not (spk["val"] & spk["test"])
    assert [len(spk[p]) for p in ("train", "val", "test")] == [b.info["speakers"][p] for p in ("train", "val", "test")]
    assert all(any(items[i][0] == "_silence_" for i in parts[p]) for p in parts)  # silence in every split
    assert speech_test12.speaker_split(items, 0.2, 0.3, seed=0) == parts
    assert speech_test12.speaker_split(items, 0.2, 0.3, seed=1) != parts
    # labels follow the files: the train rows of class yes are the train-split files of folder yes
    assert torch.bincount(b.y_train, minlength=5)[0].item() == sum(items[i][0] == "yes" for i in parts["train"])


def test_tar_equals_folder_and_the_cache_is_reused_across_split_seeds(tmp_path, monkeypatch):
    folder = write_speech_test12(tmp_path / "src" / "speech_commands_test12", fmt="wav")
    archive = tmp_path / "speech_commands_test12.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(folder, arcname="speech_commands_test12")
    a = load_dataset(_t12(tmp_path, folder))
    t = load_dataset(_t12(tmp_path, archive))
    assert torch.equal(a.x_test, t.x_test) and torch.equal(a.y_train, t.y_train)
    monkeypatch.setattr(speech, "read_wav", lambda p: (_ for _ in ()).throw(AssertionError("decoded again")))
    other = load_dataset(_t12(tmp_path, archive, split_seed=3))  # a new split of the cached features
    assert other.info["split_seed"] == 3 and sum(other.info["clips"].values()) == sum(t.info["clips"].values())
    with pytest.raises(AssertionError, match="decoded again"):
        load_dataset(_t12(tmp_path, archive, frontend="mfcc"))  # another front end is another cache entry


def test_missing_test12_is_one_line_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("FROZEN_BENCH_SHARED_DATA", str(tmp_path / "none"))
    with pytest.raises(DatasetError, match="set dataset.path") as e:
        load_dataset(_t12(tmp_path, ""))
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="test_fraction"):
        load_dataset(_t12(tmp_path, write_speech_test12(tmp_path / "s"), test_fraction=0.9))


@pytest.mark.skipif(not TEST12.exists(), reason=f"real Speech Commands 12-class test set absent ({TEST12})")
def test_real_test12_loads_speaker_disjoint_from_the_cache():
    """The real 4,890 clips: features decoded once (~10 s) into the user cache, then seconds."""
    cfg = {"name": "speech_commands_test12", "root": None, "path": None, "frontend": "fft", "n_fft": 256,
           "hop_length": 320, "n_mels": 40, "n_mfcc": 40, "val_fraction": 0.1, "test_fraction": 0.2, "split_seed": 0}
    load_dataset(cfg)  # builds the cache if this machine has none yet
    t = time.perf_counter()
    b = load_dataset({**cfg, "split_seed": 1})
    assert time.perf_counter() - t < 20
    assert b.num_classes == 12 and b.x_train.shape[1:] == (129, 51)
    assert sum(b.info["clips"].values()) == 4890
    assert abs(b.info["clips"]["test"] - 978) < 150 and abs(b.info["clips"]["val"] - 489) < 150
    with tarfile.open(TEST12) as tf:
        items = sorted((p[-2], p[-1]) for p in (m.name.split("/") for m in tf if m.name.endswith(".flac")))
    parts = speech_test12.speaker_split(items, 0.1, 0.2, seed=1)
    spk = {p: {speech_test12.group_of(*items[i]) for i in v if items[i][0] != "_silence_"} for p, v in parts.items()}
    assert not (spk["train"] & spk["val"]) and not (spk["train"] & spk["test"]) and not (spk["val"] & spk["test"])
    assert sum(map(len, spk.values())) == 239 == sum(b.info["speakers"].values())
