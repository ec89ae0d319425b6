#!/usr/bin/env python
"""Training input pipeline and inference latency of frozen_mlp on Fashion-MNIST.

1. One epoch of frozen_mlp (conf/exp/fmnist_wht: WHT width 1024, depth 2, bislope, batch 256)
   fed two ways, with identical training steps (the AdamW groups, schedule and clipping of
   frozen_bench.train): a torchvision DataLoader over FashionMNIST with ToTensor+Normalize
   (per-sample PIL -> tensor work), and the project's in-memory tensors batched by index (what
   train.fit does). Reported as samples/second; also the input path alone, without the model.
2. Data-path share: the in-memory epoch's wall time against the same number of optimizer steps on
   one pre-made batch (no data path at all).
3. Inference latency of a frozen WHT MLP and a dense MLP of equal width 4096 and depth, at batch 1
   and 256 (inference mode, interleaved, median).

    python scripts/bench_pipeline.py           # full epochs
    python scripts/bench_pipeline.py --quick   # 60 steps per variant, fewer latency rounds

Writes results/bench/pipeline.csv with machine info and this command.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from benchlib import ROOT, machine_info, paired_ratio, timed_rounds, write_csv
from frozen_bench.data import load_dataset
from frozen_bench.models import build_model
from frozen_bench.train.threads import configure_malloc, configure_threads
from frozen_bench.train.loop import cosine_with_warmup, param_groups

CONF = ROOT / "conf"


def load_cfg(exp: str, **model_overrides) -> dict:
    """The composed config of ``+exp=<exp>`` from the project's yaml files (group defaults, then
    the preset's overrides), without Hydra: the script needs only the values."""
    root = OmegaConf.load(CONF / "config.yaml")
    groups = {}
    for d in root.defaults:
        if isinstance(d, str) or not hasattr(d, "items"):
            continue
        for k, v in d.items():
            if "/" not in k and (CONF / k / f"{v}.yaml").exists():
                groups[k] = v
    preset = OmegaConf.load(CONF / "exp" / f"{exp}.yaml")
    for d in preset.get("defaults", []):
        for k, v in d.items():
            if k.startswith("override /"):
                groups[k.split("/", 1)[1]] = v
    cfg = OmegaConf.create({k: OmegaConf.load(CONF / k / f"{v}.yaml") for k, v in groups.items()})
    cfg.seed = 0
    body = OmegaConf.masked_copy(preset, [k for k in preset if k != "defaults"])
    cfg = OmegaConf.merge(cfg, body)
    cfg.model = OmegaConf.merge(cfg.model, model_overrides)
    return OmegaConf.to_container(cfg, resolve=True)


class Stepper:
    """The optimizer step of train.fit, on a fresh model: forward, loss, backward, clip, AdamW,
    schedule, loss.item() (fit logs the running loss, which syncs every step)."""

    def __init__(self, cfg, data, total_steps):
        torch.manual_seed(cfg["seed"])
        self.model = build_model(cfg, data)
        self.model.train()
        optim = cfg["optim"]
        self.opt = torch.optim.AdamW(param_groups(self.model, optim), betas=tuple(optim.get("betas", (0.9, 0.999))))
        warm = max(1, int(round(float(optim.get("warmup_frac", 0.05)) * total_steps)))
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, cosine_with_warmup(total_steps, warm))
        self.clip = optim.get("grad_clip")

    def __call__(self, xb, yb) -> float:
        loss = F.cross_entropy(self.model(xb), yb)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), float(self.clip))
        self.opt.step()
        self.sched.step()
        return loss.item()


def index_batches(x, y, bs, steps, seed):
    """train.fit's data path: a seeded permutation, then one index per batch."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    for s in range(steps):
        idx = perm[(s * bs) % len(x):][:bs]
        yield x[idx], y[idx]


def loader_batches(loader, steps):
    it = iter(loader)
    for _ in range(steps):
        try:
            yield next(it)
        except StopIteration:
            it = iter(loader)
            yield next(it)


def premade_batches(x, y, bs, steps):
    xb, yb = x[:bs].clone(), y[:bs].clone()
    for _ in range(steps):
        yield xb, yb


def run_epoch(stepper, batches) -> float:
    t0 = time.perf_counter()
    for xb, yb in batches:
        stepper(xb, yb)
    return time.perf_counter() - t0


def drain(batches) -> float:
    t0 = time.perf_counter()
    for _ in batches:
        pass
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="60 steps per variant, fewer latency rounds")
    ap.add_argument("--exp", default="fmnist_wht", help="conf/exp preset for the training model")
    ap.add_argument("--repeats", type=int, default=None, help="timed epochs per variant (default 2, quick 1)")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader num_workers")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: configure_threads())")
    ap.add_argument("--latency-width", type=int, default=4096)
    ap.add_argument("--tune-malloc", action="store_true",
                    help="call frozen_bench.train.threads.configure_malloc() first (fewer page faults)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "pipeline.csv")
    args = ap.parse_args()
    configure_threads(args.threads)
    malloc_tuned = configure_malloc() if args.tune_malloc else False
    repeats = args.repeats or (1 if args.quick else 2)

    cfg = load_cfg(args.exp)
    data = load_dataset(cfg["dataset"], seed=cfg["seed"])
    bs = int(cfg["trainer"]["batch_size"])
    n = len(data.x_train)
    steps = 60 if args.quick else math.ceil(n / bs)
    info = machine_info()
    print(f"# {info['cpu']} | {info['cores']} cores | torch {info['torch']} | {info['threads']} threads"
          f" | CPU transforms: {info['backend']}")
    print(f"# {cfg['model']['name']} ({cfg['transform']['name']}, depth {cfg['model']['depth']}, "
          f"{cfg['activation']['name']}) on {data.name}: {n} train samples, batch {bs}, {steps} steps per variant")

    import torchvision
    from torchvision import transforms as T

    from frozen_bench.data.vision import SOURCES  # the same mean/std the project normalizes with

    _, mean, std, _ = SOURCES[data.name]
    tv_ds = getattr(torchvision.datasets, SOURCES[data.name][0])(
        data.info["root"], train=True, download=False,
        transform=T.Compose([T.ToTensor(), T.Normalize((mean,), (std,))]))
    loader = torch.utils.data.DataLoader(tv_ds, batch_size=bs, shuffle=True, num_workers=args.workers,
                                         generator=torch.Generator().manual_seed(0))

    rows = []
    base = {"model": cfg["model"]["name"], "exp": args.exp, "dataset": data.name, "batch": bs, "steps": steps,
            "dataloader_workers": args.workers, "malloc_tuned": malloc_tuned}

    # --- input path alone
    t_loader = statistics.median(drain(loader_batches(loader, steps)) for _ in range(repeats))
    t_index = statistics.median(drain(index_batches(data.x_train, data.y_train, bs, steps, r)) for r in range(max(3, repeats)))
    # --- full training steps; variants alternate so load drifts hit each alike
    times = {"dataloader": [], "index": [], "premade": []}
    for r in range(repeats):
        for name in times:
            stepper = Stepper(cfg, data, steps)
            if name == "dataloader":
                b = loader_batches(loader, steps)
            elif name == "index":
                b = index_batches(data.x_train, data.y_train, bs, steps, seed=r)
            else:
                b = premade_batches(data.x_train, data.y_train, bs, steps)
            stepper(*next(premade_batches(data.x_train, data.y_train, bs, 1)))  # warm-up step
            times[name].append(run_epoch(stepper, b))
    t = {k: statistics.median(v) for k, v in times.items()}
    samples = steps * bs

    def row(metric, value, unit, target="", met="", **extra):
        r = {**base, "metric": metric, "value": f"{value:.4g}", "unit": unit, "target": target, "met": met, **extra}
        rows.append(r)
        print(f"  {metric:58s} {r['value']:>10s} {unit:10s} {target} {met}")

    print("\nTraining input pipeline")
    row("dataloader (ToTensor+Normalize) training samples/s", samples / t["dataloader"], "samples/s",
        seconds=f"{t['dataloader']:.3f}")
    row("in-memory index batching training samples/s", samples / t["index"], "samples/s", seconds=f"{t['index']:.3f}")
    sp = t["dataloader"] / t["index"]
    row("training speedup: index batching vs dataloader", sp, "x", "speedup >= 10", "yes" if sp >= 10 else "NO")
    row("input path alone: dataloader samples/s", samples / t_loader, "samples/s", seconds=f"{t_loader:.3f}")
    row("input path alone: index batching samples/s", samples / t_index, "samples/s", seconds=f"{t_index:.4f}")
    row("input path alone: index batching vs dataloader", t_loader / t_index, "x")
    share = t["index"] / t["premade"]
    print("\nData-path share")
    row("epoch wall time / same steps on one pre-made batch", share, "ratio", "ratio <= 1.2",
        "yes" if share <= 1.2 else "NO", seconds=f"{t['index']:.3f} / {t['premade']:.3f}")

    # --- inference latency, frozen WHT vs dense of equal width and depth
    w = args.latency_width
    depth = int(cfg["model"]["depth"])
    frozen_cfg = copy.deepcopy(cfg)
    frozen_cfg["model"]["width"] = w
    frozen = build_model(frozen_cfg, data).eval()
    dense_cfg = load_cfg(args.exp)
    dense_cfg["model"] = {"name": "dense_mlp", "width": w, "depth": depth, "budget": None, "dropout": 0.0}
    dense = build_model(dense_cfg, data).eval()
    print(f"\nInference latency, width {w}, depth {depth} (frozen {cfg['transform']['name']} MLP vs dense MLP)")
    for b in (1, 256):
        x = torch.randn(b, *data.input_shape, generator=torch.Generator().manual_seed(b))

        def fwd(m):
            def f():
                with torch.inference_mode():
                    m(x)
            return f

        tt = timed_rounds({"frozen": fwd(frozen), "dense": fwd(dense)}, rounds=7 if args.quick else 30,
                          sample_s=2e-3 if args.quick else 5e-3)
        ratio = paired_ratio(tt["dense"], tt["frozen"])
        target = "speedup >= 5" if b == 256 else ""
        met = ("yes" if ratio >= 5 else "NO") if target else ""
        row(f"batch {b}: frozen WHT MLP latency", 1e3 * statistics.median(tt["frozen"]), "ms")
        row(f"batch {b}: dense MLP latency", 1e3 * statistics.median(tt["dense"]), "ms")
        row(f"batch {b}: frozen speedup over dense (dense/frozen)", ratio, "x", target, met)

    write_csv(args.out, [{**r, **info} for r in rows])


if __name__ == "__main__":
    main()
