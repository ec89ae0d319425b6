"""Distribution shift on 1-D function fits (the blog's "network exhaustion" experiments).

One model is trained on a sequence of synthetic targets on the same interval, e.g. exp(x) then
exp(-x), 1/x then 1/(x-2), or step at 0 ↔ step at 2 alternating. Each phase is an ordinary
``fit()`` (a fresh optimizer and schedule, as the blog makes a new Adam per call). Per phase we
record the test MSE on the *new* target just before and after training on it and the exact linear
region count before/after, so "frozen" (a net that cannot move its kinks) shows up as a large
``mse_after`` with an unchanged region count.

Enabled by a ``shift:`` config section (``+exp=fn_shift``); ``train()`` hands such configs here.
"""

from __future__ import annotations

import copy
import json
import time

import torch

from frozen_bench.train import measure as M
from frozen_bench.data import load_dataset
from frozen_bench.models import build_model
from frozen_bench.nn.regions import linear_regions

# shift.pair -> (targets in order, default cycles)
PAIRS = {"exp": (["exp", "exp_neg"], 1), "inv": (["inv", "inv_shift"], 1), "step": (["step", "step_shift"], 4)}


def phases(shift: dict) -> list[str]:
    fns = shift.get("functions")
    if fns:
        seq, cycles = list(fns), int(shift.get("cycles") or 1)
    else:
        pair = shift.get("pair", "exp")
        if pair not in PAIRS:
            raise ValueError(f"unknown shift.pair {pair!r}; choose one of {', '.join(PAIRS)} or give shift.functions=[f1,f2,...]")
        seq, default_cycles = PAIRS[pair]
        cycles = int(shift.get("cycles") or default_cycles)
    if cycles < 1 or len(seq) < 2:
        raise ValueError("a shift needs at least two functions and shift.cycles >= 1")
    return seq * cycles


def train_shift(cfg: dict, out_dir=None, log=print) -> dict:
    from frozen_bench.train.loop import evaluate, fit, resolve_device

    seed = int(cfg["seed"])
    device = resolve_device(cfg["trainer"].get("device", "auto"))
    seq = phases(cfg["shift"])
    datas = [load_dataset({**cfg["dataset"], "function": fn}, seed=seed) for fn in seq]
    torch.manual_seed(seed)
    model = build_model({**cfg, "dataset": {**cfg["dataset"], "function": seq[0]}}, datas[0]).to(device)
    lo, hi = datas[0].info["lo"], datas[0].info["hi"]
    first_epochs = cfg["shift"].get("first_epochs")
    m: dict = {"shift_pair": "->".join(dict.fromkeys(seq)) + (f" x{len(seq) // len(dict.fromkeys(seq))}" if len(seq) > 2 else ""),
               "shift_phases": len(seq)}
    history, curve, status, steps, t0 = [], [], "ok", 0, time.perf_counter()
    for i, (fn, data) in enumerate(zip(seq, datas)):
        phase_cfg = copy.deepcopy(cfg)
        if i == 0 and first_epochs:
            phase_cfg["trainer"]["epochs"] = int(first_epochs)
        before = evaluate(model, data.x_test, data.y_test, data, device)["mse"]
        regions_before = linear_regions(model, lo, hi)
        log(f"[frozen-bench] shift phase {i + 1}/{len(seq)}: {fn} (mse before {before:.4g}, {regions_before} regions)")
        res = fit(model, data, phase_cfg, device, log=log)
        for r in res["history"]:
            r = {**r, "phase": i, "function": fn, "step": r["step"] + steps}
            history.append(r)
            if r.get("val_mse") is not None:
                curve.append([r["step"], i, float(f"{r['val_mse']:.6g}")])
        steps += res["steps"]
        after = evaluate(model, data.x_test, data.y_test, data, device)["mse"] if res["status"] == "ok" else float("nan")
        m.update({f"phase{i}_function": fn, f"phase{i}_mse_before": before, f"phase{i}_mse_after": after,
                  f"phase{i}_regions_before": regions_before, f"phase{i}_regions_after": linear_regions(model, lo, hi)})
        if res["status"] != "ok":
            status = res["status"]
            m["diverged_step"] = (res["diverged_step"] or 0) + steps
            break
    last = len([k for k in m if k.endswith("_mse_after")]) - 1
    model.domain = {"function": seq[last], "lo": lo, "hi": hi}
    m.update(model.record_metrics() if hasattr(model, "record_metrics") else {})
    m.update({
        "status": status, "dataset": f"synthetic_fn_shift_{cfg['shift'].get('pair') or '_'.join(dict.fromkeys(seq))}",
        "synthetic": True, "train_loss_final": history[-1]["train_loss"] if history else float("nan"),
        "trainable_params": M.trainable_params(model), "total_params": M.total_params(model),
        "frozen_bytes": M.frozen_bytes(model), "model_bytes": M.model_bytes(model), "steps": steps,
        "train_seconds": time.perf_counter() - t0,
        # the first shift: how well the net trained on seq[0] fits seq[1], before and after training on it
        "shift_mse_before": m.get("phase1_mse_before"), "shift_mse_after": m.get("phase1_mse_after"),
        "test_mse": m.get(f"phase{last}_mse_after"),
        "shift_curve": json.dumps(curve),
    })
    m.setdefault("diverged_step", None)
    return {"metrics": m, "history": history, "model": model, "data": datas[last]}
