#!/usr/bin/env python
"""How accuracy moves with epochs, frozen and trained alike (issue 25, item 5).

Reads the per-epoch history (history.csv) of every finished fair-protocol final run in
``<results>/runs/`` of the chosen families, writes one row per (run, evaluated epoch) to
``<results>/fair/epochs.csv`` (committed: the run folders are not), and draws validation accuracy
against epoch, mean ± 95% CI over seeds, one line per (dataset, budget, family). Rows of an existing
epochs.csv whose run has no folder here (an earlier session's, a fresh clone's) are kept, as
``collect`` keeps all.csv's: redrawing never loses a curve. ``--from-csv`` redraws from epochs.csv
alone.

Two figures, one per way the leaders were chosen (``SETS``):
  ``fair_epochs.png|pdf``         the lr screen's selections: finals (``fair_final``, 10 epochs) and
                                  seed 0 at 20 (``fair_epochs``; ``scripts/resnets.sh epochs``)
  ``fair_design_epochs.png|pdf``  the design search's winners: finals (``fair_design``) and the
                                  ``EPOCH_SEEDS`` at 20 (``fair_design_epochs``;
                                  ``scripts/resnets.sh design_epochs``)
each drawn for the (dataset, budget)s that have a run at twice the epochs.

Every run of a family trains the same number of epochs under one cosine schedule, so a point at
epoch e is that run part-way, not a run trained for e epochs: the curve shows whether a family was
still climbing when the recipe stopped.

    python scripts/epoch_curves.py [--results results] [--families frozen_resnet,trained_resnet] [--from-csv]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from frozen_bench.report.stats import mean_ci  # noqa: E402

KEYS = ["exp", "dataset", "budget", "family", "family_kind", "profile", "seed", "signature"]
# figure -> (the finals' exp (5 seeds), the same leaders' exp at twice the epochs, how the leaders were chosen)
SETS = {"fair_epochs": ("fair_final", "fair_epochs", "the lr screen's selections"),
        "fair_design_epochs": ("fair_design", "fair_design_epochs", "the design search's winners")}
EXPS = tuple(e for finals, longer, _ in SETS.values() for e in (finals, longer))


def gather(results: Path, families: set[str]) -> pd.DataFrame:
    rows = []
    for d in sorted((results / "runs").glob("*")):
        mfile, hfile = d / "metrics.json", d / "history.csv"
        if not (mfile.is_file() and hfile.is_file()):
            continue
        m = json.loads(mfile.read_text())
        if m.get("exp") not in EXPS or m.get("status") != "ok" or m.get("family") not in families:
            continue
        h = pd.read_csv(hfile).dropna(subset=["val_accuracy"])
        for _, r in h.iterrows():
            rows.append({**{k: m.get(k, d.name if k == "signature" else None) for k in KEYS},
                         "epoch": int(r["epoch"]), "step": int(r["step"]), "train_loss": r["train_loss"],
                         "val_accuracy": r["val_accuracy"]})
    return pd.DataFrame(rows, columns=KEYS + ["epoch", "step", "train_loss", "val_accuracy"])


def merge(new: pd.DataFrame, old: pd.DataFrame | None) -> pd.DataFrame:
    """``new`` (read from run folders) plus the rows of ``old`` (the previous epochs.csv) whose run is
    not among them: a run folder that is here wins, one that is gone keeps its committed curve."""
    if old is None or old.empty:
        return new
    kept = old[~old["signature"].astype(str).isin(set(new["signature"].astype(str)))]
    return pd.concat([kept, new], ignore_index=True) if not new.empty else kept.reset_index(drop=True)


def leaders(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows of figure ``name``: its two exps, for the (dataset, budget)s with a run at twice the
    epochs (the finals of every other dataset and budget have no partner to compare with)."""
    finals, longer, _ = SETS[name]
    df = df[df["exp"].isin([finals, longer])]
    have = set(map(tuple, df.loc[df["exp"] == longer, ["dataset", "budget"]].astype(str).values))
    return df[[k in have for k in map(tuple, df[["dataset", "budget"]].astype(str).values)]]


def draw(df: pd.DataFrame, out: Path, name: str) -> list[Path]:
    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    colour = {f: f"C{i}" for i, f in enumerate(sorted(df["family"].unique()))}
    finals, _, chosen = SETS[name]
    for (ds, b, fam, exp), g in df.groupby(["dataset", "budget", "family", "exp"]):
        pts = sorted((e, *mean_ci(100 * ge["val_accuracy"]), ge["seed"].nunique()) for e, ge in g.groupby("epoch"))
        e, m, c, n = zip(*pts)
        ax.errorbar(e, m, yerr=[0 if pd.isna(x) else x for x in c], marker="o" if exp == finals else ".",
                    capsize=3, ls="-" if exp == finals else ":", color=colour[fam],
                    label=f"{fam}, {int(b):,}, {int(max(e))} epochs (n={max(n)})")
    ax.set_xlabel("epoch (of the recipe's one cosine schedule)")
    ax.set_ylabel("validation accuracy (%), mean ± 95% CI")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(f"{', '.join(sorted(df['dataset'].unique()))}, {chosen}: finals (solid) and twice the epochs "
                 f"(dotted)", fontsize=9)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, dpi=130, metadata={"CreationDate": None} if p.suffix == ".pdf" else None)
    plt.close(fig)
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--families", default="frozen_resnet,trained_resnet,bn_only_resnet,frozen_cnn,trained_cnn")
    ap.add_argument("--from-csv", action="store_true", help="redraw from <results>/fair/epochs.csv")
    a = ap.parse_args()
    csv = a.results / "fair" / "epochs.csv"
    old = pd.read_csv(csv) if csv.is_file() else None
    if a.from_csv:
        if old is None:
            print(f"epoch_curves: {csv} does not exist; run without --from-csv first", file=sys.stderr)
            return 2
        df = old
    else:
        new = gather(a.results, set(a.families.split(",")))
        df = merge(new, old)
        if df.empty:
            print(f"epoch_curves: no finished runs of {a.families} with exp in {', '.join(EXPS)} in "
                  f"{a.results / 'runs'}; run scripts/resnets.sh first", file=sys.stderr)
            return 2
        csv.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(csv, index=False)
        print(f"wrote {csv} ({df['signature'].nunique()} runs: {new['signature'].nunique()} read from run "
              f"folders, the rest kept from the previous file)", file=sys.stderr)
    for name in SETS:
        sub = leaders(df, name)
        if sub.empty:
            continue
        for p in draw(sub, a.results / "figures", name):
            print(f"wrote {p}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
