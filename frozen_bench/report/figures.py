"""Every figure of the results paper, drawn from ``results/all.csv`` alone.

One function per figure: ``(df, out_dir) -> list[Path]`` writing PNG and PDF. A figure whose
sweep has no rows is skipped with one line naming the command that produces them. Captions say
which data the figure shows (real or synthetic), the profile and the number of seeds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from frozen_bench.report import companion
from frozen_bench.registry import Registry
from frozen_bench.report.common import SWEEP_COMMAND, MissingRows, data_label, plt, rows, save
from frozen_bench.report.stats import mean_ci

FIGURES = Registry("figure")
figure = FIGURES.register


def bar_by(sub: pd.DataFrame, col: str, order: list[str], metric: str = "test_accuracy"):
    labels, means, cis = [], [], []
    for key in [o for o in order if o in set(sub[col])] + sorted(set(sub[col]) - set(order)):
        m, c = mean_ci(sub[sub[col] == key][metric])
        labels.append(str(key)), means.append(m), cis.append(c)
    return labels, np.array(means), np.array(cis)


@figure("transforms")
def fig_transforms(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    sub = rows(df, "sweep_transforms")
    labels, m, c = bar_by(sub, "transform", ["wht", "dct", "fft", "random_orth", "identity"])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.bar(labels, 100 * m, yerr=100 * c, capsize=4, color="C0")
    ax.set_ylim(max(0, 100 * np.nanmin(m - c) - 3), min(100, 100 * np.nanmax(m + c) + 2))
    ax.set_xlabel("transform (fixed mixing)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Which fixed mixing? (frozen MLP, bislope PAct)")
    return save(fig, out_dir, "transforms", data_label(sub))


@figure("activations")
def fig_activations(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    sub = rows(df, "sweep_activations")
    order = ["relu", "prelu", "bislope", "pwl3", "spline", "glu"]
    mults = sorted(sub["act_lr_mult"].dropna().unique()) if "act_lr_mult" in sub else [None]
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    width = 0.8 / len(mults)
    lows, highs = [], []
    for i, mult in enumerate(mults):
        part = sub if mult is None else sub[sub["act_lr_mult"] == mult]
        labels, m, c = bar_by(part, "activation", order)
        x = np.arange(len(labels)) + (i - (len(mults) - 1) / 2) * width
        ax.bar(x, 100 * m, width, yerr=100 * c, capsize=3, label=f"act_lr_mult={mult:g}" if mult is not None else None)
        ax.set_xticks(np.arange(len(labels)), labels)
        lows.append(np.nanmin(m - c))
        highs.append(np.nanmax(m + c))
    ax.set_ylim(max(0, 100 * min(lows) - 3), min(100, 100 * max(highs) + 2))
    ax.set_xlabel("activation (per-channel PAct)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("PAct complexity (frozen WHT MLP)")
    if mults != [None]:
        ax.legend(fontsize=8)
    return save(fig, out_dir, "activations", data_label(sub))


@figure("adapters")
def fig_adapters(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    sub = rows(df, "sweep_adapters")
    ranks = sorted(sub["adapter_rank"].astype(int).unique())
    stats = [mean_ci(sub[sub["adapter_rank"].astype(int) == r]["test_accuracy"]) for r in ranks]
    params = [sub[sub["adapter_rank"].astype(int) == r]["trainable_params"].mean() for r in ranks]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    m = np.array([s[0] for s in stats])
    c = np.array([s[1] for s in stats])
    ax.errorbar(ranks, 100 * m, yerr=100 * c, marker="o", capsize=4, label="test accuracy")
    ax.set_xlabel("LoRA adapter rank (0 = PAct only)")
    ax.set_ylabel("test accuracy (%)")
    ax2 = ax.twinx()
    ax2.plot(ranks, np.array(params) / 1e3, "s--", color="C3", label="trainable params")
    ax2.set_ylabel("trainable parameters (thousands)")
    ax.legend(loc="lower right", fontsize=8)
    ax2.legend(loc="upper left", fontsize=8)
    ax.set_title("PAct only vs PAct + LoRA adapters")
    return save(fig, out_dir, "adapters", data_label(sub))


@figure("pareto")
def fig_pareto(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    return pareto(rows(df, "sweep_budget", "budget"), out_dir, "pareto", "Accuracy vs trainable budget")


@figure("frontier")
def fig_frontier(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    return pareto(rows(df, "sweep_frontier", "frontier"), out_dir, "frontier", "Frozen frontier, full training set")


def pareto(sub: pd.DataFrame, out_dir: Path, stem: str, title: str) -> list[Path]:
    """Accuracy vs trainable parameters, one line per model family, one figure per dataset."""
    paths = []
    for ds, g in sub.groupby("dataset"):
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for i, (family, fam) in enumerate(g.groupby("model")):
            pts = []
            for b, gb in fam.groupby("budget_name"):
                m, c = mean_ci(gb["test_accuracy"])
                pts.append((gb["trainable_params"].mean(), m, c, b))
            pts.sort()
            x, m, c, names = zip(*pts)
            ax.errorbar(x, 100 * np.array(m), yerr=100 * np.array(c), marker="os^D"[i % 4], capsize=3, label=family)
            for xi, mi, n in zip(x, m, names):
                ax.annotate(n, (xi, 100 * mi), textcoords="offset points", xytext=(4, -10), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("trainable parameters (log scale)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{title}: frozen vs dense ({ds})")
        ax.legend(fontsize=8)
        paths += save(fig, out_dir, f"{stem}_{ds}", data_label(g))
    return paths


@figure("latency")
def fig_latency(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    sub = rows(df, "sweep_latency", "latency")
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    for ax, b in zip(axes, (1, 256)):
        for model, g in sub.groupby("model"):
            widths = sorted(g["width"].astype(int).unique())
            st = [mean_ci(g[g["width"].astype(int) == w][f"latency_ms_b{b}_p50"]) for w in widths]
            ax.errorbar(widths, [s[0] for s in st], yerr=[s[1] for s in st], marker="o", capsize=3, label=model)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("hidden width (channels)")
        ax.set_ylabel(f"median latency, batch {b} (ms)")
        ax.set_title(f"Inference latency, batch {b}")
        ax.legend(fontsize=8)
    return save(fig, out_dir, "latency", data_label(sub) + "; CPU, fp32, depth 2")


@figure("act_shapes")
def fig_act_shapes(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    sub = rows(df, "sweep_activations")
    sub = sub[sub["act_shapes"].notna()] if "act_shapes" in sub else sub.iloc[0:0]
    if sub.empty:
        raise MissingRows("no act_shapes column in the activation sweep rows; re-run: " + SWEEP_COMMAND.format(sweep="activations"))
    if "act_lr_mult" in sub:  # the most-trained activations: the largest activation lr
        sub = sub[sub["act_lr_mult"] == sub["act_lr_mult"].max()]
    mult = sub["act_lr_mult"].iloc[0] if "act_lr_mult" in sub else None
    sub = sub.sort_values("seed").groupby("activation").head(1)
    order = [a for a in ["relu", "prelu", "bislope", "pwl3", "spline", "glu"] if a in set(sub["activation"])]
    shapes = {r["activation"]: json.loads(r["act_shapes"]) for _, r in sub.iterrows()}
    ncol = min(8, max(len(s["y"]) for s in shapes.values()))
    fig, axes = plt.subplots(len(order), ncol, figsize=(1.3 * ncol, 1.2 * len(order) + 0.6), squeeze=False, sharex=True)
    for i, act in enumerate(order):
        s = shapes[act]
        for j in range(ncol):
            ax = axes[i, j]
            if j < len(s["y"]):
                ax.plot(s["x"], s["y"][j], color="C0")
                ax.plot(s["x"], s["x"], color="0.8", lw=0.6, zorder=0)
            ax.tick_params(labelsize=5)
            if j == 0:
                ax.set_ylabel(act, fontsize=8)
            if i == len(order) - 1:
                ax.set_xlabel(f"input (ch {j})", fontsize=6)
    fig.suptitle("Learned per-channel activations, first block (grey: identity)", fontsize=9)
    caption = data_label(sub).split("; ")[:2] + ["seed 0 of each activation"] + ([f"act_lr_mult={mult:g}"] if mult is not None else [])
    return save(fig, out_dir, "act_shapes", "; ".join(caption))


# companion figure -> (its drawing, exp of the sweep that feeds it, sweep name)
COMPANION = {
    "fn_segments": (companion.fig_fn_segments, "sweep_functions", "functions"),
    "fn_shift": (companion.fig_fn_shift, "sweep_fn_shift", "fn_shift"),
    "mask_density": (companion.fig_mask_density, "sweep_masks", "masks"),
    "weight_feedback": (companion.fig_weight_feedback, "sweep_weightnet", "weightnet"),
    "frozen_layer_grads": (companion.fig_frozen_layer_grads, "sweep_frozen_layer", "frozen_layer"),
}


def on_sweep(fn: Callable, exp: str, sweep: str) -> Callable:
    """A companion figure fed the rows of its own sweep, with the same skip line as the others."""
    def draw(df, out_dir):
        paths = fn(rows(df, exp, sweep), out_dir)
        if not paths:
            raise MissingRows(f"the rows of {exp} lack this figure's columns; re-run: {SWEEP_COMMAND.format(sweep=sweep)}")
        return paths

    return draw


for _name, (_fn, _exp, _sweep) in COMPANION.items():
    FIGURES.add(_name, on_sweep(_fn, _exp, _sweep), companion=True)


def make_all(csv_path: str | Path, out_dir: str | Path, log=print) -> tuple[list[Path], list[str]]:
    """Draw every figure; returns (written files, skip lines)."""
    from frozen_bench.record.table import read_all_csv

    df = read_all_csv(csv_path)
    out_dir = Path(out_dir)
    written, skipped = [], []
    for name in FIGURES:
        try:
            paths = FIGURES.build(name, df, out_dir)
            written += paths
            log(f"[frozen-bench] figures: {name} -> {', '.join(p.name for p in paths)}")
        except MissingRows as e:
            skipped.append(f"{name}: {e}")
            log(f"[frozen-bench] figures: skipped {name}: {e}")
    return written, skipped


FAMILY_COLOURS = {"frozen": "C0", "trained": "C3", "control": "0.55"}


@figure("fair")
def fig_fair(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """The fair comparison as dot plots: per dataset one panel per budget, a row per family with its
    mean test accuracy and 95% CI over seeds; frozen, trained and control families in three colours.
    No bars from zero (sub-point gaps stay sub-point) and no point labels to overlap."""
    from frozen_bench.report.fair import selected_only

    sub = selected_only(rows(df, "fair_final", "fair"), df)  # the runs of today's selection, as in the tables
    paths = []
    for ds, g in sub.groupby("dataset"):
        budgets = sorted(int(b) for b in g["budget"].dropna().unique())
        fig, axes = plt.subplots(1, len(budgets), figsize=(4.2 * len(budgets), 3.4), squeeze=False)
        for ax, b in zip(axes[0], budgets):
            gb = g[g["budget"] == b]
            stats = sorted(((*mean_ci(100 * f["test_accuracy"]), fam, f["family_kind"].iloc[0], f["seed"].nunique())
                            for fam, f in gb.groupby("family")), key=lambda s: s[0])
            for i, (m, c, fam, kind, n) in enumerate(stats):
                ax.errorbar(m, i, xerr=0 if math.isnan(c) else c, fmt="o", capsize=3, color=FAMILY_COLOURS.get(kind, "k"))
            ax.set_yticks(range(len(stats)), [f"{s[2]} (n={s[4]})" for s in stats], fontsize=7)
            ax.set_xlabel("test accuracy (%), mean ± 95% CI")
            ax.set_title(f"{ds}, {b:,} trainable", fontsize=9)
            ax.grid(axis="x", alpha=0.3)
        handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=k) for k, c in FAMILY_COLOURS.items()]
        axes[0][0].legend(handles=handles, loc="lower right", fontsize=7)  # low-accuracy rows sit on the left
        paths += save(fig, out_dir, f"fair_{ds}", data_label(g) + "; each family tuned on validation (same grid), equal recipe")
    return paths


@figure("fair_small")
def fig_fair_small(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Small data: test accuracy vs training-set size (log) for the best frozen and best trained
    family at one budget, the same optimizer steps at every size, mean ± 95% CI over seeds."""
    sub = rows(df, "fair_small", "fair")
    paths = []
    for ds, g in sub.groupby("dataset"):
        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        for fam, f in g.groupby("family"):
            pts = sorted((int(n), *mean_ci(100 * fn["test_accuracy"])) for n, fn in f.groupby("subset"))
            n, m, c = zip(*pts)
            ax.errorbar(n, m, yerr=[0 if math.isnan(x) else x for x in c], marker="o", capsize=3,
                        color=FAMILY_COLOURS.get(f["family_kind"].iloc[0], "k"), label=f"{fam} ({int(f['trainable_params'].mean()):,} trainable)")
        ax.set_xscale("log")
        ax.set_xlabel("training images (log scale)")
        ax.set_ylabel("test accuracy (%), mean ± 95% CI")
        ax.set_title(f"Small data, {ds}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        paths += save(fig, out_dir, f"fair_small_{ds}", data_label(g) + f"; {int(g['steps'].max()):,} steps at every size")
    return paths
