"""One run's training: ``train(cfg, out_dir)`` loads the data, builds the model, fits it, measures it.

Plain config dict in, ``{"metrics", "history", "model", "data"}`` out; no Hydra below this line.
A run is a list of phases (``frozen_bench.train.phases``): one fit for a plain run, one per target
for a distribution shift; each phase is an ordinary ``fit()`` of the same model.
"""

from __future__ import annotations

import math

import torch

from frozen_bench.data import load_dataset
from frozen_bench.errors import explain_dataset_errors
from frozen_bench.models import build_model
from frozen_bench.progress import say
from frozen_bench.train import act_delta as AD
from frozen_bench.train import act_init as AI
from frozen_bench.train import compute as C
from frozen_bench.train import measure as M
from frozen_bench.train import phases as P
from frozen_bench.train.checkpoint import make_checkpointer
from frozen_bench.train.loop import evaluate, fit, resolve_device


def train(cfg: dict, out_dir=None, log=say) -> dict:
    """Load data, build the model, fit each phase, evaluate. Returns {'metrics': {...}, 'history': [...]}."""
    seed = int(cfg["seed"])
    torch.manual_seed(seed)
    device = resolve_device(cfg["trainer"].get("device", "auto"))
    phases = P.plan(cfg)
    log(f"[frozen-bench] loading {cfg['dataset'].get('name')}" + (f" ({len(phases)} phases)" if len(phases) > 1 else ""))
    with explain_dataset_errors(cfg["dataset"].get("name")):  # a corrupt file: one clear line
        datas = [load_dataset(p.cfg["dataset"], seed=seed) for p in phases]
    torch.manual_seed(seed)
    model = build_model(phases[0].cfg, datas[0]).to(device)
    prior = AI.init_from(cfg)  # +activation.init_from=PATH: learned initial PAct values (meta-init)
    if prior:
        AI.apply(model, prior, activation=(cfg.get("activation") or {}).get("name"))
        prior_sha = AI.sha256(prior)
        log(f"[frozen-bench] PAct initial values from {prior}")
    act_init = AD.snapshot(model)  # θ₀ of the PAct parameters: the sparse-delta penalty and act_channels_moved
    # a checkpoint holds the state of one fit: a multi-phase run is not resumed mid-way
    checkpointer = make_checkpointer(cfg, out_dir, log) if len(phases) == 1 else None
    measures = P.measures(cfg, phases, datas[0])
    data = datas[0]
    log(f"[frozen-bench] {cfg['model']['name']} on {data.name}{' (synthetic)' if data.synthetic else ''}: "
        f"{M.trainable_params(model):,} trainable / {M.total_params(model):,} total params, "
        f"{len(data.x_train)} train samples, device {device}")
    history: list[dict] = []
    status, diverged_step, steps, seconds, rows = "ok", None, 0, 0.0, []
    for i, (phase, data) in enumerate(zip(phases, datas)):
        measures.before(i, model, data, device, log=log)
        res = fit(model, data, phase.cfg, device, log=log, checkpointer=checkpointer, act_init=act_init)
        rows = [{**r, **phase.tags, "step": r["step"] + steps} for r in res["history"]]  # steps count over all phases
        history += rows
        measures.after(i, model, data, device, res, rows)
        if res["status"] != "ok":
            status, diverged_step = res["status"], steps + res["diverged_step"]
        steps += res["steps"]
        seconds += res["train_seconds"]
        if status != "ok":
            break
    if cfg["trainer"].get("save_model") and out_dir is not None:  # opt-in: predict, evaluate, export, model.init=<run dir>
        from frozen_bench.data.preprocess import write as write_preprocess
        from frozen_bench.models.saved import save_model

        if datas[0].info.get("preprocess"):  # the data's preprocessing travels with the model (preprocess.json)
            write_preprocess(datas[0].info["preprocess"], out_dir)
        save_model(model, out_dir)
    batch = int(cfg["trainer"].get("batch_size", 64))
    m = run_record(model, data, history, rows, status, diverged_step, steps, seconds,
                   steps_per_epoch=math.ceil(len(data.x_train) / batch) if len(data.x_train) else None)
    m.update(measures.fields())
    moved = AD.moved_channels(model, act_init, tol=act_delta_tol(cfg))
    if moved:  # the fraction of PAct channels that moved from their initial shape, and which ones
        m["act_channels_moved"], m["act_delta_tol"] = AD.moved_fraction(moved), act_delta_tol(cfg)
        m["act_moved_channels"] = AD.moved_text(moved)
    if prior:
        m["act_init_sha256"] = prior_sha
    if status == "ok":
        phase = final_phase(data, cfg)
        if phase:
            log(f"[frozen-bench] {phase}")
        m.update(final_measures(model, data, cfg, device))
    return {"metrics": m, "history": history, "model": model, "data": data}


def act_delta_tol(cfg: dict) -> float:
    return float((cfg.get("optim") or {}).get("act_delta_tol") or AD.ACT_DELTA_TOL)


def run_record(model, data, history: list[dict], last_rows: list[dict], status: str, diverged_step, steps: int,
               seconds: float, steps_per_epoch: int | None = None) -> dict:
    """The fields every run records after its fits: outcome, sizes, model-specific numbers, and
    the final validation metric and convergence step of the last phase (``last_rows``)."""
    m: dict = {
        "status": status,
        "diverged_step": diverged_step,
        "dataset": data.name,
        "synthetic": data.synthetic,
        "train_loss_final": history[-1]["train_loss"] if history else float("nan"),
        "trainable_params": M.trainable_params(model),
        "total_params": M.total_params(model),
        "frozen_bytes": M.frozen_bytes(model),
        "model_bytes": M.model_bytes(model),
        "steps": steps,
        "train_seconds": seconds,
        # compute beside the budget: multiply-adds of one example, numbers in the fixed maps, time an epoch
        "macs_per_example": _macs(model, data),
        "fixed_params": C.fixed_params(model),
        "train_seconds_per_epoch": seconds / (steps / steps_per_epoch) if steps and steps_per_epoch else None,
    }
    if isinstance(getattr(model, "width", None), int):  # the width built (padded, or sized to a budget)
        m["width"] = model.width
    if getattr(model, "built", None):  # the shape model.budget chose (models/budget.py)
        m["built"] = model.built
    if hasattr(model, "record_metrics"):  # model-specific numbers (mask density, regions, ...)
        m.update(model.record_metrics())
    higher = data.task != "regression"
    key = "val_accuracy" if higher else "val_mse"
    m["steps_to_converge"] = M.steps_to_converge(last_rows, key, higher_is_better=higher)
    finals = [r[key] for r in last_rows if r.get(key) is not None]
    m[key] = finals[-1] if finals else None  # final validation metric (the objective of searches)
    return m


def _macs(model, data) -> int | None:
    """``compute.macs_per_example``; a model the counter cannot run on one example records None
    rather than losing the finished run (the model-table test checks every family counts)."""
    p = next(model.parameters(), None)
    try:
        return C.macs_per_example(model, data.input_shape, device=p.device if p is not None else "cpu")
    except Exception as e:  # noqa: BLE001 - a measurement, never the run's outcome
        say(f"[frozen-bench] multiply-adds not counted: {type(e).__name__}: {e}")
        return None


def final_phase(data, cfg: dict) -> str:
    """The line that names what ``final_measures`` is about to do (it can take a while)."""
    parts = []
    if cfg["trainer"].get("test", True):
        parts.append(f"evaluating the test set ({len(data.x_test)} samples)")
    reps = int(cfg["trainer"].get("latency_reps", 30))
    if reps:
        parts.append(f"timing latency (batch 1 and 256, {reps} reps)")
    return ", ".join(parts)


def final_measures(model, data, cfg: dict, device) -> dict:
    """Of a finished run: test metrics, the learned activation shapes, inference latency."""
    m: dict = {}
    if cfg["trainer"].get("test", True):  # a tuning screen (trainer.test=false) never computes a test number
        test = evaluate(model, data.x_test, data.y_test, data, device)
        if data.task == "regression":
            m["test_mse"] = test["mse"]
        else:
            m["test_accuracy"], m["test_f1_macro"] = test["accuracy"], test["f1_macro"]
    m["act_shapes"] = M.activation_shapes(model)
    reps = int(cfg["trainer"].get("latency_reps", 30))
    for b in (1, 256) if reps else ():
        p50, p95 = M.latency_ms(model, data.input_shape, b, reps=reps, device=device)
        m[f"latency_ms_b{b}_p50"], m[f"latency_ms_b{b}_p95"] = p50, p95
    return m
