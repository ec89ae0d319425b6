"""frozen-bench export: the export view computes the same map with exact operators, and a tiny
digits run exports to ONNX / TorchScript (optionally quantized) with a record beside the file."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from frozen_bench.cli import main
from frozen_bench.config import conf_dir
from frozen_bench.export.view import ExportTransform, export_view, wht_butterfly
from frozen_bench.nn import fast, native
from frozen_bench.nn.transforms import make_transform
from frozen_bench.run import execute

torch.set_num_threads(1)
HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime", "onnxscript"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="onnx, onnxscript and onnxruntime absent: pip install 'frozen-bench[export]'")


def config(*overrides: str) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny finished digits run (frozen WHT MLP) saved with its weights."""
    rd = tmp_path_factory.mktemp("export") / "results"
    m = execute(config("trainer.epochs=3", "trainer.latency_reps=0", "trainer.save_model=true", f"results_dir={rd}"),
                log=lambda *_: None)
    assert m["status"] == "ok"
    return rd / "runs" / m["signature"], m


@pytest.mark.parametrize("n", [1, 2, 8, 64, 256])
def test_wht_butterflies_are_the_wht(n):
    x = torch.randn(5, n, dtype=torch.float64)
    with native.torch_only():
        assert torch.allclose(wht_butterfly(x), fast.wht(x), atol=1e-12)


@pytest.mark.parametrize("name", ["wht", "dct", "fft", "random_orth", "identity"])
@pytest.mark.parametrize("dense", [False, True])
def test_export_transforms_compute_the_transform(name, dense):
    t = make_transform(name, 48, seed=3)  # WHT pads 48 to 64
    e = ExportTransform(t, dense=dense)
    assert e.kind == ("matrix" if name == "random_orth" or (dense and name != "identity") else name)
    assert not list(e.parameters())
    x = torch.randn(7, 48)
    assert torch.allclose(e(x), t(x), atol=1e-5)


def test_export_view_is_the_same_model(run):
    from frozen_bench.export.export_run import load_trained

    _, model, data = load_trained(run[0])
    view = export_view(model)
    assert sum(isinstance(m, ExportTransform) for m in view.modules()) == 2 and model.training is False
    with torch.no_grad():
        assert torch.allclose(view(data.x_test), model(data.x_test), atol=1e-5)


def record_of(path):
    return json.loads(path.with_name(path.name + ".json").read_text())


@needs_onnx
def test_onnx_export_matches_torch_and_records_what_the_edge_needs(run, capsys):
    import onnx

    run_dir, metrics = run
    assert main(["export", str(run_dir), "--reps", "20"]) == 0, capsys.readouterr().err
    path = run_dir / "export" / "model.onnx"
    rec = record_of(path)
    assert rec["match"]["ok"] and rec["match"]["max_abs_diff"] <= 1e-4 and rec["match"]["rtol"] == 1e-4
    assert rec["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6) == rec["torch_test_accuracy"]
    assert rec["file_bytes"] == path.stat().st_size and rec["transforms"] == ["wht", "wht"]
    # 1,290 float32 trainable numbers; the two WHTs need no matrix: a few shape and scale constants
    assert rec["trainable_bytes"] == 4 * metrics["trainable_params"] and rec["fixed_bytes"] < 1024
    assert rec["latency_ms_b1_p50"] > 0 and rec["latency_threads"] == 1
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert sum(op in ("MatMul", "Gemm") for op in ops) == 1  # the head only: the WHT is butterflies
    assert ops.count("Add") >= 2 * 6 and ops.count("Sub") >= 2 * 6  # log2(64) stages per block


@needs_onnx
@pytest.mark.parametrize("quantize", ["int8", "fp16"])
def test_quantized_onnx_records_its_accuracy(run, quantize):
    from frozen_bench.export.export_run import export_run

    run_dir, metrics = run
    rec = export_run(run_dir, "onnx", quantize, reps=5, log=lambda *_: None)
    assert rec["quantize"] == quantize and (run_dir / "export" / f"model.{quantize}.onnx").exists()
    assert rec["match"]["ok"]  # the float32 export was checked first
    assert abs(rec["test_accuracy"] - rec["torch_test_accuracy"]) < 0.05 and rec["agreement_with_torch"] > 0.9
    assert rec["trainable_bytes"] < 4 * metrics["trainable_params"]  # fewer bytes per trainable number
    assert not list((run_dir / "export").glob(".model.fp32*"))  # the intermediate file is gone


@pytest.mark.parametrize("quantize", ["none", "int8", "fp16"])
def test_torchscript_export(run, quantize, tmp_path):
    from frozen_bench.export.export_run import export_run

    run_dir, metrics = run
    rec = export_run(run_dir, "torchscript", quantize, out=tmp_path, reps=5, log=lambda *_: None)
    path = tmp_path / f"model{'' if quantize == 'none' else '.' + quantize}.pt"
    assert path.exists() and record_of(path)["format"] == "torchscript" and rec["match"]["ok"]
    if quantize == "none":
        assert rec["trainable_bytes"] == 4 * metrics["trainable_params"]
        assert rec["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert abs(rec["test_accuracy"] - rec["torch_test_accuracy"]) < 0.05


def test_export_of_a_run_without_weights_is_one_line(tmp_path, capsys):
    rd = tmp_path / "results"
    m = execute(config("trainer.epochs=1", "trainer.latency_reps=0", "dataset.subset=100", f"results_dir={rd}"),
                log=lambda *_: None)
    assert main(["export", str(rd / "runs" / m["signature"]), "--format", "torchscript"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trainer.save_model=true" in err[0]
    assert main(["export", str(tmp_path / "nowhere"), "--format", "torchscript"]) == 2


def test_a_learned_permutation_is_exported_as_its_index():
    from frozen_bench.export.view import ExportPermutation
    from frozen_bench.models.frozen_mlp import FrozenMLP, LearnedPermutation

    model = FrozenMLP(64, 10, depth=2, permute="learned").eval()
    for m in model.modules():
        if isinstance(m, LearnedPermutation):
            with torch.no_grad():
                m.keys.add_(torch.randn(64) * 3)
    view = export_view(model)
    assert sum(isinstance(m, ExportPermutation) for m in view.modules()) == 2
    assert not any(isinstance(m, LearnedPermutation) for m in view.modules())
    x = torch.randn(9, 64)
    with torch.no_grad():
        assert torch.allclose(view(x), model(x), atol=1e-5)


@pytest.mark.parametrize("family", ["frozen_transformer", "transformer"])
@pytest.mark.parametrize("fmt", [pytest.param("onnx", marks=needs_onnx), "torchscript"])
def test_transformers_export_and_match_torch(family, fmt, tmp_path):
    """The frozen transformer's fixed projections call their transform's ``mix`` on padded inputs:
    the export view's transforms offer it too, so a transformer run exports like the others."""
    from frozen_bench.export.export_run import export_run

    m = execute(config(f"+family={family}", "dataset=digits", "dataset.image=true", "model.dim=32", "trainer.epochs=1",
                       "trainer.latency_reps=0", "trainer.save_model=true", f"results_dir={tmp_path}"), log=lambda *_: None)
    rec = export_run(tmp_path / "runs" / m["signature"], fmt=fmt, reps=5, log=lambda *_: None)
    assert rec["match"]["ok"] and rec["test_accuracy"] == pytest.approx(rec["torch_test_accuracy"], abs=0.01)
    assert rec["latency_ms_b1_p50"] < 50  # one thread, milliseconds: not a thread-pool stall
