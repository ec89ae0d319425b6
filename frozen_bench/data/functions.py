"""``dataset=functions``: synthetic 1-D regression targets from the function-fit blog.

x is the blog's grid ``x_i = lo + i/samples·(hi − lo)``, i = 0..samples−1 (default [-5, 5), 10000
points; 1/x uses 10001 so that no point lands on 0). The grid is split at random (seeded) into
train/val/test, so test MSE measures interpolation inside the interval. Targets are exact, not
noisy. Every bundle is named ``synthetic_fn_<function>`` and flagged synthetic.
"""

from __future__ import annotations

import torch

from frozen_bench.data import preprocess as P
from frozen_bench.data.bundle import DataBundle, DatasetError
from frozen_bench.nn.targets import TARGETS, grid  # the definitions, torch-free (the report draws them too)


def target(name: str):
    """The target ``name`` as a function of a torch tensor."""
    if name not in TARGETS:
        raise DatasetError(f"unknown dataset.function {name!r}; choose one of {', '.join(TARGETS)}")
    f = TARGETS[name][0]
    return lambda x: f(x, torch)


def load_functions_bundle(cfg: dict) -> DataBundle:
    name = cfg.get("function", "exp")
    f = target(name)
    lo, hi = float(cfg.get("lo", -5.0)), float(cfg.get("hi", 5.0))
    if not hi > lo:
        raise DatasetError(f"dataset.lo={lo} must be below dataset.hi={hi}")
    samples = int(cfg.get("samples") or TARGETS[name][1])
    if samples < 10:
        raise DatasetError(f"dataset.samples={samples} is too few; use at least 10")
    x = grid(lo, hi, samples, torch)
    y = f(x)
    if not torch.isfinite(y).all():
        bad = x[~torch.isfinite(y)]
        raise DatasetError(f"dataset.function={name} is undefined at x={bad[0].item():g} in [{lo}, {hi}); "
                           f"choose an interval inside its domain (e.g. dataset.lo=0.01 for log) or another dataset.samples")
    val_f, test_f = float(cfg.get("val_fraction", 0.1)), float(cfg.get("test_fraction", 0.1))
    if not (0 < val_f and 0 < test_f and val_f + test_f < 1):
        raise DatasetError(f"dataset.val_fraction={val_f} and test_fraction={test_f} must be > 0 and sum below 1")
    g = torch.Generator().manual_seed(int(cfg.get("split_seed", 0)))  # fixed split, independent of the run seed
    perm = torch.randperm(samples, generator=g)
    n_val, n_test = int(round(samples * val_f)), int(round(samples * test_f))
    va, te, tr = perm[:n_val], perm[n_val:n_val + n_test], perm[n_val + n_test:]
    x, y = x.float().unsqueeze(1), y.float().unsqueeze(1)  # (N, 1)
    return DataBundle(f"synthetic_fn_{name}", x[tr], y[tr], x[va], y[va], x[te], y[te], num_classes=0,
                      task="regression", synthetic=True, info={"function": name, "lo": lo, "hi": hi, "samples": samples,
                                                             "preprocess": P.values(f"synthetic_fn_{name}", (1,), f"x in [{lo}, {hi})")})
