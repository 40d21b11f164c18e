"""Statistics from profiles agree with scipy on the raw data, and the tests' p-values are honest."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from assay.data.drift import ks_from_quantiles
from assay.data.profile import profile_frame
from assay.monitoring.statistics import (
    benjamini_hochberg,
    chi_square_p,
    jensen_shannon,
    rise_p,
    wasserstein_from_quantiles,
)
from assay.spec.model import ColumnSchema, DataSchema

SCHEMA = DataSchema(columns={"x": ColumnSchema(type="float")}, min_rows=None)


def _quantiles(values: np.ndarray) -> tuple[float, ...]:
    profile = profile_frame(pl.DataFrame({"x": values}), SCHEMA)
    return profile.columns["x"].quantiles  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("normal shift", lambda rng, n: (rng.normal(0, 1, n), rng.normal(0.3, 1, n))),
        ("scale", lambda rng, n: (rng.normal(0, 1, n), rng.normal(0, 1.6, n))),
        ("lognormal", lambda rng, n: (rng.lognormal(0, 0.7, n), rng.lognormal(0.1, 0.7, n))),
        ("same", lambda rng, n: (rng.normal(5, 2, n), rng.normal(5, 2, n))),
        ("ints", lambda rng, n: (rng.poisson(3, n).astype(float), rng.poisson(3.5, n).astype(float))),
    ],
)
def test_wasserstein_and_ks_from_summaries_match_scipy_on_the_raw_data(name: str, make) -> None:
    rng = np.random.default_rng(11)
    a, b = make(rng, 20_000)
    qa, qb = _quantiles(a), _quantiles(b)
    exact_w = stats.wasserstein_distance(a, b)
    # The summaries' error is in the 1% tails (linear between the extreme and the 1% quantile):
    # within 2% of a standard deviation here.
    assert wasserstein_from_quantiles(qa, qb) == pytest.approx(exact_w, abs=0.02 * a.std())
    # Each 101-point summary is within 0.01 of its sample's CDF: within 0.02 of the two-sample KS.
    assert abs(ks_from_quantiles(qa, qb) - stats.ks_2samp(a, b).statistic) <= 0.02


def test_wasserstein_is_zero_on_identical_summaries_and_symmetric() -> None:
    q = tuple(np.linspace(0, 10, 101))
    r = tuple(np.linspace(1, 12, 101))
    assert wasserstein_from_quantiles(q, q) == 0.0
    assert wasserstein_from_quantiles(q, r) == pytest.approx(wasserstein_from_quantiles(r, q))
    # A pure location shift moves every quantile by the shift: W1 is the shift.
    assert wasserstein_from_quantiles(q, tuple(v + 2.5 for v in q)) == pytest.approx(2.5)


def test_jensen_shannon_matches_scipy() -> None:
    from scipy.spatial.distance import jensenshannon

    p, q = [10, 20, 30, 0], [15, 15, 10, 5]
    assert jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q, base=2))
    assert jensen_shannon(p, p) == 0.0
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)


def test_chi_square_matches_scipy_when_no_bin_is_pooled() -> None:
    a, b = [200, 300, 500], [260, 280, 460]
    expected = stats.chi2_contingency(np.array([a, b]), correction=False).pvalue
    assert chi_square_p(a, b) == pytest.approx(expected)


def test_chi_square_pools_sparse_bins_and_needs_two() -> None:
    # The two sparse bins (expected 0.5 and 1.5 rows) are pooled: 1 + 1 against 0 + 2 does not differ.
    assert chi_square_p([1000, 1, 1], [1000, 0, 2]) == pytest.approx(1.0)
    # Unpooled, the same counts would look like a difference.
    assert stats.chi2_contingency(np.array([[1000, 1, 1], [1000, 0, 2]]), correction=False).pvalue < 0.7
    assert chi_square_p([500, 0], [300, 0]) is None  # one bin with values: nothing can differ


def test_rise_p_is_one_sided() -> None:
    assert rise_p(10, 1000, 100, 1000) < 1e-10
    assert rise_p(100, 1000, 10, 1000) > 0.99
    assert rise_p(0, 1000, 0, 1000) == 1.0


def test_benjamini_hochberg_matches_the_textbook_example() -> None:
    p = [0.01, 0.04, 0.03, 0.005, 0.5]
    # sorted 0.005, 0.01, 0.03, 0.04, 0.5 -> x5/1, x5/2, x5/3, x5/4, x5/5, then running minimum from the top
    assert benjamini_hochberg(p) == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.5])
    assert benjamini_hochberg([]) == []


def test_chi_square_p_values_are_uniform_under_no_change() -> None:
    """Under no change the share of p-values below 0.05 is about 0.05 (here: within sampling error)."""
    rng = np.random.default_rng(3)
    edges = np.quantile(rng.normal(size=50_000), np.linspace(0, 1, 21))
    below = 0
    trials = 400
    for _ in range(trials):
        a = np.histogram(rng.normal(size=2_000), bins=edges)[0]
        b = np.histogram(rng.normal(size=800), bins=edges)[0]
        p = chi_square_p(a, b)
        assert p is not None
        below += p < 0.05
    assert below / trials < 0.05 + 3 * np.sqrt(0.05 * 0.95 / trials)
