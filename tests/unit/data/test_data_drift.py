"""Drift statistics and checks: invariants, planted shifts caught, resamples left alone."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from assay.data.drift import (
    DriftThresholds,
    check_drift,
    ks_against_sample,
    ks_from_histograms,
    ks_from_quantiles,
    psi,
)
from assay.data.profile import DatasetProfile, profile_frame, profile_with_edges
from assay.data.schema import CheckResult
from assay.errors import DataError
from assay.spec.model import ColumnSchema, DataSchema

SCHEMA = DataSchema(
    columns={
        "amount": ColumnSchema(type="float"),
        "age": ColumnSchema(type="int"),
        "score": ColumnSchema(type="float"),
        "region": ColumnSchema(type="category"),
        "channel": ColumnSchema(type="category"),
    }
)
REGIONS = np.array(["north", "south", "east", "west"])
CHANNELS = np.array(["web", "app", "branch", "phone"])


def _batch(rows: int, *, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.normal(0.0, 1.0, rows)
    score[rng.random(rows) < 0.02] = np.nan  # a steady 2% of missing scores
    return pl.DataFrame(
        {
            "amount": rng.lognormal(8.0, 0.6, rows),
            "age": rng.integers(18, 80, rows),
            "score": score,
            "region": REGIONS[rng.choice(4, rows, p=[0.4, 0.3, 0.2, 0.1])],
            "channel": CHANNELS[rng.choice(4, rows, p=[0.5, 0.3, 0.15, 0.05])],
        }
    ).with_columns(pl.col("score").fill_nan(None))


@pytest.fixture(scope="module")
def reference() -> DatasetProfile:
    return profile_frame(_batch(50_000, seed=1), SCHEMA)


def _failures(results: list[CheckResult]) -> set[tuple[str, str]]:
    return {(r.check, r.column) for r in results if not r.passed}


def _drift(reference: DatasetProfile, frame: pl.DataFrame) -> list[CheckResult]:
    return check_drift(reference, profile_with_edges(frame, reference))


# --- PSI ----------------------------------------------------------------------------------------


def test_psi_is_zero_for_identical_shares_and_grows_with_the_shift() -> None:
    assert psi([10, 20, 30], [10, 20, 30]) == 0.0
    assert psi([10, 20, 30], [20, 40, 60]) == 0.0
    small, large = psi([50, 50], [55, 45]), psi([50, 50], [80, 20])
    assert 0 < small < large
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert psi([50, 50], [80, 20], epsilon=1e-12) == pytest.approx(expected, rel=1e-9)


def test_psi_smooths_empty_bins_instead_of_going_infinite() -> None:
    value = psi([50, 50, 0], [50, 0, 50])
    assert np.isfinite(value) and value > 1


@pytest.mark.parametrize(("expected", "actual"), [([1, 2], [1, 2, 3]), ([], []), ([0, 0], [1, 1]), ([1, -1], [1, 1])])
def test_psi_refuses_counts_it_cannot_compare(expected: list[int], actual: list[int]) -> None:
    with pytest.raises(DataError):
        psi(expected, actual)


_COUNTS = st.lists(st.integers(0, 10_000), min_size=1, max_size=30).filter(lambda c: sum(c) > 0)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), expected=_COUNTS)
def test_psi_is_never_negative_and_zero_on_identical_shares(data: st.DataObject, expected: list[int]) -> None:
    actual = data.draw(st.lists(st.integers(0, 10_000), min_size=len(expected), max_size=len(expected)).filter(lambda c: sum(c) > 0))
    scale = data.draw(st.integers(1, 50))
    assert psi(expected, actual) >= 0
    assert psi(expected, [scale * c for c in expected]) == 0


# --- KS -----------------------------------------------------------------------------------------

_SAMPLE = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200)


def _summary(values: list[float]) -> tuple[float, ...]:
    profile = profile_frame(pl.DataFrame({"x": pl.Series(values, dtype=pl.Float64)}), DataSchema(columns={"x": ColumnSchema(type="float")}))
    return profile.columns["x"].quantiles  # type: ignore[union-attr]


@settings(max_examples=100, deadline=None)
@given(a=_SAMPLE, b=_SAMPLE)
def test_ks_is_a_share_and_zero_on_identical_samples(a: list[float], b: list[float]) -> None:
    qa, qb = _summary(a), _summary(b)
    assert 0 <= ks_from_quantiles(qa, qb) <= 1
    assert ks_from_quantiles(qa, qa) == 0
    assert 0 <= ks_against_sample(qa, np.array(b)) <= 1
    hist = np.histogram(a, bins=5, range=(-1e6, 1e6))[0]
    assert ks_from_histograms(hist, hist) == 0
    assert 0 <= ks_from_histograms(hist, np.histogram(b, bins=5, range=(-1e6, 1e6))[0]) <= 1


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.3, 1.0])
def test_ks_from_summaries_is_within_the_documented_error_of_the_exact_statistic(shift: float) -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 1, 20_000), rng.normal(shift, 1.3, 20_000)
    exact = ks_2samp(a, b).statistic
    assert ks_against_sample(_summary(list(a)), b) == pytest.approx(exact, abs=0.01)
    assert ks_from_quantiles(_summary(list(a)), _summary(list(b))) == pytest.approx(exact, abs=0.02)


def test_ks_handles_point_masses() -> None:
    assert ks_from_quantiles(_summary([1.0] * 10), _summary([2.0] * 10)) == 1
    assert ks_against_sample(_summary([1.0] * 10), [1.0, 1.0, 2.0, 2.0]) == pytest.approx(0.5)


def test_ks_refuses_an_empty_summary() -> None:
    with pytest.raises(DataError):
        ks_from_quantiles((), (1.0, 2.0))


# --- thresholds ---------------------------------------------------------------------------------


def test_thresholds_default_to_the_documented_values_and_refuse_nonsense() -> None:
    limits = DriftThresholds()
    assert (limits.psi_warn, limits.psi_fail, limits.ks, limits.unseen_share, limits.null_rate_increase) == (
        0.1, 0.25, 0.1, 0.01, 0.05,
    )
    with pytest.raises(DataError):
        DriftThresholds(psi_warn=0.3, psi_fail=0.2)
    with pytest.raises(DataError):
        DriftThresholds(ks=1.5)


# --- planted shifts -----------------------------------------------------------------------------


def test_a_resample_with_another_seed_is_not_flagged(reference: DatasetProfile) -> None:
    results = _drift(reference, _batch(50_000, seed=2))
    assert _failures(results) == set()
    checks = {(r.check, r.column) for r in results}
    assert ("drift.ks", "amount") in checks and ("drift.unseen", "region") in checks
    assert ("drift.psi", "region") in checks and ("drift.null_rate", "score") in checks


def test_a_mean_shift_is_flagged_on_its_column(reference: DatasetProfile) -> None:
    frame = _batch(50_000, seed=3).with_columns(pl.col("score") + 1.0)
    results = _drift(reference, frame)
    assert _failures(results) == {("drift.psi", "score"), ("drift.ks", "score")}
    (psi_result,) = [r for r in results if (r.check, r.column) == ("drift.psi", "score")]
    assert psi_result.severity == "error" and "PSI" in psi_result.message and "0.25" in psi_result.message


def test_a_variance_change_is_flagged_on_its_column(reference: DatasetProfile) -> None:
    frame = _batch(50_000, seed=4).with_columns(pl.col("score") * 2.0)
    assert _failures(_drift(reference, frame)) == {("drift.psi", "score"), ("drift.ks", "score")}


def test_a_new_category_is_flagged_as_unseen(reference: DatasetProfile) -> None:
    frame = _batch(50_000, seed=5)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 20 == 0).then(pl.lit("mars")).otherwise(pl.col("region")).alias("region")
    )
    results = _drift(reference, frame)
    assert ("drift.unseen", "region") in _failures(results)
    assert {column for _, column in _failures(results)} == {"region"}
    (unseen,) = [r for r in results if r.check == "drift.unseen" and r.column == "region"]
    assert unseen.severity == "error" and "5.00%" in unseen.message and "1.00%" in unseen.message


def test_a_null_rate_jump_is_flagged(reference: DatasetProfile) -> None:
    frame = _batch(50_000, seed=6).with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0).then(None).otherwise(pl.col("amount")).alias("amount")
    )
    results = _drift(reference, frame)
    assert _failures(results) == {("drift.null_rate", "amount")}
    (jump,) = [r for r in results if r.check == "drift.null_rate" and r.column == "amount"]
    assert "10.00%" in jump.message and "+5.00" in jump.message


def test_a_disappearing_category_is_flagged_by_psi(reference: DatasetProfile) -> None:
    frame = _batch(50_000, seed=8).filter(pl.col("channel") != "branch")
    results = _drift(reference, frame)
    assert _failures(results) == {("drift.psi", "channel")}
    (gone,) = [r for r in results if r.check == "drift.psi" and r.column == "channel"]
    assert "'branch'" in gone.message and "-> 0.00%" in gone.message


def test_psi_between_the_levels_is_a_warning(reference: DatasetProfile) -> None:
    limits = DriftThresholds(psi_warn=0.05, psi_fail=0.9, ks=1.0)
    frame = _batch(50_000, seed=9).with_columns(pl.col("score") + 0.5)
    results = check_drift(reference, profile_with_edges(frame, reference), limits)
    (shifted,) = [r for r in results if (r.check, r.column) == ("drift.psi", "score")]
    assert not shifted.passed and shifted.severity == "warning"


def test_a_column_missing_from_the_current_profile_fails_its_null_rate(reference: DatasetProfile) -> None:
    current = profile_with_edges(_batch(1_000, seed=10), reference)
    partial = DatasetProfile(current.row_count, {k: v for k, v in current.columns.items() if k != "age"})
    assert ("drift.null_rate", "age") in _failures(check_drift(reference, partial))


def test_profiles_of_different_kinds_are_refused(reference: DatasetProfile) -> None:
    current = profile_with_edges(_batch(1_000, seed=11), reference)
    swapped = DatasetProfile(current.row_count, {**current.columns, "age": current.columns["region"]})
    with pytest.raises(DataError, match="'age'"):
        check_drift(reference, swapped)


def test_an_empty_batch_only_moves_nothing(reference: DatasetProfile) -> None:
    results = _drift(reference, _batch(10, seed=12).clear())
    assert _failures(results) == set()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_checks_ignore_row_order(reference: DatasetProfile, seed: int) -> None:
    frame = _batch(5_000, seed=13).with_columns(pl.col("score") + 0.3)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    assert _drift(reference, shuffled) == _drift(reference, frame)
