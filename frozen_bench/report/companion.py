"""Figures of the companion experiments, each ``(df, out_dir) -> [png, pdf]`` reading only all.csv
columns (a figure whose columns are absent returns []). ``frozen_bench.report.figures`` feeds each the
rows of its sweep and turns [] into the skip line; ``report.common``'s ``save`` and ``data_label``
give every figure the same caption (real or SYNTHETIC data, profile, seeds). The target of a
function fit is drawn from ``frozen_bench.nn.targets`` (numpy), so no torch or dataset is loaded.

- ``fig_fn_segments``: learned 1-D function (each exact linear piece coloured) over the synthetic target
- ``fig_fn_shift``: validation MSE through the phases of a distribution shift (synthetic targets)
- ``fig_mask_density``: mask density vs test accuracy of masks over frozen weights
- ``fig_weight_feedback``: test accuracy of weight feedback vs the plain-CNN baseline
- ``fig_frozen_layer_grads``: per-layer gradient norms with a Frozen layer
- ``fig_act_delta``: sparse PAct deltas, test accuracy vs the fraction of channels moved, and which moved
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from frozen_bench.nn import targets
from frozen_bench.report.common import ci_bars, data_label, fit_title, plt, readable_log, save
from frozen_bench.report.stats import mean_ci

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
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 2.6 * len(rows)), squeeze=False)
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
        ax.plot([], [], "-", color=COLORS[0], label="learned\n(a colour per linear piece)")
        if y is not None and np.isfinite(y).all():
            spread = float(y.max() - y.min()) or 1.0
            ax.set_ylim(float(y.min()) - 0.2 * spread, float(y.max()) + 0.2 * spread)
        if r["function"] in ("inv", "inv_shift"):
            ax.set_ylim(-10, 10)
        ax.set_xlim(lo, hi)
        ax.set_xlabel("x (input, unitless)")
        ax.set_ylabel("y = f(x)")
        fit_title(ax, f"synthetic data: {_label(r, ['function', 'activation', 'mixing'])}: {int(r['linear_regions'])} linear "
                  f"regions on [{lo:g}, {hi:g}), test MSE {r['test_mse']:.3g}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return save(fig, Path(out_dir), "fn_segments", data_label(rows, "first seed of each configuration shown"))


def fig_fn_shift(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    rows = _rows(df, "shift_curve", "shift_pair")
    if rows.empty:
        return []
    pairs = sorted(rows["shift_pair"].unique())
    configs = sorted({(r["activation"], r["mixing"]) for _, r in rows.iterrows()})
    colour = {cfg: f"C{i}" for i, cfg in enumerate(configs)}  # one colour per configuration in every panel
    fig, axes = plt.subplots(2, len(pairs), figsize=(4.6 * len(pairs) + 2.2, 6.5), squeeze=False)
    for j, pair in enumerate(pairs):
        sub = rows[rows["shift_pair"] == pair].sort_values(["activation", "mixing", "seed"])
        ax = axes[0, j]
        for _, r in sub.drop_duplicates(["activation", "mixing"]).iterrows():
            pts = json.loads(r["shift_curve"])
            if pts:
                ax.plot([p[0] for p in pts], [max(p[2], 1e-8) for p in pts], lw=1.2, color=colour[(r["activation"], r["mixing"])])
        phases = int(sub["shift_phases"].iloc[0])
        ax.set_yscale("log")
        readable_log(ax.yaxis)
        ax.set_xlabel("optimizer step (all phases)")
        ax.set_ylabel("validation MSE\n(current target)" if j == 0 else "")
        fit_title(ax, f"synthetic data: shift {pair} ({phases} phases)", fontsize=9)
        ax = axes[1, j]
        g = sub.groupby(["activation", "mixing"])[["shift_mse_before", "shift_mse_after"]].mean()
        xs = np.arange(len(g))
        for x, (cfg, before, after) in zip(xs, zip(g.index, g["shift_mse_before"], g["shift_mse_after"])):
            ax.plot([x - 0.12, x + 0.12], [before, after], "-", color="0.75", zorder=1)
            ax.plot(x - 0.12, before, "o", color=colour[cfg], mfc="white", zorder=2)
            ax.plot(x + 0.12, after, "s", color=colour[cfg], zorder=2)
        ax.set_yscale("log")
        lo, hi = float(np.nanmin(g.values)), float(np.nanmax(g.values))
        if hi / max(lo, 1e-12) < 10:  # at least a decade: a 0.3 % change does not fill the panel
            mid = (lo * hi) ** 0.5
            ax.set_ylim(mid / 10 ** 0.5, mid * 10 ** 0.5)
        readable_log(ax.yaxis)
        ax.set_xticks(xs, [f"{a}\n{m}" for a, m in g.index], fontsize=7)
        ax.set_xlim(-0.5, len(g) - 0.5)
        ax.set_xlabel("activation / mixing")
        ax.set_ylabel("test MSE on the 2nd target" if j == 0 else "")
        ax.grid(axis="y", alpha=0.3)
    lines = [plt.Line2D([], [], color=colour[cfg], label=f"activation={a}, mixing={m}") for cfg in configs for a, m in [cfg]]
    axes[0, -1].legend(handles=lines, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), title="curves: first seed", title_fontsize=7)
    marks = [plt.Line2D([], [], marker="o", ls="", color="0.3", mfc="white", label="before training\non the 2nd target"),
             plt.Line2D([], [], marker="s", ls="", color="0.3", label="after")]
    axes[1, -1].legend(handles=marks, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), title="mean over seeds", title_fontsize=7)
    return save(fig, Path(out_dir), "fn_shift", data_label(rows, "curves: first seed; dots: mean over seeds"))


def fig_mask_density(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    rows = _rows(df, "mask_density", "test_accuracy")
    if rows.empty:
        return []
    fig, ax = plt.subplots(figsize=(6.8, 4))
    groups = rows.groupby(["mask_init", "dataset"])
    for k, ((init, ds), sub) in enumerate(groups):
        for i, (w, sw) in enumerate(sub.groupby("mask_reg_weight")):
            label = f"{w:g}" + (f" (mask_init={init}, {ds})" if groups.ngroups > 1 else "")
            ax.scatter(sw["mask_density"], 100 * sw["test_accuracy"], s=30, color=f"C{i}", marker="os^D"[k % 4], label=label)
    ax.set_xlabel("mask density (fraction of frozen weights kept)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_xlim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    (init, ds), = groups.groups.keys() if groups.ngroups == 1 else [("", "")]
    fit_title(ax, "Masks over frozen weights" + (f" (mask_init={init}, {ds})" if init else ""), fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="reg_weight", title_fontsize=7)
    return save(fig, Path(out_dir), "mask_density", data_label(rows, "one point per run"))


def fig_weight_feedback(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Per dataset, each feedback variant as a dot with its 95% CI over seeds (the baseline grey):
    dots, not bars from an axis cut above 0, so a sub-point gap looks sub-point."""
    rows = _rows(df, "feedback", "test_accuracy")
    if rows.empty:
        return []
    dsets = sorted(rows["dataset"].unique())
    fig, axes = plt.subplots(1, len(dsets), figsize=(5.2 * len(dsets), 3.2), squeeze=False)
    for ax, ds in zip(axes[0], dsets):
        sub = rows[rows["dataset"] == ds]
        stats = []
        for (fb, grad), g in sub.groupby(["feedback", "feedback_grad"]):
            m, c = mean_ci(100 * g["test_accuracy"])
            name = "none (baseline)" if fb == "none" else f"{fb}, feedback_grad={str(grad).lower()}"
            stats.append((m, c, f"{name} (n={len(g)})", fb == "none"))
        for i, (m, c, _, base) in enumerate(stats):
            ax.errorbar(m, i, xerr=ci_bars([m], [c]), fmt="o", capsize=3, color="0.55" if base else "tab:blue")
        ax.set_yticks(range(len(stats)), [s[2] for s in stats], fontsize=7)
        ax.set_ylim(-0.6, len(stats) - 0.4)
        ax.set_xlabel("test accuracy (%), mean ± 95% CI")
        ax.grid(axis="x", alpha=0.3)
        fit_title(ax, f"Weight feedback vs plain CNN, {ds}", fontsize=9)
    return save(fig, Path(out_dir), "weight_feedback", data_label(rows))


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
    ax.set_ylabel("mean gradient L2 norm per step\n(before clipping)")
    ax.set_ylim(0, 1.15 * max(vals + [1e-12]))  # room for the value labels
    fit_title(ax, f"Frozen(layer): per-layer gradient norms, {r['dataset']}", fontsize=9)
    return save(fig, Path(out_dir), "frozen_layer_grads", data_label(rows.iloc[[-1]], "one run shown"))


def parse_moved(text: str) -> dict[str, tuple[list[int], int]]:
    """An ``act_moved_channels`` cell read back: {activation module: (the channels that moved, its
    channel count)}, the inverse of ``train.act_delta.moved_text``, which writes it."""
    out = {}
    for part in str(text).split(";"):
        if ":" not in part:
            continue
        act, rest = part.rsplit(":", 1)
        idx, _, c = rest.rpartition("/")
        out[act] = ([int(i) for i in idx.split(",") if i != ""], int(c))
    return out


def fig_act_delta(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Left: test accuracy against the fraction of PAct channels that moved, one point per λ
    (mean ± 95% CI over seeds on both axes), λ = 0 included. Right: which channels moved in seed
    0's run at each λ (a dark cell = moved), the activation modules side by side."""
    rows = _rows(df, "act_channels_moved", "test_accuracy", "act_moved_channels")
    if rows.empty:
        return []
    rows = rows.assign(_lam=pd.to_numeric(rows.get("act_delta_l1"), errors="coerce").fillna(0.0))
    lams = sorted(rows["_lam"].unique())
    cmap = plt.get_cmap("viridis")
    colour = {lam: cmap(0.85 * i / max(1, len(lams) - 1)) for i, lam in enumerate(lams)}  # no pale yellow on white
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.8), gridspec_kw={"width_ratios": [1, 1.3]})
    for lam in lams:
        g = rows[rows["_lam"] == lam]
        (mx, cx), (my, cy) = mean_ci(100 * g["act_channels_moved"]), mean_ci(100 * g["test_accuracy"])
        ax.errorbar(mx, my, xerr=ci_bars([mx], [cx]), yerr=ci_bars([my], [cy]), fmt="o", capsize=3, color=colour[lam])
    ax.set_xlabel("PAct channels moved (%), mean ± 95% CI")
    ax.set_ylabel("test accuracy (%), mean ± 95% CI")
    ax.set_xlim(-3, 103)
    ax.grid(alpha=0.3)
    fit_title(ax, "Accuracy vs channels moved (colour: λ, as the rows on the right)", fontsize=9)
    grid, layout, seeds = [], None, set()
    for lam in lams:
        g = rows[rows["_lam"] == lam].sort_values("seed")
        moved = parse_moved(g["act_moved_channels"].iloc[0])  # the lowest seed's run at this λ
        seeds.add(g["seed"].iloc[0])
        layout = layout or moved  # the activation modules and their channel counts (one model)
        grid.append(np.concatenate([np.isin(np.arange(c), idx).astype(float) for idx, c in moved.values()]))
    width = max(len(r) for r in grid)
    img = np.array([np.pad(r, (0, width - len(r)), constant_values=np.nan) for r in grid])
    ax2.imshow(img, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    ax2.set_yticks(range(len(lams)), [f"λ = {lam:g}" for lam in lams], fontsize=7)
    for tick, lam in zip(ax2.get_yticklabels(), lams):
        tick.set_color(colour[lam])
    edges = np.cumsum([0, *(c for _, c in layout.values())])
    for e in edges[1:-1]:
        ax2.axvline(e - 0.5, color="tab:red", lw=0.8)
    ax2.set_xticks([(a + b) / 2 - 0.5 for a, b in zip(edges[:-1], edges[1:])], [str(n) for n in layout], fontsize=7)
    ax2.set_xlabel("channel, per activation module (red: module boundary)")
    seed = f"seed {int(next(iter(seeds)))}" if len(seeds) == 1 else "lowest seed"
    fit_title(ax2, f"Which channels moved ({seed}; dark = moved)", fontsize=9)
    tol = rows["act_delta_tol"].dropna()
    caption = data_label(rows) + (f"; moved = max |θ − θ₀| > {float(tol.iloc[0]):g}" if len(tol) else "")
    return save(fig, Path(out_dir), "act_delta", caption)
