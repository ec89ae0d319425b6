"""A saved model on new files: ``predict`` gives the labels the run's own test evaluation gives,
from the image or audio FILES of its test split, through the preprocessing saved with the model
(preprocess.json), for an image and an audio dataset; ``evaluate`` scores a labelled folder with
the run's test accuracy."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from frozen_bench.config import conf_dir
from frozen_bench.data import load_dataset
from frozen_bench.data import preprocess as P
from frozen_bench.errors import UserError
from frozen_bench.predict import evaluate_folder, load, predict
from frozen_bench.predict.score import logits
from frozen_bench.run import execute
from tests.data_fixtures import write_imagefolder, write_speech_test12

torch.set_num_threads(1)


def config(*overrides: str) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def trained(tmp, *overrides):
    rd = tmp / "results"
    m = execute(config("trainer.epochs=4", "trainer.latency_reps=0", "trainer.save_model=true", f"results_dir={rd}",
                       *overrides), log=lambda *_: None)
    assert m["status"] == "ok"
    return rd / "runs" / m["signature"], m


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict_image")
    tree = write_imagefolder(tmp / "images", classes=("cat", "dog", "frog"), per_class={"train": 12, "test": 5})
    run, m = trained(tmp, "dataset=imagefolder", f"dataset.path={tree}", f"dataset.root={tmp / 'cache'}",
                     "trainer.batch_size=16")
    return run, m, tree


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict_audio")
    clips = write_speech_test12(tmp / "speech_commands_test12", speakers=10, silence=6)
    run, m = trained(tmp, "+family=frozen_audio", "dataset=speech_commands_test12", f"dataset.path={clips}",
                     f"dataset.root={tmp / 'cache'}", "trainer.batch_size=16")
    return run, m, clips


def own_test(t) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's own test evaluation: the model on the loader's test tensors (probabilities, true labels)."""
    data = load_dataset(t.cfg["dataset"], seed=int(t.cfg["seed"]))
    return torch.softmax(logits(t.model, data.x_test), 1), data.y_test


def test_image_model_predicts_its_test_files_as_its_own_evaluation(image_run):
    run, m, tree = image_run
    spec = json.loads((run / P.FILE).read_text())  # saved with the model
    assert spec["kind"] == "image" and spec["classes"] == ["cat", "dog", "frog"] and len(spec["mean"]) == 3
    assert "pixel/255" in spec["input"]
    t = load(run)
    names, header, probs = predict(t, [tree / "test"])  # a folder: every image in it, sorted as the loader reads them
    assert header[:3] == ["input", "label", "probability"] and header[3:] == t.classes
    assert len(names) == 15 and torch.allclose(probs.sum(1), torch.ones(15))
    own, y = own_test(t)
    assert probs.argmax(1).tolist() == own.argmax(1).tolist()
    assert torch.allclose(probs, own, atol=1e-6)  # the files give the loader's very tensors, not near ones
    assert (own.argmax(1) == y).float().mean().item() == pytest.approx(m["test_accuracy"])


def test_image_model_evaluates_a_labelled_folder_as_its_test_accuracy(image_run, tmp_path):
    run, m, tree = image_run
    rec = evaluate_folder(load(run), tree / "test")
    assert rec["n"] == 15 and rec["accuracy"] == pytest.approx(m["test_accuracy"])
    assert np.asarray(rec["confusion_matrix"]).sum() == 15 and rec["per_class_n"] == [5, 5, 5]
    by_number = tmp_path / "by_number"  # folders named by class number (a name with a / cannot be a folder)
    for i, c in enumerate(("cat", "dog", "frog")):
        shutil.copytree(tree / "test" / c, by_number / str(i))
    assert evaluate_folder(load(run), by_number)["confusion_matrix"] == rec["confusion_matrix"]


def test_audio_model_predicts_its_test_clips_as_its_own_evaluation(audio_run, tmp_path):
    from frozen_bench.data.speech_test12 import speaker_split, _clips

    run, m, clips = audio_run
    spec = json.loads((run / P.FILE).read_text())
    assert spec["kind"] == "audio" and spec["frontend"]["frontend"] == "logmel" and len(spec["mean"]) == 40
    t = load(run)
    # the files of the run's test split, in the loader's order, copied into a labelled folder
    items, _ = _clips(clips)
    test = [items[i] for i in speaker_split(items, 0.1, 0.2, 0)["test"]]
    for cls, name in test:
        (tmp_path / "labelled" / cls).mkdir(parents=True, exist_ok=True)
        shutil.copy(clips / cls / name, tmp_path / "labelled" / cls / name)
    names, _, probs = predict(t, [clips / cls / name for cls, name in test])
    own, y = own_test(t)
    assert len(names) == len(test) == len(y)
    assert probs.argmax(1).tolist() == own.argmax(1).tolist()
    assert torch.allclose(probs, own, atol=1e-5)  # the same front end, rounding and per-band statistics
    rec = evaluate_folder(t, tmp_path / "labelled")
    assert rec["accuracy"] == pytest.approx(m["test_accuracy"])


def test_raw_and_prepared_arrays(image_run, tmp_path):
    """A .npy of raw pixels is preprocessed like the image files; --prepared takes the loader's own tensors."""
    from PIL import Image

    run, _, tree = image_run
    t = load(run)
    files = sorted((tree / "test").rglob("*.png"))
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])  # (N, H, W, C) uint8
    np.save(tmp_path / "pixels.npy", pixels)
    _, _, from_files = predict(t, files)
    _, _, from_array = predict(t, [tmp_path / "pixels.npy"])
    assert torch.equal(from_files, from_array)
    data = load_dataset(t.cfg["dataset"], seed=0)
    torch.save(data.x_test, tmp_path / "x.pt")
    _, _, prepared = predict(t, [tmp_path / "x.pt"], prepared=True)
    assert torch.equal(prepared, from_files)


def test_a_run_saved_before_preprocess_json_recovers_it(image_run, tmp_path):
    run, _, _ = image_run
    old = tmp_path / "old"
    shutil.copytree(run, old)
    (old / P.FILE).unlink()
    t = load(old, log=lambda *_: None)
    saved = json.loads((run / P.FILE).read_text())
    assert t.spec == {k: v for k, v in saved.items() if k != "input"}  # the same statistics, from the data
    assert (old / P.FILE).exists()


@pytest.mark.parametrize("case", ["missing", "wrong_kind", "corrupt", "no_model", "unknown_class"])
def test_bad_inputs_are_one_clear_error(image_run, tmp_path, case):
    run, _, tree = image_run
    t = load(run)
    if case == "missing":
        with pytest.raises(UserError, match="not found"):
            predict(t, [tmp_path / "nope.png"])
    elif case == "wrong_kind":
        (tmp_path / "a.wav").write_bytes(b"RIFF")
        with pytest.raises(UserError, match="reads images"):
            predict(t, [tmp_path / "a.wav"])
    elif case == "corrupt":
        (tmp_path / "bad.png").write_bytes(b"not a png")
        with pytest.raises(UserError, match="not an image") as e:
            predict(t, [tmp_path / "bad.png"])
        assert "BytesIO" not in str(e.value)
    elif case == "no_model":
        bare = tmp_path / "bare"
        shutil.copytree(run, bare)
        (bare / "model.pt").unlink()
        with pytest.raises(UserError, match="trainer.save_model=true"):
            load(bare)
    else:
        shutil.copytree(tree / "test", tmp_path / "labelled")
        (tmp_path / "labelled" / "cat").rename(tmp_path / "labelled" / "kitten")
        with pytest.raises(UserError, match="kitten"):
            evaluate_folder(t, tmp_path / "labelled")


def test_the_commands(image_run, tmp_path, capsys):
    """frozen-bench predict (a folder, by signature under --results-dir, CSV to stdout or --out) and
    evaluate (its record beside the run); bad input is one line, exit 2, nothing written."""
    import csv

    from frozen_bench.cli import main
    from tests.data_fixtures import snapshot

    run, m, tree = image_run
    assert main(["predict", str(run), str(tree / "test"), "--out", str(tmp_path / "p.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert len(rows) == 15 and set(rows[0]) == {"input", "label", "probability", "cat", "dog", "frog"}
    capsys.readouterr()
    assert main(["predict", run.name, str(tree / "test" / "dog" / "0000.png"), "--results-dir", str(run.parent.parent)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1].split(",")[1] == rows[5]["label"] and "preprocess.json" in err
    before = snapshot(run)
    assert main(["evaluate", str(run), "--data", str(tree / "test")]) == 0
    out, err = capsys.readouterr()
    assert f"accuracy={100 * m['test_accuracy']:.2f}%" in out and "true \\ pred" in out
    rec = json.loads(next((run / "evaluations").glob("test-*.json")).read_text())
    assert rec["accuracy"] == pytest.approx(m["test_accuracy"]) and rec["n"] == 15
    shutil.rmtree(run / "evaluations")
    assert snapshot(run) == before
    (tmp_path / "lab" / "kitten").mkdir(parents=True)
    for argv, what in ((["evaluate", str(run), "--data", str(tmp_path / "lab")], "kitten"),
                       (["predict", str(run), str(tree / "test"), "--out", str(tmp_path / "p.csv" / "x.csv")], "writable --out"),
                       (["predict", str(tmp_path / "nope"), "x.png"], "no run folder")):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and what in err[0], err
    assert snapshot(run) == before and (tmp_path / "p.csv").is_file()


def test_saving_the_model_of_a_finished_run_keeps_one_record(tmp_path):
    """trainer.save_model is not in the signature: asking a finished run for its model trains it
    again into the same folder (the record replaced, model.pt added), and all.csv lists it once."""
    import pandas as pd

    rd = tmp_path / "results"
    base = ["trainer.epochs=2", "trainer.latency_reps=0", f"results_dir={rd}"]
    first = execute(config(*base), log=lambda *_: None)
    again = execute(config(*base, "trainer.save_model=true"), log=lambda *_: None)
    assert again["signature"] == first["signature"] and not again.get("skipped")
    run = rd / "runs" / first["signature"]
    assert (run / "model.pt").is_file() and (run / P.FILE).is_file()
    assert len(list((rd / "runs").iterdir())) == 1 and len(pd.read_csv(rd / "all.csv")) == 1
    assert execute(config(*base, "trainer.save_model=true"), log=lambda *_: None)["skipped"]  # now it has its model
    assert load(run).spec["dataset"] == "digits"
