"""The frozen transformer against a trained twin of its own width (``scripts/twin_width.sh``).

The fair table's trained twin has the frozen one's trainable budget, so at 8k it is 16 wide where
the frozen one is 243 wide: the comparison answers "at this trainable budget". This table answers
the other question, "at this width": a trained transformer of the frozen one's model dim and MLP
width (the frozen one's ``built`` column; the twin's ``model.dim`` and ``model.mlp`` overrides),
tuned on the same grid, selected on validation and trained on the same recipe and seeds, paired by
seed with the frozen transformer's ``fair_final`` rows. Its trainable count is far above the
budget, so it is never a row of the fair table; its compute and trainable count stand beside the
difference.
"""

from __future__ import annotations

import pandas as pd

from frozen_bench.report.common import ci_label, int_cell, pct_cell, table_head
from frozen_bench.report.fair import FINAL_EXP, NoFairRows, diff_cells, selected_only
from frozen_bench.report.stats import paired

EXP = "twin_width"  # the twin's final runs; its screen is twin_width_<budget>_tune
FROZEN, TRAINED = "frozen_transformer", "transformer"
RECIPE = ("dataset", "built", "profile", "subset", "epochs")  # what must match for a pair


def with_shape(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each transformer row's shape in ``built``: a budget-sized one records it
    (``dim=243 mlp=521``); the twin, built at a given width, has it in its own overrides
    (``model.dim=243 model.mlp=521``), read here so that its record needs no field of its own."""
    df = df.copy()
    if "built" not in df.columns:
        df["built"] = pd.NA
    if "overrides" in df.columns:
        over = df["overrides"].astype(str)
        dim = over.str.extract(r"(?:^|\s)model\.dim=(\d+)")[0]
        mlp = over.str.extract(r"(?:^|\s)model\.mlp=(\d+)")[0]
        given = df["built"].isna() & dim.notna() & mlp.notna() & df["family"].isin([FROZEN, TRAINED])
        df.loc[given, "built"] = "dim=" + dim[given] + " mlp=" + mlp[given]
    return df


def chosen_only(twin: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """The twin's final rows run with the configuration its screen (``twin_width_<B>_tune`` rows of
    the same dataset and width) selects today (``fair.selected_only``): a final run of an earlier
    selection never pools with the chosen one. A width without screen rows keeps its rows."""
    tune = df[df["exp"].astype(str).str.fullmatch(rf"{EXP}_\d+_tune")]
    keep = [selected_only(t, tune[(tune["dataset"] == ds) & (tune["built"] == built)], tune_exp=None)
            for (ds, built), t in twin.groupby(["dataset", "built"], dropna=False)]
    return pd.concat(keep) if keep else twin


def width_pairs(df: pd.DataFrame) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """(frozen rows, twin rows) per recipe (``RECIPE``): the frozen transformer's finished final runs
    and the trained twin's of the same width on the same data, profile, subset and epochs."""
    if not {"exp", "family"} <= set(df.columns):
        return []
    df = with_shape(df)
    twin = chosen_only(df[(df["exp"] == EXP) & (df["family"] == TRAINED) & (df["status"].astype(str) == "ok")], df)
    if twin.empty:
        return []
    # the frozen transformer's final runs at today's selection, of whichever profile (the recipe keys
    # below keep profiles apart; the fair table's full-over-quick choice would hide the quick-only pair)
    frozen = selected_only(df[(df["exp"] == FINAL_EXP) & (df["family"] == FROZEN) & (df["status"].astype(str) == "ok")], df)
    keys = [k for k in RECIPE if k in df.columns]
    out = []
    for key, t in twin.groupby(keys, dropna=False, sort=True):
        f = frozen
        for k, v in zip(keys, key if isinstance(key, tuple) else (key,)):
            f = f[f[k].isna()] if pd.isna(v) else f[f[k] == v]
        if not f.empty:
            out.append((f, t))
    return out


def twin_width_table(df: pd.DataFrame) -> list[str]:
    """Markdown lines: the frozen transformer vs the trained transformer of its width, paired by seed."""
    pairs = width_pairs(df)  # (rows with their shape in ``built``)
    if not pairs:
        raise NoFairRows(f"no {EXP} rows at the width of a {FROZEN} {FINAL_EXP} run; run: scripts/twin_width.sh")
    used = pd.concat([pd.concat([f, t]) for f, t in pairs])
    out = [f"## The frozen transformer vs a trained twin of its width (`{EXP}`)", "", ci_label(used), "",
           f"The trained twin has the frozen transformer's model dim and MLP width (`built`), so far more trainable "
           f"parameters than its budget: this asks \"at this width\", the fair table \"at this trainable budget\". Both "
           f"tuned on the same grid, selected on validation, same recipe; Δ is paired by seed.", "",
           *table_head(["dataset", "frozen budget", "width", "frozen test acc (%)", "frozen trainable", "frozen MMAC",
                        "twin test acc (%)", "twin trainable", "twin MMAC", "Δ frozen − twin (pp)", "95% CI (pp)",
                        "p (paired t)", "seeds", "verdict"])]
    for f, t in pairs:
        per = pd.concat([f, t]).groupby(["family", "seed"])["test_accuracy"].mean().unstack("family").dropna()
        c = paired(per[FROZEN] * 100, per[TRAINED] * 100)
        ds = f["dataset"].iloc[0]
        mmac = [f"{r['macs_per_example'].astype(float).mean() / 1e6:,.2f}" if "macs_per_example" in r else "–" for r in (f, t)]
        out.append("| " + " | ".join([
            str(ds), int_cell(f["budget"].iloc[0]), str(f["built"].iloc[0]),
            pct_cell(f["test_accuracy"]), int_cell(f["trainable_params"].mean()), mmac[0],
            pct_cell(t["test_accuracy"]), int_cell(t["trainable_params"].mean()), mmac[1], *diff_cells(c)]) + " |")
    return out + [""]
