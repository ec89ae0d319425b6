"""Statistics that decide a claim: mean ± 95% CI, and paired differences over matched seeds.

Two families trained with the same seeds see the same data order and split, so their per-seed
results are paired; the paired difference has a much smaller spread than either accuracy, which is
what lets five seeds separate two models that are half a point apart. With fewer than two values
no interval exists: every function returns nan there instead of a misleading 0.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95


def _clean(values) -> np.ndarray:
    v = np.asarray(values, dtype=float).ravel()
    return v[~np.isnan(v)]


def t_half_width(values, level: float = LEVEL) -> float:
    """Half-width of the Student-t confidence interval of the mean (nan for n < 2)."""
    from scipy import stats

    v = _clean(values)
    if len(v) < 2:
        return float("nan")
    return float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def mean_ci(values, level: float = LEVEL) -> tuple[float, float]:
    """(mean, CI half-width); nan values are dropped first."""
    v = _clean(values)
    return (float(v.mean()) if len(v) else float("nan")), t_half_width(v, level)


@dataclass(frozen=True)
class Paired:
    """The paired difference a − b: its mean, confidence interval and two-sided p-value."""

    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str  # "t" (Student t CI, paired t-test) or "bootstrap" (percentile CI, shifted-null test)

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2

    @property
    def excludes_zero(self) -> bool:
        # nan bounds compare False: an undefined interval never excludes zero
        return bool(self.ci_low > 0 or self.ci_high < 0)


def paired(a, b, *, method: str = "t", n_boot: int = 10_000, seed: int = 0, level: float = LEVEL) -> Paired:
    """Compare a and b, already matched element by element (same seed at the same index).

    ``method="t"``: Student-t CI and ``scipy.stats.ttest_rel``. ``method="bootstrap"``: percentile CI
    of the mean difference over ``n_boot`` resamples of the seeds, and the p-value of the shifted-null
    bootstrap; the RNG is seeded so a table is reproducible to the digit. Pairs with a nan are dropped.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length ({len(a)} vs {len(b)}); match them by seed first")
    keep = ~(np.isnan(a) | np.isnan(b))
    d = a[keep] - b[keep]
    n = len(d)
    if method not in ("t", "bootstrap"):
        raise ValueError(f"method must be 't' or 'bootstrap', not {method!r}")
    nan = float("nan")
    if n == 0:
        return Paired(0, nan, nan, nan, nan, method)
    m = float(d.mean())
    if n < 2:
        return Paired(1, m, nan, nan, nan, method)
    if np.all(d == d[0]):
        # no spread: the t statistic is ±inf or 0/0; the difference is exactly known
        return Paired(n, m, m, m, 0.0 if m != 0 else 1.0, method)
    if method == "t":
        h = t_half_width(d, level)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            p = float(stats.ttest_rel(a[keep], b[keep]).pvalue)
        return Paired(n, m, m - h, m + h, p, method)
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    lo, hi = np.quantile(boots, [0.5 - level / 2, 0.5 + level / 2])
    p = float(np.mean(np.abs(boots - m) >= abs(m)))  # resampling under H0: the mean shifted to 0
    return Paired(n, m, float(lo), float(hi), p, method)


def verdict(p: Paired) -> str:
    """'ahead' / 'behind' when the CI of a − b excludes zero on that side, else 'tie'."""
    if p.excludes_zero:
        return "ahead" if p.mean_diff > 0 else "behind"
    return "tie"
