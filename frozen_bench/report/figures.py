"""Every figure of the results paper, drawn from ``results/all.csv`` alone.

One function per figure: ``(df, out_dir) -> list[Path]`` writing PNG and PDF. A figure whose
sweep has no rows is skipped with one line naming the command that produces them. Captions say
which data the figure shows (real or synthetic), the profile and the number of seeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from frozen_bench.report import companion
from frozen_bench.registry import Registry
from frozen_bench.report.common import (SWEEP_COMMAND, MissingRows, ci_bars, data_label, fit_title, param_axis,
                                         plt, rows, save, wrap_to_width)
from frozen_bench.report.stats import mean_ci

FIGURES = Registry("figure")
figure = FIGURES.register


def bar_by(sub: pd.DataFrame, col: str, order: list[str], metric: str = "test_accuracy"):
    labels, means, cis = [], [], []
    for key in [o for o in order if o in set(sub[col])] + sorted(set(sub[col]) - set(order)):
        m, c = mean_ci(sub[sub[col] == key][metric])
        labels.append(str(key)), means.append(m), cis.append(c)
    return labels, np.array(means), np.array(cis)


CI_LABEL = "test accuracy (%), mean ± 95% CI"


def dots(ax, x, m, c, **kw):
    """Means with their 95% CI as dots and bars (no bars from an axis that does not start at 0)."""
    m = 100 * np.asarray(m, float)
    kw.setdefault("marker", "o")
    return ax.errorbar(x, m, yerr=ci_bars(m, 100 * np.asarray(c, float)), ls="none", capsize=4, **kw)


@figure("transforms")
def fig_transforms(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    sub = rows(df, "sweep_transforms")
    labels, m, c = bar_by(sub, "transform", ["wht", "dct", "fft", "random_orth", "identity"])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    dots(ax, np.arange(len(labels)), m, c, color="C0")
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.grid(axis="y", alpha=0.3)
    ax.set_xlabel("transform (fixed mixing)")
    ax.set_ylabel(CI_LABEL)
    fit_title(ax, "Which fixed mixing? (frozen MLP, bislope PAct)")
    return save(fig, out_dir, "transforms", data_label(sub))


@figure("activations")
def fig_activations(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    sub = rows(df, "sweep_activations")
    order = ["relu", "prelu", "bislope", "pwl3", "spline", "glu"]
    mults = sorted(sub["act_lr_mult"].dropna().unique()) if "act_lr_mult" in sub else [None]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.5 / len(mults)
    for i, mult in enumerate(mults):
        part = sub if mult is None else sub[sub["act_lr_mult"] == mult]
        labels, m, c = bar_by(part, "activation", order)
        x = np.arange(len(labels)) + (i - (len(mults) - 1) / 2) * width
        dots(ax, x, m, c, capthick=1, color=f"C{i}", marker="os^D"[i % 4],
             label=f"act_lr_mult={mult:g}" if mult is not None else None)
        ax.set_xticks(np.arange(len(labels)), labels)
    ax.grid(axis="y", alpha=0.3)
    ax.set_xlabel("activation (per-channel PAct)")
    ax.set_ylabel(CI_LABEL)
    fit_title(ax, "PAct complexity (frozen WHT MLP)")
    if mults != [None]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), title="activation lr", title_fontsize=8)
    return save(fig, out_dir, "activations", data_label(sub))


@figure("adapters")
def fig_adapters(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    sub = rows(df, "sweep_adapters")
    ranks = sorted(sub["adapter_rank"].astype(int).unique())
    stats = [mean_ci(sub[sub["adapter_rank"].astype(int) == r]["test_accuracy"]) for r in ranks]
    params = [sub[sub["adapter_rank"].astype(int) == r]["trainable_params"].mean() for r in ranks]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    m = 100 * np.array([s[0] for s in stats])
    c = 100 * np.array([s[1] for s in stats])
    ax.errorbar(ranks, m, yerr=ci_bars(m, c), marker="o", capsize=4, color="C0")
    ax.set_xlabel("LoRA adapter rank (0 = PAct only)")
    ax.set_ylabel("● " + CI_LABEL, color="C0")
    ax.tick_params(axis="y", colors="C0")
    ax2 = ax.twinx()
    ax2.plot(ranks, np.array(params) / 1e3, "s--", color="C3")
    ax2.set_ylabel("■ trainable parameters (thousands)", color="C3")
    ax2.tick_params(axis="y", colors="C3")
    ax2.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    fit_title(ax, "PAct only vs PAct + LoRA adapters")
    return save(fig, out_dir, "adapters", data_label(sub))


@figure("latency")
def fig_latency(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    sub = rows(df, "sweep_latency", "latency")
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.6))
    for ax, b in zip(axes, (1, 256)):
        for i, (model, g) in enumerate(sub.groupby("model")):
            widths = sorted(g["width"].astype(int).unique())
            st = [mean_ci(g[g["width"].astype(int) == w][f"latency_ms_b{b}_p50"]) for w in widths]
            m = np.array([s[0] for s in st])
            ax.errorbar(widths, m, yerr=ci_bars(m, [s[1] for s in st], lo=0, hi=np.inf), marker="os^D"[i % 4],
                        capsize=3, label=model, color=f"C{i}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths, [str(w) for w in widths])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3, which="major")
        ax.set_xlabel("hidden width (channels)")
        ax.set_ylabel(f"median latency, batch {b} (ms)")
        fit_title(ax, f"Inference latency, batch {b}")
    axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), title="model", title_fontsize=8)
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
    fig.suptitle(wrap_to_width(fig, "Learned per-channel activations, first block (grey: identity)", fontsize=9), fontsize=9)
    caption = data_label(sub).split("; ")[:2] + ["seed 0 of each activation"] + ([f"act_lr_mult={mult:g}"] if mult is not None else [])
    return save(fig, out_dir, "act_shapes", "; ".join(caption))


# companion figure -> (its drawing, exp of the sweep that feeds it, sweep name)
COMPANION = {
    "fn_segments": (companion.fig_fn_segments, "sweep_functions", "functions"),
    "fn_shift": (companion.fig_fn_shift, "sweep_fn_shift", "fn_shift"),
    "mask_density": (companion.fig_mask_density, "sweep_masks", "masks"),
    "weight_feedback": (companion.fig_weight_feedback, "sweep_weightnet", "weightnet"),
    "frozen_layer_grads": (companion.fig_frozen_layer_grads, "sweep_frozen_layer", "frozen_layer"),
    "act_delta": (companion.fig_act_delta, "sweep_act_delta", "act_delta"),
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


def _fair_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The fair tables' rows (``fair.stage_rows``), or the skip line with the command that makes them."""
    from frozen_bench.report.fair import NoFairRows, stage_rows

    try:
        return stage_rows(df, "fair_final")[0]
    except NoFairRows as e:
        raise MissingRows(str(e)) from e


@figure("fair")
def fig_fair(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """The fair comparison as dot plots: per dataset one panel per budget, a row per family with its
    mean test accuracy and 95% CI over seeds; frozen, trained and control families in three colours.
    No bars from zero (sub-point gaps stay sub-point) and no point labels to overlap."""
    sub = _fair_rows(df)  # the runs of today's selection, a profile per (dataset, budget), as in the tables
    paths = []
    for ds, g in sub.groupby("dataset"):
        budgets = sorted(int(b) for b in g["budget"].dropna().unique())
        fig, axes = plt.subplots(1, len(budgets), figsize=(4.2 * len(budgets), 3.4), squeeze=False)
        for ax, b in zip(axes[0], budgets):
            gb = g[g["budget"] == b]
            stats = sorted(((*mean_ci(100 * f["test_accuracy"]), fam, f["family_kind"].iloc[0], f["seed"].nunique())
                            for fam, f in gb.groupby("family")), key=lambda s: s[0])
            for i, (m, c, fam, kind, n) in enumerate(stats):
                ax.errorbar(m, i, xerr=ci_bars([m], [c]), fmt="o", capsize=3, color=FAMILY_COLOURS.get(kind, "k"))
            ax.set_yticks(range(len(stats)), [f"{s[2]} (n={s[4]})" for s in stats], fontsize=7)
            ax.set_xlabel("test accuracy (%), mean ± 95% CI")
            prof = f" ({gb['profile'].iloc[0]})" if "profile" in gb and g["profile"].nunique() > 1 else ""
            fit_title(ax, f"{ds}, {b:,} trainable{prof}", fontsize=9)
            ax.grid(axis="x", alpha=0.3)
        handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=k) for k, c in FAMILY_COLOURS.items()]
        axes[0][-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, title="family", title_fontsize=7)
        paths += save(fig, out_dir, f"fair_{ds}", data_label(g) + "; each family tuned on validation (same grid), equal recipe")
    return paths


@figure("fair_small")
def fig_fair_small(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Small data: test accuracy vs training-set size (log) for the best frozen and best trained
    family at one budget, the same optimizer steps at every size, mean ± 95% CI over seeds."""
    from frozen_bench.report.fair import longest_recipe

    sub = longest_recipe(rows(df, "fair_small", "fair"))
    paths = []
    for ds, g in sub.groupby("dataset"):
        fig, ax = plt.subplots(figsize=(7.5, 3.6))
        for fam, f in g.groupby("family"):
            pts = sorted((int(n), *mean_ci(100 * fn["test_accuracy"])) for n, fn in f.groupby("subset"))
            n, m, c = zip(*pts)
            ax.errorbar(n, m, yerr=ci_bars(m, c), marker="o", capsize=3,
                        color=FAMILY_COLOURS.get(f["family_kind"].iloc[0], "k"), label=f"{fam} ({int(f['trainable_params'].mean()):,} trainable)")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_xlabel("training images (log scale)")
        ax.set_ylabel("test accuracy (%), mean ± 95% CI")
        fit_title(ax, f"Small data, {ds}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="family", title_fontsize=7)
        paths += save(fig, out_dir, f"fair_small_{ds}", data_label(g) + f"; {int(g['steps'].max()):,} steps at every size")
    return paths


@figure("fair_twins")
def fig_fair_twins(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Each frozen family against its own trained twin (frozen_cnn / trained_cnn, frozen_transformer /
    transformer): the paired difference in test accuracy with its 95% CI, one row per dataset, pair
    and budget; the zero line is a tie."""
    from frozen_bench.report.fair import NoFairRows, twin_pairs

    try:
        found, ok = twin_pairs(df)
    except NoFairRows as e:
        raise MissingRows(str(e)) from None
    pairs = [(label, b, fz, tr, c) for _, b, fz, tr, c, _, label in found]
    if not pairs:
        raise MissingRows("no fair_final rows hold a frozen family and its trained twin; run: scripts/fair.sh quick")
    pairs = sorted(pairs, key=lambda p: (p[0], p[2], -float(p[1])))  # by dataset, then pair, larger budget on top
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.32 * len(pairs)))
    for i, (ds, b, fz, tr, c) in enumerate(pairs):
        colour = FAMILY_COLOURS["frozen"] if c.ci_low > 0 else FAMILY_COLOURS["trained"] if c.ci_high < 0 else "0.4"
        ax.errorbar(c.mean_diff, i, xerr=[[c.mean_diff - c.ci_low], [c.ci_high - c.mean_diff]], fmt="o", capsize=3, color=colour)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(pairs)), [f"{ds}: {fz} − {tr}, {int(b):,}" for ds, b, fz, tr, _ in pairs], fontsize=7)
    ax.set_ylim(len(pairs) - 0.4, -0.6)
    ax.set_xlabel("Δ test accuracy (pp), mean ± 95% CI")
    fit_title(ax, "Each frozen family vs its trained twin, equal budget and tuning", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    sub = ok[ok["family"].isin({f for p in pairs for f in p[2:4]})]  # the rows drawn, for the caption
    return save(fig, out_dir, "fair_twins", data_label(sub) + "; paired by seed; red: the twin ahead, blue: the frozen family ahead, grey: a tie (the CI holds 0)")


@figure("fair_budget")
def fig_fair_budget(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """The fair protocol's accuracy against trainable budget (log), one line per family and profile
    (solid: full, dashed: quick; the two recipes are never joined), mean ± 95% CI over seeds; a
    colour per family, the marker its kind (o frozen, s trained, x control)."""
    from frozen_bench.report.fair import COMMAND, selected_only

    # every profile's rows (a line each), unlike the tables, which keep one profile per budget
    sub = df[(df["exp"] == "fair_final") & (df["status"].astype(str) == "ok")] if "exp" in df.columns else df.iloc[0:0]
    sub = selected_only(sub, df)
    if sub.empty:
        raise MissingRows(f"no finished fair_final rows in all.csv; run: {COMMAND}")
    paths = []
    tab20 = plt.get_cmap("tab20")  # its dark colours first (0, 2, ..., 18), the pale ones after
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    kind_marker = {"frozen": "o", "trained": "s", "control": "x"}
    for ds, g in sub.groupby("dataset"):
        if g["budget"].nunique() < 2:
            continue
        fig, ax = plt.subplots(figsize=(7.2, 3.8))
        # this figure's families; the dark colours go first to the ones the full profile ran (the
        # leaders of each kind), so the comparison the paper is about is never drawn in a pale one
        full = set(g.loc[g["profile"] == "full", "family"])
        fams = sorted(g["family"].unique(), key=lambda f: (f not in full, f))
        colours = {f: tab20(order[i % 20]) for i, f in enumerate(fams)}
        for (fam, prof), f in g.groupby(["family", "profile"]):
            pts = sorted((f2["trainable_params"].mean(), *mean_ci(100 * f2["test_accuracy"])) for _, f2 in f.groupby("budget"))
            x, m, c = zip(*pts)
            ax.errorbar(x, m, yerr=ci_bars(m, c), marker=kind_marker.get(f["family_kind"].iloc[0], "^"), capsize=3,
                        ls="-" if prof == "full" else "--", color=colours[fam], label=f"{fam} ({prof})")
        param_axis(ax, g["trainable_params"])
        ax.set_xlabel("trainable parameters (log scale)")
        ax.set_ylabel(CI_LABEL)
        ax.grid(alpha=0.3)
        fit_title(ax, f"Fair protocol: accuracy vs budget ({ds})", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="family (profile)", title_fontsize=7)
        paths += save(fig, out_dir, f"fair_budget_{ds}", data_label(g) + "; each family tuned on validation at each budget; "
                                                                          "solid: full recipe, dashed: quick; o frozen, s trained, x control")
    if not paths:
        raise MissingRows(f"no dataset has fair_final rows at two budgets; run: {COMMAND}")
    return paths


def separate_labels(fig, texts, step: float = 7.0, tries: int = 8) -> None:
    """Place each annotation (in order) at the first of these that overlaps no earlier label, stays in
    its axes and covers no other point's marker: where it was put, then ``step`` points down, up, two
    steps down, ... (``tries`` moves), then the same on the other side of its point, then both again
    four times as far out (a label drawn with a leader line stays tied to its point). Where none is
    free it takes the place with the fewest label overlaps, then the fewest markers covered: labels of
    points close on a log axis neither print over each other nor hide a neighbour's marker."""
    from frozen_bench.report.layout import box_of, covered_markers, markers

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    placed = []
    pts = {}  # axes -> its markers, read once
    flip = {"left": "right", "right": "left"}
    for t in texts:
        if t.axes not in pts:
            pts[t.axes] = markers(t.axes)
        frame = t.axes.get_window_extent(renderer)
        (x0, y0), ha0 = t.xyann, t.get_horizontalalignment()
        best = None
        for x, ha in ((x0, ha0), (-x0, flip.get(ha0, ha0)), (4 * x0, ha0), (-4 * x0, flip.get(ha0, ha0))):
            for k in range(tries + 1):
                # 0, -1, +1, -2, +2, ... steps away from where the label was put
                t.xyann = (x, y0 + step * ((k + 1) // 2) * (-1 if k % 2 else 1))
                t.set_horizontalalignment(ha)
                box = box_of(t, renderer)
                outside = box.x0 < frame.x0 or box.x1 > frame.x1 or box.y0 < frame.y0 or box.y1 > frame.y1
                clash = (sum(box.overlaps(b) for b in placed) + outside, covered_markers(t, box, pts[t.axes]))
                if best is None or clash < best[0]:
                    best = (clash, t.xyann, ha)
                if clash == (0, 0):
                    break
            if best[0] == (0, 0):
                break
        t.xyann = best[1]
        t.set_horizontalalignment(best[2])
        placed.append(box_of(t, renderer))


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points (cost, accuracy) no other point beats: none with cost <= and accuracy >=,
    one of them strictly; sorted by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


@figure("fair_compute")
def fig_fair_compute(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Compute as the second axis: per dataset, each (family, budget) of the fair tables as its mean
    test accuracy (± 95% CI over seeds) against its trainable parameters (left) and its multiply-adds
    per example (right), both log scale; the Pareto front (no point cheaper and at least as accurate)
    joined and ringed. One figure per dataset and profile (the two recipes never share a front; a
    dataset run in both gets ``fair_compute_<dataset>_<profile>``). Colours by kind; rows recorded
    without a multiply-add count are left out of the right panel and counted in the caption."""
    from frozen_bench.report.fair import COMMAND, selected_only

    sub = df[(df["exp"] == "fair_final") & (df["status"].astype(str) == "ok")] if "exp" in df.columns else df.iloc[0:0]
    sub = selected_only(sub, df)
    if sub.empty:
        raise MissingRows(f"no finished fair_final rows in all.csv; run: {COMMAND}")
    if "profile" not in sub.columns:
        sub = sub.assign(profile="")
    paths = []
    kind_marker = {"frozen": "o", "trained": "s", "control": "x"}
    for (ds, prof), g in sub.groupby(["dataset", sub["profile"].fillna("")]):
        name = f"fair_compute_{ds}" + (f"_{prof}" if prof and sub.loc[sub["dataset"] == ds, "profile"].nunique() > 1 else "")
        pts = []
        for (fam, b), f in g.groupby(["family", "budget"]):
            m, c = mean_ci(100 * f["test_accuracy"])
            macs = f["macs_per_example"].astype(float).mean() if "macs_per_example" in f else float("nan")
            pts.append((fam, b, f["family_kind"].iloc[0], f["trainable_params"].astype(float).mean(), macs, m, c))
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), squeeze=False)
        labels = []  # each panel's front labels, moved apart once the layout is final
        missing = sum(1 for p in pts if pd.isna(p[4]))
        for ax, col, label in ((axes[0][0], 3, "trainable parameters (log scale)"),
                               (axes[0][1], 4, "multiply-adds per example (log scale)")):
            shown = [p for p in pts if not pd.isna(p[col])]
            for p in shown:
                ax.errorbar(p[col], p[5], yerr=ci_bars([p[5]], [p[6]]), fmt=kind_marker.get(p[2], "^"), capsize=2,
                            color=FAMILY_COLOURS.get(p[2], "k"), ms=5)
            front = [shown[i] for i in pareto_front([(p[col], p[5]) for p in shown])]
            if front:
                ax.step([p[col] for p in front], [p[5] for p in front], where="post", color="k", lw=0.8, alpha=0.6)
                ax.scatter([p[col] for p in front], [p[5] for p in front], s=90, facecolors="none", edgecolors="k", lw=0.8)
                texts = []
                for k, p in enumerate(front):  # labels alternate below and above the front; the last one
                    last = k == len(front) - 1  # points left, so it stays inside the axes
                    texts.append(ax.annotate(f"{p[0]} {int(p[1]):,}", (p[col], p[5]), fontsize=6, textcoords="offset points",
                                             xytext=(-4 if last else 4, -9 if k % 2 == 0 else 5), ha="right" if last else "left",
                                             arrowprops=dict(arrowstyle="-", lw=0.4, color="0.45", shrinkA=0, shrinkB=4)))
                labels.append(texts)
            if shown:
                param_axis(ax, pd.Series([p[col] for p in shown]))
            ax.set_xlabel(label)
            ax.set_ylabel(CI_LABEL)
            ax.grid(alpha=0.3)
        label = f"{ds} ({prof})" if prof else str(ds)
        fit_title(axes[0][0], f"{label}: accuracy vs trainable budget", fontsize=9)
        fit_title(axes[0][1], f"{label}: accuracy vs compute", fontsize=9)
        handles = [plt.Line2D([], [], marker=kind_marker[k], ls="", color=c, label=k) for k, c in FAMILY_COLOURS.items()]
        handles.append(plt.Line2D([], [], marker="o", ls="-", color="k", mfc="none", ms=9, label="Pareto front"))
        axes[0][1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7)
        note = f"; {missing} (family, budget) without a multiply-add count left out on the right" if missing else ""
        paths += save(fig, out_dir, name, data_label(g) + "; each point a family at one budget, tuned on "
                                                          "validation; ringed: the Pareto front" + note,
                      arrange=lambda fig, labels=labels: [separate_labels(fig, t) for t in labels])
    return paths
