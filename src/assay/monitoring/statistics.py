"""Two-sample statistics computed from profiles alone: effect sizes (Wasserstein, Jensen-Shannon)
and tests whose p-values stay honest on summaries (chi-square on exact bin counts, a one-sided test
of a rise in missing values), plus the Benjamini-Hochberg adjustment across features.

PSI and the KS distance live in `assay.data.drift`; this module adds what monitoring needs on top.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from assay.data.drift import quantile_summary
from assay.errors import DataError

MIN_EXPECTED = 5.0  # bins whose expected count in the smaller sample is below this are pooled


def wasserstein_from_quantiles(reference: Sequence[float], current: Sequence[float]) -> float:
    """Wasserstein-1 distance between two quantile summaries (values at evenly spaced probabilities).

    W1 is the area between the two quantile functions; each summary is read as linear between its
    knots and the area of |difference| is integrated exactly, segment by segment (a segment where
    the difference changes sign contributes two triangles). The outer knots are the samples'
    minimum and maximum, single values that swing wildly on heavy tails, so the outermost segments
    take the difference at their inner knot (the 1% and 99% quantiles with 101 points) instead.
    """
    a, b = quantile_summary(reference), quantile_summary(current)
    if len(a) != len(b):  # put both on the finer grid
        grid = np.linspace(0.0, 1.0, max(len(a), len(b)))
        a = np.interp(grid, np.linspace(0.0, 1.0, len(a)), a)
        b = np.interp(grid, np.linspace(0.0, 1.0, len(b)), b)
    d = a - b
    if len(d) > 3:
        d[0], d[-1] = d[1], d[-2]
    d0, d1 = d[:-1], d[1:]
    width = 1.0 / (len(d) - 1)
    same_sign = d0 * d1 >= 0
    magnitude = np.abs(d0) + np.abs(d1)
    crossing = np.divide(d0 * d0 + d1 * d1, 2.0 * magnitude, out=np.zeros_like(d0), where=magnitude > 0)
    area = np.where(same_sign, magnitude / 2.0, crossing) * width
    return float(area.sum())


def jensen_shannon(expected_counts: Sequence[float], actual_counts: Sequence[float]) -> float:
    """Jensen-Shannon distance (the square root of the divergence, base 2): 0 for identical shares,
    1 for disjoint ones. Needs no smoothing: empty bins contribute nothing."""
    p = _shares(expected_counts)
    q = _shares(actual_counts)
    m = (p + q) / 2.0
    divergence = 0.5 * _kl(p, m) + 0.5 * _kl(q, m)
    return float(math.sqrt(min(1.0, max(0.0, divergence))))


def _shares(counts: Sequence[float]) -> np.ndarray:
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum()
    if values.ndim != 1 or not len(values) or total <= 0 or (values < 0).any():
        raise DataError(
            "shares need non-negative counts with a positive total",
            hint="skip columns without values in either batch",
        )
    shares: np.ndarray = values / total
    return shares


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))


def chi_square_p(expected_counts: Sequence[float], actual_counts: Sequence[float]) -> float | None:
    """p-value of the chi-square test that two samples' bin counts come from one distribution.

    The counts are exact (histograms on the reference's edges, category counts with the unseen
    bucket), so the test is valid however the bins were chosen. Bins too small for the chi-square
    approximation (expected count in the smaller sample under MIN_EXPECTED) are pooled into one.
    None when fewer than two bins remain (nothing can differ).
    """
    a = np.asarray(expected_counts, dtype=np.float64)
    b = np.asarray(actual_counts, dtype=np.float64)
    if a.shape != b.shape or a.sum() <= 0 or b.sum() <= 0:
        return None
    keep = (a + b) > 0
    a, b = a[keep], b[keep]
    pooled = (a + b) / (a.sum() + b.sum())
    small = pooled * min(a.sum(), b.sum()) < MIN_EXPECTED
    if small.any():
        a = np.append(a[~small], a[small].sum())
        b = np.append(b[~small], b[small].sum())
    if len(a) < 2:
        return None
    total = a + b
    n_a, n_b, n = a.sum(), b.sum(), a.sum() + b.sum()
    expected_a, expected_b = total * n_a / n, total * n_b / n
    statistic = float(np.sum((a - expected_a) ** 2 / expected_a) + np.sum((b - expected_b) ** 2 / expected_b))
    return float(stats.chi2.sf(statistic, len(a) - 1))


def rise_p(before_missing: int, before_rows: int, after_missing: int, after_rows: int) -> float | None:
    """One-sided p-value that the share of missing values rose (two-proportion z-test, pooled)."""
    if before_rows <= 0 or after_rows <= 0:
        return None
    before, after = before_missing / before_rows, after_missing / after_rows
    pooled = (before_missing + after_missing) / (before_rows + after_rows)
    variance = pooled * (1.0 - pooled) * (1.0 / before_rows + 1.0 / after_rows)
    if variance <= 0:
        return 1.0  # all missing or none missing on both sides: no rise
    return float(stats.norm.sf((after - before) / math.sqrt(variance)))


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (in the input order): reject where adjusted <= q to keep
    the expected share of false discoveries at q."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if not m:
        return []
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted_sorted = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return [float(v) for v in adjusted]


__all__ = ["benjamini_hochberg", "chi_square_p", "jensen_shannon", "rise_p", "wasserstein_from_quantiles"]
