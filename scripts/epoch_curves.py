#!/usr/bin/env python
"""How accuracy moves with epochs, frozen and trained alike (issue 25, item 5).

Reads the per-epoch history (history.csv) of every finished fair-protocol final run in
``<results>/runs/`` of the chosen families, writes one row per (run, evaluated epoch) to
``<results>/fair/epochs.csv`` (committed: the run folders are not), and draws validation accuracy
against epoch, mean ± 95% CI over seeds, one line per (dataset, budget, family), to
``<results>/figures/fair_epochs.png|pdf``. ``--from-csv`` redraws from epochs.csv alone.

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
EXPS = ("fair_final", "fair_epochs")  # the finals (5 seeds) and the leaders at twice the epochs (scripts/resnets.sh epochs)


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


def draw(df: pd.DataFrame, out: Path) -> list[Path]:
    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    colour = {f: f"C{i}" for i, f in enumerate(sorted(df["family"].unique()))}
    for (ds, b, fam, exp), g in df.groupby(["dataset", "budget", "family", "exp"]):
        pts = sorted((e, *mean_ci(100 * ge["val_accuracy"]), ge["seed"].nunique()) for e, ge in g.groupby("epoch"))
        e, m, c, n = zip(*pts)
        ax.errorbar(e, m, yerr=[0 if pd.isna(x) else x for x in c], marker="o" if exp == "fair_final" else ".",
                    capsize=3, ls="-" if exp == "fair_final" else ":", color=colour[fam],
                    label=f"{fam}, {int(b):,}, {int(max(e))} epochs (n={max(n)})")
    ax.set_xlabel("epoch (of the recipe's one cosine schedule)")
    ax.set_ylabel("validation accuracy (%), mean ± 95% CI")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(f"{', '.join(sorted(df['dataset'].unique()))}: finals (solid) and twice the epochs (dotted)", fontsize=9)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "fair_epochs.png", out / "fair_epochs.pdf"]
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
    if a.from_csv:
        df = pd.read_csv(csv)
    else:
        df = gather(a.results, set(a.families.split(",")))
        if df.empty:
            print(f"epoch_curves: no finished fair_final runs of {a.families} in {a.results / 'runs'}; "
                  f"run scripts/resnets.sh first", file=sys.stderr)
            return 2
        csv.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(csv, index=False)
        print(f"wrote {csv} ({df['signature'].nunique()} runs)", file=sys.stderr)
    for p in draw(df, a.results / "figures"):
        print(f"wrote {p}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
