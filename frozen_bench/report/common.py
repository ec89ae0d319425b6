"""What every figure and table of the report shares: the sweep's rows, the caption, the saving.

The report reads ``all.csv`` only: nothing here (nor in ``figures``, ``companion``, ``tables``)
imports torch or a dataset; ``tests/test_report.py`` checks that in a fresh interpreter.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

# sweep exp name -> the command that produces its rows
SWEEP_COMMAND = "frozen-bench run -m +profile=quick +sweep={sweep}   (or: scripts/reproduce.sh quick)"


class MissingRows(Exception):
    """The rows a figure needs are not in all.csv; the message names the sweep to run."""


def rows(df: pd.DataFrame, exp: str | tuple[str, ...], sweep: str | None = None,
         command: str | None = None) -> pd.DataFrame:
    """The finished rows of one sweep (or of several exps read as one table); when both profiles
    ran it, the full profile's only. ``command`` names what makes the rows, when not a sweep."""
    exps = (exp,) if isinstance(exp, str) else tuple(exp)
    sub = df[df["exp"].isin(exps) & (df["status"] == "ok")] if "exp" in df else df.iloc[0:0]
    if sub.empty:
        hint = command or SWEEP_COMMAND.format(sweep=sweep or exps[0].removeprefix("sweep_"))
        raise MissingRows(f"no finished rows of {', '.join(exps)} in all.csv; run: {hint}")
    if "profile" in sub and sub["profile"].nunique() > 1:
        sub = sub[sub["profile"] == ("full" if (sub["profile"] == "full").any() else sub["profile"].dropna().iloc[0])]
    return sub


# what a dataset column says about its data beyond "real": a re-encoded copy, a small subset
DATA_NOTES = {"_jpeg": "real data, JPEG re-encoded at quality 75", "speech_commands_test12": "real data, SMALL SUBSET"}


def _kind(ds: str, synth: bool) -> str:
    if synth:
        return "SYNTHETIC data"
    return next((note for key, note in DATA_NOTES.items() if ds.endswith(key)), "real data")


def data_label(sub: pd.DataFrame, stat: str = "mean ± 95% CI") -> str:
    """The caption: the datasets in ``sub`` (real or SYNTHETIC), profile, seeds, and what the
    marks show (``stat``)."""
    parts = []
    for ds, g in sub.groupby("dataset"):
        synth = bool(g["synthetic"].astype(str).str.lower().eq("true").any()) if "synthetic" in g else False
        parts.append(f"{ds} ({_kind(str(ds), synth)})")
    prof = ", ".join(sorted(str(p) for p in sub["profile"].dropna().unique())) if "profile" in sub else ""
    seeds = sub["seed"].nunique() if "seed" in sub else 1
    return f"Data: {'; '.join(parts)}" + (f"; profile {prof}" if prof else "") + f"; {seeds} seed(s), {stat}"


def save(fig, out_dir: Path, name: str, caption: str) -> list[Path]:
    fig.text(0.01, 0.005, caption, fontsize=7, ha="left", va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        p = out_dir / f"{name}.{ext}"
        # no creation date in a PDF: the same rows give the same bytes (a re-draw leaves git clean)
        fig.savefig(p, dpi=120, **({"metadata": {"CreationDate": None}} if ext == "pdf" else {}))
        paths.append(p)
    plt.close(fig)
    return paths
