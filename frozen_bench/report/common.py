"""What every figure and table of the report shares: the sweep's rows, the caption, the saving.

The report reads ``all.csv`` only: nothing in it imports torch or a dataset;
``tests/report/test_report_reads_csv.py`` checks that in a fresh interpreter. The markdown cells
every table writes (``pct_cell``, ``int_cell``, ``p_cell``, ``table_head``) are here too.
"""

from __future__ import annotations

import textwrap
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
    """The finished rows of one sweep (or of several exps read as one table); for a dataset on which
    both profiles ran it, the full profile's only. ``command`` names what makes the rows, when not a sweep."""
    exps = (exp,) if isinstance(exp, str) else tuple(exp)
    sub = df[df["exp"].isin(exps) & (df["status"] == "ok")] if "exp" in df else df.iloc[0:0]
    if sub.empty:
        hint = command or SWEEP_COMMAND.format(sweep=sweep or exps[0].removeprefix("sweep_"))
        raise MissingRows(f"no finished rows of {', '.join(exps)} in all.csv; run: {hint}")
    if "profile" in sub and sub["profile"].nunique() > 1:  # per dataset: a full profile on one keeps another's quick rows
        parts = sub.groupby("dataset", sort=False) if "dataset" in sub else [(None, sub)]
        sub = pd.concat([g[g["profile"] == profile_of(g)] for _, g in parts])
    return sub


def profile_of(g: pd.DataFrame):
    """The profile a table or figure reads for one dataset: full when it ran, else the first found."""
    return "full" if (g["profile"] == "full").any() else g["profile"].dropna().iloc[0]


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


def ci_label(sub: pd.DataFrame) -> str:
    """A table's caption: ``data_label`` with its marks, mean ± 95% CI by Student's t, and how
    many of its rows came from other or uncommitted code (``code_label``)."""
    return data_label(sub, "mean ± 95% CI (Student t)") + code_label(sub)


def _true(col: pd.Series) -> pd.Series:
    return col.astype(str).str.lower().eq("true")


def code_label(sub: pd.DataFrame) -> str:
    """How many of a table's rows are stale (made at a commit whose models/nn/train/data differ
    from HEAD's when collected: all.csv's ``stale``) or came from uncommitted code (``git_dirty``):
    a table mixing records of several code versions says so."""
    parts = []
    if "stale" in sub:
        parts.append(f"{int(_true(sub['stale']).sum())} stale")
        unknown = int(sub["stale"].isna().sum())
        if unknown:
            parts.append(f"{unknown} of unknown code")
    if "git_dirty" in sub:
        parts.append(f"{int(_true(sub['git_dirty']).sum())} from uncommitted code")
    if not parts:
        return ""
    return f"; of its {len(sub)} rows {', '.join(parts)} (`frozen-bench pending --stale` lists the stale ones)"


def pct_cell(values) -> str:
    """Fractions as one markdown cell: their mean ± 95% CI in percent (– where there is none)."""
    from frozen_bench.report.stats import mean_ci

    m, h = mean_ci(pd.to_numeric(values, errors="coerce") * 100)
    if pd.isna(m):
        return "–"
    return f"{m:.2f} ± {h:.2f}" if not pd.isna(h) else f"{m:.2f} ± –"


def p_cell(p: float) -> str:
    """A p-value as one markdown cell."""
    return "–" if pd.isna(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def int_cell(x) -> str:
    """A count as one markdown cell, with thousands separators (– where missing)."""
    return "–" if pd.isna(x) else f"{float(x):,.0f}"


def table_head(cols: list[str]) -> list[str]:
    """The header and rule lines of a markdown table."""
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]


# callables (fig, name) run on every figure once it is laid out and written, before it is closed:
# how a test looks at the figures (tests/report/test_figures_layout.py)
ON_SAVE: list = []
CAPTION_PT = 7


def wrap_to_width(fig, text: str, width_frac: float = 0.98, **kw) -> str:
    """``text`` with line breaks so that, drawn at ``kw``'s font, no line is wider than
    ``width_frac`` of the figure (measured with the renderer, not guessed from a character count)."""
    renderer = fig.canvas.get_renderer()
    probe = fig.text(0, 0, text, **kw)
    limit = width_frac * fig.bbox.width
    chars = len(text)
    wrapped = text
    while chars > 20 and probe.get_window_extent(renderer).width > limit:
        chars = int(chars * min(0.95, limit / probe.get_window_extent(renderer).width))
        wrapped = "\n".join(textwrap.wrap(text, chars, break_on_hyphens=False))
        probe.set_text(wrapped)
    probe.remove()
    return wrapped


def save(fig, out_dir: Path, name: str, caption: str, arrange=None) -> list[Path]:
    """Caption, lay out and write ``fig`` as PNG and PDF. ``arrange(fig)``: runs once the layout is
    final (e.g. moving labels apart, which needs the axes' final size)."""
    # 0.95: the width is measured at the figure's dpi, drawn at the file's (120): leave a margin
    caption = wrap_to_width(fig, caption, width_frac=0.95, fontsize=CAPTION_PT)
    cap = fig.text(0.01, 4 / fig.bbox.height, caption, fontsize=CAPTION_PT, ha="left", va="bottom")
    bottom = (cap.get_window_extent(fig.canvas.get_renderer()).height + 8) / fig.bbox.height
    fig.tight_layout(rect=(0, bottom, 1, 1))
    if arrange is not None:
        arrange(fig)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        p = out_dir / f"{name}.{ext}"
        # no creation date in a PDF: the same rows give the same bytes (a re-draw leaves git clean)
        fig.savefig(p, dpi=120, **({"metadata": {"CreationDate": None}} if ext == "pdf" else {}))
        paths.append(p)
    for hook in ON_SAVE:
        hook(fig, name)
    plt.close(fig)
    return paths


def fit_title(ax, text: str, **kw):
    """``ax.set_title`` with the text wrapped to the axes' width (a long title is never cut off)."""
    fig = ax.get_figure(root=True)
    frac = 0.95 * ax.get_position().width
    return ax.set_title(wrap_to_width(fig, text, width_frac=frac, **_font(kw, "axes.titlesize")), **kw)


def _font(kw: dict, rc_key: str) -> dict:
    return {"fontsize": kw.get("fontsize", plt.rcParams[rc_key])}


def ci_bars(m, c, lo: float = 0.0, hi: float = 100.0):
    """Error bars of mean ``m`` ± CI ``c`` as (below, above), clipped to [lo, hi] (an accuracy's
    t-interval over 3 seeds can pass 0 % or 100 %); a nan CI (one seed) draws no bar."""
    import numpy as np

    m, c = np.asarray(m, float), np.nan_to_num(np.asarray(c, float))
    return np.vstack([np.minimum(c, m - lo), np.minimum(c, hi - m)])


def param_axis(ax, xs, axis: str = "x"):
    """A log axis of parameter counts: ticks at 1, 2, 5 × 10^k written 20k, 1M; at least a factor of
    1.6 wide and padded by 1.3 each side (room for point labels), so that runs of nearly one size get one readable tick, not a dozen overlapping ones."""
    import numpy as np
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = float(np.nanmin(xs)), float(np.nanmax(xs))
    pad = max(1.3, (1.6 * lo / hi) ** 0.5)
    a = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    (ax.set_xlim if axis == "x" else ax.set_ylim)(lo / pad, hi * pad)
    # past three decades, 1-2-5 ticks would crowd into one another: the decades alone
    a.set_major_locator(LogLocator(subs=(1, 2, 5) if hi / lo < 1e3 else (1,)))
    a.set_major_formatter(FuncFormatter(lambda v, _: _count(v)))
    a.set_minor_formatter(NullFormatter())


def _count(v: float) -> str:
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:g}{unit}"
    return f"{v:g}"


def readable_log(axis):
    """A log axis that spans under two decades gets ticks at 1, 2, 5 × 10^k written plainly (20,
    0.05) instead of matplotlib's 2×10^1 minor labels; a wider one keeps the decades."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = sorted(axis.get_view_interval())
    if lo <= 0 or math.log10(hi / lo) >= 2:
        return
    axis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())
