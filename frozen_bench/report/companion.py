"""Figures of the companion experiments, each ``(df, out_dir) -> [png, pdf]`` reading only all.csv
columns (a figure whose columns are absent returns []). ``frozen_bench.report.figures`` feeds each the
rows of its sweep and turns [] into the skip line; ``report.common``'s ``save`` and ``data_label``
give every figure the same caption (real or SYNTHETIC data, profile, seeds). The target of a
function fit is drawn from ``frozen_bench.targets`` (numpy), so no torch or dataset is loaded.

- ``fig_fn_segments``: learned 1-D function (each exact linear piece coloured) over the synthetic target
- ``fig_fn_shift``: validation MSE through the phases of a distribution shift (synthetic targets)
- ``fig_mask_density``: mask density vs test accuracy of masks over frozen weights
- ``fig_weight_feedback``: test accuracy of weight feedback vs the plain-CNN baseline
- ``fig_frozen_layer_grads``: per-layer gradient norms with a Frozen layer
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from frozen_bench import targets
from frozen_bench.report.common import data_label, plt, save

COLORS = ["tab:red", "tab:green", "tab:blue", "tab:cyan", "black"]  # the blog's r, g, b, c, k cycle


def _rows(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    if df is None or df.empty or any(c not in df.columns for c in cols):
        return pd.DataFrame()
    ok = df["status"] == "ok" if "status" in df.columns else True
    return df[ok & df[list(cols)].notna().all(axis=1)]


def _label(r, keys) -> str:
    return ", ".join(f"{k}={r[k]}" for k in keys if k in r and pd.notna(r[k]))


def fig_fn_segments(df: pd.DataFrame, out_dir: Path, max_panels: int = 6) -> list[Path]:
    rows = _rows(df, "fn_pieces", "function")
    if "shift_pair" in rows.columns:
        rows = rows[rows["shift_pair"].isna()]
    if rows.empty:
        return []
    rows = rows.sort_values(["function", "activation", "mixing", "seed"]).drop_duplicates(["function", "activation", "mixing"]).head(max_panels)
    fig, axes = plt.subplots(len(rows), 1, figsize=(9, 2.6 * len(rows)), squeeze=False)
    for ax, (_, r) in zip(axes[:, 0], rows.iterrows()):
        lo, hi = float(r["fn_lo"]), float(r["fn_hi"])
        x = targets.grid(lo, hi, 2000, np)
        if r["function"] in targets.TARGETS:
            with np.errstate(divide="ignore", invalid="ignore"):  # 1/x at a pole, log below 0: not drawn
                y = targets.evaluate(r["function"], x, np)
        else:
            y = None
        if y is not None:
            ax.plot(x, y, "--", color="0.5", lw=1, label=f"target {r['function']} (synthetic)")
        pieces = json.loads(r["fn_pieces"])
        for i, (x0, x1, y0, y1) in enumerate(pieces):
            c = COLORS[i % len(COLORS)]
            ax.plot([x0, x1], [y0, y1], "-", color=c, lw=3 if i % len(COLORS) == 1 else 1.5)
            if i:
                ax.axvline(x0, color=c, lw=0.4, alpha=0.6)
        ax.plot([], [], "-", color=COLORS[0], label="learned (one colour per linear piece)")
        if y is not None and np.isfinite(y).all():
            spread = float(y.max() - y.min()) or 1.0
            ax.set_ylim(float(y.min()) - 0.2 * spread, float(y.max()) + 0.2 * spread)
        if r["function"] in ("inv", "inv_shift"):
            ax.set_ylim(-10, 10)
        ax.set_xlim(lo, hi)
        ax.set_xlabel("x (input, unitless)")
        ax.set_ylabel("y = f(x)")
        ax.set_title(f"synthetic data: {_label(r, ['function', 'activation', 'mixing'])}: {int(r['linear_regions'])} linear regions "
                     f"on [{lo:g}, {hi:g}), test MSE {r['test_mse']:.3g}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    return save(fig, Path(out_dir), "fn_segments", data_label(rows, "first seed of each configuration shown"))


def fig_fn_shift(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    rows = _rows(df, "shift_curve", "shift_pair")
    if rows.empty:
        return []
    pairs = sorted(rows["shift_pair"].unique())
    fig, axes = plt.subplots(2, len(pairs), figsize=(5 * len(pairs), 6.5), squeeze=False)
    for j, pair in enumerate(pairs):
        sub = rows[rows["shift_pair"] == pair].sort_values(["activation", "mixing", "seed"])
        ax = axes[0, j]
        for _, r in sub.drop_duplicates(["activation", "mixing"]).iterrows():
            pts = json.loads(r["shift_curve"])
            if pts:
                ax.plot([p[0] for p in pts], [max(p[2], 1e-8) for p in pts], label=_label(r, ["activation", "mixing"]), lw=1.2)
        phases = int(sub["shift_phases"].iloc[0])
        ax.set_yscale("log")
        ax.set_xlabel("optimizer step (all phases)")
        ax.set_ylabel("validation MSE on the current target")
        ax.set_title(f"synthetic data: shift {pair} ({phases} phases)", fontsize=9)
        ax.legend(fontsize=6)
        ax = axes[1, j]
        g = sub.groupby(["activation", "mixing"])[["shift_mse_before", "shift_mse_after"]].mean()
        labels = [f"activation={a}, mixing={m}" for a, m in g.index]
        xs = range(len(g))
        ax.bar([x - 0.2 for x in xs], g["shift_mse_before"], 0.4, label="before training on the 2nd target")
        ax.bar([x + 0.2 for x in xs], g["shift_mse_after"], 0.4, label="after")
        ax.set_yscale("log")
        ax.set_xticks(list(xs), labels, rotation=30, ha="right", fontsize=6)
        ax.set_ylabel("test MSE on the 2nd target")
        ax.legend(fontsize=6)
    return save(fig, Path(out_dir), "fn_shift", data_label(rows, "curves: first seed; bars: mean over seeds"))


def fig_mask_density(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    rows = _rows(df, "mask_density", "test_accuracy")
    if rows.empty:
        return []
    fig, ax = plt.subplots(figsize=(6, 4))
    for (init, ds), sub in rows.groupby(["mask_init", "dataset"]):
        ax.scatter(sub["mask_density"], sub["test_accuracy"], label=f"mask_init={init}, dataset={ds}", s=30)
        for _, r in sub.iterrows():
            ax.annotate(f"reg_weight={r['mask_reg_weight']:g}", (r["mask_density"], r["test_accuracy"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("mask density (fraction of frozen weights kept)")
    ax.set_ylabel("test accuracy (fraction)")
    ax.set_title("Masks over frozen weights", fontsize=9)
    ax.legend(fontsize=7)
    return save(fig, Path(out_dir), "mask_density", data_label(rows, "one point per run"))


def fig_weight_feedback(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    rows = _rows(df, "feedback", "test_accuracy")
    if rows.empty:
        return []
    dsets = sorted(rows["dataset"].unique())
    fig, axes = plt.subplots(1, len(dsets), figsize=(4.5 * len(dsets), 3.6), squeeze=False)
    for ax, ds in zip(axes[0], dsets):
        sub = rows[rows["dataset"] == ds]
        g = sub.groupby(["feedback", "feedback_grad"])["test_accuracy"].agg(["mean", "std", "count"]).reset_index()
        labels = [f"feedback={f}" + (f"\nfeedback_grad={str(fg).lower()}" if f != "none" else " (baseline)") for f, fg in zip(g["feedback"], g["feedback_grad"])]
        ax.bar(range(len(g)), g["mean"], yerr=g["std"].fillna(0), color=["0.6" if f == "none" else "tab:blue" for f in g["feedback"]], capsize=3)
        for i, (m, n) in enumerate(zip(g["mean"], g["count"])):
            ax.text(i, m, f"{m:.4f}\n(n={n})", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(g)), labels, fontsize=7)
        lo = max(0.0, float(g["mean"].min()) - 0.05)
        ax.set_ylim(lo, min(1.0, float(g["mean"].max()) + 0.03))
        ax.set_ylabel("test accuracy (fraction)")
        ax.set_title(f"Weight feedback vs plain CNN, {ds}", fontsize=9)
    return save(fig, Path(out_dir), "weight_feedback", data_label(rows, "mean ± std"))


def fig_frozen_layer_grads(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    rows = _rows(df, "grad_norm_layer0_mean", "frozen_layers")
    if rows.empty:
        return []
    r = rows.iloc[-1]
    layers = sorted(int(c[len("grad_norm_layer"):-len("_mean")]) for c in rows.columns
                    if c.startswith("grad_norm_layer") and c.endswith("_mean") and pd.notna(r[c]))
    frozen = {int(i) for i in str(r["frozen_layers"]).replace(".0", "").split(",") if i.strip() not in ("", "nan")}
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    vals = [float(r[f"grad_norm_layer{i}_mean"]) for i in layers]
    ax.bar(layers, vals, color=["tab:gray" if i in frozen else "tab:blue" for i in layers])
    for i, v in zip(layers, vals):
        ax.text(i, v, f"{v:.3g}" + ("\nFrozen" if i in frozen else ""), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(layers, [f"Linear {i}" for i in layers])
    ax.set_ylabel("mean gradient L2 norm per step (before clipping)")
    ax.set_title(f"Frozen(layer): per-layer gradient norms, {r['dataset']}", fontsize=9)
    return save(fig, Path(out_dir), "frozen_layer_grads", data_label(rows.iloc[[-1]], "one run shown"))
