"""The paper's tables: per sweep, mean ± 95% CI of its metrics by configuration, from all.csv.

``write_tables(df, path)`` writes one markdown file, the fair protocol's tables (``fair``,
``design``) at its end; results/README.md quotes it. Each table says its data (real or
SYNTHETIC), profile and number of seeds, like the figures' captions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from frozen_bench.report.common import MissingRows, code_label, data_label, rows
from frozen_bench.report.design import design_table
from frozen_bench.report.fair import NoFairRows, fair_table, quick_table, small_data_table, twin_table
from frozen_bench.report.twin_width import twin_width_table
from frozen_bench.report.stats import mean_ci

# sweep exp -> (title, group-by columns, [(metric column, header, scale, decimals)])
ACC = ("test_accuracy", "test accuracy (%)", 100, 2)
PARAMS = ("trainable_params", "trainable params", 1, 0)
TABLES = {
    "sweep_transforms": ("Transforms (frozen WHT-MLP recipe, bislope)", ["transform"],
                         [ACC, PARAMS, ("latency_ms_b256_p50", "latency b256 (ms)", 1, 3)]),
    "sweep_activations": ("PAct complexity", ["activation", "act_lr_mult"], [ACC, PARAMS, ("train_seconds", "train time (s)", 1, 1)]),
    "sweep_adapters": ("PAct only (rank 0) vs PAct + LoRA", ["adapter_rank"], [ACC, PARAMS]),
    "sweep_latency": ("Inference latency vs width (CPU, fp32, depth 2)", ["width", "model"],
                      [("latency_ms_b1_p50", "batch 1 p50 (ms)", 1, 3), ("latency_ms_b256_p50", "batch 256 p50 (ms)", 1, 2),
                       ("total_params", "total params", 1, 0)]),
    "sweep_speech": ("Keyword spotting (synthetic speech, 35 words)", ["model"],
                     [ACC, PARAMS, ("latency_ms_b1_p50", "latency b1 (ms)", 1, 3)]),
    "sweep_functions": ("1-D function fits", ["function", "activation", "mixing"],
                        [("test_mse", "test MSE", 1, 4), ("linear_regions", "linear regions", 1, 1)]),
    "sweep_fn_shift": ("Distribution shift: MSE on the new target before/after training on it", ["shift_pair", "activation", "mixing"],
                       [("shift_mse_before", "MSE before", 1, 3), ("shift_mse_after", "MSE after", 1, 4)]),
    "sweep_masks": ("Masks over a frozen random MLP", ["mask_reg_weight"], [("mask_density", "mask density", 1, 3), ACC]),
    "sweep_weightnet": ("Weight feedback vs the plain CNN (feedback=none)", ["feedback"], [ACC, PARAMS]),
    "sweep_frozen_layer": ("Frozen(middle layer): mean gradient norm per step", [],
                           [("grad_norm_layer0_mean", "layer 0", 1, 4), ("grad_norm_layer1_mean", "layer 1 (frozen)", 1, 4),
                            ("grad_norm_layer2_mean", "layer 2", 1, 4), ACC]),
    "speech_why": ("Why the frozen audio model loses on real speech: VALIDATION accuracy by front end, mixing, "
                   "time axis and norm (frozen_audio, 20k trainable)", ["frontend", "transform", "mix_time", "norm"],
                   [("val_accuracy", "val accuracy (%)", 100, 2), PARAMS]),
}
# tables over several presets' rows: key -> (title, exps, group-by, metrics, the command that makes them)
PRESET_TABLES = {
    "flagship_cifar": ("The flagship and its peers on CIFAR-10 (full 45k/5k/10k split, 10 epochs, batch 128)",
                       ("cifar_wht", "cifar_dct", "cifar_trained"), ["exp", "model", "transform"],
                       [ACC, PARAMS, ("train_seconds", "train time (s)", 1, 0),
                        ("latency_ms_b1_p50", "latency b1 (ms)", 1, 3), ("latency_ms_b256_p50", "latency b256 (ms)", 1, 1)],
                       "frozen-bench run -m +exp=cifar_wht seed=0,1,2 (and cifar_dct, cifar_trained), or scripts/reproduce.sh real"),
}


def fmt(m: float, c: float, scale: float, decimals: int) -> str:
    if pd.isna(m):
        return "–"
    if decimals == 0:
        return f"{m * scale:,.0f}"
    return f"{m * scale:.{decimals}f} ± {c * scale:.{decimals}f}" if c and not pd.isna(c) else f"{m * scale:.{decimals}f}"


def _key(k) -> str:
    if isinstance(k, float) and k.is_integer():
        return str(int(k))
    return "–" if pd.isna(k) else str(k)  # a group the model does not read (a trained CNN's transform)


def table(sub: pd.DataFrame, by: list[str], metrics: list[tuple]) -> list[str]:
    by = [b for b in by if b in sub.columns]
    metrics = [m for m in metrics if m[0] in sub.columns]
    lines = ["| " + " | ".join(by + [h for _, h, _, _ in metrics] + ["n"]) + " |",
             "|" + "---|" * (len(by) + len(metrics) + 1)]
    groups = sub.groupby(by, dropna=False, sort=True) if by else [((), sub)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        cells = [_key(k) for k in key] + [fmt(*mean_ci(g[col]), scale, dec) for col, _, scale, dec in metrics]
        lines.append("| " + " | ".join(cells + [str(len(g))]) + " |")
    return lines


def fair_section(df: pd.DataFrame, log=print) -> list[str]:
    """The fair protocol's six tables (the comparison, its quick-profile companion, the twins, the
    frozen transformer vs a trained twin of its width, small data, the design search), each skipped
    with one line when its rows are missing."""
    out = []
    for fn in (fair_table, quick_table, twin_table, twin_width_table, small_data_table, design_table):
        try:
            out += fn(df)
        except NoFairRows as e:
            log(f"[frozen-bench] tables: skipped {fn.__name__}: {e}")
    return out + grid_section(df)


def grid_section(df: pd.DataFrame) -> list[str]:
    """What the tuning screen tried per dataset (grid points per family) and every selection whose lr is
    the lowest or highest lr its family was screened with: the Method's grid, read from the rows."""
    from frozen_bench.report.select import TUNE_EXP, select

    tune = df[df["exp"] == TUNE_EXP] if "exp" in df.columns else df.iloc[0:0]
    if tune.empty:
        return []
    sel = select(tune)
    out = ["## The tuning screen's grid and its edge picks (`fair_tune`)", "",
           "Grid points per (budget, family), each dataset: the range over its families (a family screened on a "
           "larger grid says so in the list below); screen seeds: how many seeds each family's points were "
           "screened at (the selection takes their mean validation accuracy).", "",
           "| dataset | grid points per family | screen seeds | lrs tried |", "|---|---|---|---|"]
    span = lambda lo, hi: f"{lo}" if lo == hi else f"{lo}–{hi}"  # noqa: E731
    for ds, g in sel.groupby("dataset"):
        own = tune[tune["dataset"] == ds]
        lrs = sorted(own["lr"].astype(float).unique())
        seeds = own.groupby(["budget", "family"])["seed"].nunique() if "seed" in own else pd.Series([1])
        out.append(f"| {ds} | {span(int(g['configs_tried'].min()), int(g['configs_tried'].max()))} | "
                   f"{span(int(seeds.min()), int(seeds.max()))} | {', '.join(f'{x:g}' for x in lrs)} |")
    larger = sel[sel["configs_tried"] > sel.groupby("dataset")["configs_tried"].transform("min")]
    if len(larger):
        out += ["", "Selections screened on a larger grid than their dataset's smallest:", "",
                "| dataset | budget | family | grid points | lrs tried | PAct lr × tried | chosen |", "|---|---|---|---|---|---|---|"]
        for r in larger.itertuples():
            own = tune[(tune["dataset"] == r.dataset) & (tune["family"] == r.family) & (tune["budget"].astype(float) == float(r.budget))]
            tried = lambda c: ", ".join(f"{x:g}" for x in sorted(own[c].dropna().astype(float).unique())) if c in own else "–"
            chosen = f"lr {float(r.lr):g}, wd {float(r.weight_decay):g}" + (
                f", PAct lr × {float(r.act_lr_mult):g}" if "act_lr_mult" in own and own["act_lr_mult"].nunique() > 1 else "")
            out.append(f"| {r.dataset} | {int(r.budget):,} | {r.family} | {int(r.configs_tried)} | {tried('lr')} | "
                       f"{tried('act_lr_mult')} | {chosen} |")
    edge = sel[sel["lr_edge"].astype(str) != ""]
    out += ["", f"Selections at an edge of their lr grid: {len(edge)} of {len(sel)}.", ""]
    if len(edge):
        out += ["| dataset | budget | family | lr | edge | grid points |", "|---|---|---|---|---|---|"]
        out += [f"| {r.dataset} | {int(r.budget):,} | {r.family} | {float(r.lr):g} | {r.lr_edge} | {int(r.configs_tried)} |"
                for r in edge.itertuples()]
    return out + [""]


def write_tables(df: pd.DataFrame, path: str | Path, log=print, source: str | Path = "results/all.csv") -> Path:
    """``source``: the CSV ``df`` was read from, named in the file's first line (a tables.md made
    from outputs/all.csv said results/all.csv)."""
    out = ["# Tables", "", f"Generated by `frozen-bench figures` from `{source}`: mean ± 95% CI over seeds.", ""]
    for exp, (title, by, metrics) in TABLES.items():
        try:
            sub = rows(df, exp)
        except MissingRows as e:
            log(f"[frozen-bench] tables: skipped {exp}: {e}")
            continue
        out += [f"## {title} (`{exp}`)", "", data_label(sub) + code_label(sub), "", *table(sub, by, metrics), ""]
    for key, (title, exps, by, metrics, command) in PRESET_TABLES.items():
        try:
            sub = rows(df, exps, command=command)
        except MissingRows as e:
            log(f"[frozen-bench] tables: skipped {key}: {e}")
            continue
        out += [f"## {title} (`{key}`)", "", data_label(sub) + code_label(sub), "", *table(sub, by, metrics), ""]
    out += fair_section(df, log)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out))
    return path
