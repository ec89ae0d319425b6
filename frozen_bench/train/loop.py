"""The training loop: plain config dict in, metrics dict out. No Hydra below this line.

Data stay as in-memory tensors and are batched by index with a seeded permutation, so the hot
loop has no per-sample Python work. Parameters fall into three AdamW groups: activation (PAct)
parameters with their own lower lr and ~0 weight decay, other matrices with weight decay, and
vectors (biases, norms, gates) without. Cosine schedule with linear warm-up; gradient clipping;
a NaN/inf loss stops the run with ``status=diverged``.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from frozen_bench.train import act_delta as AD
from frozen_bench.train import measure as M
from frozen_bench.train.checkpoint import capture_rng, restore_rng
from frozen_bench.train.checkpoint import load_states as load_checkpoint_states
from frozen_bench.data import DataBundle
from frozen_bench.errors import UserError
from frozen_bench.data.augment import make_augment
from frozen_bench.nn.activations import PAct
from frozen_bench.progress import Progress, say


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("trainer.device=cuda but no CUDA device is available here; "
                        "set trainer.device=cpu, or trainer.device=auto to use a GPU where there is one")
    return torch.device(name)


def param_groups(model: nn.Module, optim: dict) -> list[dict]:
    """A module with a ``param_group = "NAME"`` attribute puts its parameters in group NAME, with
    lr ``optim.NAME_lr`` (default: lr) and weight decay ``optim.NAME_weight_decay`` (default 0)."""
    act_ids = {id(p) for m in model.modules() if isinstance(m, PAct) for p in m.parameters()}
    named: dict[str, list] = {}
    claimed = set()
    for m in model.modules():
        name = getattr(m, "param_group", None)
        if name:
            for p in m.parameters():
                if p.requires_grad and id(p) not in claimed:
                    named.setdefault(name, []).append(p)
                    claimed.add(id(p))
    act, decay, no_decay = [], [], []
    for p in model.parameters():
        if not p.requires_grad or id(p) in claimed:
            continue
        if id(p) in act_ids:
            act.append(p)
        elif p.ndim >= 2:
            decay.append(p)
        else:
            no_decay.append(p)
    lr = float(optim["lr"])
    groups = [
        {"name": "activation", "params": act, "lr": lr * float(optim.get("act_lr_mult", 0.1)),
         "weight_decay": float(optim.get("act_weight_decay", 0.0))},
        {"name": "decay", "params": decay, "lr": lr, "weight_decay": float(optim.get("weight_decay", 0.01))},
        {"name": "no_decay", "params": no_decay, "lr": lr, "weight_decay": 0.0},
    ]
    for name, ps in named.items():
        groups.append({"name": name, "params": ps, "lr": float(optim.get(f"{name}_lr", lr)),
                       "weight_decay": float(optim.get(f"{name}_weight_decay", 0.0))})
    return [g for g in groups if g["params"]]


def cosine_with_warmup(total_steps: int, warmup_steps: int, min_factor: float = 0.0):
    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f


def loss_fn(task: str):
    if task == "regression":
        return lambda out, y: F.mse_loss(out.view_as(y), y)
    return F.cross_entropy


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, data: DataBundle, device, batch: int = 1024) -> dict:
    model.eval()
    outs = [model(x[i:i + batch].to(device)).float().cpu() for i in range(0, len(x), batch)]
    model.train()
    out = torch.cat(outs) if outs else torch.empty(0)
    if data.task == "regression":
        return {"mse": F.mse_loss(out.view_as(y), y).item()}
    pred = out.argmax(1)
    return {"accuracy": M.accuracy(out, y), "f1_macro": M.f1_macro(pred, y, data.num_classes),
            "loss": F.cross_entropy(out, y).item()}


def fit(model: nn.Module, data: DataBundle, cfg: dict, device: torch.device, log=say,
        checkpointer=None, act_init: dict | None = None) -> dict:
    """Train ``model`` in place; returns history, final train loss, status and step counts.

    With a ``checkpointer`` (frozen_bench.train.checkpoint) the loop saves its whole state every
    ``checkpointer.every`` steps and, if a checkpoint of this run exists, continues from it, so the
    result equals an uninterrupted run's. Progress (``frozen_bench.progress``): a bar on a
    terminal, a ``[frozen-bench] step ...`` line every ~10% of the steps otherwise.

    ``+optim.act_delta_l1=λ`` adds λ·Σ|θ − θ₀| over the PAct parameters to the loss
    (``frozen_bench.train.act_delta``), θ₀ being ``act_init`` (the values at build time), or the
    values this fit starts from when it is not given."""
    tr, optim = cfg["trainer"], cfg["optim"]
    epochs, bs = int(tr["epochs"]), int(tr["batch_size"])
    if epochs < 1:
        raise ValueError(f"trainer.epochs must be >= 1, got {epochs}")
    if bs < 1:
        raise ValueError(f"trainer.batch_size must be >= 1, got {bs}")
    n = len(data.x_train)
    if bs > n and not tr.get("max_steps"):
        # an epoch would be one step over all n samples: the batch the user asked for never happens.
        # A run counted in steps (trainer.max_steps, the small-data recipe) asks for full-batch steps.
        raise UserError(f"trainer.batch_size={bs} exceeds the {n} training samples of {data.name}, so every step would "
                        f"take all {n}; set trainer.batch_size<={n} (or dataset.subset>={bs}), or count the run in steps "
                        f"with trainer.max_steps=N for full-batch steps")
    steps_per_epoch = math.ceil(n / bs)
    total = epochs * steps_per_epoch
    if tr.get("max_steps"):
        total = min(total, int(tr["max_steps"]))
    opt = torch.optim.AdamW(param_groups(model, optim), betas=tuple(optim.get("betas", (0.9, 0.999))))
    warmup = int(round(float(optim.get("warmup_frac", 0.05)) * total))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_with_warmup(total, max(warmup, 1), float(optim.get("min_lr_frac", 0.0))))
    clip = optim.get("grad_clip")
    act_l1 = float(optim.get("act_delta_l1") or 0.0)  # opt-in (+optim.act_delta_l1=λ): absent in most configs
    if act_l1:
        act_init = act_init if act_init is not None else AD.snapshot(model)  # before a checkpoint is loaded
    criterion = loss_fn(data.task)
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    g = torch.Generator(device="cpu").manual_seed(int(cfg["seed"]))
    # augment=none draws nothing from g, so runs without augmentation are unchanged by the hook
    augment = make_augment(cfg.get("augment"))
    eval_every = max(1, int(tr.get("eval_every", 1)))
    history, step, status, diverged_step = [], 0, "ok", None
    start_epoch, start_pos, perm, running, count, elapsed = 1, 0, None, 0.0, 0, 0.0
    state = checkpointer.load() if checkpointer is not None else None
    if state is not None:
        load_checkpoint_states(state, checkpointer.path, model=model, opt=opt, sched=sched)
        restore_rng(g, state["rng"])
        history, step, elapsed = state["history"], state["step"], state["seconds"]
        start_epoch, start_pos, perm = state["epoch"], state["pos"], state["perm"].to(device)
        running, count = state["running"], state["count"]
        log(f"[frozen-bench] resumed from {checkpointer.path} at step {step}/{total} (epoch {start_epoch})")
    t0 = time.perf_counter() - elapsed
    model.train()
    progress = Progress(total, start=step, log=log)
    try:
        for epoch in range(start_epoch, epochs + 1):
            if epoch != start_epoch or perm is None:
                perm = torch.randperm(n, generator=g).to(device)
                running, count, start_pos = 0.0, 0, 0
            for i in range(start_pos, n, bs):
                idx = perm[i:i + bs]
                xb = x_train[idx]
                if augment is not None:  # on the batch tensor, seeded by the loop's generator
                    xb = augment(xb, g)
                out = model(xb)
                loss = criterion(out, y_train[idx])
                if hasattr(model, "regularizer"):  # e.g. a mask sparsity term
                    loss = loss + model.regularizer()
                if act_l1:  # sparse PAct deltas
                    loss = loss + act_l1 * AD.l1_penalty(model, act_init)
                if not torch.isfinite(loss):
                    status, diverged_step = "diverged", step
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if hasattr(model, "after_backward"):  # e.g. per-layer gradient norms, before clipping
                    model.after_backward()
                if clip:
                    nn.utils.clip_grad_norm_(model.parameters(), float(clip))
                opt.step()
                sched.step()
                step += 1
                running += loss.item() * len(idx)
                count += len(idx)
                progress.update(step, running / count, epoch)
                if step >= total:
                    break
                if checkpointer is not None and checkpointer.due(step):
                    checkpointer.save({"step": step, "epoch": epoch, "pos": i + bs, "perm": perm.cpu(),
                                       "running": running, "count": count, "history": history,
                                       "seconds": time.perf_counter() - t0, "rng": capture_rng(g),
                                       "model": model.state_dict(), "opt": opt.state_dict(),
                                       "sched": sched.state_dict()})
            if status == "diverged":
                progress.write(log, f"[frozen-bench] diverged: non-finite loss at step {diverged_step} (epoch {epoch})")
                break
            row = {"epoch": epoch, "step": step, "train_loss": running / max(count, 1), "seconds": time.perf_counter() - t0}
            if epoch % eval_every == 0 or epoch == epochs or step >= total:
                v = evaluate(model, data.x_val, data.y_val, data, device)
                row.update({f"val_{k}": val for k, val in v.items()})
            history.append(row)
            shown = " ".join(f"{k}={v:.4g}" for k, v in row.items() if k not in ("epoch", "step", "seconds"))
            progress.write(log, f"[frozen-bench] epoch {epoch}/{epochs} step {step}/{total} {shown} ({row['seconds']:.1f}s)")
            if step >= total:
                break
    finally:
        progress.close()
    return {"history": history, "status": status, "diverged_step": diverged_step, "steps": step,
            "train_seconds": time.perf_counter() - t0,
            "train_loss_final": history[-1]["train_loss"] if history else float("nan")}
