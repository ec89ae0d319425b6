#!/usr/bin/env python
"""Fixed-mixing speed: frozen_bench.nn.fast against torch.fft.rfft, the dense product and PyPI peers.

Every candidate runs in this one process on the same tensor, interleaved (one timed sample of each,
in rotating order, per round), so machine load affects all of them alike. A ratio is the median over
rounds of the per-round ratio (paired); the ms columns are plain medians. Peers that are not
installed are reported as such.

    python scripts/bench_transforms.py            # full: 30 rounds per size
    python scripts/bench_transforms.py --quick    # a few rounds, for a smoke run

Writes results/bench/transforms.csv (one row per ratio, with machine info and this command).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import statistics
from pathlib import Path

import torch

from benchlib import ROOT, machine_info, paired_ratio, timed_rounds, write_csv
from frozen_bench.nn import fast
from frozen_bench.nn.matrices import sylvester_hadamard
from frozen_bench.train.threads import configure_threads


def optional_peers():
    """(name, callable or None, note) for the PyPI peers; None when not installed."""
    peers = {}
    try:
        from hadamard_transform import hadamard_transform

        v = importlib.metadata.version("hadamard-transform")
        peers["hadamard-transform"] = (hadamard_transform, f"hadamard-transform {v}")
    except ImportError:
        peers["hadamard-transform"] = (None, "not installed")
    try:
        import torch_dct

        v = importlib.metadata.version("torch-dct")
        peers["torch-dct"] = (lambda x: torch_dct.dct(x, norm="ortho"), f"torch-dct {v}")
    except ImportError:
        peers["torch-dct"] = (None, "not installed")
    return peers


def backward_only(f, x):
    """A callable timing only the backward of f (graph recorded once, reused)."""
    xg = x.clone().requires_grad_()
    y = f(xg)
    g = torch.randn_like(y)
    return lambda: torch.autograd.grad(y, xg, g, retain_graph=True)


# (label, ours, peer, kind, bound, only_at_n); kind "time" = time(ours)/time(peer) <= bound,
# kind "speedup" = time(peer)/time(ours) >= bound; bound None = reported, no target.
METRICS = [
    ("WHT fwd vs rfft", "wht", "torch.fft.rfft", "time", 1.0, None),
    ("WHT fwd vs dense x@H", "wht", "dense x@H", "speedup", 20.0, 4096),
    ("WHT fwd vs hadamard-transform", "wht", "hadamard-transform", "speedup", 5.0, None),
    # backward via autograd.grad against a forward that records the graph (as in training); both
    # include autograd's fixed per-call cost, which shows at n = 1024 (~50 us of work)
    ("WHT bwd vs WHT fwd", "wht backward", "wht (graph recorded)", "time", 1.5, None),
    ("WHT bwd kernel vs WHT fwd", "wht backward kernel", "wht", "time", None, None),
    ("WHT torch fallback vs rfft", "wht (torch fallback)", "torch.fft.rfft", "time", None, None),
    ("DCT-II fwd vs rfft", "dct2", "torch.fft.rfft", "time", 2.0, None),
    ("DCT-II fwd vs torch-dct", "dct2", "torch-dct", "speedup", 3.0, None),
    ("DCT-II bwd vs DCT-II fwd", "dct2 backward", "dct2", "time", None, None),
    ("fft_real fwd vs rfft", "fft_real", "torch.fft.rfft", "time", 1.5, None),
    ("fft_real bwd vs fft_real fwd", "fft_real backward", "fft_real", "time", None, None),
    ("rfft bwd vs rfft fwd (context)", "torch.fft.rfft backward", "torch.fft.rfft (graph recorded)", "time", None, None),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few rounds, short samples")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 16384])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=None, help="default 30 (quick: 5)")
    ap.add_argument("--dense-max", type=int, default=4096,
                    help="largest n for the dense x@H peer (its matrix is 4 n^2 bytes)")
    ap.add_argument("--threads", type=int, nargs="+", default=None,
                    help="torch thread counts to run, e.g. 1 2 (default: configure_threads())")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "transforms.csv")
    args = ap.parse_args()
    rounds = args.rounds or (5 if args.quick else 30)
    sample_s = 0.5e-3 if args.quick else 2e-3

    thread_counts = args.threads or [configure_threads()]
    rows = []
    for nt in thread_counts:
        configure_threads(nt)
        rows += run(args, rounds, sample_s)
    write_csv(args.out, rows)


def run(args, rounds, sample_s) -> list[dict]:
    info = machine_info()
    peers = optional_peers()
    print(f"# {info['cpu']} | {info['cores']} cores | torch {info['torch']} | {info['threads']} threads"
          f" | CPU transforms: {info['backend']}")
    print(f"# fp32, batch {args.batch}, forward unless noted; median of {rounds} interleaved rounds")
    rows = []
    for n in args.sizes:
        gen = torch.Generator().manual_seed(n)
        x = torch.randn(args.batch, n, generator=gen)
        fns = {"torch.fft.rfft": lambda: torch.fft.rfft(x)}
        notes = {"torch.fft.rfft": f"torch {torch.__version__}"}
        if fast.is_power_of_two(n):
            fns["wht"] = lambda: fast.wht(x)
            fns["wht backward"] = backward_only(fast.wht, x)
            xg = x.clone().requires_grad_()
            fns["wht (graph recorded)"] = lambda: fast.wht(xg)
            g = torch.randn_like(x)
            fns["wht backward kernel"] = lambda: fast.wht(g)  # what the backward node runs
            fns["wht (torch fallback)"] = lambda: fast.wht_torch(x)
            if n <= args.dense_max:
                H = sylvester_hadamard(n, torch.float32) / math.sqrt(n)
                fns["dense x@H"] = lambda: x @ H
                notes["dense x@H"] = "torch matmul (BLAS)"
            else:
                notes["dense x@H"] = f"skipped (n > --dense-max {args.dense_max})"
            f, note = peers["hadamard-transform"]
            notes["hadamard-transform"] = note
            if f is not None:
                fns["hadamard-transform"] = lambda f=f: f(x)
        fns["dct2"] = lambda: fast.dct2(x)
        fns["dct2 backward"] = backward_only(fast.dct2, x)
        f, note = peers["torch-dct"]
        notes["torch-dct"] = note
        if f is not None:
            fns["torch-dct"] = lambda f=f: f(x)
        fns["fft_real"] = lambda: fast.fft_real(x)
        fns["fft_real backward"] = backward_only(fast.fft_real, x)
        fns["torch.fft.rfft backward"] = backward_only(torch.fft.rfft, x)
        xr = x.clone().requires_grad_()
        fns["torch.fft.rfft (graph recorded)"] = lambda: torch.fft.rfft(xr)

        t = timed_rounds(fns, rounds, sample_s)
        print(f"\nn = {n}")
        print(f"  {'metric':32s} {'ours ms':>9s} {'peer ms':>9s} {'ours/peer':>10s} {'speedup':>8s}  target")
        for label, ours, peer, kind, bound, only_n in METRICS:
            if ours.startswith("wht") and not fast.is_power_of_two(n):
                continue  # WHT needs a power of two
            row = {"n": n, "batch": args.batch, "dtype": "float32", "metric": label, "ours": ours,
                   "peer": peer, "peer_version": notes.get(peer, ""), "ours_ms": "", "peer_ms": "",
                   "time_ratio": "", "speedup": "", "target": "", "met": ""}
            if bound is not None and (only_n is None or only_n == n):
                row["target"] = f"ours/peer <= {bound:g}" if kind == "time" else f"speedup >= {bound:g}"
            if ours in fns and peer in fns:
                tr = paired_ratio(t[ours], t[peer])
                row.update(ours_ms=f"{1e3 * statistics.median(t[ours]):.4f}",
                           peer_ms=f"{1e3 * statistics.median(t[peer]):.4f}",
                           time_ratio=f"{tr:.3f}", speedup=f"{1 / tr:.2f}")
                if row["target"]:
                    row["met"] = "yes" if (tr <= bound if kind == "time" else 1 / tr >= bound) else "NO"
                print(f"  {label:32s} {row['ours_ms']:>9s} {row['peer_ms']:>9s} {row['time_ratio']:>10s}"
                      f" {row['speedup']:>8s}  {row['target']} {row['met']}")
            else:
                row["met"] = "n/a" if row["target"] else ""
                print(f"  {label:32s} {'':>9s} {'':>9s} {'':>10s} {'':>8s}  {peer}: {notes.get(peer, 'n/a')}")
            rows.append({**row, **info})

    return rows


if __name__ == "__main__":
    main()
