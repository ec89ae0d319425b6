"""The preprocessing travels with the export: preprocess.json beside the file and the record's
``input`` say what the input must be; with --raw-input an image model's normalisation is in the
graph, which then reads pixels, and gives on the test images' pixels what predict gives on the files."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from frozen_bench.cli import main
from frozen_bench.data import preprocess as P
from tests.predict.test_predict import audio_run, image_run  # noqa: F401  (module-scoped fixtures)

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime", "onnxscript"))


@pytest.mark.parametrize("fmt", ["torchscript", pytest.param("onnx", marks=pytest.mark.skipif(not HAS_ONNX, reason="onnx absent"))])
def test_export_carries_the_preprocessing(image_run, tmp_path, fmt, capsys):  # noqa: F811
    from PIL import Image

    from frozen_bench.predict import load, predict

    run, _, tree = image_run
    out = tmp_path / "exp"
    assert main(["export", str(run), "--format", fmt, "--out", str(out), "--reps", "3"]) == 0
    suffix = ".onnx" if fmt == "onnx" else ".pt"
    rec = json.loads((out / f"model{suffix}.json").read_text())
    beside = json.loads((out / P.FILE).read_text())
    assert rec["preprocess"] == P.FILE and not rec["preprocess_in_graph"]
    assert beside["classes"] == ["cat", "dog", "frog"] and "pixel/255" in rec["input"] and rec["match"]["ok"]

    assert main(["export", str(run), "--format", fmt, "--out", str(out), "--reps", "3", "--raw-input"]) == 0
    rec = json.loads((out / f"model.raw{suffix}.json").read_text())
    assert rec["preprocess_in_graph"] and "pixel values 0-255" in rec["input"] and rec["match"]["ok"]
    files = sorted((tree / "test").rglob("*.png"))
    pixels = torch.tensor(np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])).permute(0, 3, 1, 2).float()
    if fmt == "onnx":
        import onnxruntime as ort

        s = ort.InferenceSession(str(out / "model.raw.onnx"), providers=["CPUExecutionProvider"])
        logits = s.run(None, {s.get_inputs()[0].name: pixels.numpy()})[0]
    else:
        logits = torch.jit.load(str(out / "model.raw.pt")).eval()(pixels).detach().numpy()
    _, _, probs = predict(load(run), files)
    assert logits.argmax(1).tolist() == probs.argmax(1).tolist()
    assert np.allclose(torch.softmax(torch.tensor(logits), 1).numpy(), probs.numpy(), atol=1e-5)


def test_raw_input_needs_an_image_model(audio_run, tmp_path, capsys):  # noqa: F811
    """A speech model's front end stays outside the graph: preprocess.json beside the file says it."""
    run, _, _ = audio_run
    assert main(["export", str(run), "--format", "torchscript", "--raw-input", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--raw-input puts an image dataset's normalisation in the graph" in err and "\n" not in err
    assert not (tmp_path / "x").exists()
    assert main(["export", str(run), "--format", "torchscript", "--out", str(tmp_path / "x"), "--reps", "3"]) == 0
    rec = json.loads((tmp_path / "x" / "model.pt.json").read_text())
    assert "log(power + 1e-6)" in rec["input"] and "per-band" in rec["input"]
    assert len(json.loads((tmp_path / "x" / P.FILE).read_text())["mean"]) == 40
