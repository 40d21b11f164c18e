"""The drift verdict: quiet on fresh samples of the reference distribution, loud on real shifts,
and silent ("not enough data") on windows too small to judge."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from assay.data.profile import profile_frame, profile_with_edges
from assay.monitoring.drift import PREDICTION, DriftReport, compare_frames, compare_profiles
from assay.monitoring.errors import MonitoringSourceError
from assay.spec.model import ColumnSchema, DataSchema
from assay.spec.monitoring import DriftPolicy

CATEGORIES = np.array(["a", "b", "c", "d", "e"])
SHARES = np.array([0.4, 0.25, 0.15, 0.12, 0.08])


def _sample(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    income = rng.lognormal(10, 0.5, n)
    age = rng.integers(18, 80, n).astype(np.float64)
    score = rng.normal(0, 1, n)
    score[rng.random(n) < 0.03] = np.nan  # 3% missing, on both sides
    return {
        "income": income,
        "age": age,
        "score": score,
        "segment": rng.choice(CATEGORIES, n, p=SHARES),
        "channel": rng.choice(np.array(["web", "branch", "phone"]), n, p=[0.6, 0.3, 0.1]),
    }


def _frame(columns: dict[str, np.ndarray]) -> pl.DataFrame:
    frame = pl.DataFrame(columns)
    return frame.with_columns(pl.col("score").fill_nan(None))


@pytest.fixture(scope="module")
def reference() -> pl.DataFrame:
    return _frame(_sample(np.random.default_rng(0), 20_000))


def test_fresh_samples_of_the_reference_distribution_raise_no_alarm(reference: pl.DataFrame) -> None:
    """200 seeded windows from the reference distribution: no drift verdict at all, and even the
    tests alone (Benjamini-Hochberg across the family) are significant in at most about fdr of
    the windows, as the procedure promises under no change."""
    policy = DriftPolicy()
    trials, verdicts, significant = 200, 0, 0
    for seed in range(1, trials + 1):
        report = compare_frames(reference, _frame(_sample(np.random.default_rng(seed), 1_500)), policy=policy)
        verdicts += report.verdict == "drift"
        significant += any(
            (f.p_adjusted is not None and f.p_adjusted <= policy.fdr)
            or (f.null_p_adjusted is not None and f.null_p_adjusted <= policy.fdr)
            for f in report.features
        )
    assert verdicts == 0
    assert significant / trials <= policy.fdr + 3 * np.sqrt(policy.fdr * (1 - policy.fdr) / trials)


@pytest.mark.parametrize(
    ("change", "column", "reason"),
    [
        ("location", "income", "psi"),
        ("scale", "score", "psi"),
        ("frequency", "segment", "psi"),
        ("unseen", "channel", "unseen_share"),
        ("nulls", "age", "null_rate_change"),
    ],
)
def test_each_planted_shift_is_flagged_on_its_feature_only(
    reference: pl.DataFrame, change: str, column: str, reason: str
) -> None:
    rng = np.random.default_rng(99)
    current = _sample(rng, 5_000)
    n = len(current["income"])
    if change == "location":
        current["income"] = current["income"] * 1.8
    elif change == "scale":
        current["score"] = current["score"] * 2.5
    elif change == "frequency":
        current["segment"] = rng.choice(CATEGORIES, n, p=SHARES[::-1])
    elif change == "unseen":
        current["channel"] = np.where(rng.random(n) < 0.05, "app", current["channel"])
    else:
        current["age"] = np.where(rng.random(n) < 0.15, np.nan, current["age"])
    report = compare_frames(reference, _frame(current).with_columns(pl.col("age").fill_nan(None)))
    assert report.verdict == "drift"
    assert report.drifted == [column]
    flagged = next(f for f in report.features if f.name == column)
    assert any(r.startswith(reason) for r in flagged.reasons), flagged.reasons
    assert flagged.p_adjusted is not None or flagged.null_p_adjusted is not None


def test_each_numeric_statistic_can_be_the_judged_one(reference: pl.DataFrame) -> None:
    current = _sample(np.random.default_rng(5), 5_000)
    current["income"] = current["income"] * 1.5
    for statistic in ("psi", "ks", "wasserstein"):
        report = compare_frames(reference, _frame(current), policy=DriftPolicy(numeric=statistic))
        income = next(f for f in report.features if f.name == "income")
        assert income.statistic == statistic
        assert income.value == income.statistics[statistic]
        assert report.drifted == ["income"]
    js = compare_frames(reference, _frame(current), policy=DriftPolicy(categorical="jensen_shannon"))
    assert next(f for f in js.features if f.name == "segment").statistic == "jensen_shannon"


def test_a_window_below_min_rows_says_not_enough_data_even_when_shifted(reference: pl.DataFrame) -> None:
    current = _sample(np.random.default_rng(7), 300)
    current["income"] = current["income"] * 3
    report = compare_frames(reference, _frame(current), policy=DriftPolicy(min_rows=500))
    assert report.verdict == "not enough data"
    assert report.drifted == []
    assert {f.verdict for f in report.features} == {"not enough data"}
    enough = compare_frames(reference, _frame(current), policy=DriftPolicy(min_rows=300))
    assert enough.verdict == "drift"


def test_an_effect_too_small_to_matter_is_not_drift_however_significant() -> None:
    """A large sample makes a tiny shift significant; the effect threshold keeps it quiet."""
    rng = np.random.default_rng(1)
    a = pl.DataFrame({"x": rng.normal(0, 1, 200_000)})
    b = pl.DataFrame({"x": rng.normal(0.05, 1, 200_000)})
    report = compare_frames(a, b)
    (x,) = report.features
    assert x.p_adjusted is not None and x.p_adjusted < 1e-6
    assert x.verdict == "no drift"


def test_report_to_dict_is_json_ready_and_lazy_frames_work(reference: pl.DataFrame) -> None:
    current = _frame(_sample(np.random.default_rng(8), 2_000))
    report = compare_frames(reference.lazy(), current.lazy(), columns=["income", "segment", "age"],
                            categorical=["age"])
    document = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert [f["name"] for f in document["features"]] == ["income", "segment", "age"]
    assert [f["kind"] for f in document["features"]] == ["numeric", "categorical", "categorical"]
    assert document["verdict"] == "no drift" and document["drifted"] == []
    assert {"psi", "ks", "wasserstein", "null_rate_change"} <= set(document["features"][0]["statistics"])
    assert {"psi", "jensen_shannon", "unseen_share"} <= set(document["features"][1]["statistics"])
    for feature in document["features"]:
        assert set(feature) >= {"p_value", "p_adjusted", "drifted", "verdict", "threshold", "value"}


def test_text_numbers_in_the_current_batch_are_read_as_numbers(reference: pl.DataFrame) -> None:
    current = _frame(_sample(np.random.default_rng(9), 2_000)).with_columns(pl.col("income").cast(pl.String))
    report = compare_frames(reference, current)
    assert report.verdict == "no drift"


def test_unknown_columns_are_refused_with_the_reference_columns_named(reference: pl.DataFrame) -> None:
    with pytest.raises(MonitoringSourceError, match="'nope'"):
        compare_frames(reference, reference, columns=["nope"])


def test_the_prediction_is_judged_on_psi_of_the_scores() -> None:
    rng = np.random.default_rng(4)
    schema = DataSchema(columns={"x": ColumnSchema(type="float")}, min_rows=None)
    score_schema = DataSchema(columns={"score": ColumnSchema(type="float")}, min_rows=None)
    features = profile_frame(pl.DataFrame({"x": rng.normal(size=5000)}), schema)
    scores = profile_frame(pl.DataFrame({"score": rng.beta(2, 5, 5000)}), score_schema)
    now = profile_with_edges(pl.DataFrame({"x": rng.normal(size=3000)}), features)
    shifted = profile_with_edges(pl.DataFrame({"score": rng.beta(5, 2, 3000)}), scores)
    report: DriftReport = compare_profiles(features, now, reference_scores=scores, current_scores=shifted)
    assert report.prediction is not None and report.prediction.name == PREDICTION
    assert report.prediction.statistic == "psi" and report.prediction.threshold == DriftPolicy().prediction_psi
    assert report.drifted == [PREDICTION]
