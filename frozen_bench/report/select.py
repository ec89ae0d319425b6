"""Stage 3 of the fair protocol: choose each (dataset, budget, family) configuration on VALIDATION.

Every family gets the same grid (lr × weight decay; a family with PAct activations may add the PAct lr
multiplier, ``act_lr_mult``, as a third axis); the winner is the grid point with the best mean
validation accuracy over its tuning seeds. Test metrics must not influence this choice, or
the final test numbers are selected on themselves; so ``select`` drops every ``test_*`` column
before it looks at anything, and the selection file it writes holds no test number.

Ties (equal mean validation accuracy) go to the smaller lr, then the smaller weight decay, then the
smaller PAct multiplier: a deterministic rule that does not depend on row order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TUNE_EXP = "fair_tune"
HPARAMS = ("lr", "weight_decay")
# tuned where the rows carry it (every record does; a hand-made table may not): the PAct lr multiplier
OPTIONAL_HPARAMS = ("act_lr_mult",)
# the identity of one selection; profile and subset join it when the rows carry them
KEYS = ("dataset", "budget", "family")
OPTIONAL_KEYS = ("profile", "subset")
# how the final stage names what was chosen (Hydra overrides)
OVERRIDES = {"family": "+family", "budget": "model.budget", "lr": "optim.lr",
             "weight_decay": "optim.weight_decay", "act_lr_mult": "optim.act_lr_mult", "dataset": "dataset"}
SUBSET_OVERRIDE = "dataset.subset"


def without_test(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every test metric removed: what the selection path is allowed to see."""
    return df.drop(columns=[c for c in df.columns if str(c).startswith("test_")])


def _keys(df: pd.DataFrame) -> list[str]:
    missing = [c for c in (*KEYS, *HPARAMS, "val_accuracy", "status") if c not in df.columns]
    if missing:
        raise ValueError(f"tuning rows lack the column(s) {', '.join(missing)}")
    return [*KEYS, *(k for k in OPTIONAL_KEYS if k in df.columns)]


def hparams(df: pd.DataFrame) -> list[str]:
    """The tuned columns of ``df``: lr, weight decay, and the optional ones it carries."""
    return [*HPARAMS, *(h for h in OPTIONAL_HPARAMS if h in df.columns)]


def select(tune_df: pd.DataFrame, exp: str | None = TUNE_EXP) -> pd.DataFrame:
    """One row per (dataset, budget, family[, profile, subset]): the chosen lr, weight_decay (and
    act_lr_mult where the rows carry it),
    ``best_val_accuracy`` (its mean over seeds), ``val_seeds``, ``configs_tried``, ``selected_on="val"``
    and ``family_kind`` when known. ``exp`` keeps only that experiment's rows (None: all rows).

    A diverged seed counts as validation accuracy 0, so an lr that sometimes diverges loses to a
    stable one; a failed run (a crash, not the configuration's doing) is left out.
    """
    df = without_test(tune_df)  # from here on no test metric exists
    if exp is not None and "exp" in df.columns:
        df = df[df["exp"] == exp]
    keys, hps = _keys(df), hparams(df)
    df = df[df["status"].astype(str) != "failed"].copy()
    df["val_accuracy"] = np.where(df["status"].astype(str) == "diverged", 0.0,
                                  pd.to_numeric(df["val_accuracy"], errors="coerce"))
    df = df[df["val_accuracy"].notna()]
    out_cols = [*keys, "family_kind", *hps, "best_val_accuracy", "val_seeds", "configs_tried", "lr_edge",
                "selected_on"]
    if df.empty:
        return pd.DataFrame(columns=out_cols)
    per = (df.groupby([*keys, *hps], dropna=False, sort=False)
             .agg(best_val_accuracy=("val_accuracy", "mean"), val_seeds=("val_accuracy", "size")).reset_index())
    # rounding: means of the same values summed in another order must still tie exactly
    per["_score"] = -per["best_val_accuracy"].round(12)
    per = per.sort_values(["_score", *hps], kind="mergesort")
    per["configs_tried"] = per.groupby(keys, dropna=False)["_score"].transform("size")
    # an lr chosen at the end of the lrs tried may be short of the family's best: the Method lists them
    lo = per.groupby(keys, dropna=False)["lr"].transform("min")
    hi = per.groupby(keys, dropna=False)["lr"].transform("max")
    per["lr_edge"] = np.where(lo == hi, "", np.where(per["lr"] == hi, "highest", np.where(per["lr"] == lo, "lowest", "")))
    best = per.groupby(keys, dropna=False, sort=True).head(1).drop(columns="_score")
    if "family_kind" in df.columns:
        kinds = df.groupby("family", dropna=False)["family_kind"].first()
        best["family_kind"] = best["family"].map(kinds)
    else:
        best["family_kind"] = np.nan
    best["selected_on"] = "val"
    return best.sort_values(keys, kind="mergesort").reindex(columns=out_cols).reset_index(drop=True)


def write_selection(sel: pd.DataFrame, path: str | Path = "results/fair/selected.csv") -> Path:
    """Write the selection where the final stage reads it (one atomic write; no test column)."""
    from frozen_bench.atomic import atomic_write_text

    if any(str(c).startswith("test_") for c in sel.columns):
        raise ValueError("a selection must not carry test metrics")
    path = Path(path)
    atomic_write_text(path, sel.to_csv(index=False))
    return path


def _num(x) -> str:
    # floats stay floats (0.0, not 0): the final run's config, and so its signature, keeps the type
    return repr(float(x))


# a dataset column names the data a run read; a class-folder copy of a named dataset (the JPEG
# re-encoding of CIFAR-10 loads as cifar10_jpeg) is that dataset's config read from its copy
COPY_SUFFIXES = ("_jpeg", "_imagefolder")


def dataset_overrides(name: str) -> list[str]:
    """The overrides that load the data of a ``dataset`` column value again."""
    for suffix in COPY_SUFFIXES:
        if name.endswith(suffix):
            return [f"{OVERRIDES['dataset']}={name[:-len(suffix)]}", "dataset.source=imagefolder"]
    return [f"{OVERRIDES['dataset']}={name}"]


def _given(v) -> bool:
    return v is not None and not pd.isna(v) and str(v) != ""


def final_overrides(row, keep_subset: bool = False) -> list[str]:
    """The Hydra overrides that rebuild a selected configuration for the final (seeds) stage, e.g.
    ``["+family=frozen_cnn", "model.budget=8000", "optim.lr=0.003", "optim.weight_decay=0.0",
    "dataset=fashion_mnist"]``. The tuning may screen on a training subset; the final stage trains
    on the full set, so ``subset`` is carried only with ``keep_subset`` (the small-data sweep, which
    tunes at each size). The caller adds the exp, profile and seeds (and, for a row without a
    budget, the model's shape)."""
    row = dict(row)
    # a row without a budget (a model built at a given shape, e.g. scripts/twin_width.sh's twin): the
    # caller gives its shape
    budget = [f"{OVERRIDES['budget']}={int(row['budget'])}"] if _given(row.get("budget")) else []
    out = [f"{OVERRIDES['family']}={row['family']}", *budget,
           f"{OVERRIDES['lr']}={_num(row['lr'])}", f"{OVERRIDES['weight_decay']}={_num(row['weight_decay'])}",
           *(f"{OVERRIDES[h]}={_num(row[h])}" for h in OPTIONAL_HPARAMS if _given(row.get(h))),
           *dataset_overrides(str(row["dataset"]))]
    sub = row.get("subset")
    if keep_subset and _given(sub):
        out.append(f"{SUBSET_OVERRIDE}={int(float(sub))}")
    return out


def fair_select(all_csv: str | Path = "results/all.csv", out: str | Path = "results/fair/selected.csv",
                exp: str = TUNE_EXP) -> tuple[Path, pd.DataFrame]:
    """all.csv → selection file: what ``frozen-bench fair-select`` runs."""
    from frozen_bench.errors import UserError
    from frozen_bench.record.table import read_all_csv

    sel = select(read_all_csv(all_csv), exp=exp)
    if sel.empty:
        raise UserError(f"no usable {exp} rows in {all_csv}; run the tuning stage first")
    return write_selection(sel, out), sel
