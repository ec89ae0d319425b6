#!/usr/bin/env python
"""Fill the compute columns of all.csv rows recorded before runs counted them (issue 25, item 3).

A row of the fair protocol (exp fair_final, fair_design, fair_small) made by older code has no
``macs_per_example`` / ``fixed_params``. Its ``command`` column holds the run's overrides, so the
model can be built again exactly as the run built it (the same config composed, the same data shapes,
the run's seed) and counted by the runner's own counter (``frozen_bench.train.compute``). A row is
filled only where the rebuilt model has the row's trainable parameter count (and ``built`` shape,
where recorded): the proof that the counted network is the trained one. Others are left empty and
listed. Nothing is trained; all.csv is rewritten atomically, every other cell unchanged.

``collect`` rebuilds a row from its run folder where one exists, so a count written to all.csv alone
is lost at the next collect for runs whose folder is on this machine; ``--records`` also writes it
into that run's ``metrics.json`` (with ``compute_counted_by`` naming this script).

    python scripts/count_compute.py [--csv results/all.csv] [--exps fair_final,fair_design,fair_small] [--recount] [--records]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import pandas as pd
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from frozen_bench.atomic import atomic_write_text, locked
from frozen_bench.config import conf_dir
from frozen_bench.data import load_dataset
from frozen_bench.models import build_model, prune
from frozen_bench.train import compute as C
from frozen_bench.train import measure as M

# words that say where or how fast a run ran, not what it built
SKIP = ("results_dir=", "trainer.threads=", "hydra/launcher=", "hydra.launcher.", "force=")


def words_of(command: str) -> list[str] | None:
    w = shlex.split(command)
    if len(w) < 2 or w[0] != "frozen-bench" or w[1] != "run":
        return None
    return [x for x in w[2:] if x != "-m" and not x.startswith(SKIP)]


def write_record(metrics: Path, macs: int, fixed: int) -> None:
    """The count into a run's own record, so that collect keeps it (no folder here: nothing to do)."""
    if not metrics.is_file():
        return
    m = json.loads(metrics.read_text())
    m.update(macs_per_example=int(macs), fixed_params=int(fixed), compute_counted_by="scripts/count_compute.py")
    atomic_write_text(metrics, json.dumps(m, indent=2, default=str) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", default="results/all.csv")
    ap.add_argument("--exps", default="fair_final,fair_design,fair_small")
    ap.add_argument("--recount", action="store_true", help="count rows that have a count too (after the counter changed)")
    ap.add_argument("--records", action="store_true",
                    help="also write each count into the run's metrics.json, where its folder is here")
    a = ap.parse_args()
    path = Path(a.csv)
    df = pd.read_csv(path, low_memory=False)
    for col in ("macs_per_example", "fixed_params"):
        if col not in df.columns:
            df[col] = pd.NA
    todo = df[df["exp"].isin(a.exps.split(",")) & (df["status"].astype(str) == "ok")
              & (df["macs_per_example"].isna() | a.recount) & df["command"].notna()]
    print(f"[count_compute] {len(todo)} rows of {a.exps} to count in {path}", file=sys.stderr)
    datasets, counted, filled, refused = {}, {}, 0, []
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        for i, row in todo.iterrows():
            words = words_of(row["command"])
            if words is None:
                refused.append((row["signature"], "command is not a frozen-bench run"))
                continue
            key = tuple(w for w in words if not w.startswith("seed="))
            if key not in counted:
                cfg = prune(OmegaConf.to_container(compose("config", overrides=words), resolve=True))
                dkey = json.dumps({k: v for k, v in cfg["dataset"].items() if k != "subset"}, sort_keys=True)
                if dkey not in datasets:  # shapes and classes only: the smallest subset the loader allows
                    datasets[dkey] = load_dataset({**cfg["dataset"], "subset": None}, seed=0)
                torch.manual_seed(int(cfg["seed"]))
                model = build_model(cfg, datasets[dkey])
                counted[key] = (M.trainable_params(model), getattr(model, "built", None),
                                C.macs_per_example(model, datasets[dkey].input_shape), C.fixed_params(model))
            trainable, built, macs, fixed = counted[key]
            if trainable != int(row["trainable_params"]) or (isinstance(row.get("built"), str) and built
                                                            and built != row["built"]):
                refused.append((row["signature"], f"rebuilt {trainable:,} trainable ({built}), the row has "
                                                  f"{int(row['trainable_params']):,} ({row.get('built')})"))
                continue
            df.at[i, "macs_per_example"], df.at[i, "fixed_params"] = macs, fixed
            filled += 1
            if a.records:
                write_record(path.parent / "runs" / str(row["signature"]) / "metrics.json", macs, fixed)
    for sig, why in refused:
        print(f"[count_compute] left empty {sig}: {why}", file=sys.stderr)
    for col in ("macs_per_example", "fixed_params"):
        df[col] = df[col].astype("Int64")
    with locked(path.parent / ".all.csv.lock"):  # the lock collect holds: no run's refresh is lost
        fresh = pd.read_csv(path, low_memory=False)  # rows a run added while this one counted stay
        new = fresh[~fresh["signature"].isin(df["signature"])]
        out = pd.concat([df, new], ignore_index=True) if len(new) else df
        atomic_write_text(path, out.to_csv(index=False))
    print(f"[count_compute] filled {filled} rows ({len(counted)} distinct networks), left {len(refused)} empty -> {path}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
