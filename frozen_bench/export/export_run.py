"""``frozen-bench export RUN_DIR --format onnx|torchscript [--quantize int8|fp16]``.

A finished run saved with ``trainer.save_model=true`` is rebuilt from its ``config.yaml`` and
``model.pt``; its export view (``export.view``: fixed transforms as exact operators, the WHT as
its butterflies) is written to ``<RUN_DIR>/export/model[.int8|.fp16].onnx|.pt`` (or ``--out``),
with an export record ``<file>.json`` beside it:

- ``match``: the exported float32 model against the PyTorch model on the run's test set, checked
  elementwise as ``|exported − torch| ≤ atol + rtol·|torch|`` with ``rtol = atol = 1e-4``
  (``TOLERANCE``; onnxruntime runs the ONNX file, ``torch.jit.load`` the TorchScript one). A
  mismatch fails the export (exit 1) and writes no record;
- ``file_bytes``; ``trainable_bytes`` and ``fixed_bytes``: the stored tensors of the exported file
  that hold the run's trainable parameters (quantized weights with their scales and zero points;
  a learned permutation as its int64 index) and everything else (fixed transforms' tables or matrices, frozen parameters, buffers and graph
  constants);
- ``latency_ms_b1_p50/p95``: the exported model's CPU latency at batch 1, one thread;
- ``test_accuracy`` of the exported (and, with ``--quantize``, quantized) model on the run's test
  set, next to ``torch_test_accuracy`` and its agreement with the PyTorch predictions.

ONNX needs ``pip install 'frozen-bench[export]'`` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from frozen_bench.errors import UserError
from frozen_bench.export.view import export_view, transforms_of

TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
FORMATS = ("onnx", "torchscript")
QUANTIZE = ("none", "int8", "fp16")


def load_trained(run_dir: str | Path):
    """(config, PyTorch model in eval mode, DataBundle) of a finished run with its model.pt."""
    import yaml

    from frozen_bench.data import load_dataset
    from frozen_bench.models import build_model
    from frozen_bench.models.saved import CHECKPOINT

    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.json"
    if not (run_dir / "config.yaml").exists() or not metrics.exists():
        raise UserError(f"{run_dir} is not a finished run folder (no config.yaml/metrics.json); give results/runs/<signature>")
    if json.loads(metrics.read_text()).get("status") != "ok":
        raise UserError(f"{run_dir} did not finish (status is not ok); export a run that finished")
    if not (run_dir / CHECKPOINT).exists():
        raise UserError(f"{run_dir} has no {CHECKPOINT}; re-run that config with trainer.save_model=true force=true")
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    data = load_dataset(cfg["dataset"], seed=int(cfg["seed"]))
    torch.manual_seed(int(cfg["seed"]))
    model = build_model(cfg, data)
    model.load_state_dict(torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True))
    return cfg, model.eval(), data


def _require_onnx():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise UserError(f"--format onnx needs {e.name}: pip install 'frozen-bench[export]' (onnx, onnxscript, onnxruntime)") from None


# ---------------------------------------------------------------- ONNX


def _onnx_export(view: nn.Module, x: torch.Tensor, path: Path, optimize: bool = True) -> None:
    import warnings

    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    with warnings.catch_warnings(), torch.enable_grad():  # grad on: no eval-time caches are read while tracing
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(view, (x,), dynamo=True, dynamic_shapes=({0: batch},), input_names=["x"],
                                 output_names=["logits"], verbose=False, optimize=optimize)
    import onnx

    m = prog.model_proto
    for n in m.graph.node:  # the exporter's per-node provenance (stack traces, scopes): most of the file
        del n.metadata_props[:]
    del m.graph.value_info[:]
    onnx.save(m, str(path))


def _onnx_session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _onnx_runner(path: Path):
    s = _onnx_session(path)
    name = s.get_inputs()[0].name
    return lambda x: s.run(None, {name: x.numpy().astype(np.float32)})[0]


def _onnx_quantize(src: Path, dst: Path, how: str) -> None:
    if how == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        import logging

        logging.disable(logging.WARNING)  # its advice to pre-process the graph, on the root logger
        try:
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)  # weights int8, activations quantized per batch
        finally:
            logging.disable(logging.NOTSET)
    else:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        m = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)  # float32 in and out
        onnx.save(m, str(dst))


def _onnx_bytes(path: Path, trainable: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(trainable, fixed) bytes of the tensors stored in the ONNX file (initializers and Constant
    nodes). A tensor is trainable by its name (a parameter's, or with a quantizer's suffix) or,
    where constant folding renamed it (a (C,) scale reshaped to (1, C)), by holding exactly a
    trainable parameter's values."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    values = {np.ascontiguousarray(p.detach().cpu().numpy().astype(dt)).tobytes()
              for p in trainable.values() for dt in ((np.int64,) if not p.is_floating_point() else (np.float32, np.float16))}
    tr = fx = 0
    tensors = [(t.name, t) for t in m.graph.initializer]
    tensors += [(n.output[0], a.t) for n in m.graph.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"]
    for name, t in tensors:
        arr = numpy_helper.to_array(t)
        nbytes = arr.nbytes
        if _is_trainable(name, trainable) or (arr.dtype in (np.float32, np.float16, np.int64)
                                              and np.ascontiguousarray(arr).tobytes() in values):
            tr += nbytes
        else:
            fx += nbytes
    return tr, fx


def _is_trainable(name: str, trainable) -> bool:
    # a quantized weight keeps its name with a suffix (head.weight_quantized, head.weight_scale, ...)
    return any(name == p or name.startswith(p + "_") for p in trainable)


# ---------------------------------------------------------------- TorchScript


class _Half(nn.Module):
    """float32 in and out around a float16 model."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.half()).float()


def _torchscript_export(view: nn.Module, x: torch.Tensor, path: Path, quantize: str) -> nn.Module:
    import warnings

    from frozen_bench.nn import native

    with warnings.catch_warnings(), native.torch_only(), torch.enable_grad():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice, the tracer's
        if quantize == "int8":  # dynamic int8 Linear weights (torch.ao, deprecated for torchao but present)
            from torch.ao.quantization import quantize_dynamic

            view = quantize_dynamic(view, {nn.Linear}, dtype=torch.qint8)
        elif quantize == "fp16":
            view = _Half(view.half())
        traced = torch.jit.trace(view, (x,), check_trace=False)
    traced.save(str(path))
    return view


def _jit_load(path: Path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated for torch.export, still supported
        return torch.jit.load(str(path), map_location="cpu")


def _torchscript_runner(path: Path):
    m = _jit_load(path).eval()

    def run(x):
        with torch.no_grad():
            return m(x).float().numpy()

    return run


def _torchscript_bytes(path: Path, trainable: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(trainable, fixed) bytes of the tensors the TorchScript archive stores (attributes and
    constants), read back from the file."""
    m = _jit_load(path)
    tr = fx = 0
    for name, v in m.state_dict().items():
        nbytes = _nbytes(v)
        # a dynamically quantized Linear stores (weight, bias) as head._packed_params._packed_params
        base = name.split("._packed_params")[0] + ".weight" if "_packed_params" in name else name
        base = base.removeprefix("inner.")  # the fp16 wrapper
        if base in trainable or _is_trainable(base, trainable):
            tr += nbytes
        else:
            fx += nbytes
    # tensors the trace baked into the code (the export view's fixed tables are buffers, so few)
    try:
        _, consts = m.code_with_constants
        fx += sum(_nbytes(v) for v in consts.const_mapping.values())
    except (AttributeError, RuntimeError):
        pass
    return tr, fx


def _nbytes(v) -> int:
    if isinstance(v, torch.Tensor):
        if v.is_quantized:
            return v.numel() * v.element_size() + 8  # int8 values + scale/zero point
        return v.numel() * v.element_size()
    if isinstance(v, (tuple, list)):
        return sum(_nbytes(t) for t in v)
    return 0


# ---------------------------------------------------------------- measure


def _latency(run, x1: torch.Tensor, reps: int) -> tuple[float, float]:
    """Batch-1 latency on one thread, as the record says: onnxruntime's session has one thread; a
    TorchScript module runs on torch's intra-op pool, set to one thread here (with more, a busy
    machine's cores make each tiny call wait at the pool's barrier: 100 ms instead of 0.4 ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(10):
            run(x1)
        t = []
        for _ in range(reps):
            t0 = time.perf_counter()
            run(x1)
            t.append((time.perf_counter() - t0) * 1e3)
    finally:
        torch.set_num_threads(threads)
    return float(np.quantile(t, 0.5)), float(np.quantile(t, 0.95))


def _outputs(run, x: torch.Tensor, batch: int = 256) -> np.ndarray:
    return np.concatenate([run(x[i:i + batch]) for i in range(0, len(x), batch)])


class RawImage(nn.Module):
    """The image preprocessing in the graph (``--raw-input``): float32 pixels 0..255, (N, C, H, W),
    /255, minus the per-channel mean, over the std (the loaders' own operations, in their order),
    shaped as the model reads it."""

    def __init__(self, inner: nn.Module, spec: dict):
        super().__init__()
        self.inner, self.shape = inner, tuple(spec["input_shape"])
        self.register_buffer("mean", torch.tensor(spec["mean"], dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(spec["std"], dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):  # (N, C, H, W) pixels
        x = (x / 255.0 - self.mean) / self.std
        return self.inner(x.reshape(x.shape[0], *self.shape))


def _out_dir(out: str | Path | None, run_dir: Path) -> Path:
    """The export folder, made and probed before anything is exported: an --out under a file, in
    /proc or in a read-only run folder is one line (it was a traceback, or torch's own error)."""
    from frozen_bench.atomic import probe_writable

    out_dir = Path(out) if out else run_dir / "export"
    fix = "choose a writable folder with --out DIR" if out else f"the run folder {run_dir} is not writable: give --out DIR"
    try:
        probe_writable(out_dir)
    except OSError as e:
        raise UserError(f"cannot write the export into {out_dir} ({e.strerror or type(e).__name__}); {fix}") from None
    return out_dir


def export_run(run_dir: str | Path, fmt: str = "onnx", quantize: str = "none", out: str | Path | None = None,
               dense: bool = False, reps: int = 200, log=print, raw_input: bool = False) -> dict:
    """Export one finished run; returns the export record (also written as ``<file>.json``). The
    run's preprocessing is written beside the file (``preprocess.json``) and the record's ``input``
    says what the input must be; with ``raw_input`` (image datasets) it is in the graph, which then
    reads pixels."""
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if quantize not in QUANTIZE:
        raise UserError(f"--quantize must be one of int8, fp16, got {quantize!r}")
    if fmt == "onnx":
        _require_onnx()
    from frozen_bench.data import preprocess as P

    run_dir = Path(run_dir)
    cfg, model, data = load_trained(run_dir)
    if data.task == "regression":
        raise UserError(f"{run_dir} is a regression run; export handles classifiers (its record reports accuracy)")
    spec = P.read(run_dir) or data.info.get("preprocess")  # saved with the model, else its loader's
    if raw_input and (spec or {}).get("kind") != "image":
        raise UserError(f"--raw-input puts an image dataset's normalisation in the graph; {data.name} is not one: its "
                        f"input is described in the preprocess.json written beside the export (drop --raw-input)")
    out_dir = _out_dir(out, run_dir)
    suffix = {"onnx": ".onnx", "torchscript": ".pt"}[fmt]
    tag = ("" if quantize == "none" else f".{quantize}")
    path = out_dir / f"model{'.raw' if raw_input else ''}{tag}{suffix}"
    x_test, y_test = data.x_test.float(), data.y_test
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    view = export_view(model, dense=dense)
    if raw_input:  # the graph reads pixels: the test set as pixels (the loader's tensors, un-normalised)
        c, (h, w) = spec["channels"], spec["size"]
        mean = torch.tensor(spec["mean"]).view(1, -1, 1, 1)
        std = torch.tensor(spec["std"]).view(1, -1, 1, 1)
        x_test = (x_test.reshape(len(x_test), c, h, w) * std + mean) * 255.0
        model, view = RawImage(model, spec).eval(), RawImage(view, spec).eval()
    with torch.no_grad():
        ref = torch.cat([model(x_test[i:i + 256]) for i in range(0, len(x_test), 256)]).float().numpy()
    # a learned permutation is exported as its index, the trainable keys' evaluated form
    trainable.update({n: b for n, b in view.named_buffers() if n.endswith(".keys_index")})
    example = x_test[:2]
    log(f"[frozen-bench] export: {cfg['model']['name']} ({', '.join(transforms_of(view)) or 'no fixed transform'}) -> {path}")

    # the float32 export first: it must reproduce the PyTorch model
    fp32 = path if quantize == "none" else out_dir / f".model.fp32{suffix}"
    if fmt == "onnx":
        _onnx_export(view, example, fp32)
        run32 = _onnx_runner(fp32)
    else:
        _torchscript_export(view, example, fp32, "none")
        run32 = _torchscript_runner(fp32)
    got32 = _outputs(run32, x_test)
    diff = np.abs(got32 - ref)
    ok = bool(np.all(diff <= TOLERANCE["atol"] + TOLERANCE["rtol"] * np.abs(ref)))
    match = {"ok": ok, "max_abs_diff": float(diff.max()), "samples": int(len(x_test)), **TOLERANCE,
             "against": "the PyTorch model on the run's test set"
             + (" as pixels, the normalisation in both" if raw_input else "") + ", float32 export"}
    if not ok:
        raise RuntimeError(f"the exported model's outputs differ from PyTorch's by up to {diff.max():.3g} "
                           f"(tolerance rtol={TOLERANCE['rtol']}, atol={TOLERANCE['atol']}); nothing recorded")
    if quantize != "none":
        if fmt == "onnx":
            _onnx_quantize(fp32, path, quantize)
            run = _onnx_runner(path)
        else:
            _torchscript_export(view, example, path, quantize)
            run = _torchscript_runner(path)
        fp32.unlink()
    else:
        run = run32
    got = _outputs(run, x_test) if quantize != "none" else got32
    pred, ref_pred = got.argmax(1), ref.argmax(1)
    y = y_test.numpy()
    p50, p95 = _latency(run, x_test[:1], reps)
    tr_bytes, fx_bytes = (_onnx_bytes if fmt == "onnx" else _torchscript_bytes)(path, trainable)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rec = {
        "run_dir": str(run_dir), "signature": metrics.get("signature"), "model": cfg["model"]["name"],
        "dataset": data.name, "format": fmt, "quantize": quantize, "file": path.name,
        "file_bytes": path.stat().st_size, "trainable_bytes": tr_bytes, "fixed_bytes": fx_bytes,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "transforms": transforms_of(view), "dense_transforms": bool(dense), "match": match,
        "max_abs_diff_vs_torch": float(np.abs(got - ref).max()),
        "test_accuracy": float((pred == y).mean()), "torch_test_accuracy": float((ref_pred == y).mean()),
        "run_test_accuracy": metrics.get("test_accuracy"), "agreement_with_torch": float((pred == ref_pred).mean()),
        "test_samples": int(len(y)), "latency_ms_b1_p50": p50, "latency_ms_b1_p95": p95,
        "latency_runtime": _runtime(fmt), "latency_threads": 1, "latency_reps": reps,
        "torch_version": torch.__version__,
        # what a caller must feed the file: the preprocessing travels with it (preprocess.json beside it)
        "input": _input_text(spec, raw_input), "preprocess": P.FILE if spec else None, "preprocess_in_graph": bool(raw_input),
    }
    from frozen_bench.atomic import atomic_open

    if spec:
        P.write(spec, out_dir)
    with atomic_open(path.with_name(path.name + ".json"), "w") as f:
        f.write(json.dumps(rec, indent=2, default=_plain) + "\n")
    log(f"[frozen-bench] export: {path} ({rec['file_bytes']:,} bytes; trainable {tr_bytes:,}, fixed {fx_bytes:,}); "
        f"max |Δ| vs torch {match['max_abs_diff']:.2g} (float32), test accuracy {rec['test_accuracy']:.4f} "
        f"(torch {rec['torch_test_accuracy']:.4f}), batch-1 latency {p50:.3f} ms p50")
    return rec


def _input_text(spec: dict | None, raw_input: bool) -> str:
    from frozen_bench.data import preprocess as P

    if not spec:
        return "the tensors the run's data loader makes (no preprocessing record: re-run with trainer.save_model=true)"
    if raw_input:
        h, w = spec["size"]
        return (f"float32 (N, {spec['channels']}, {h}, {w}): pixel values 0-255 of a {spec['mode']} image of {h}x{w} "
                f"(resize it first, bilinearly); the normalisation (/255, mean {spec['mean']}, std {spec['std']}) is in the "
                f"graph; outputs: logits over {spec['classes']}")
    return P.describe(spec)


def _runtime(fmt: str) -> str:
    if fmt == "onnx":
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__} CPUExecutionProvider"
    return f"torch.jit {torch.__version__}"


def _plain(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return str(v)
