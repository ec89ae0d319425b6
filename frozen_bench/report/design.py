"""The fair protocol's design search (issue 11, item 7): each family's DESIGN chosen on validation.

After lr × weight decay (``select.py``), the frozen design space (filters, mixing, PAct, norm,
pooling, head, adapter, kernel size, widths) is searched with the same number of random Optuna
trials as the trained family's own design space (``conf/sweep/fair_design.yaml``), on the screen
profile. ``trials`` counts DISTINCT designs (a repeated draw is one record), and the table flags
families whose counts differ.
Each (dataset, budget, family)'s best trial by VALIDATION accuracy is chosen here and re-run with
5 seeds (exp ``fair_design``), where test accuracy is read once per seed. As in ``select.py``, every
``test_*`` column is dropped before any row is looked at.

A trial is named by its record's ``overrides`` (the job's own Hydra overrides); the chosen design
is those overrides less the recipe of the screen (seed, trainer, data subset, output folder),
which the final stage sets for every family alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from frozen_bench.report.common import ci_label, int_cell, pct_cell, table_head
from frozen_bench.report.fair import HEAD, review_notes, stage_rows, verdict_rows
from frozen_bench.report.select import KEYS, without_test

DESIGN_TUNE_EXP, DESIGN_EXP = "fair_design_tune", "fair_design"
# overrides that are the screen's recipe or bookkeeping, not the design: the final stage sets them
RECIPE_PREFIXES = ("seed=", "trainer.", "results_dir=", "hydra", "+sweep=", "+profile=", "profile=", "exp_name=",
                   "dataset.subset=", "force=", "logger=")


def design_of(overrides: str) -> list[str]:
    """The design part of a trial's overrides, in a canonical (sorted) order."""
    return sorted(o for o in str(overrides).split() if not o.startswith(RECIPE_PREFIXES))


def select_design(df: pd.DataFrame, exp: str = DESIGN_TUNE_EXP) -> pd.DataFrame:
    """One row per (dataset, budget, family): the trial with the best validation accuracy
    (``best_val_accuracy``), its ``design`` (space-joined overrides), ``trials`` (how many finished
    trials the family had: equal effort is visible) and ``selected_on="val"``. A diverged trial
    scores 0; a failed one is left out. Ties go to the canonical design string (row order never
    decides)."""
    df = without_test(df)
    df = df[df["exp"] == exp] if "exp" in df.columns else df.iloc[0:0]
    cols = [*KEYS, "family_kind", "design", "best_val_accuracy", "trials", "selected_on"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    missing = [c for c in (*KEYS, "overrides", "val_accuracy", "status") if c not in df.columns]
    if missing:
        raise ValueError(f"design rows lack the column(s) {', '.join(missing)}")
    df = df[df["status"].astype(str) != "failed"].copy()
    df["val_accuracy"] = np.where(df["status"].astype(str) == "diverged", 0.0,
                                  pd.to_numeric(df["val_accuracy"], errors="coerce"))
    df = df[df["val_accuracy"].notna() & df["overrides"].notna()]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["design"] = df["overrides"].map(lambda o: " ".join(design_of(o)))
    if "family_kind" not in df.columns:
        df["family_kind"] = np.nan
    per = (df.groupby([*KEYS, "design"], dropna=False, sort=False)
             .agg(best_val_accuracy=("val_accuracy", "mean"), family_kind=("family_kind", "first")).reset_index())
    per["_score"] = -per["best_val_accuracy"].round(12)
    per = per.sort_values(["_score", "design"], kind="mergesort")
    per["trials"] = per.groupby(list(KEYS), dropna=False)["_score"].transform("size")
    best = per.groupby(list(KEYS), dropna=False, sort=True).head(1).drop(columns="_score")
    best["selected_on"] = "val"
    return best.sort_values(list(KEYS), kind="mergesort").reindex(columns=cols).reset_index(drop=True)


def chosen_rows(sub: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a ``fair_design`` stage ``sub`` run with the design that ``df``'s trials select
    today (a final left from an earlier search never pools with the chosen one)."""
    sel = select_design(df)
    if sel.empty or sub.empty or "overrides" not in sub.columns:
        return sub
    want = {(str(r.dataset), float(r.budget), str(r.family)): r.design for r in sel.itertuples()}
    keep = [i for i, r in sub.iterrows()
            if want.get((str(r["dataset"]), float(r["budget"]), str(r["family"]))) == " ".join(design_of(r["overrides"]))]
    return sub.loc[keep]


def design_select(all_csv: str | Path = "results/all.csv", out: str | Path = "results/fair/design_selected.csv"
                  ) -> tuple[Path, pd.DataFrame]:
    """all.csv → the design selection file (``frozen-bench fair-select --design``)."""
    from frozen_bench.errors import UserError
    from frozen_bench.record.table import read_all_csv
    from frozen_bench.report.select import write_selection

    sel = select_design(read_all_csv(all_csv))
    if sel.empty:
        raise UserError(f"no usable {DESIGN_TUNE_EXP} rows in {all_csv}; run the design search first "
                        "(scripts/fair.sh quick fashion_mnist runs it)")
    return write_selection(sel, out), sel


def design_table(df: pd.DataFrame, exp: str = DESIGN_EXP) -> list[str]:
    """Markdown lines: per (dataset, budget), the best searched frozen design vs the best searched
    trained design (paired by seed), then each family's chosen design and trial count."""
    ok, every = stage_rows(df, exp, keep=chosen_rows)
    sel = select_design(df)
    out = [f"## Design search: the best frozen design vs the best trained design (`{exp}`)", "", ci_label(ok), "",
           "Each family's design space searched with the same number of random Optuna trials on the screen profile (trials: the distinct designs that could be built and trained), "
           "the best trial chosen on validation accuracy alone, then run with the seeds below on the final recipe.",
           "", *table_head(["dataset", "budget", *HEAD])]
    groups = list(ok.groupby(["dataset", "budget"], sort=True))
    out += verdict_rows(groups, ok)
    for (ds, b), g in groups:
        mine = sel[(sel["dataset"].astype(str) == str(ds)) & (sel["budget"].astype(float) == float(b))]
        out += ["", f"### {ds}, budget {int_cell(b)}: chosen designs", "",
                *table_head(["family", "kind", "trials", "screen val (%)", "val acc (%)", "test acc (%)", "seeds",
                        "trainable", "steps", "design (overrides)"])]
        for f, r in g.groupby("family", sort=True):
            s = mine[mine["family"] == f]
            trials = str(int(s["trials"].iloc[0])) if len(s) else "–"
            screen = f"{100 * float(s['best_val_accuracy'].iloc[0]):.2f}" if len(s) else "–"
            design = " ".join(o for o in design_of(r["overrides"].iloc[0])
                              if not o.startswith(("+family=", "model.budget=", "dataset=", "dataset.source=")))
            out.append("| " + " | ".join([str(f), str(r["family_kind"].iloc[0]), trials, screen, pct_cell(r["val_accuracy"]),
                                           pct_cell(r["test_accuracy"]), str(r["seed"].nunique()),
                                           int_cell(r["trainable_params"].mean()), int_cell(r["steps"].mean()),
                                           f"`{design}`"]) + " |")
        notes = review_notes(g, every[(every["dataset"] == ds) & (every["budget"] == b)], b)
        if mine["trials"].nunique() > 1:  # equal search effort is the point: say when it was not
            notes.append("> ⚠ UNEQUAL search: " + ", ".join(f"{r.family} {int(r.trials)} trials" for r in mine.itertuples()))
        out += ["", *notes] if notes else []
    return out + [""]
