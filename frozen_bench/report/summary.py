"""``frozen-bench summary``: any sweep's metric as mean ± 95% CI and n, grouped by the keys it
varied, as a markdown table (and optionally a dot plot with CI bars). The user's own sweep, not
only the paper's. Reads CSV only (no torch, no dataset).

What a sweep varied is read from its own jobs' overrides (each record's ``overrides`` column:
``+optim.act_delta_l1=0.01 seed=2``), so a key no fixed list names (λ of the sparse-delta sweep)
is a group, not pooled; seeds are replicates, never a group. Rows without recorded overrides
fall back to the identity columns that vary (``DEFAULT_KEYS``).
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path

import pandas as pd

from frozen_bench.errors import UserError
from frozen_bench.report.stats import mean_ci

# the keys a sweep usually varies; the default grouping is those that vary within the chosen rows
DEFAULT_KEYS = ("exp", "dataset", "model", "family", "transform", "activation", "adapter", "adapter_rank",
                "width", "depth", "budget", "lr", "weight_decay", "act_lr_mult", "augment", "epochs", "subset")


def read(csv: str | Path) -> pd.DataFrame:
    path = Path(csv)
    if not path.is_file():
        raise UserError(f"no CSV at {path}; run `frozen-bench collect` (writes results/all.csv) or pass the CSV to summarize")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise UserError(f"{path} is not a readable CSV ({' '.join(str(e).split())[:100]}); "
                        f"rebuild it with `frozen-bench collect`") from None
    if df.empty:
        raise UserError(f"{path} has no rows; run something first (frozen-bench run), then `frozen-bench collect`")
    return df


def _unknown(df: pd.DataFrame, names, what: str) -> None:
    import difflib

    for name in names:
        if name not in df.columns:
            close = difflib.get_close_matches(name, [str(c) for c in df.columns], n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}? " if close else ""
            raise UserError(f"{what} {name!r} is not a column of the CSV; {hint}choose from: "
                            f"{', '.join(map(str, df.columns[:40]))}{' ...' if len(df.columns) > 40 else ''}")


def choose_rows(df: pd.DataFrame, metric: str, exp: str | None = None) -> pd.DataFrame:
    """The finished rows (status ok, where there is a status) of ``exp`` (if given) that have the metric."""
    _unknown(df, [metric], "--metric")
    sub = df
    if exp is not None:
        if "exp" not in df.columns:
            raise UserError("--exp needs an `exp` column, and the CSV has none; drop --exp")
        sub = sub[sub["exp"].astype(str) == exp]
        if sub.empty:
            names = sorted(map(str, df["exp"].dropna().unique()))
            raise UserError(f"no rows with exp={exp!r}; the CSV has: {', '.join(names) or 'no exp names'}")
    if "status" in sub.columns:
        sub = sub[sub["status"] == "ok"]
    values = pd.to_numeric(sub[metric], errors="coerce")
    if sub[metric].notna().any() and values.isna().all():
        raise UserError(f"--metric {metric!r} is not numeric; choose a numeric column such as test_accuracy")
    sub = sub.assign(**{metric: values})
    sub = sub[sub[metric].notna()]
    if sub.empty:
        raise UserError(f"no finished row has a {metric} value" + (f" in exp={exp!r}" if exp else "")
                        + "; choose another --metric (e.g. val_accuracy for tuning runs)")
    return sub


# override keys that are replicates or say where/how a run is written, not what it computes
NOT_A_GROUP = ("seed", "results_dir", "force", "logger", "objective", "trainer.threads", "trainer.device",
               "trainer.save_model", "trainer.checkpoint_every", "trainer.latency_reps")


def override_values(sub: pd.DataFrame) -> pd.DataFrame | None:
    """One column per override key of the rows' own ``overrides`` (``+optim.act_delta_l1=0.01`` ->
    column ``optim.act_delta_l1``; numbers as numbers), or None where a row recorded none."""
    if "overrides" not in sub.columns or sub["overrides"].isna().any():
        return None
    parsed = []
    for text in sub["overrides"].astype(str):
        try:
            words = shlex.split(text)
        except ValueError:
            return None
        parsed.append({w.split("=", 1)[0].lstrip("+~"): w.split("=", 1)[1] for w in words if "=" in w})
    out = pd.DataFrame(parsed, index=sub.index)
    for c in out.columns:
        nums = pd.to_numeric(out[c], errors="coerce")
        if nums.notna().sum() == out[c].notna().sum():
            out[c] = nums
    return out


def sweep_keys(sub: pd.DataFrame) -> tuple[pd.DataFrame, list[str]] | None:
    """(``sub`` with a column per varied override key, those keys) or None without overrides."""
    values = override_values(sub)
    if values is None:
        return None
    keys = [k for k in values.columns if k not in NOT_A_GROUP and not k.startswith("hydra")
            and values[k].nunique(dropna=False) > 1]
    return sub.drop(columns=[k for k in keys if k in sub.columns]).join(values[keys]), keys


def varied_keys(sub: pd.DataFrame, candidates=DEFAULT_KEYS) -> list[str]:
    """The candidate columns with more than one value (an empty cell counts as one) among ``sub``."""
    return [k for k in candidates if k in sub.columns and sub[k].nunique(dropna=False) > 1]


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def is_fraction(metric: str, values) -> bool:
    """Accuracy/F1 columns in [0, 1] are shown in % (as in every figure)."""
    values = pd.Series(values, dtype=float)
    return any(w in metric for w in ("accuracy", "f1")) and bool(((values >= 0) & (values <= 1)).all())


def summarize(df: pd.DataFrame, metric: str = "test_accuracy", by: list[str] | None = None,
              exp: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """One row per group: the keys, ``mean``, ``ci`` (95% half-width; nan for n < 2) and ``n``."""
    sub = choose_rows(df, metric, exp)
    if by:
        _unknown(df, by, "--by")
        keys = list(by)
    elif (swept := sweep_keys(sub)) is not None:
        sub, keys = swept
    else:
        keys = varied_keys(sub)
    rows = []
    groups = sub.groupby(keys, dropna=False, sort=True) if keys else [((), sub)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        mean, ci = mean_ci(g[metric].to_numpy(dtype=float))
        rows.append({**dict(zip(keys, key)), "mean": mean, "ci": ci, "n": len(g)})
    return pd.DataFrame(rows), keys


def markdown(table: pd.DataFrame, keys: list[str], metric: str) -> str:
    pct = is_fraction(metric, table["mean"])
    scale, unit = (100.0, " (%)") if pct else (1.0, "")
    fmt = (lambda x: f"{x * scale:.2f}") if pct else (lambda x: f"{x:.4g}")
    head = [*(keys or ["rows"]), f"{metric}{unit}: mean ± 95% CI", "n"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(keys or ["rows"]) + ["---:", "---:"]) + "|"]
    for _, r in table.iterrows():
        ci = "n/a (n=1)" if not math.isfinite(r["ci"]) else fmt(r["ci"])
        cells = [_cell(r[k]) for k in keys] if keys else ["all"]
        lines.append("| " + " | ".join([*cells, f"{fmt(r['mean'])} ± {ci}", str(int(r["n"]))]) + " |")
    return "\n".join(lines)


def plot(table: pd.DataFrame, keys: list[str], metric: str, out: str | Path, on_save=None) -> Path:
    """A dot per group at its mean, with its 95% CI as a bar (none for n = 1). A CI is clipped to
    the metric's range (an accuracy's bar never passes 0 or 100%); the figure is as wide as its
    longest label needs (measured), so no label is cut off. ``on_save(fig)`` sees the figure
    before it is closed (the layout test)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    pct = is_fraction(metric, table["mean"])
    scale = 100.0 if pct else 1.0
    labels = [", ".join(f"{k}={_cell(r[k])}" for k in keys) or "all rows" for _, r in table.iterrows()]
    labels = [f"{lab}  (n={int(n)})" for lab, n in zip(labels, table["n"])]
    y = list(range(len(table)))[::-1]
    mean = table["mean"].to_numpy(dtype=float) * scale
    ci = table["ci"].fillna(0.0).to_numpy(dtype=float) * scale
    lo, hi = mean - ci, mean + ci
    if pct:  # a share in [0, 1], shown in %: its CI stays in [0, 100]
        lo, hi = np.clip(lo, 0.0, scale), np.clip(hi, 0.0, scale)
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.35 * len(table)))
    ax.errorbar(mean, y, xerr=np.vstack([mean - lo, hi - mean]), fmt="o", color="C0", ecolor="C0", capsize=3)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_xlabel(f"{metric}{' (%)' if pct else ''}: mean ± 95% CI" + (" (clipped to 0-100%)" if pct else ""))
    ax.grid(axis="x", alpha=0.3)
    ax.set_ylim(-0.7, len(table) - 0.3)
    if pct:
        left, right = ax.get_xlim()
        ax.set_xlim(max(left, -2.0), min(right, 102.0))
    # widen the figure by what the labels need beyond a 4.5-inch plot area, measured by the renderer
    fig.canvas.draw()
    need = max((t.get_window_extent().width for t in ax.get_yticklabels()), default=0) / fig.dpi
    fig.set_size_inches(max(7.5, need + 4.5), fig.get_size_inches()[1])
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, **({"metadata": {"CreationDate": None}} if out.suffix == ".pdf" else {}))
    if on_save is not None:
        on_save(fig)
    plt.close(fig)
    return out
