"""The detectors' individual rules: thresholds, chance baselines, name hints, declarations."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from leakage_planting import (
    TARGET,
    clean_base,
    clean_entities_may_cross,
    clean_low_cardinality,
    planted_target_proxy,
)

from assay.errors import LeakageError
from assay.leakage.detect import (
    Declarations,
    check_leakage,
    detect_duplicates,
    detect_entity_overlap,
    detect_preprocessing,
    detect_target_leakage,
    detect_temporal,
)
from assay.leakage.detect._stats import auc
from assay.leakage.detect.finding import MAX_EXAMPLES


def test_strong_real_predictor_is_not_a_proxy() -> None:
    case = clean_base(3)
    strength = auc(case.test.get_column("x_strong").to_numpy(), case.test.get_column(TARGET).to_numpy() == 1)
    assert 0.7 < strength < 0.9  # a genuinely strong feature
    assert [f for f in detect_target_leakage(case.train, case.test, case.declarations) if f.kind != "target_name_hint"] == []


def test_leak_like_name_alone_is_only_info() -> None:
    case = clean_base(0)
    hints = [f for f in detect_target_leakage(case.train, case.test, case.declarations) if "outcome_notes_len" in f.columns]
    assert [(f.kind, f.severity) for f in hints] == [("target_name_hint", "info")]


def test_leak_like_name_raises_strong_evidence_by_one_level() -> None:
    rng = np.random.default_rng(0)
    case = clean_base(0)

    def proxy(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        # AUC about 0.96: a warning alone, critical with a leak-like name
        return frame.with_columns((pl.col(TARGET) * 1.0 + pl.Series(rng.normal(0, 0.39, frame.height))).alias(name))

    plain = detect_target_leakage(proxy(case.train, "score_a"), proxy(case.test, "score_a"), case.declarations)
    hinted = detect_target_leakage(proxy(case.train, "chargeback_amt"), proxy(case.test, "chargeback_amt"), case.declarations)
    assert [f.severity for f in plain if f.kind == "target_proxy"] == ["warning"]
    assert [f.severity for f in hinted if f.kind == "target_proxy"] == ["critical"]


def test_monotone_transform_of_a_numeric_target_is_a_copy() -> None:
    rng = np.random.default_rng(1)
    y = rng.gamma(2.0, 100.0, 400)
    frame = pl.DataFrame({"x": rng.normal(size=400), "log_amount": np.log1p(y), TARGET: y})
    found = detect_target_leakage(frame.head(300), frame.tail(100), Declarations(target=TARGET))
    assert [(f.kind, f.columns) for f in found] == [("target_copy", ("log_amount", TARGET))]


def test_categorical_feature_encoded_on_train_reveals_a_proxy() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 600)
    codes = np.where(y == 1, rng.choice(["p1", "p2", "p3"], 600), rng.choice(["n1", "n2", "n3"], 600))
    frame = pl.DataFrame({"reason_code": codes, "noise": rng.normal(size=600), TARGET: y})
    found = detect_target_leakage(frame.head(450), frame.tail(150), Declarations(target=TARGET))
    assert [(f.kind, f.severity, f.columns) for f in found] == [("target_proxy", "critical", ("reason_code",))]


def test_chance_duplicates_in_low_cardinality_data_are_not_flagged() -> None:
    case = clean_low_cardinality(0)
    assert [f for f in detect_duplicates(case.train, case.test, case.declarations) if f.severity != "info"] == []


def test_copied_rows_in_low_cardinality_data_are_not_blamed_on_chance_only_when_excess_is_real() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    frame = pl.DataFrame({"a": rng.normal(size=n).round(1), "b": rng.integers(0, 20, n), TARGET: rng.integers(0, 2, n)})
    train, test = frame.head(2000), frame.tail(1000)
    baseline = detect_duplicates(train, test, Declarations(target=TARGET))
    assert [f for f in baseline if f.severity == "critical"] == []
    copied = pl.concat([train.head(300), test.tail(700)])
    found = [f for f in detect_duplicates(train, copied, Declarations(target=TARGET)) if f.kind == "duplicate_rows"]
    assert found and found[0].severity == "critical"
    assert len(found[0].test_rows) == MAX_EXAMPLES


def test_entities_allowed_to_cross_are_info() -> None:
    case = clean_entities_may_cross(0)
    found = detect_entity_overlap(case.train, case.test, case.declarations)
    assert [(f.kind, f.severity) for f in found] == [("entity_overlap", "info")]
    strict = detect_entity_overlap(case.train, case.test, replace(case.declarations, entity_may_cross=False))
    assert [(f.kind, f.severity) for f in strict] == [("entity_overlap", "critical")]


def test_a_few_test_rows_before_the_newest_training_row_are_a_warning() -> None:
    case = clean_base(0)
    latest = case.train.get_column("applied_at").max()
    test = case.test.with_columns(pl.when(pl.int_range(pl.len()) < 5).then(pl.lit(latest) - pl.duration(days=2)).otherwise(pl.col("applied_at")).alias("applied_at"))
    found = detect_temporal(case.train, test, replace(case.declarations, feature_time={}))
    assert [(f.kind, f.severity, f.test_rows) for f in found] == [("test_before_train", "warning", (0, 1, 2, 3, 4))]
    assert found[0].evidence["max_lag_days"] == pytest.approx(2.0)


def test_min_max_scaling_on_all_rows_is_found_and_natural_bounds_are_not() -> None:
    rng = np.random.default_rng(4)
    raw = rng.normal(50, 10, 1000)
    scaled = (raw - raw.min()) / (raw.max() - raw.min())
    order = np.argsort(raw)
    test_positions = np.r_[order[:1], order[-1:], rng.choice(order[1:-1], 198, replace=False)]
    is_test = np.zeros(1000, dtype=bool)
    is_test[test_positions] = True
    frame = pl.DataFrame({"scaled": scaled, "natural": rng.uniform(0, 1, 1000), "clipped": np.clip(rng.normal(0.5, 0.4, 1000), 0, 1), TARGET: rng.integers(0, 2, 1000)})
    found = detect_preprocessing(frame.filter(~pl.Series(is_test)), frame.filter(pl.Series(is_test)), Declarations(target=TARGET))
    assert [(f.kind, f.columns) for f in found] == [("preprocessing_before_split", ("scaled",))]


def test_scaler_fitted_on_train_only_is_not_flagged() -> None:
    rng = np.random.default_rng(6)
    raw = rng.normal(3, 2, 1000)
    train_raw, test_raw = raw[:800], raw[800:]
    mean, std = train_raw.mean(), train_raw.std()
    train = pl.DataFrame({"x": (train_raw - mean) / std, TARGET: rng.integers(0, 2, 800)})
    test = pl.DataFrame({"x": (test_raw - mean) / std, TARGET: rng.integers(0, 2, 200)})
    assert detect_preprocessing(train, test, Declarations(target=TARGET)) == []


def test_missing_declared_columns_are_all_named() -> None:
    case = clean_base(0)
    with pytest.raises(LeakageError) as caught:
        check_leakage(case.train, case.test, replace(case.declarations, entity="account", id_columns=("nope",)))
    assert "entity column 'account' is not in test" in str(caught.value)
    assert "id column 'nope' is not in train" in str(caught.value)
    assert caught.value.hint


def test_feature_times_need_a_prediction_time() -> None:
    case = clean_base(0)
    with pytest.raises(LeakageError, match="no prediction time"):
        check_leakage(case.train, case.test, replace(case.declarations, time=None))


def test_report_is_sorted_by_severity_and_serialisable() -> None:
    case = planted_target_proxy(0)
    report = check_leakage(case.train, case.test, case.declarations)
    ranks = [{"critical": 0, "warning": 1, "info": 2}[f.severity] for f in report.findings]
    assert ranks == sorted(ranks)
    assert report.critical and all(f.severity == "critical" for f in report.critical)
    document = json.loads(json.dumps(report.to_dict()))
    assert document["counts"]["critical"] == len(report.critical)
    assert {"kind", "severity", "columns", "test_rows", "entities", "evidence"} <= set(document["findings"][0])


def test_same_seed_same_report() -> None:
    case = planted_target_proxy(1)
    first = check_leakage(case.train, case.test, case.declarations, seed=7)
    second = check_leakage(case.train, case.test, case.declarations, seed=7)
    assert first == second


def test_text_times_are_parsed_and_unparseable_ones_are_declaration_errors() -> None:
    train = pl.DataFrame({"t": ["2024-01-01", "2024-03-01"], TARGET: [0, 1]})
    test = pl.DataFrame({"t": ["2024-02-01", "2024-04-01"], TARGET: [1, 0]})
    found = detect_temporal(train, test, Declarations(target=TARGET, time="t"))
    assert [(f.kind, f.test_rows, f.evidence["max_lag_days"]) for f in found] == [("test_before_train", (0,), 29.0)]
    with pytest.raises(LeakageError, match="not dates"):
        detect_temporal(train, test.with_columns(pl.Series("t", ["2024-02-01", "soon"])), Declarations(target=TARGET, time="t"))
