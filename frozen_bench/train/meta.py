"""Meta-learned activation priors (``frozen-bench meta-init``): Reptile over class-subset tasks.

The meta-parameters φ are the initial values of every PAct parameter of the model (per channel,
``share="channel"``, or one value per parameter and block, the same for all its channels,
``share="block"``). One outer step (Nichol et al., 2018, serial Reptile with a meta-batch):

    for each of B tasks τ drawn from the source classes:
        build the model for τ (a fresh head; the run's seed for this step), set its PAct values to φ,
        train it k steps with the normal loop (``fit``: AdamW groups, warm-up + cosine over k steps)
        → θ_τ, the adapted PAct values
    φ ← φ + ε_t · mean_τ (θ_τ − φ)        (share="block": the mean over the channels of each block too)

with ε_t = ε·(1 − t/T) (linear decay to 0, as in the Reptile paper) or constant. Only the PAct
values are meta-learned; the norms, adapters and head start as in any run. The source and held-out
tasks of a suite share the input space (the same pixel grid, so channel c of a block is the same
fixed feature in every task) and differ in their classes:

- ``digits``: sources are ``ways``-class subsets of digits 0–6; held out: the 3-way task 7/8/9.
- ``fmnist``: sources are ``ways``-class subsets of Fashion-MNIST classes 0–5 (T-shirt, trouser,
  pullover, dress, coat, sandal); held out: the 4-way task 6–9 (shirt, sneaker, bag, ankle boot).

The held-out task is never seen while φ is learned (neither its classes nor its samples); it is
evaluated by training the same model on it from the default init and from φ over a few seeds
(``+dataset.keep_classes=[...] +activation.init_from=PATH``, exactly what ``frozen-bench run`` does).
"""

from __future__ import annotations

import copy
import math
import random
import statistics
from dataclasses import dataclass

import torch

from frozen_bench.data import keep_loaded, load_dataset
from frozen_bench.models import build_model
from frozen_bench.train.act_delta import pact_params
from frozen_bench.train.loop import fit, resolve_device


@dataclass(frozen=True)
class Suite:
    dataset: str  # the dataset group option
    source_classes: tuple[int, ...]
    heldout_classes: tuple[int, ...]
    ways: int  # classes per source task
    subset: int | None  # training samples per task (source and held out), None: all of those classes


SUITES = {
    "digits": Suite("digits", (0, 1, 2, 3, 4, 5, 6), (7, 8, 9), ways=3, subset=None),
    "fmnist": Suite("fashion_mnist", (0, 1, 2, 3, 4, 5), (6, 7, 8, 9), ways=4, subset=2000),
}


def reptile_step(phi: dict[str, torch.Tensor], adapted: list[dict[str, torch.Tensor]], eps: float,
                 share: str = "channel") -> dict[str, torch.Tensor]:
    """φ + ε · mean_τ(θ_τ − φ), per parameter; ``share="block"`` also averages the move over the
    channels (dim 0) of each parameter, so a channel-constant φ stays channel-constant."""
    if share not in ("channel", "block"):
        raise ValueError(f"share must be channel or block, got {share!r}")
    if not adapted:
        return {k: v.clone() for k, v in phi.items()}
    out = {}
    for name, p in phi.items():
        delta = torch.stack([a[name].to(p.dtype) - p for a in adapted]).mean(0)
        if share == "block":
            delta = delta.mean(0, keepdim=True).expand_as(p)
        out[name] = p + eps * delta
    return out


def pact_values(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().cpu().clone() for name, p in pact_params(model)}


@torch.no_grad()
def set_pact_values(model, values: dict[str, torch.Tensor]) -> None:
    for name, p in pact_params(model):
        p.copy_(values[name].to(p.device, p.dtype))


def task_cfg(base: dict, suite: Suite, classes, seed: int) -> dict:
    cfg = copy.deepcopy(base)
    cfg["dataset"]["keep_classes"] = [int(c) for c in classes]
    if suite.subset:
        cfg["dataset"]["subset"] = suite.subset
    cfg["seed"] = int(seed)
    return cfg


def inner(base: dict, suite: Suite, classes, seed: int, phi: dict[str, torch.Tensor] | None, steps: int,
          device) -> dict[str, torch.Tensor]:
    """k steps of the normal training on one task from the PAct values φ; the adapted values."""
    cfg = task_cfg(base, suite, classes, seed)
    data = load_dataset(cfg["dataset"], seed=seed)
    per_epoch = math.ceil(len(data.x_train) / int(cfg["trainer"]["batch_size"]))
    cfg["trainer"].update(max_steps=steps, epochs=math.ceil(steps / per_epoch), eval_every=10 ** 9)
    torch.manual_seed(seed)
    model = build_model(cfg, data).to(device)
    if phi is not None:
        set_pact_values(model, phi)
    res = fit(model, data, cfg, device, log=lambda *_: None)
    if res["status"] != "ok":
        raise RuntimeError(f"an inner loop diverged (classes {list(classes)}, seed {seed}); lower optim.lr or --inner")
    return pact_values(model)


def initial_values(base: dict, suite: Suite, device) -> dict[str, torch.Tensor]:
    """The default init (the model as built), of the model the held-out task trains."""
    cfg = task_cfg(base, suite, suite.heldout_classes, int(base["seed"]))
    data = load_dataset(cfg["dataset"], seed=int(base["seed"]))
    torch.manual_seed(int(base["seed"]))
    return pact_values(build_model(cfg, data).to(device))


def sample_tasks(suite: Suite, n: int, seed: int) -> list[tuple[int, ...]]:
    """n source tasks: each ``ways`` source classes in a random order (the labels change too)."""
    rng = random.Random(seed)
    return [tuple(rng.sample(suite.source_classes, suite.ways)) for _ in range(n)]


@keep_loaded()  # every task's classes come from one dataset: decoded once
def meta_train(base: dict, suite: Suite, outer: int, inner_steps: int, meta_lr: float, meta_batch: int = 1,
               share: str = "channel", decay: bool = True, log=print) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Reptile over the suite's source tasks; returns (the default init φ₀, the learned φ)."""
    device = resolve_device(base["trainer"].get("device", "auto"))
    seed = int(base["seed"])
    phi0 = initial_values(base, suite, device)
    if not phi0:
        raise ValueError(f"activation={base['activation']['name']} has no parameters to meta-learn; "
                         f"choose a PAct (activation=bislope, pwl3, spline, glu or prelu)")
    tasks = sample_tasks(suite, outer * meta_batch, seed)
    phi = {k: v.clone() for k, v in phi0.items()}
    for t in range(outer):
        eps = meta_lr * (1 - t / outer) if decay else meta_lr
        batch = tasks[t * meta_batch:(t + 1) * meta_batch]
        adapted = [inner(base, suite, c, seed * 100003 + t * meta_batch + j + 1, phi, inner_steps, device)
                   for j, c in enumerate(batch)]
        phi = reptile_step(phi, adapted, eps, share)
        if (t + 1) % max(1, outer // 10) == 0 or t + 1 == outer:
            log(f"[frozen-bench] meta-init: outer step {t + 1}/{outer} (eps {eps:.3g}, tasks {batch}): "
                f"|phi - phi0| = {distance(phi, phi0):.4f}")
    return phi0, phi


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """RMS difference over all PAct values."""
    d = torch.cat([(a[k] - b[k]).flatten() for k in a])
    return d.pow(2).mean().sqrt().item()


def summary_of(phi: dict[str, torch.Tensor]) -> dict[str, dict]:
    """Per parameter: mean, sd, min, max over its channels (for the file and the log)."""
    return {k: {"mean": v.mean().item(), "sd": v.std().item() if v.numel() > 1 else 0.0,
                "min": v.min().item(), "max": v.max().item()} for k, v in phi.items()}


def heldout_cfg(base: dict, suite: Suite, seed: int, prior: str | None) -> dict:
    cfg = task_cfg(base, suite, suite.heldout_classes, seed)
    cfg["trainer"]["latency_reps"] = 0
    if prior:
        cfg["activation"]["init_from"] = str(prior)
    return cfg


@keep_loaded()
def evaluate_prior(base: dict, suite: Suite, prior: str, seeds, log=print) -> list[dict]:
    """Train the held-out task from the default init and from ``prior``, for each seed (paired:
    the same model, head and data order; only the PAct start differs). Rows of the record's fields."""
    from frozen_bench.models import prune
    from frozen_bench.train import train

    rows = []
    for seed in seeds:
        for name, path in (("default", None), ("meta", prior)):
            m = train(prune(heldout_cfg(base, suite, seed, path)), log=lambda *_: None)["metrics"]
            rows.append({"init": name, "seed": seed, "status": m["status"], "test_accuracy": m.get("test_accuracy"),
                         "val_accuracy": m.get("val_accuracy"), "steps_to_converge": m.get("steps_to_converge"),
                         "train_loss_final": m.get("train_loss_final"), "steps": m.get("steps")})
            log(f"[frozen-bench] meta-init: held-out seed {seed} init={name}: test_accuracy={m.get('test_accuracy')} "
                f"steps_to_converge={m.get('steps_to_converge')}")
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: each init's mean ± sd over seeds, and the paired difference meta − default."""
    def ms(xs):
        xs = [x for x in xs if x is not None]
        if not xs:
            return "n/a"
        return f"{statistics.mean(xs):.4g} ± {statistics.stdev(xs):.2g}" if len(xs) > 1 else f"{xs[0]:.4g}"

    keys = ("test_accuracy", "val_accuracy", "steps_to_converge", "train_loss_final")
    lines = ["| init | n | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    by = {n: [r for r in rows if r["init"] == n] for n in ("default", "meta")}
    for n, rs in by.items():
        lines.append(f"| {n} | {len(rs)} | " + " | ".join(ms([r[k] for r in rs]) for k in keys) + " |")
    pairs = list(zip(by["default"], by["meta"]))
    diff = [ms([(b[k] - a[k]) if a[k] is not None and b[k] is not None else None for a, b in pairs]) for k in keys]
    lines.append(f"| meta − default (paired) | {len(pairs)} | " + " | ".join(diff) + " |")
    return "\n".join(lines)
