"""Labels files are checked with errors that name the file, column and rows; the store keeps each
ingest once; labels join the predictions they judge (exactly, or as of the entity's last prediction)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from assay.monitoring.labelled import (
    MATCHED,
    NO_PREDICTION,
    TOO_LATE,
    match_labels,
    prediction_keys,
)
from assay.monitoring.labels import (
    LabelColumns,
    LabelsFileError,
    LabelStore,
    read_labels_file,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
COLUMNS = LabelColumns(label="defaulted", entity="customer_id", time="observed_at")
DELAY = timedelta(days=30)


def _read(path: Path, key: str = "request_id", **kwargs: object) -> pl.DataFrame:
    return read_labels_file(path, key=key, columns=COLUMNS, task="classification", classes=[0, 1], **kwargs).frame  # type: ignore[arg-type]


def _keys(rows: list[tuple[str, int, datetime, str | None]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema={"request_id": pl.String, "row": pl.Int32, "at": pl.Datetime("us", "UTC"),
                                       "entity_id": pl.String}, orient="row")
    return prediction_keys(frame)


def _stored(frame: pl.DataFrame, ingest: int = 0) -> pl.DataFrame:
    return frame.with_columns(pl.lit(ingest, pl.Int32).alias("ingest"))


# --- reading and checking ---------------------------------------------------------


def test_csv_and_parquet_with_the_same_labels_read_the_same(tmp_path: Path) -> None:
    frame = pl.DataFrame({"request_id": ["a", "b", "b"], "row": [0, 0, 1], "defaulted": [1, 0, 1]})
    frame.write_csv(tmp_path / "l.csv")
    frame.with_columns(pl.col("defaulted").cast(pl.Float64)).write_parquet(tmp_path / "l.parquet")
    from_csv, from_parquet = _read(tmp_path / "l.csv"), _read(tmp_path / "l.parquet")
    assert from_csv.equals(from_parquet)
    assert from_csv.select("request_id", "row", "label").rows() == [("a", 0, "1"), ("b", 0, "0"), ("b", 1, "1")]


def test_row_defaults_to_zero_and_times_become_utc(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text("request_id,defaulted,observed_at\nr1,1,2026-03-02T10:00:00+02:00\nr2,0,2026-03-02\n")
    frame = _read(tmp_path / "l.csv")
    assert frame.get_column("row").to_list() == [0, 0]
    assert frame.get_column("event_time").to_list() == [datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)]


def test_a_missing_key_column_names_the_file_and_its_columns(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text("id,defaulted\nr1,1\n")
    with pytest.raises(LabelsFileError) as caught:
        _read(tmp_path / "l.csv")
    message = str(caught.value)
    assert "l.csv" in message and "'request_id'" in message and "id, defaulted" in message
    assert "--key entity+time" in caught.value.hint


def test_a_missing_label_column_points_at_the_option(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text("request_id,outcome\nr1,1\n")
    with pytest.raises(LabelsFileError) as caught:
        _read(tmp_path / "l.csv")
    assert "'defaulted'" in str(caught.value) and "--label-column" in caught.value.hint


def test_every_bad_row_is_reported_together_and_nothing_is_read(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text(
        "request_id,row,defaulted,observed_at\n"
        "r1,0,1,2026-03-01\n"
        ",0,1,2026-03-01\n"       # row 2: no request id
        "r3,-1,0,2026-03-01\n"    # row 3: negative row
        "r4,0,yes,2026-03-01\n"   # row 4: not a class
        "r5,0,,2026-03-01\n"      # row 5: no label
        "r6,0,1,yesterday\n"      # row 6: not a time
    )
    with pytest.raises(LabelsFileError) as caught:
        _read(tmp_path / "l.csv")
    message = str(caught.value)
    assert "5 problem(s)" in message
    assert "'request_id' is empty in row 2" in message
    assert "'row' must be a whole number >= 0" in message and "row 3" in message
    assert "'yes'" in message and "classes: 0, 1" in message and "row 4" in message
    assert "(the label) is empty in row 5" in message
    assert "'observed_at' is not a date or time" in message and "row 6" in message


def test_entity_mode_needs_an_event_time_in_every_row(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text("customer_id,observed_at,defaulted\nc1,2026-03-01,1\nc2,,0\n")
    with pytest.raises(LabelsFileError, match=r"'observed_at' \(the event time\) is empty in row 2"):
        _read(tmp_path / "l.csv", key="entity+time")


def test_regression_labels_must_be_finite_numbers(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text("request_id,y\nr1,1.5\nr2,abc\nr3,inf\n")
    with pytest.raises(LabelsFileError, match=r"must be a finite number in 2 rows \(2, 3\)"):
        read_labels_file(tmp_path / "l.csv", key="request_id", columns=LabelColumns(label="y"), task="regression")


def test_an_unreadable_file_is_a_labels_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "l.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(LabelsFileError, match="l.parquet"):
        _read(tmp_path / "l.parquet")
    with pytest.raises(LabelsFileError, match="missing.csv"):
        _read(tmp_path / "missing.csv")


# --- the store ---------------------------------------------------------------------


def test_the_store_keeps_each_file_once_and_in_ingest_order(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("request_id,defaulted\nr1,1\n")
    (tmp_path / "b.csv").write_text("request_id,defaulted\nr1,0\n")
    store = LabelStore(tmp_path / "store")
    first = read_labels_file(tmp_path / "a.csv", key="request_id", columns=COLUMNS, task="classification")
    assert store.find(first.identity) is None
    stored = store.add(first, at=T0, details={})
    assert store.find(first.identity) == stored.path
    again = read_labels_file(tmp_path / "a.csv", key="request_id", columns=COLUMNS, task="classification")
    assert again.identity == first.identity  # same bytes, same columns: found, not stored twice
    second = read_labels_file(tmp_path / "b.csv", key="request_id", columns=COLUMNS, task="classification")
    store.add(second, at=T0 + timedelta(seconds=1), details={})
    assert store.read().select("label", "ingest").rows() == [("1", 0), ("0", 1)]
    assert LabelStore.metadata(stored.path)["sha256"] == first.sha256
    assert not [p for p in (tmp_path / "store").iterdir() if p.name.startswith(".")]  # no temporary left


# --- joining -----------------------------------------------------------------------


def test_request_id_labels_join_exactly_and_late_ones_do_not() -> None:
    keys = _keys([("r1", 0, T0, "c1"), ("r1", 1, T0, "c2"), ("r2", 0, T0 + timedelta(hours=1), "c1")])
    labels = pl.DataFrame({
        "request_id": ["r1", "r1", "r2", "r9"], "row": [0, 1, 0, 0], "entity_id": [None] * 4,
        "event_time": [None, T0 + timedelta(days=29), T0 + timedelta(days=31, hours=1, seconds=1), None],
        "label": ["1", "0", "1", "1"], "position": [0, 1, 2, 3],
    }, schema_overrides={"row": pl.Int32, "entity_id": pl.String, "event_time": pl.Datetime("us", "UTC")})
    matching = match_labels(keys, _stored(labels), max_delay=DELAY)
    assert matching.resolved.get_column("status").to_list() == [MATCHED, MATCHED, TOO_LATE, NO_PREDICTION]
    assert matching.current().select("request_id", "row", "label").rows() == [("r1", 0, "1"), ("r1", 1, "0")]


def test_entity_labels_join_the_latest_prediction_at_or_before_the_event() -> None:
    keys = _keys([
        ("a", 0, T0, "c1"), ("b", 0, T0 + timedelta(days=2), "c1"), ("c", 0, T0 + timedelta(days=10), "c1"),
        ("d", 0, T0, "c2"),
    ])
    labels = pl.DataFrame({
        "request_id": [None] * 4, "row": [None] * 4, "entity_id": ["c1", "c1", "c2", "c3"],
        "event_time": [T0 + timedelta(days=3), T0 + timedelta(days=2), T0 + timedelta(days=45), T0],
        "label": ["1", "0", "1", "1"], "position": [0, 1, 2, 3],
    }, schema_overrides={"request_id": pl.String, "row": pl.Int32, "event_time": pl.Datetime("us", "UTC")})
    matching = match_labels(keys, _stored(labels), max_delay=DELAY)
    by_position = {r["position"]: r for r in matching.resolved.to_dicts()}
    assert by_position[0]["status"] == MATCHED and by_position[0]["p_request_id"] == "b"  # day 3: day 2's, not day 10's
    assert by_position[1]["status"] == MATCHED and by_position[1]["p_request_id"] == "b"  # at the same instant counts
    assert by_position[2]["status"] == TOO_LATE  # c2's only prediction is 45 days earlier
    assert by_position[3]["status"] == NO_PREDICTION  # c3 was never scored
    # Two labels reached prediction b in one file: the later row wins.
    assert matching.current().select("request_id", "label").rows() == [("b", "0")]


def test_a_later_ingest_supersedes_and_an_earlier_one_does_not() -> None:
    keys = _keys([("r1", 0, T0, None)])
    one = pl.DataFrame({"request_id": ["r1"], "row": [0], "entity_id": [None], "event_time": [None], "label": ["1"],
                        "position": [0]}, schema_overrides={"row": pl.Int32, "entity_id": pl.String,
                                                            "event_time": pl.Datetime("us", "UTC")})
    labels = pl.concat([_stored(one, 1), _stored(one.with_columns(pl.lit("0").alias("label")), 0)])
    assert match_labels(keys, labels, max_delay=DELAY).current().get_column("label").to_list() == ["1"]
