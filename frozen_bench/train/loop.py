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
from dataclasses import dataclass, field

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
    values this fit starts from when it is not given.

    In parts: ``_Loop`` sets up (sizes, optimizer, schedule, loss, batch order), ``resume`` restores
    a checkpoint's ``Position``, ``epoch`` trains one pass over the batches (``step`` each, saving
    checkpoints as they fall due), ``record_epoch`` evaluates and logs its history row."""
    loop = _Loop(model, data, cfg, device, act_init)
    at = loop.resume(checkpointer, log)
    first, status, diverged_step = at.epoch, "ok", None
    t0 = time.perf_counter() - at.seconds
    model.train()
    progress = Progress(loop.total, start=at.step, log=log)
    try:
        for epoch in range(first, loop.epochs + 1):
            if epoch != first or at.perm is None:  # a resumed epoch keeps its order and position
                at.perm = torch.randperm(len(loop.x), generator=loop.g).to(device)
                at.running, at.count, at.pos = 0.0, 0, 0
            at.epoch = epoch
            if not loop.epoch(at, progress, checkpointer, t0):
                status, diverged_step = "diverged", at.step
                progress.write(log, f"[frozen-bench] diverged: non-finite loss at step {diverged_step} (epoch {epoch})")
                break
            loop.record_epoch(at, progress, log, t0)
            if at.step >= loop.total:
                break
    finally:
        progress.close()
    return {"history": at.history, "status": status, "diverged_step": diverged_step, "steps": at.step,
            "train_seconds": time.perf_counter() - t0,
            "train_loss_final": at.history[-1]["train_loss"] if at.history else float("nan")}


@dataclass
class Position:
    """Where a fit stands: what a checkpoint saves and a resume restores. ``perm`` is the epoch's
    batch order, ``pos`` the next sample of it; ``running``/``count`` the epoch's summed train loss
    and samples; ``seconds`` the training time so far."""
    epoch: int = 1
    pos: int = 0
    perm: torch.Tensor | None = None
    step: int = 0
    running: float = 0.0
    count: int = 0
    history: list = field(default_factory=list)
    seconds: float = 0.0


def _sizes(tr: dict, data: DataBundle) -> tuple[int, int, int]:
    """(epochs, batch size, total steps) of a fit, checked against the training set."""
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
    total = epochs * math.ceil(n / bs)
    if tr.get("max_steps"):
        total = min(total, int(tr["max_steps"]))
    return epochs, bs, total


class _Loop:
    """A fit's fixed parts, set up once, in this order: sizes, AdamW over the parameter groups,
    the warm-up + cosine schedule, the loss (with the opt-in PAct delta penalty), the training
    tensors on the device, the batch order's generator and the augmentation."""

    def __init__(self, model: nn.Module, data: DataBundle, cfg: dict, device: torch.device, act_init: dict | None):
        tr, optim = cfg["trainer"], cfg["optim"]
        self.model, self.data, self.device = model, data, device
        self.epochs, self.bs, self.total = _sizes(tr, data)
        self.opt = torch.optim.AdamW(param_groups(model, optim), betas=tuple(optim.get("betas", (0.9, 0.999))))
        warmup = int(round(float(optim.get("warmup_frac", 0.05)) * self.total))
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, cosine_with_warmup(self.total, max(warmup, 1), float(optim.get("min_lr_frac", 0.0))))
        self.clip = optim.get("grad_clip")
        self.act_l1 = float(optim.get("act_delta_l1") or 0.0)  # opt-in (+optim.act_delta_l1=λ): absent in most configs
        if self.act_l1:
            act_init = act_init if act_init is not None else AD.snapshot(model)  # before a checkpoint is loaded
        self.act_init = act_init
        self.criterion = loss_fn(data.task)
        self.x, self.y = data.x_train.to(device), data.y_train.to(device)
        self.g = torch.Generator(device="cpu").manual_seed(int(cfg["seed"]))
        # augment=none draws nothing from g, so runs without augmentation are unchanged by the hook
        self.augment = make_augment(cfg.get("augment"))
        self.eval_every = max(1, int(tr.get("eval_every", 1)))

    def resume(self, checkpointer, log) -> Position:
        """The position of this run's checkpoint, with the model, optimizer, schedule and batch
        generator restored to it; the start where there is none."""
        state = checkpointer.load() if checkpointer is not None else None
        if state is None:
            return Position()
        load_checkpoint_states(state, checkpointer.path, model=self.model, opt=self.opt, sched=self.sched)
        restore_rng(self.g, state["rng"])
        at = Position(epoch=state["epoch"], pos=state["pos"], perm=state["perm"].to(self.device), step=state["step"],
                      running=state["running"], count=state["count"], history=state["history"], seconds=state["seconds"])
        log(f"[frozen-bench] resumed from {checkpointer.path} at step {at.step}/{self.total} (epoch {at.epoch})")
        return at

    def epoch(self, at: Position, progress: Progress, checkpointer, t0: float) -> bool:
        """Train the rest of ``at``'s epoch, batch by batch, until its end or the run's last step,
        saving a checkpoint where one falls due. False at a non-finite loss (the run diverged)."""
        for i in range(at.pos, len(self.x), self.bs):
            idx = at.perm[i:i + self.bs]
            loss = self.step(idx)
            if loss is None:
                return False
            at.step += 1
            at.running += loss * len(idx)
            at.count += len(idx)
            progress.update(at.step, at.running / at.count, at.epoch)
            if at.step >= self.total:
                break
            if checkpointer is not None and checkpointer.due(at.step):
                checkpointer.save({"step": at.step, "epoch": at.epoch, "pos": i + self.bs, "perm": at.perm.cpu(),
                                   "running": at.running, "count": at.count, "history": at.history,
                                   "seconds": time.perf_counter() - t0, "rng": capture_rng(self.g),
                                   "model": self.model.state_dict(), "opt": self.opt.state_dict(),
                                   "sched": self.sched.state_dict()})
        return True

    def step(self, idx: torch.Tensor) -> float | None:
        """One optimizer step on the samples ``idx``: their loss, or None where it is not finite
        (nothing is updated then)."""
        model = self.model
        xb = self.x[idx]
        if self.augment is not None:  # on the batch tensor, seeded by the loop's generator
            xb = self.augment(xb, self.g)
        out = model(xb)
        loss = self.criterion(out, self.y[idx])
        if hasattr(model, "regularizer"):  # e.g. a mask sparsity term
            loss = loss + model.regularizer()
        if self.act_l1:  # sparse PAct deltas
            loss = loss + self.act_l1 * AD.l1_penalty(model, self.act_init)
        if not torch.isfinite(loss):
            return None
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if hasattr(model, "after_backward"):  # e.g. per-layer gradient norms, before clipping
            model.after_backward()
        if self.clip:
            nn.utils.clip_grad_norm_(model.parameters(), float(self.clip))
        self.opt.step()
        self.sched.step()
        return loss.item()

    def record_epoch(self, at: Position, progress: Progress, log, t0: float) -> None:
        """The epoch's history row: its mean train loss and, every ``trainer.eval_every`` epochs
        and at the end, the validation metrics; logged as one line."""
        row = {"epoch": at.epoch, "step": at.step, "train_loss": at.running / max(at.count, 1),
               "seconds": time.perf_counter() - t0}
        if at.epoch % self.eval_every == 0 or at.epoch == self.epochs or at.step >= self.total:
            v = evaluate(self.model, self.data.x_val, self.data.y_val, self.data, self.device)
            row.update({f"val_{k}": val for k, val in v.items()})
        at.history.append(row)
        shown = " ".join(f"{k}={v:.4g}" for k, v in row.items() if k not in ("epoch", "step", "seconds"))
        progress.write(log, f"[frozen-bench] epoch {at.epoch}/{self.epochs} step {at.step}/{self.total} {shown} "
                            f"({row['seconds']:.1f}s)")
