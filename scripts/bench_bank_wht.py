#!/usr/bin/env python
"""A frozen stage's fixed conv in its structure (``fused.bank_wht``: 3×3 bank, fold, width-n2 WHT)
against the same map as one dense fixed conv (``F.conv2d`` with the stage's (w, C, 3, 3) kernel),
side by side in one process, interleaved rounds, paired-median ratios (issue 12).

For each stage shape of the issue-12 presets: the forward at batch 256 and batch 1 (no graph) and
a training step's share at batch 128: forward + input gradient (the map has no weight gradient),
the forward alone in a first stage (its input, the data, needs no gradient).

    python scripts/bench_bank_wht.py              # 15 rounds
    python scripts/bench_bank_wht.py --rounds 5

Writes results/bench/bank_wht.csv with the machine description and this command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from benchlib import ROOT, machine_info, paired_ratio, timed_rounds, write_csv
from frozen_bench.models.frozen_cnn import ChannelMix, FusedFilterMix
from frozen_bench.nn.filters import make_filter_bank
from frozen_bench.train.threads import configure_malloc, configure_threads

# (preset, stage, in channels, width, map side)
STAGES = [("fmnist_frontier", 1, 1, 16, 28), ("fmnist_frontier", 2, 16, 40, 14), ("mnist_wht", 1, 1, 32, 28),
          ("mnist_wht", 2, 32, 64, 14), ("cifar_wht", 1, 3, 32, 32), ("cifar_wht", 2, 32, 64, 16),
          ("cifar_wht", 3, 64, 128, 8)]


def stage_conv(c: int, w: int) -> FusedFilterMix:
    bank = make_filter_bank("dct", 3, None, seed=0)
    return FusedFilterMix(bank, ChannelMix("wht", bank.out_channels(c), w), c)


def candidates(conv: FusedFilterMix, c: int, side: int, first: bool):
    """(case, structured fn, dense fn) for one stage; a first stage's input (the data) needs no
    gradient, so its training case is the forward alone."""
    g = torch.Generator().manual_seed(0)
    out = []
    for case, batch in (("forward b256", 256), ("forward b1", 1)):
        x = torch.randn(batch, c, side, side, generator=g)

        def structured(x=x):
            with torch.no_grad():
                conv.structured_map(x)

        def dense(x=x):
            with torch.no_grad():
                F.conv2d(x, conv.kernel, padding=1)
        out.append((case, structured, dense))
    x = torch.randn(128, c, side, side, generator=g, requires_grad=not first)
    if first:
        out.append(("training b128: forward", lambda: conv.structured_map(x), lambda: F.conv2d(x, conv.kernel, padding=1)))
        return out
    gy = torch.randn(128, conv.kernel.shape[0], side, side, generator=g)
    out.append(("training b128: fwd + input grad", lambda: conv.structured_map(x).backward(gy),
                lambda: F.conv2d(x, conv.kernel, padding=1).backward(gy)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (issue 12: 2)")
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / "bank_wht.csv"))
    args = ap.parse_args()
    configure_threads(args.threads)
    configure_malloc()  # as every run does: freed maps are reused, not page-faulted in again
    info = machine_info()
    print(f"# {info['cpu']} | {info['cores']} cores | {info['threads']} threads | CPU kernels: {info['backend']}")
    print(f"  {'stage':26} {'C -> w':>10} {'case':>32} {'structured ms':>14} {'dense ms':>9} {'ratio':>6}  model uses")
    rows = []
    for preset, i, c, w, side in STAGES:
        conv = stage_conv(c, w)
        probe = torch.zeros(1, c, side, side)
        if not conv.structure_applies(probe):
            raise SystemExit(f"the structured conv does not apply here ({info['backend']}); nothing to compare")
        for case, a, b in candidates(conv, c, side, first=i == 1):
            t = timed_rounds({"structured": a, "dense": b}, args.rounds, 0.05)
            ratio = paired_ratio(t["structured"], t["dense"])
            sa, sb = min(t["structured"]) * 1e3, min(t["dense"]) * 1e3
            used = "structured" if conv.prefers_structure else "dense"
            print(f"  {preset + ' stage ' + str(i):26} {f'{c} -> {w}':>10} {case:>32} {sa:14.3f} {sb:9.3f} {ratio:6.2f}"
                  f"  {used}")
            rows.append({"preset": preset, "stage": i, "in_channels": c, "width": w, "side": side, "case": case,
                         "model_uses": used,
                         "structured_ms": round(sa, 4), "dense_ms": round(sb, 4), "ratio": round(ratio, 3), **info})
    write_csv(Path(args.out), rows)


if __name__ == "__main__":
    main()
