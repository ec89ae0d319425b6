"""Stage 4 of the fair protocol: the table that decides "frozen ahead, tie or behind", from all.csv.

For each dataset and budget every family is listed (mean ± 95% CI over seeds); then the best frozen
family meets the best trained family. "Best" is chosen on mean VALIDATION accuracy: choosing on
test would pick the luckiest seed draw and bias the comparison towards whichever side has more
families. Controls (random filters, identity mixing, ...) explain what the frozen structure buys,
and they are frozen networks too (fixed convs, only per-channel parts and the head train): "best
frozen" is chosen among frozen families and controls alike, so a control that validates best
stands for frozen. The difference is paired by seed (same data order and split on both sides) and
the verdict word is read off its 95% CI alone. Each family's row states its compute beside its
budget: multiply-adds per example, fixed parameters, stored bytes, training seconds an epoch and
batch-1 latency.
"""

from __future__ import annotations

import pandas as pd

from frozen_bench.report.common import ci_label, int_cell, p_cell, pct_cell, profile_of, table_head
from frozen_bench.report.select import TUNE_EXP
from frozen_bench.report.stats import Paired, paired, verdict

FINAL_EXP, SMALL_EXP = "fair_final", "fair_small"
KINDS = ("frozen", "trained", "control")
FROZEN = ("frozen", "control")  # the kinds "best frozen" is chosen from: a control is a frozen network too
COMMAND = "scripts/reproduce.sh fair"
NEEDED = ("dataset", "family", "family_kind", "budget", "seed", "status", "val_accuracy", "test_accuracy")


class NoFairRows(LookupError):
    """all.csv holds no finished rows of a fair-protocol stage; the message names the command."""


def stage_rows(df: pd.DataFrame, exp: str, keep=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(finished rows, all rows) of one stage; where both profiles ran a (dataset, budget), the full
    profile's only, so quick and full seeds never pool (a budget only the quick profile ran keeps
    its quick rows, and ``_row_ds`` says so). ``keep(sub, df)`` keeps the rows run with today's
    selection (default ``selected_only``: the lr × weight-decay choice)."""
    sub = df[df["exp"] == exp] if "exp" in df.columns else df.iloc[0:0]
    sub = (keep or selected_only)(sub, df)
    if "profile" in sub.columns and "dataset" in sub.columns and sub["profile"].nunique() > 1:
        by = ["dataset", "budget"] if "budget" in sub.columns else ["dataset"]
        sub = pd.concat([g[g["profile"] == profile_of(g)] for _, g in sub.groupby(by, sort=False, dropna=False)])
    ok = sub[sub["status"].astype(str) == "ok"]
    if ok.empty:
        raise NoFairRows(f"no finished {exp} rows in all.csv; run: {COMMAND}")
    missing = [c for c in NEEDED if c not in ok.columns]
    if missing:
        raise NoFairRows(f"{exp} rows lack the column(s) {', '.join(missing)}; re-collect them with a current frozen-bench")
    return ok, sub


def selected_only(sub: pd.DataFrame, df: pd.DataFrame, tune_exp: str | None = TUNE_EXP) -> pd.DataFrame:
    """The rows of ``sub`` run with the configuration the tuning rows of ``df`` (its ``tune_exp``
    rows; None: every row of ``df`` is one) select today: a final run left from an earlier
    selection (e.g. before the grid grew) never pools with the chosen one. Without tuning rows
    (hand-made tables) ``sub`` is returned as it is."""
    from frozen_bench.report.select import hparams, select

    if tune_exp is None:
        tune = df
    else:
        tune = df[df["exp"] == tune_exp] if "exp" in df.columns else df.iloc[0:0]
    if tune.empty or sub.empty:
        return sub
    chosen = select(tune, exp=None)
    nums = ["budget", *(h for h in hparams(chosen) if h in sub.columns)]
    key = ["dataset", "family", *nums]
    # a missing multiplier (a hand-made row) matches a missing one: -1 stands for it on both sides
    left = sub.assign(**{k: sub[k].astype(float).fillna(-1.0) for k in nums})
    right = chosen[key].assign(**{k: chosen[k].astype(float).fillna(-1.0) for k in nums}).drop_duplicates()
    keep = left.reset_index().merge(right, on=key, how="inner")["index"]
    return sub.loc[sorted(set(keep))]


def best_family(g: pd.DataFrame, kind: str | tuple[str, ...]) -> str | None:
    """The family of ``kind`` (one kind or several) with the best mean validation accuracy (ties: name order)."""
    kinds = (kind,) if isinstance(kind, str) else kind
    val = g[g["family_kind"].isin(kinds)].groupby("family")["val_accuracy"].mean().dropna()
    if val.empty:
        return None
    return sorted(val.index, key=lambda f: (-round(float(val[f]), 12), str(f)))[0]


def compare(g: pd.DataFrame, a: str, b: str, metric: str = "test_accuracy", method: str = "t") -> Paired:
    """Paired ``a − b`` of ``metric`` in percentage points over the seeds both families ran."""
    per = g[g["family"].isin([a, b])].groupby(["family", "seed"])[metric].mean().unstack("family")
    per = per.dropna()
    return paired(per[a] * 100, per[b] * 100, method=method)


def diff_cells(c: Paired) -> list[str]:
    ci = "–" if pd.isna(c.ci_low) else f"[{c.ci_low:+.2f}, {c.ci_high:+.2f}]"
    return [f"{c.mean_diff:+.2f}" if not pd.isna(c.mean_diff) else "–", ci, p_cell(c.p_value), str(c.n), f"**{verdict(c)}**"]


def review_notes(g: pd.DataFrame, every: pd.DataFrame, budget) -> list[str]:
    """What a reviewer would check before trusting the row: equal steps, budget met, lost seeds."""
    notes = []
    if "steps" in g.columns and g.groupby("family")["steps"].mean().round().nunique() > 1:
        steps = g.groupby("family")["steps"].mean().round().astype(int).to_dict()
        notes.append(f"UNEQUAL optimizer steps across families: {steps}")
    if "trainable_params" in g.columns and not pd.isna(budget):
        tp = g.groupby("family")["trainable_params"].mean()
        off = tp[(tp > float(budget)) | (tp < 0.9 * float(budget))]
        if len(off):
            notes.append(f"outside [0.9·B, B]: {', '.join(f'{f} ({v:,.0f})' for f, v in off.items())}")
    lost = every[every["status"].astype(str) != "ok"]
    if len(lost):
        notes.append("runs not ok (left out): " + ", ".join(f"{f} {s}×{n}" for (f, s), n in lost.groupby(["family", "status"]).size().items()))
    return [f"> ⚠ {n}" for n in notes]


HEAD = ["best frozen (by val)", "test acc (%)", "best trained (by val)", "test acc (%)",
        "Δ frozen − trained (pp)", "95% CI (pp)", "p (paired t)", "seeds", "verdict"]


def _versus(g: pd.DataFrame) -> list[str] | None:
    fz, tr = best_family(g, FROZEN), best_family(g, "trained")
    if fz is None or tr is None:
        return None
    c = compare(g, fz, tr)
    return [fz, pct_cell(g[g["family"] == fz]["test_accuracy"]), tr, pct_cell(g[g["family"] == tr]["test_accuracy"]), *diff_cells(c)]


def _row_ds(ok: pd.DataFrame, ds, g: pd.DataFrame) -> str:
    """The dataset cell of a row: its name, with the row's profile where the dataset's rows come
    from more than one (e.g. CIFAR-10 full at 8k and 20k, quick at 100k)."""
    profiles = ok.loc[ok["dataset"] == ds, "profile"].dropna().unique() if "profile" in ok.columns else []
    if len(profiles) > 1:
        return f"{ds} ({g['profile'].dropna().iloc[0]})"
    return str(ds)


def verdict_rows(groups, ok: pd.DataFrame | None = None) -> list[str]:
    """One summary row per ((dataset, budget), rows) group: best frozen vs best trained, paired."""
    out = []
    for (ds, b), g in groups:
        row = _versus(g)
        if row is not None:
            out.append("| " + " | ".join([_row_ds(ok, ds, g) if ok is not None else str(ds), int_cell(b), *row]) + " |")
    return out


def fair_table(final_df: pd.DataFrame, exp: str = FINAL_EXP,
               title: str = "Fair comparison: frozen vs trained at equal trainable budget") -> list[str]:
    """Markdown lines: the verdict summary, then per (dataset, budget) every family's numbers."""
    ok, every = stage_rows(final_df, exp)
    out = [f"## {title} (`{exp}`)", "", ci_label(ok), "",
           "Each family tuned on validation only (same lr × weight-decay grid), then run with the seeds below; "
           "\"best\" = best mean validation accuracy; Δ is paired by seed; the verdict is *ahead*/*behind* only "
           "when the 95% CI of Δ excludes 0.", "", *table_head(["dataset", "budget", *HEAD])]
    groups = list(ok.groupby(["dataset", "budget"], sort=True))
    out += verdict_rows(groups, ok)
    for (ds, b), g in groups:
        fz, tr = best_family(g, FROZEN), best_family(g, "trained")
        out += ["", f"### {_row_ds(ok, ds, g)}, budget {int_cell(b)}", "",
                *table_head(["family", "kind", "val acc (%)", "test acc (%)", "seeds", "trainable", "steps", "99% of final val by",
                        "lr", "weight decay", "PAct lr ×", *COMPUTE_HEAD])]
        order = sorted(g["family"].unique(), key=lambda f: (KINDS.index(k) if (k := g[g["family"] == f]["family_kind"].iloc[0]) in KINDS else 9, str(f)))
        for f in order:
            r = g[g["family"] == f]
            kind = str(r["family_kind"].iloc[0]) + (" ★" if f in (fz, tr) else "")
            hp = [_one(r, c) for c in ("lr", "weight_decay")] + [_one(r, "act_lr_mult") if has_pact(r) else "–"]
            out.append("| " + " | ".join([str(f), kind, pct_cell(r["val_accuracy"]), pct_cell(r["test_accuracy"]), str(r["seed"].nunique()),
                                           int_cell(r["trainable_params"].mean() if "trainable_params" in r else float("nan")),
                                           int_cell(r["steps"].mean() if "steps" in r else float("nan")), _converged(r), *hp,
                                           *compute_cells(r)]) + " |")
        notes = review_notes(g, every[(every["dataset"] == ds) & (every["budget"] == b)], b)
        out += ["", *notes] if notes else []
    return out + [""]


COMPUTE_HEAD = ["MMAC / example", "fixed params", "stored kB", "train s / epoch", "latency b1 (ms)"]


def _one(r: pd.DataFrame, c: str) -> str:
    """A hyperparameter's cell: its value, ``varies`` when the rows differ, ``–`` when not recorded."""
    return f"{r[c].iloc[0]:g}" if c in r and r[c].nunique() == 1 else ("varies" if c in r else "–")


# activations without trainable parameters: the PAct lr multiplier moves nothing in them
PLAIN_ACTIVATIONS = ("relu", "identity")


def has_pact(r: pd.DataFrame) -> bool:
    """Whether the rows' family trains a PAct (so its lr multiplier is a hyperparameter of it)."""
    if "activation" not in r:
        return False
    acts = r["activation"].dropna().astype(str)
    return bool(len(acts)) and not acts.isin([*PLAIN_ACTIVATIONS, ""]).all()


def compute_cells(r: pd.DataFrame) -> list[str]:
    """A family's compute beside its budget (means over its seeds; – where its records lack the column):
    multiply-adds of one example's forward pass, numbers in its fixed maps, bytes to store it (trainable
    parameters plus the seeds of the fixed parts), training seconds an epoch on the recipe's images
    (one thread each, two runs side by side), and the median batch-1 latency."""
    def mean(col):
        return r[col].astype(float).mean() if col in r and r[col].notna().any() else float("nan")

    per_epoch = mean("train_seconds_per_epoch")
    if pd.isna(per_epoch) and {"epochs", "train_seconds"} <= set(r.columns) and r["epochs"].notna().any():  # older records
        per_epoch = (r["train_seconds"].astype(float) / r["epochs"].astype(float)).mean()
    cells = [mean("macs_per_example") / 1e6, mean("fixed_params"), mean("model_bytes") / 1e3, per_epoch,
             mean("latency_ms_b1_p50")]
    fmt = ["{:,.2f}", "{:,.0f}", "{:,.1f}", "{:,.1f}", "{:.3f}"]
    return ["–" if pd.isna(v) else f.format(v) for v, f in zip(cells, fmt)]


def _converged(r: pd.DataFrame) -> str:
    """When validation accuracy reached 99% of its final value (``steps_to_converge``), as the
    median share of the run's steps: near 100% says the recipe stopped while it was still rising."""
    if "steps_to_converge" not in r or "steps" not in r:
        return "–"
    share = (pd.to_numeric(r["steps_to_converge"], errors="coerce") / pd.to_numeric(r["steps"], errors="coerce")).dropna()
    return f"{100 * share.median():.0f}% of steps" if len(share) else "–"


def _size(s) -> str:
    return "full" if pd.isna(s) or str(s) == "" else int_cell(s)


def longest_recipe(ok: pd.DataFrame) -> pd.DataFrame:
    """The small-data rows of the most optimizer steps per (dataset, budget, profile): a folder that
    holds a profile's runs at two step counts (the quick profile gave 1,000 steps, now 500) never
    pools seeds of two recipes into one mean."""
    if "steps" not in ok.columns or ok.empty:
        return ok
    keys = [c for c in ("dataset", "budget", "profile") if c in ok.columns]
    most = ok.groupby(keys, dropna=False)["steps"].transform("max") if keys else ok["steps"].max()
    return ok[ok["steps"] == most]


def small_data_table(df: pd.DataFrame, exp: str = SMALL_EXP) -> list[str]:
    """Markdown lines: by training-set size, best frozen vs best trained at a fixed budget (the
    longest recipe where a profile ran two, ``longest_recipe``)."""
    ok, _ = stage_rows(df, exp)
    ok = longest_recipe(ok)
    if "subset" not in ok.columns:
        raise NoFairRows(f"{exp} rows lack the subset column")
    ok = ok.assign(_size=pd.to_numeric(ok["subset"], errors="coerce").fillna(float("inf")))
    out = [f"## Small data: frozen vs trained by training-set size (`{exp}`)", "", ci_label(ok), "",
           *table_head(["dataset", "budget", "train size", *HEAD])]
    for (ds, b, _s), g in ok.groupby(["dataset", "budget", "_size"], sort=True):
        row = _versus(g)
        if row is not None:
            out.append("| " + " | ".join([str(ds), int_cell(b), _size(g["subset"].iloc[0]), *row]) + " |")
    return out + [""]


# each frozen family and its trained twin: the same stages or blocks, with the fixed parts trained
TWINS = (("frozen_cnn", "trained_cnn"), ("frozen_transformer", "transformer"), ("frozen_resnet", "trained_resnet"),
         ("bn_only_resnet", "trained_resnet"), ("frozen_audio_cnn", "audio_cnn"))


def twin_rows(ok: pd.DataFrame) -> list[tuple[str, float, str, str, Paired]]:
    """(dataset, budget, frozen family, trained twin, paired frozen − twin) for every twin pair that
    the final stage's finished rows ``ok`` (``stage_rows``) hold at the same budget and dataset."""
    out = []
    for (ds, b), g in ok.groupby(["dataset", "budget"], sort=True):
        fams = set(g["family"])
        for fz, tr in TWINS:
            if fz in fams and tr in fams:
                out.append((str(ds), b, fz, tr, compare(g, fz, tr)))
    return out


def twin_pairs(df: pd.DataFrame, exp: str = FINAL_EXP) -> tuple[list[tuple], pd.DataFrame]:
    """Every twin pair at every (dataset, budget): ``twin_rows`` of the rows the tables read (the full
    profile where it ran), plus the quick profile's pairs there that the full profile did not run
    (it trains only the leading families, e.g. no transformers). Returns ([(dataset, budget, frozen,
    twin, paired, profile, label)], the rows of the families drawn); ``label`` is the dataset with
    the pair's profile where that dataset's pairs come from both."""
    ok, _ = stage_rows(df, exp)
    sources = [(ok, r) for r in twin_rows(ok)]
    if "profile" in df.columns and ((df["exp"] == exp) & (df["profile"] == "full")).any():
        try:
            quick, _ = stage_rows(df[~((df["exp"] == exp) & (df["profile"] == "full"))], exp)
        except NoFairRows:
            quick = None
        have = {r[:3] for _, r in sources}
        sources += [(quick, r) for r in (twin_rows(quick) if quick is not None else []) if r[:3] not in have]
    found, used = [], []
    for src, (ds, b, fz, tr, c) in sorted(sources, key=lambda t: (t[1][0], t[1][1], t[1][2])):
        g = src[(src["dataset"] == ds) & (src["budget"] == b) & src["family"].isin([fz, tr])]
        found.append((ds, b, fz, tr, c, str(g["profile"].iloc[0]) if "profile" in g.columns else ""))
        used.append(g)
    mixed = {ds for ds, *_ in found if len({p[5] for p in found if p[0] == ds}) > 1}
    pairs = [(*p, f"{p[0]} ({p[5]})" if p[0] in mixed else p[0]) for p in found]
    return pairs, (pd.concat(used) if used else ok.iloc[0:0])


def twin_table(df: pd.DataFrame, exp: str = FINAL_EXP) -> list[str]:
    """Markdown lines: each frozen family against its own trained twin (not the best trained family)."""
    pairs, used = twin_pairs(df, exp)
    if not pairs:
        raise NoFairRows(f"no {exp} rows hold a frozen family and its trained twin ({', '.join('/'.join(t) for t in TWINS)})")
    out = [f"## Twins: each frozen family vs its trained twin (`{exp}`)", "", ci_label(used), "",
           "The twin has the same stages (CNN) or blocks (transformer) with the fixed parts trained; both are tuned "
           "on the same grid and selected on validation. Δ is paired by seed.", "",
           *table_head(["dataset", "budget", "frozen", "test acc (%)", "trained twin", "test acc (%)",
                   "Δ frozen − twin (pp)", "95% CI (pp)", "p (paired t)", "seeds", "verdict"])]
    for ds, b, fz, tr, c, prof, label in pairs:
        g = used[(used["dataset"] == ds) & (used["budget"] == b) & (used["profile"] == prof)] if prof else \
            used[(used["dataset"] == ds) & (used["budget"] == b)]
        out.append("| " + " | ".join([label, int_cell(b), fz, pct_cell(g[g["family"] == fz]["test_accuracy"]), tr,
                                       pct_cell(g[g["family"] == tr]["test_accuracy"]), *diff_cells(c)]) + " |")
    return out + [""]


def quick_table(df: pd.DataFrame, exp: str = FINAL_EXP) -> list[str]:
    """The quick profile's fair table at the (dataset, budget)s where the full profile hides it:
    the full profile trains only the leading families, so the quick one is where every family and
    control is compared."""
    if not {"exp", "profile", "dataset", "budget"} <= set(df.columns):
        return []  # nothing hidden: no table (and no "skipped" line, as for a stage not run)
    final = df["exp"] == exp
    key = pd.Series(list(df[["dataset", "budget"]].itertuples(index=False, name=None)), index=df.index)
    full = set(key[final & (df["profile"] == "full")])
    rows = df[~final | ((df["profile"] == "quick") & key.isin(full))]  # the tuning rows stay: selection
    if not (rows["exp"] == exp).any():
        return []
    return fair_table(rows, exp, "Fair comparison, quick profile: every family and control where the full profile ran the leaders")
