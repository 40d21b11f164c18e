"""asof_join: equal to a naive loop, never looks at or past the spine time, keeps spine order, refuses bad keys."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import DataError
from assay.features import asof_join

BASE = datetime(2024, 1, 1)

# Few entities and few distinct hours, so ties between events and exact matches with the spine are common.
_rows = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 12)), max_size=25)
_tolerance = st.one_of(st.none(), st.integers(0, 6).map(lambda h: timedelta(hours=h)))


def _spine(rows: list[tuple[int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"customer": [e for e, _ in rows], "at": [BASE + timedelta(hours=h) for _, h in rows],
         "label": list(range(len(rows)))},
        schema={"customer": pl.Int64, "at": pl.Datetime("us"), "label": pl.Int64},
    )


def _events(rows: list[tuple[int, int]]) -> pl.DataFrame:
    # event_id is the row position, so the test can see exactly which event a spine row got.
    return pl.DataFrame(
        {"customer": [e for e, _ in rows], "occurred_at": [BASE + timedelta(hours=h) for _, h in rows],
         "event_id": list(range(len(rows)))},
        schema={"customer": pl.Int64, "occurred_at": pl.Datetime("us"), "event_id": pl.Int64},
    )


def _naive_asof(spine: pl.DataFrame, events: pl.DataFrame, *, tolerance: timedelta | None,
                allow_exact_match: bool) -> list[int | None]:
    """Reference: for each spine row, the id of the latest eligible event (ties → last in row order)."""
    found: list[int | None] = []
    for customer, at in spine.select("customer", "at").iter_rows():
        best: tuple[datetime, int] | None = None
        for e_customer, occurred_at, event_id in events.iter_rows():
            eligible = occurred_at < at or (allow_exact_match and occurred_at == at)
            if e_customer != customer or not eligible:
                continue
            if tolerance is not None and at - occurred_at > tolerance:
                continue
            if best is None or (occurred_at, event_id) >= best:
                best = (occurred_at, event_id)
        found.append(None if best is None else best[1])
    return found


@settings(max_examples=300, deadline=None)
@given(spine_rows=_rows, event_rows=_rows, tolerance=_tolerance, allow_exact_match=st.booleans())
def test_asof_join_equals_naive_reference(spine_rows, event_rows, tolerance, allow_exact_match) -> None:
    spine, events = _spine(spine_rows), _events(event_rows)
    joined = asof_join(spine, events, entity="customer", spine_time="at", event_time="occurred_at",
                       tolerance=tolerance, allow_exact_match=allow_exact_match)
    assert joined["event_id"].to_list() == _naive_asof(spine, events, tolerance=tolerance,
                                                        allow_exact_match=allow_exact_match)


@settings(max_examples=200, deadline=None)
@given(spine_rows=_rows, event_rows=_rows)
def test_strict_asof_join_never_uses_an_event_at_or_after_the_spine_time(spine_rows, event_rows) -> None:
    joined = asof_join(_spine(spine_rows), _events(event_rows), entity="customer", spine_time="at",
                       event_time="occurred_at", columns=["event_id", "occurred_at"])
    matched = joined.filter(pl.col("occurred_at").is_not_null())
    assert (matched["occurred_at"] < matched["at"]).all()


@settings(max_examples=200, deadline=None)
@given(spine_rows=_rows, event_rows=_rows, allow_exact_match=st.booleans())
def test_asof_join_keeps_spine_rows_and_their_order(spine_rows, event_rows, allow_exact_match) -> None:
    spine = _spine(spine_rows)
    joined = asof_join(spine, _events(event_rows), entity="customer", spine_time="at", event_time="occurred_at",
                       allow_exact_match=allow_exact_match)
    assert joined.columns == ["customer", "at", "label", "event_id"]
    assert joined.select(spine.columns).equals(spine)


def test_exact_match_is_used_only_when_asked() -> None:
    spine = _spine([(1, 5)])
    events = _events([(1, 3), (1, 5), (1, 7)])
    strict = asof_join(spine, events, entity="customer", spine_time="at", event_time="occurred_at")
    inclusive = asof_join(spine, events, entity="customer", spine_time="at", event_time="occurred_at",
                          allow_exact_match=True)
    assert strict["event_id"].to_list() == [0]
    assert inclusive["event_id"].to_list() == [1]


def test_asof_join_works_on_date_columns() -> None:
    spine = pl.DataFrame({"customer": [1, 1], "day": [date(2024, 1, 2), date(2024, 1, 10)]})
    events = pl.DataFrame({"customer": [1], "day_seen": [date(2024, 1, 1)], "amount": [3]})
    joined = asof_join(spine, events, entity="customer", spine_time="day", event_time="day_seen",
                       tolerance=timedelta(days=3))
    assert joined["amount"].to_list() == [3, None]


@pytest.mark.parametrize("table", ["spine", "events"])
def test_missing_timestamps_are_refused_naming_table_column_and_rows(table: str) -> None:
    spine = _spine([(1, 2), (1, 3), (2, 4)])
    events = _events([(1, 1), (2, 1), (2, 2)])
    if table == "spine":
        spine = spine.with_columns(pl.when(pl.col("label") == 1).then(None).otherwise(pl.col("at")).alias("at"))
        column = "at"
    else:
        events = events.with_columns(
            pl.when(pl.col("event_id") >= 1).then(None).otherwise(pl.col("occurred_at")).alias("occurred_at"))
        column = "occurred_at"
    with pytest.raises(DataError) as caught:
        asof_join(spine, events, entity="customer", spine_time="at", event_time="occurred_at")
    message = str(caught.value)
    assert message.startswith(f"{table}: column {column!r}")
    assert "missing timestamp" in message
    assert ("[1]" if table == "spine" else "[1, 2]") in message
    assert "hint:" in message


def test_missing_entity_keys_are_refused() -> None:
    spine = _spine([(1, 2)]).with_columns(pl.lit(None, dtype=pl.Int64).alias("customer"))
    with pytest.raises(DataError, match="spine: column 'customer' has 1 missing entity"):
        asof_join(spine, _events([(1, 1)]), entity="customer", spine_time="at", event_time="occurred_at")


def test_absent_key_columns_are_refused() -> None:
    with pytest.raises(DataError, match=r"events: column\(s\) \['when'\] not found"):
        asof_join(_spine([(1, 2)]), _events([(1, 1)]), entity="customer", spine_time="at", event_time="when")
    with pytest.raises(DataError, match=r"spine: column\(s\) \['account'\] not found"):
        asof_join(_spine([(1, 2)]), _events([(1, 1)]), entity="account", spine_time="at", event_time="occurred_at")


@pytest.mark.parametrize(
    "cast",
    [pl.Datetime("ms"), pl.Datetime("us", "UTC"), pl.Date],
    ids=["time-unit", "time-zone", "date-vs-datetime"],
)
def test_different_time_dtypes_are_refused(cast: pl.DataType) -> None:
    events = _events([(1, 1)]).with_columns(pl.col("occurred_at").cast(cast))
    with pytest.raises(DataError, match="spine column 'at' is Datetime.* but events column 'occurred_at' is"):
        asof_join(_spine([(1, 2)]), events, entity="customer", spine_time="at", event_time="occurred_at")


def test_non_temporal_time_column_is_refused() -> None:
    spine = _spine([(1, 2)]).with_columns(pl.col("at").dt.strftime("%Y-%m-%d"))
    with pytest.raises(DataError, match="time column 'at' has dtype String"):
        asof_join(spine, _events([(1, 1)]), entity="customer", spine_time="at", event_time="occurred_at")


def test_event_columns_that_collide_with_spine_columns_are_refused() -> None:
    events = _events([(1, 1)]).with_columns(pl.lit(0).alias("label"))
    with pytest.raises(DataError, match=r"event columns \['label'\] are already spine columns"):
        asof_join(_spine([(1, 2)]), events, entity="customer", spine_time="at", event_time="occurred_at")
