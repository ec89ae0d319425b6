"""One run's job: ``train(cfg, out_dir)`` loads the data, builds the model, fits it, measures it.

Plain config dict in, ``{"metrics", "history", "model", "data"}`` out; no Hydra below this line.
"""

from __future__ import annotations

import torch

from frozen_bench.train import measure as M
from frozen_bench.train.checkpoint import make_checkpointer
from frozen_bench.data import load_dataset
from frozen_bench.errors import explain_dataset_errors
from frozen_bench.models import build_model
from frozen_bench.train.loop import evaluate, fit, resolve_device


def train(cfg: dict, out_dir=None, log=print) -> dict:
    """Load data, build the model, train, evaluate. Returns {'metrics': {...}, 'history': [...]}."""
    if cfg.get("shift"):  # a sequence of training phases on shifting targets (+exp=fn_shift)
        from frozen_bench.train.phases import train_shift

        return train_shift(cfg, out_dir, log=log)
    seed = int(cfg["seed"])
    torch.manual_seed(seed)
    device = resolve_device(cfg["trainer"].get("device", "auto"))
    with explain_dataset_errors(cfg["dataset"].get("name")):  # a corrupt file: one clear line
        data = load_dataset(cfg["dataset"], seed=seed)
    torch.manual_seed(seed)
    model = build_model(cfg, data).to(device)
    checkpointer = make_checkpointer(cfg, out_dir, log)
    log(f"[frozen-bench] {cfg['model']['name']} on {data.name}{' (synthetic)' if data.synthetic else ''}: "
        f"{M.trainable_params(model):,} trainable / {M.total_params(model):,} total params, "
        f"{len(data.x_train)} train samples, device {device}")
    result = fit(model, data, cfg, device, log=log, checkpointer=checkpointer)
    if cfg["trainer"].get("save_model") and out_dir is not None:  # opt-in, for model=masked model.init=<run dir>
        from frozen_bench.models.saved import save_model

        save_model(model, out_dir)
    m: dict = {
        "status": result["status"],
        "diverged_step": result["diverged_step"],
        "dataset": data.name,
        "synthetic": data.synthetic,
        "train_loss_final": result["train_loss_final"],
        "trainable_params": M.trainable_params(model),
        "total_params": M.total_params(model),
        "frozen_bytes": M.frozen_bytes(model),
        "model_bytes": M.model_bytes(model),
        "steps": result["steps"],
        "train_seconds": result["train_seconds"],
    }
    if isinstance(getattr(model, "width", None), int):  # the width built (padded, or sized to a budget)
        m["width"] = model.width
    if hasattr(model, "record_metrics"):  # model-specific numbers (mask density, regions, ...)
        m.update(model.record_metrics())
    higher = data.task != "regression"
    key = "val_accuracy" if higher else "val_mse"
    m["steps_to_converge"] = M.steps_to_converge(result["history"], key, higher_is_better=higher)
    finals = [r[key] for r in result["history"] if r.get(key) is not None]
    m[key] = finals[-1] if finals else None  # final validation metric (the objective of searches)
    if result["status"] == "ok":
        test = evaluate(model, data.x_test, data.y_test, data, device)
        if data.task == "regression":
            m["test_mse"] = test["mse"]
        else:
            m["test_accuracy"], m["test_f1_macro"] = test["accuracy"], test["f1_macro"]
        m["act_shapes"] = M.activation_shapes(model)
        reps = int(cfg["trainer"].get("latency_reps", 30))
        for b in (1, 256):
            p50, p95 = M.latency_ms(model, data.input_shape, b, reps=reps, device=device)
            m[f"latency_ms_b{b}_p50"], m[f"latency_ms_b{b}_p95"] = p50, p95
    return {"metrics": m, "history": result["history"], "model": model, "data": data}

