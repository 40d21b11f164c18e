"""compute_features: windowed aggregations equal a naive loop, point-in-time, and scale to 100k × 1M."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import DataError, SpecError
from assay.features import AGGREGATIONS, Aggregation, FeatureDefinition, compute_features

BASE = datetime(2024, 1, 1)

_spine_rows = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 120)), max_size=20)
_event_rows = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 120), st.one_of(st.none(), st.integers(-5, 5))), max_size=30
)
_expressions = st.builds(
    Aggregation,
    agg=st.sampled_from(AGGREGATIONS),
    column=st.just("amount"),
    window_days=st.one_of(st.none(), st.integers(1, 4)),
)


def _definition(expression: Aggregation, name: str = "feature") -> FeatureDefinition:
    return FeatureDefinition(name=name, entity="customer", timestamp="occurred_at", source="payments",
                             expression=expression)


def _frames(spine_rows, event_rows, value_dtype: pl.DataType) -> tuple[pl.DataFrame, pl.DataFrame]:
    # Times are whole hours over five days, so windows of 1-4 days cut through them and ties are common.
    spine = pl.DataFrame(
        {"customer": [e for e, _ in spine_rows], "at": [BASE + timedelta(hours=h) for _, h in spine_rows]},
        schema={"customer": pl.Int64, "at": pl.Datetime("us")},
    )
    events = pl.DataFrame(
        {"customer": [e for e, _, _ in event_rows], "occurred_at": [BASE + timedelta(hours=h) for _, h, _ in event_rows],
         "amount": [v for _, _, v in event_rows]},
        schema={"customer": pl.Int64, "occurred_at": pl.Datetime("us"), "amount": value_dtype},
    )
    return spine, events


def _naive(spine: pl.DataFrame, events: pl.DataFrame, expression: Aggregation) -> list[float | int | None]:
    """Reference: loop over spine rows; events of the entity with t - window <= time < t."""
    out: list[float | int | None] = []
    for customer, at in spine.iter_rows():
        start = at - timedelta(days=expression.window_days) if expression.window_days is not None else None
        chosen = [
            (occurred_at, position, amount)
            for position, (e_customer, occurred_at, amount) in enumerate(events.iter_rows())
            if e_customer == customer and occurred_at < at and (start is None or occurred_at >= start)
        ]
        present = [amount for _, _, amount in chosen if amount is not None]
        agg = expression.agg
        if agg == "last":
            out.append(max(chosen)[2] if chosen else None)
        elif agg == "count":
            out.append(len(present) if expression.column is not None else len(chosen))
        elif agg == "sum":
            out.append(sum(present))
        elif agg == "mean":
            out.append(sum(present) / len(present) if present else None)
        elif agg == "max":
            out.append(max(present) if present else None)
        else:
            out.append(min(present) if present else None)
    return out


@settings(max_examples=300, deadline=None)
@given(spine_rows=_spine_rows, event_rows=_event_rows, expression=_expressions,
       value_dtype=st.sampled_from([pl.Float64, pl.Int64]))
def test_windowed_aggregations_equal_naive_reference(spine_rows, event_rows, expression, value_dtype) -> None:
    spine, events = _frames(spine_rows, event_rows, value_dtype)
    computed = compute_features(spine, events, [_definition(expression)], spine_time="at")
    assert computed.frame.select("customer", "at").equals(spine)
    assert computed.frame["feature"].to_list() == pytest.approx(_naive(spine, events, expression))


@settings(max_examples=100, deadline=None)
@given(spine_rows=_spine_rows, event_rows=_event_rows, window_days=st.one_of(st.none(), st.integers(1, 4)))
def test_count_without_a_column_counts_events(spine_rows, event_rows, window_days) -> None:
    spine, events = _frames(spine_rows, event_rows, pl.Float64)
    expression = Aggregation(agg="count", column=None, window_days=window_days)
    computed = compute_features(spine, events, [_definition(expression)], spine_time="at")
    assert computed.frame["feature"].to_list() == _naive(spine, events, expression)


@settings(max_examples=100, deadline=None)
@given(spine_rows=_spine_rows, event_rows=_event_rows)
def test_future_events_never_change_a_feature(spine_rows, event_rows) -> None:
    """Adding events at or after every spine time leaves every feature as it was."""
    spine, events = _frames(spine_rows, event_rows, pl.Float64)
    definitions = [_definition(Aggregation(agg=agg, column="amount", window_days=2), name=agg) for agg in AGGREGATIONS]
    late = max((h for _, h in spine_rows), default=0)
    future = _frames([], [(c, late + k, 100) for c in range(3) for k in range(2)], pl.Float64)[1]
    before = compute_features(spine, events, definitions, spine_time="at").frame
    after = compute_features(spine, pl.concat([events, future]), definitions, spine_time="at").frame
    assert after.equals(before)


def test_several_definitions_return_their_versions_and_sources() -> None:
    spine, events = _frames([(0, 50), (1, 10)], [(0, 1, 2), (0, 30, 3), (1, 20, 9)], pl.Float64)
    total = FeatureDefinition(name="total", entity="customer", timestamp="occurred_at", source="payments",
                              expression=Aggregation(agg="sum", column="amount"))
    refunds = FeatureDefinition(name="refunds", entity="customer", timestamp="occurred_at", source="refunds",
                                expression=Aggregation(agg="count"))
    computed = compute_features(spine, {"payments": events, "refunds": events.head(1)}, [total, refunds],
                                spine_time="at")
    assert computed.frame.columns == ["customer", "at", "total", "refunds"]
    assert computed.frame["total"].to_list() == [5.0, 0.0]
    assert computed.frame["refunds"].to_list() == [1, 0]
    assert computed.versions == {"total": total.version, "refunds": refunds.version}


def test_missing_source_table_is_a_spec_error() -> None:
    spine, events = _frames([(0, 5)], [(0, 1, 2)], pl.Float64)
    definition = _definition(Aggregation(agg="count"))
    with pytest.raises(SpecError, match=r"no event table for source\(s\) \['payments'\]"):
        compute_features(spine, {"orders": events}, [definition], spine_time="at")


def test_absent_value_column_and_name_clash_are_refused() -> None:
    spine, events = _frames([(0, 5)], [(0, 1, 2)], pl.Float64)
    with pytest.raises(DataError, match="feature 'feature': column 'price' is not in events 'payments'"):
        compute_features(spine, events, [_definition(Aggregation(agg="sum", column="price"))], spine_time="at")
    with pytest.raises(DataError, match=r"feature names \['at'\] are already spine columns"):
        compute_features(spine, events, [_definition(Aggregation(agg="count"), name="at")], spine_time="at")


def test_duplicate_feature_names_are_refused() -> None:
    spine, events = _frames([(0, 5)], [(0, 1, 2)], pl.Float64)
    definition = _definition(Aggregation(agg="count"))
    with pytest.raises(SpecError, match=r"repeated: \['feature'\]"):
        compute_features(spine, events, [definition, definition], spine_time="at")


def test_missing_event_timestamps_are_refused() -> None:
    spine, events = _frames([(0, 5)], [(0, 1, 2), (0, 2, 3)], pl.Float64)
    events = events.with_columns(pl.when(pl.col("amount") == 3).then(None).otherwise(pl.col("occurred_at"))
                                 .alias("occurred_at"))
    with pytest.raises(DataError, match=r"events 'payments': column 'occurred_at' has 1 missing timestamp.*\[1\]"):
        compute_features(spine, events, [_definition(Aggregation(agg="count"))], spine_time="at")


def test_100k_spine_by_1m_events_finishes() -> None:
    rng = np.random.default_rng(7)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    events = pl.DataFrame({
        "customer": rng.integers(0, 20_000, 1_000_000),
        "occurred_at": start + rng.integers(0, 365 * 86_400, 1_000_000).astype("timedelta64[s]"),
        "amount": rng.normal(size=1_000_000),
    })
    spine = pl.DataFrame({
        "customer": rng.integers(0, 20_000, 100_000),
        "at": start + rng.integers(0, 400 * 86_400, 100_000).astype("timedelta64[s]"),
    })
    definitions = [
        _definition(Aggregation(agg="sum", column="amount", window_days=30), name="amount_30d"),
        _definition(Aggregation(agg="mean", column="amount"), name="amount_mean"),
        _definition(Aggregation(agg="last", column="amount", window_days=90), name="amount_last"),
    ]
    began = time.perf_counter()
    computed = compute_features(spine, events, definitions, spine_time="at")
    elapsed = time.perf_counter() - began
    print(f"\ncompute_features: 100,000 spine rows x 1,000,000 events, 3 features: {elapsed:.2f} s")
    assert computed.frame.height == 100_000


def test_date_columns_use_whole_day_windows() -> None:
    spine = pl.DataFrame({"customer": [1, 1], "day": [date(2024, 1, 5), date(2024, 1, 20)]})
    events = pl.DataFrame({"customer": [1, 1], "occurred_at": [date(2024, 1, 1), date(2024, 1, 2)], "amount": [2, 3]})
    definitions = [
        _definition(Aggregation(agg="sum", column="amount", window_days=3), name="sum_3d"),
        _definition(Aggregation(agg="sum", column="amount"), name="sum_all"),
    ]
    frame = compute_features(spine, events, definitions, spine_time="day").frame
    # 2024-01-05 minus 3 days is 2024-01-02: that day's event is in, 2024-01-01's is out.
    assert frame["sum_3d"].to_list() == [3, 0]
    assert frame["sum_all"].to_list() == [5, 5]


def test_worked_example_in_the_docs() -> None:
    """docs/features.md, "As-of semantics": keep the table there in step with this test."""
    events = pl.DataFrame({"customer_id": [7, 7, 7], "amount": [10, 5, 40],
                           "occurred_at": [date(2024, 3, 1), date(2024, 3, 20), date(2024, 4, 2)]})
    spine = pl.DataFrame({"customer_id": [7, 7, 7, 7],
                          "as_of": [date(2024, 3, 1), date(2024, 3, 21), date(2024, 4, 2), date(2024, 5, 10)]})
    definitions = [
        FeatureDefinition(name="spend_30d", entity="customer_id", timestamp="occurred_at", source="payments",
                          expression=Aggregation(agg="sum", column="amount", window_days=30)),
        FeatureDefinition(name="last_amount", entity="customer_id", timestamp="occurred_at", source="payments",
                          expression=Aggregation(agg="last", column="amount")),
    ]
    frame = compute_features(spine, events, definitions, spine_time="as_of").frame
    assert frame["spend_30d"].to_list() == [0, 15, 5, 0]
    assert frame["last_amount"].to_list() == [None, 5, 5, 40]
