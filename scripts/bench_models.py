#!/usr/bin/env python
"""Where a model's time goes, next to what its FLOPs and bytes would need on this machine (issue 12).

For each pair (a frozen model and its trained twin of the same widths and layout; the frozen WHT MLP
and a dense MLP of equal width and depth) it times, in this one process and interleaved (one sample
of each candidate per round, rotating order; ratios are medians of per-round ratios):

- the training step (next batch by index, forward, loss, backward, AdamW step, as train.fit; the
  batches cycle through an in-memory pool of random inputs and labels) and inference at batch 256
  and batch 1 (eval mode, inference mode): the issue-12 ratios with their targets;
- the step split into parts, each replayed alone (forward + backward) on the input it received in a
  real step: fixed (or trained) mixing, norm/PAct/adapter, pooling, head (+ loss), optimizer, data
  (one batch gathered by index from in-memory tensors). ``rest`` is the step minus the parts
  (autograd bookkeeping, the glue between them);
- for each part the time its FLOPs and bytes need at this machine's measured rates: a float32
  matmul (``--gemm`` square, GFLOP/s) and a memory copy (GB/s, read + write counted). The
  bound of a part is max(FLOPs / matmul rate, bytes / copy rate), counting the ideal traffic: each
  op reads its inputs and writes its output once (BatchNorm's statistics: one more read forward,
  one more backward), backward reads input and incoming gradient and writes the outgoing one.
  Ops are counted one by one, so a pass that fuses several (the evaluation stage tail,
  ``fused.stage_tail``) can run under the bound of its parts.

    python scripts/bench_models.py                # all pairs, 15 rounds
    python scripts/bench_models.py --quick        # 5 rounds, short samples
    python scripts/bench_models.py --pairs cifar_wht --rounds 31
    python scripts/bench_models.py --clock cpu    # CPU time of all threads (OMP_WAIT_POLICY=PASSIVE):
                                                  # on a machine other jobs load, leaves out the waits

Writes results/bench/models.csv (one row per model and part, and one per issue-12 ratio) with the
machine description and this command.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import sys
import time
from pathlib import Path

if "--clock=cpu" in sys.argv or " ".join(sys.argv).count("--clock cpu"):
    # waiting OpenMP threads sleep rather than spin, so CPU time counts work, not waiting
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch import nn

from benchlib import ROOT, machine_info, paired_ratio, timed_rounds, write_csv
from frozen_bench.config import conf_dir
from frozen_bench.data.bundle import DataBundle
from frozen_bench.models import build_model, prune
from frozen_bench.models.blocks import norm_act
from frozen_bench.models.frozen_cnn import FrozenCNN, FusedFilterMix
from frozen_bench.models.frozen_mlp import FrozenMLP
from frozen_bench.models.trained_cnn import TrainedCNN
from frozen_bench.train.loop import param_groups
from frozen_bench.train.threads import configure_malloc, configure_threads

SHAPES = {"fashion_mnist": (1, 28, 28), "mnist": (1, 28, 28), "cifar10": (3, 32, 32), "cifar100": (3, 32, 32)}
# pair name -> (preset, model overrides of the frozen side); the twin is built from the frozen config
PAIRS = {"fmnist_frontier": ("fmnist_frontier", []), "mnist_wht": ("mnist_wht", []), "cifar_wht": ("cifar_wht", []),
         "mlp4096": ("fmnist_wht", ["model.width=4096"]),
         # not in the default list: the flagship without its LoRA adapters (what the adapters cost)
         "cifar_wht_no_adapter": ("cifar_wht", ["adapter=none"])}
DEFAULT_PAIRS = ["fmnist_frontier", "mnist_wht", "cifar_wht", "mlp4096"]
# issue 25: frozen_resnet (structured bank + WHT convs) against bn_only_resnet (dense random convs) of
# the same depth and widths, both ReLU, so only the fixed conv differs; frozen_resnet with its bi-slope
# PAct (the family's default) is timed beside them. name -> (depth, first-stage width, target ratio)
RESNET_PAIRS = {"resnet20_w16": (20, 16, 1.0), "resnet20_w64": (20, 64, 0.5), "resnet110_w16": (110, 16, 1.0),
                "resnet56_w64": (56, 64, 0.5)}
# issue 12: (metric, kind, bound): "time" frozen/other <= bound, "speedup" other/frozen >= bound
TARGETS = {"cnn": [("train step", "time", 0.8), ("inference b256", "time", 1.0), ("inference b1", "time", 1.0)],
           "mlp": [("train step", "time", None), ("inference b256", "speedup", 5.0), ("inference b1", "speedup", 15.0)]}


def composed(*overrides: str) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def build_pair(name: str):
    exp, extra = PAIRS[name]
    cfg = prune(composed(f"+exp={exp}", *extra))
    shape = SHAPES[cfg["dataset"]["name"]]
    x = torch.zeros(2, *shape)
    y = torch.zeros(2, dtype=torch.long)
    data = DataBundle(name, x, y, x, y, x, y, num_classes=10)
    torch.manual_seed(0)
    frozen = build_model(cfg, data)
    other = dict(cfg)
    if isinstance(frozen, FrozenCNN):  # the trained twin: same widths, trainable k x k convs
        other["model"] = {**composed("model=trained_cnn")["model"], "widths": cfg["model"]["widths"]}
    else:  # a dense MLP of equal width and depth
        other["model"] = {**composed("model=dense_mlp")["model"], "width": frozen.width, "depth": cfg["model"]["depth"]}
    other = prune(other)
    torch.manual_seed(0)
    return cfg, shape, frozen, build_model(other, data), other["model"]["name"]


# ----------------------------------------------------------------------------- parts of a model

def parts(model: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """(category, modules run in sequence) in forward order; the head part also flattens."""
    out = []
    if isinstance(model, (FrozenCNN, TrainedCNN)):
        for st in model.stages:
            mix = [st.filters, st.mix] if hasattr(st, "filters") else [st.conv]
            out += [("mixing", mix), ("norm/PAct/adapter", [NormAct(st.norm, st.act)] + ([st.adapter] if hasattr(st, "adapter") else [])),
                    ("pool", [st.pool])]
    elif isinstance(model, FrozenMLP):
        for blk in model.blocks:
            if hasattr(blk, "mix"):
                out += [("mixing", [blk.mix]), ("norm/PAct/adapter", [blk.norm, blk.act, blk.adapter])]
            else:
                out.append(("mixing", [blk]))  # a fixed permutation
    else:  # DenseMLP: Linear (trained mixing) and ReLU
        for m in model.net[:-1]:
            out.append(("mixing" if isinstance(m, nn.Linear) else "norm/PAct/adapter", [m]))
    return out


def head_input(model, x):
    """The features the head reads (global pool / flatten / readout as the model's forward)."""
    if isinstance(model, FrozenCNN):
        return model.features(x)
    if isinstance(model, TrainedCNN):
        h = model.stages(x)
        return h.mean((2, 3)) if model.global_pool else h.flatten(1)
    if isinstance(model, FrozenMLP):
        h = model.features(x)
        return h.view(len(h), model.readout, -1).sum(-1) if model.readout else h
    return model.net[:-1](x.flatten(1))


def head_module(model):
    return model.net[-1] if not hasattr(model, "head") else model.head


def captured_inputs(model, x, groups):
    """The input each part received in one forward pass (model in train mode). A ``NormAct`` part is
    not a module the model calls (the fused op may run instead of its norm): its input is the output
    of the part before it, which always precedes it in a stage."""
    got, hooks = {}, []
    for i, (_, mods) in enumerate(groups):
        if isinstance(mods[0], NormAct):
            hooks.append(groups[i - 1][1][-1].register_forward_hook(lambda m, a, out, i=i: got.setdefault(i, out.detach())))
        else:
            hooks.append(mods[0].register_forward_pre_hook(lambda m, a, i=i: got.setdefault(i, a[0].detach())))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return got


def replay(mods, inp, needs_grad):
    """Forward + backward of one part alone, with the input gradient only if the model needs it."""
    xin = inp.clone().requires_grad_(needs_grad)

    def f():
        h = xin
        for m in mods:
            h = m(h)
        if h.requires_grad:
            h.backward(torch.ones_like(h))
    return f


# ----------------------------------------------------------------------------- FLOPs and bytes

def cost(mod: nn.Module, inp: torch.Tensor, out: torch.Tensor, train: bool, needs_in_grad: bool) -> tuple[float, float]:
    """(FLOPs, bytes) of one module's ideal forward (+ backward if train), float32."""
    T_in, T_out = inp.numel() * 4, out.numel() * 4
    trains = any(p.requires_grad for p in mod.parameters())
    flops = bytes_ = 0.0
    if isinstance(mod, FusedFilterMix) and mod.uses_structure(inp):  # the bank, the fold, the width-n2 WHT
        f = out.numel() / out.shape[1] * mod.structured["flops"]
        flops += f * (1 + (train and needs_in_grad))
        bytes_ += (T_in + T_out) * (1 + (train and needs_in_grad))
    elif isinstance(mod, nn.Conv2d) or hasattr(mod, "kernel") or hasattr(mod, "bank"):
        w = mod.weight if isinstance(mod, nn.Conv2d) else (mod.kernel if hasattr(mod, "kernel") else None)
        if w is None:  # depthwise filter bank: K filters per input channel
            kk = mod.bank.shape[-1] * mod.bank.shape[-2]
            f = 2.0 * out.numel() * kk
            wb = mod.bank.numel() * 4
        else:
            f = 2.0 * out.numel() * w.shape[1] * w.shape[2] * w.shape[3]
            wb = w.numel() * 4
        flops += f
        bytes_ += T_in + T_out + wb
        if train:
            flops += f * (needs_in_grad + trains)
            bytes_ += (T_out + wb + T_in) * needs_in_grad + (T_out + T_in + wb) * trains
    elif isinstance(mod, nn.Linear):
        f = 2.0 * inp.numel() // inp.shape[-1] * mod.in_features * mod.out_features
        wb = mod.weight.numel() * 4
        flops += f
        bytes_ += T_in + T_out + wb
        if train:
            flops += f * (needs_in_grad + 1)
            bytes_ += (T_out + wb + T_in) * needs_in_grad + (T_out + T_in + wb)
    elif hasattr(mod, "mix") and hasattr(mod.mix, "out_dim") or hasattr(mod, "out_dim"):  # fixed transform
        n = getattr(mod, "out_dim", None) or mod.mix.out_dim
        rows = out.numel() / (out.shape[1] if hasattr(mod, "in_channels") else out.shape[-1])  # pixels or rows
        flops += rows * n * max(1, math.log2(n)) * (2 if train and needs_in_grad else 1)
        bytes_ += (T_in + T_out) * (2 if train and needs_in_grad else 1)
    elif isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
        bytes_ += T_in + T_out + (T_out + T_in if train else 0)
    elif isinstance(mod, nn.Identity):
        pass
    else:  # elementwise per channel (norms, PActs) and adapters
        if getattr(mod, "rank", 0):
            c = inp.shape[1]
            f = 4.0 * inp.numel() / c * c * mod.rank
            flops += f * (3 if train else 1)
        stats = isinstance(mod, nn.BatchNorm2d) and (train or not mod.track_running_stats)
        bytes_ += T_in + T_out + T_in * stats
        if train:
            bytes_ += (T_in + T_out + T_in * needs_in_grad) + T_in * stats * 2
    return flops, bytes_


def model_cost(model, x) -> tuple[float, float]:
    """(FLOPs, bytes) of one inference forward: every part on the input it receives, and the head."""
    model.train()  # every part runs (evaluation may fold some into others); shapes are the same
    groups = parts(model)
    inputs = captured_inputs(model, x, groups)
    model.eval()
    fb = [part_cost(mods, inputs[i], False, False) for i, (_, mods) in enumerate(groups)]
    with torch.no_grad():
        fb.append(part_cost([head_module(model)], head_input(model, x), False, False))
    return sum(f for f, _ in fb), sum(b for _, b in fb)


def best(samples: list[float]) -> float:
    """The least disturbed of the interleaved samples: on a loaded machine the median carries the
    other processes' time slices, the minimum much less (the ratios use paired medians and minima)."""
    return min(samples)


class NormAct(nn.Module):
    """A stage's norm and PAct replayed as the model runs them (``blocks.norm_act``: fused where the
    kernels apply); their bound is counted as two ops, norm then PAct."""

    def __init__(self, norm, act):
        super().__init__()
        self.norm, self.act = norm, act

    def forward(self, h):
        return norm_act(self.norm, self.act, h)


def part_cost(mods, inp, train, needs_grad):
    mods = [x for m in mods for x in ((m.norm, m.act) if isinstance(m, NormAct) else (m,))]
    flops = bytes_ = 0.0
    h = inp
    with torch.no_grad():
        for m in mods:
            o = m(h)
            if not (isinstance(m, nn.Identity) or getattr(m, "rank", None) == 0 and not list(m.parameters())):
                f, b = cost(m, h, o, train, needs_grad)
                flops, bytes_ = flops + f, bytes_ + b
            needs_grad = needs_grad or any(p.requires_grad for p in m.parameters())
            h = o
    return flops, bytes_


def machine_rates(gemm: int, rounds: int, clock) -> tuple[float, float]:
    a, b = torch.randn(gemm, gemm), torch.randn(gemm, gemm)
    src, dst = torch.randn(16 << 20), torch.empty(16 << 20)  # 64 MB
    t = timed_rounds({"mm": lambda: a @ b, "copy": lambda: dst.copy_(src)}, rounds, 0.05, clock)
    flops = 2.0 * gemm**3 / min(t["mm"])  # best sample: the rate the hardware reaches here
    bw = 2.0 * src.numel() * 4 / min(t["copy"])
    return flops, bw


# ----------------------------------------------------------------------------- one pair

def step_fn(model, cfg, batches):
    """train.fit's step on the next batch of ``batches`` (data included, as in fit)."""
    opt = torch.optim.AdamW(param_groups(model, cfg["optim"]), betas=tuple(cfg["optim"].get("betas", (0.9, 0.999))))
    clip = cfg["optim"].get("grad_clip")

    def step():
        x, y = next(batches)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), float(clip))
        opt.step()
        return loss.item()

    def optimizer():  # grads in place from the last step: zero_grad not timed (they are needed)
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), float(clip))
        opt.step()
    return step, optimizer, opt


def cycle_batches(x, y, perm, bs):
    """Batches by index from in-memory tensors, as train.fit, round and round."""
    n = len(perm) // bs
    i = 0
    while True:
        idx = perm[(i % n) * bs:(i % n + 1) * bs]
        i += 1
        yield x[idx], y[idx]


def run_pair(name, rounds, sample_s, rates, pool_n, clock):
    cfg, shape, frozen, other, other_name = build_pair(name)
    bs = int(cfg["trainer"]["batch_size"])
    g = torch.Generator().manual_seed(0)
    pool_x, pool_y = torch.randn(pool_n, *shape, generator=g), torch.randint(0, 10, (pool_n,), generator=g)
    perm = torch.randperm(pool_n, generator=g)
    x, y = pool_x[perm[:bs]], pool_y[perm[:bs]]
    kind = "cnn" if isinstance(frozen, FrozenCNN) else "mlp"
    models = {cfg["model"]["name"]: frozen, other_name: other}
    fns, meta = {}, {}
    # inference is timed on the models as built: the training timing runs hundreds of steps on one
    # batch (and the part replays add to the gradients), which drifts the weights far from a real
    # run's, e.g. to values whose float arithmetic is slow
    initial = {label: copy.deepcopy(m.state_dict()) for label, m in models.items()}
    for label, m in models.items():
        m.train()
        step, optimizer, _ = step_fn(m, cfg, cycle_batches(pool_x, pool_y, perm, bs))
        step()  # grads exist for the optimizer replay
        groups = parts(m)
        inputs = captured_inputs(m, x, groups)
        fns[(label, "step")] = step
        needs = False
        for i, (cat, mods) in enumerate(groups):
            fns[(label, f"{i}:{cat}")] = replay(mods, inputs[i], needs)
            meta[(label, f"{i}:{cat}")] = part_cost(mods, inputs[i], True, needs)
            needs = needs or any(p.requires_grad for mm in mods for p in mm.parameters())
        feats = head_input(m, x).detach()
        head = head_module(m)
        fh = feats.clone().requires_grad_(True)
        fns[(label, "head")] = lambda head=head, fh=fh: F.cross_entropy(head(fh), y).backward()
        meta[(label, "head")] = part_cost([head], feats, True, True)
        fns[(label, "optimizer")] = optimizer
        n_par = sum(p.numel() for p in m.parameters() if p.requires_grad)
        meta[(label, "optimizer")] = (15.0 * n_par, 7 * 4.0 * n_par)
        fns[(label, "data")] = lambda: (pool_x[perm[:bs]], pool_y[perm[:bs]])
        meta[(label, "data")] = (0.0, 2.0 * bs * math.prod(shape) * 4)
    t_train = timed_rounds(fns, rounds, sample_s, clock)

    inf = {}
    for label, m in models.items():
        m.load_state_dict(initial[label])
    for b in (256, 1):
        xb = torch.randn(b, *shape, generator=g)
        for label, m in models.items():
            m.eval()

            def f(m=m, xb=xb):
                with torch.inference_mode():
                    m(xb)
            inf[(label, b)] = f
    t_inf = timed_rounds(inf, rounds, sample_s, clock)

    flops_rate, bw = rates
    bound = lambda fb: max(fb[0] / flops_rate, fb[1] / bw)  # noqa: E731
    rows = []
    fl = list(models)
    print(f"\n{name}: {fl[0]} vs {fl[1]}, batch {bs} (train), input {shape}")
    print(f"  {'model':13s} {'part (min over rounds)':26s} {'ms':>9s} {'share':>6s} {'GFLOP':>8s} {'MB':>8s} {'bound ms':>9s} {'x bound':>8s}")
    for label in fl:
        step = best(t_train[(label, "step")])
        keys = [k for k in t_train if k[0] == label and k[1] != "step"]
        cats: dict[str, list] = {}
        for k in keys:
            cat = k[1].split(":", 1)[-1]
            c = cats.setdefault(cat, [0.0, 0.0, 0.0, 0.0])
            c[0] += best(t_train[k])
            c[1] += meta[k][0]
            c[2] += meta[k][1]
            c[3] += bound(meta[k])
        cats["rest"] = [step - sum(c[0] for c in cats.values()), 0.0, 0.0, 0.0]
        cats["step"] = [step, sum(c[1] for c in cats.values()), sum(c[2] for c in cats.values()),
                        sum(c[3] for c in cats.values())]
        for cat, (ms, f, by, bd) in cats.items():
            x_bound = f"{ms / bd:.1f}" if bd else ""
            print(f"  {label:13s} {cat:26s} {1e3 * ms:9.2f} {ms / step:6.0%} {f / 1e9:8.3f} {by / 1e6:8.2f}"
                  f" {1e3 * bd:9.3f} {x_bound:>8s}")
            rows.append({"pair": name, "model": label, "metric": f"train step part: {cat}", "ms": f"{1e3 * ms:.3f}",
                         "share": f"{ms / step:.3f}", "gflop": f"{f / 1e9:.4f}", "mbytes": f"{by / 1e6:.3f}",
                         "bound_ms": f"{1e3 * bd:.3f}" if bd else "", "x_bound": x_bound})
    for b in (256, 1):
        xb = torch.randn(b, *shape)
        for label, m in models.items():
            fb = model_cost(m, xb)
            bd = bound(fb)
            ms = best(t_inf[(label, b)])
            print(f"  {label:13s} {'inference b%d' % b:26s} {1e3 * ms:9.3f} {'':6s} {fb[0] / 1e9:8.3f}"
                  f" {fb[1] / 1e6:8.2f} {1e3 * bd:9.3f} {ms / bd:8.1f}")
            rows.append({"pair": name, "model": label, "metric": f"inference b{b}", "ms": f"{1e3 * ms:.4f}",
                         "gflop": f"{fb[0] / 1e9:.4f}", "mbytes": f"{fb[1] / 1e6:.3f}",
                         "bound_ms": f"{1e3 * bd:.4f}", "x_bound": f"{ms / bd:.1f}"})
    print(f"  issue-12 ratios ({fl[0]} against {fl[1]}; paired medians over {rounds} rounds; met: by the paired median)")
    for metric, kind_, target in TARGETS[kind]:
        if metric == "train step":
            a, b = t_train[(fl[0], "step")], t_train[(fl[1], "step")]
        else:
            bb = int(metric.rsplit("b", 1)[1])
            a, b = t_inf[(fl[0], bb)], t_inf[(fl[1], bb)]
        r, r_min = paired_ratio(a, b), min(a) / min(b)
        value = r if kind_ == "time" else 1 / r
        tgt = "" if target is None else (f"<= {target:g}" if kind_ == "time" else f">= {target:g}")
        v_min = r_min if kind_ == "time" else 1 / r_min
        met = "" if target is None else ("yes" if (value <= target if kind_ == "time" else value >= target) else "NO")
        word = "frozen/other time" if kind_ == "time" else "speedup other/frozen"
        print(f"    {metric:16s} {word:22s} {value:6.2f} (minima: {v_min:5.2f})  target {tgt or '-':8s} {met}")
        rows.append({"pair": name, "model": f"{fl[0]} vs {fl[1]}", "metric": f"ratio {metric}",
                     "ratio_kind": word, "ratio": f"{value:.3f}", "ratio_of_minima": f"{v_min:.3f}",
                     "target": tgt, "met": met,
                     "frozen_ms": f"{1e3 * statistics.median(a):.4f}", "other_ms": f"{1e3 * statistics.median(b):.4f}"})
    return rows


def run_resnet_pair(name, rounds, sample_s, bs, clock):
    """Training step (batch ``bs``) and inference (batch 256 and 1) of the frozen and the BN-only
    ResNet, interleaved in this one process; the ratios are paired medians. An epoch's time on the
    45k CIFAR-10 training images is the median step time times the steps of an epoch."""
    depth, width, target = RESNET_PAIRS[name]
    shape = SHAPES["cifar10"]
    data = DataBundle(name, torch.zeros(2, *shape), torch.zeros(2, dtype=torch.long), None, None, None, None,
                      num_classes=10)
    common = [f"model.depth={depth}", f"model.width={width}"]
    cfgs = {"frozen_resnet": prune(composed("+family=frozen_resnet", "activation=relu", *common)),
            "frozen_resnet+bislope": prune(composed("+family=frozen_resnet", *common)),
            "bn_only_resnet": prune(composed("+family=bn_only_resnet", *common))}
    g = torch.Generator().manual_seed(0)
    pool_n = 4 * bs
    pool_x, pool_y = torch.randn(pool_n, *shape, generator=g), torch.randint(0, 10, (pool_n,), generator=g)
    perm = torch.randperm(pool_n, generator=g)
    models, train_fns = {}, {}
    for label, cfg in cfgs.items():
        torch.manual_seed(0)
        m = models[label] = build_model(cfg, data)
        m.train()
        train_fns[label] = step_fn(m, cfg, cycle_batches(pool_x, pool_y, perm, bs))[0]
    initial = {label: copy.deepcopy(m.state_dict()) for label, m in models.items()}
    t_train = timed_rounds(train_fns, rounds, sample_s, clock)
    inf = {}
    for label, m in models.items():
        m.load_state_dict(initial[label])
        m.eval()
        for b in (256, 1):
            xb = torch.randn(b, *shape, generator=g)

            def f(m=m, xb=xb):
                with torch.inference_mode():
                    m(xb)
            inf[(label, b)] = f
    t_inf = timed_rounds(inf, rounds, sample_s, clock)
    from frozen_bench.train.compute import macs_per_example

    steps = math.ceil(45000 / bs)
    print(f"\n{name}: ResNet-{depth}, widths {width}/{2 * width}/{4 * width}, CIFAR-10 shapes, train batch {bs}")
    print(f"  {'model':22s} {'MMAC/ex':>8s} {'train ms':>9s} {'epoch min':>9s} {'b256 ms':>9s} {'b1 ms':>8s}")
    rows = []
    for label, m in models.items():
        macs = macs_per_example(m, shape)
        tr, b256, b1 = (statistics.median(t_train[label]), statistics.median(t_inf[(label, 256)]),
                        statistics.median(t_inf[(label, 1)]))
        print(f"  {label:22s} {macs / 1e6:8.1f} {1e3 * tr:9.1f} {tr * steps / 60:9.2f} {1e3 * b256:9.1f} {1e3 * b1:8.2f}")
        rows.append({"pair": name, "model": label, "metric": "resnet timings", "depth": depth, "width": width,
                     "macs_per_example": macs, "train_step_ms": f"{1e3 * tr:.2f}", "batch": bs,
                     "epoch_min_45k": f"{tr * steps / 60:.3f}", "inference_b256_ms": f"{1e3 * b256:.3f}",
                     "inference_b1_ms": f"{1e3 * b1:.4f}"})
    print(f"  issue-25 ratios (frozen_resnet / bn_only_resnet, paired medians over {rounds} rounds; target <= {target:g})")
    for metric, a, b in (("train step", t_train["frozen_resnet"], t_train["bn_only_resnet"]),
                         ("inference b256", t_inf[("frozen_resnet", 256)], t_inf[("bn_only_resnet", 256)]),
                         ("inference b1", t_inf[("frozen_resnet", 1)], t_inf[("bn_only_resnet", 1)]),
                         ("train step, bislope", t_train["frozen_resnet+bislope"], t_train["bn_only_resnet"])):
        r = paired_ratio(a, b)
        met = "yes" if r <= target else "NO"
        print(f"    {metric:20s} {r:6.2f} (minima: {min(a) / min(b):5.2f})  {met}")
        rows.append({"pair": name, "model": "frozen_resnet vs bn_only_resnet", "metric": f"ratio {metric}",
                     "ratio_kind": "frozen/other time", "ratio": f"{r:.3f}", "ratio_of_minima": f"{min(a) / min(b):.3f}",
                     "target": f"<= {target:g}", "met": met, "frozen_ms": f"{1e3 * statistics.median(a):.4f}",
                     "other_ms": f"{1e3 * statistics.median(b):.4f}"})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", nargs="+", default=DEFAULT_PAIRS, choices=list(PAIRS) + list(RESNET_PAIRS),
                    help=f"default {' '.join(DEFAULT_PAIRS)}; the ResNet pairs (issue 25): {' '.join(RESNET_PAIRS)}")
    ap.add_argument("--batch", type=int, default=128, help="training batch of the ResNet pairs (issue 25: 128)")
    ap.add_argument("--quick", action="store_true", help="5 rounds, short samples")
    ap.add_argument("--rounds", type=int, default=None, help="default 15 (quick: 5)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (issue 12: 2)")
    ap.add_argument("--gemm", type=int, default=1024, help="square size of the matmul-rate probe")
    ap.add_argument("--pool", type=int, default=8192, help="in-memory samples the data part gathers from")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: perf_counter; cpu: process CPU time of all threads (robust to other load)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "models.csv")
    ap.add_argument("--malloc", choices=("kept", "default"), default="kept",
                    help="kept: glibc keeps freed blocks for reuse, as every frozen-bench run does "
                         "(configure_malloc); default: each large tensor is a fresh mmap, every page faults")
    args = ap.parse_args()
    configure_threads(args.threads)
    malloc = "kept" if args.malloc == "kept" and configure_malloc() else "default"
    rounds = args.rounds or (5 if args.quick else 15)
    sample_s = 0.01 if args.quick else 0.03
    info = machine_info()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    rates = machine_rates(args.gemm, rounds, clock)
    print(f"# {info['cpu']} | {info['cores']} cores | torch {info['torch']} | {info['threads']} threads"
          f" | CPU kernels: {info['backend']} | load {info['load_avg_1min']}")
    print(f"# malloc: {malloc}; clock: {args.clock}; measured rates: float32 matmul {rates[0] / 1e9:.1f} GFLOP/s ({args.gemm}^3), memory copy {rates[1] / 1e9:.1f} GB/s")
    rows = []
    for name in args.pairs:
        if name in RESNET_PAIRS:
            rows += run_resnet_pair(name, rounds, sample_s, args.batch, clock)
        else:
            rows += run_pair(name, rounds, sample_s, rates, args.pool, clock)
    machine = {**info, "clock": args.clock + (" (OMP_WAIT_POLICY=%s)" % os.environ.get("OMP_WAIT_POLICY", "")
                                              if args.clock == "cpu" else ""), "matmul_gflops": f"{rates[0] / 1e9:.2f}", "copy_gbs": f"{rates[1] / 1e9:.2f}", "malloc": malloc}
    write_csv(args.out, [{**r, **machine} for r in rows])


if __name__ == "__main__":
    main()
