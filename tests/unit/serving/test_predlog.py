"""The prediction log: layout and format, off-path writing, backpressure, failed writes, PII, coercion, reading.

Real files in tmp_path and real threads. Waiting on the writer thread polls a condition under a deadline;
nothing asserts speed.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.clock import FixedClock
from assay.errors import AssayError
from assay.security.secrets import Secret
from assay.security.tokens import Tokeniser
from assay.serving.predlog import (
    FIXED_SCHEMA,
    PredictionLog,
    PredictionLogBackpressureError,
    PredictionLogClosedError,
    PredictionLogConfigError,
    PredictionLogError,
    PredictionLogWriteError,
    PredictionRecord,
    PredictionRecordError,
    _coerce,
    _input_arrays,
    _retry_delay_s,
    read_prediction_log,
)

T0 = datetime(2026, 3, 1, 10, 59, 59, tzinfo=UTC)
COLUMNS = [("age", "int"), ("income", "float"), ("member", "bool"), ("region", "category"), ("signup", "date")]
KEY = Secret("k" * 32)


def _record(request_id: str, *, at: datetime = T0, rows: int = 1, **extra: object) -> PredictionRecord:
    return PredictionRecord(
        request_id=request_id,
        at=at,
        model_name="credit",
        model_version=3,
        route="production",
        rows=[{"age": 30 + i, "income": 1000.5 * i, "member": i % 2 == 0, "region": "north", "signup": "2020-01-02"}
              | dict(extra) for i in range(rows)],
        outputs=[[0.25, 0.75]] * rows,
        latency_ms=4.5,
    )


def _log(root: Path, **kwargs: object) -> PredictionLog:
    options: dict = {"columns": COLUMNS, "clock": FixedClock(T0).now} | kwargs
    return PredictionLog(root, **options)


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# --- format -----------------------------------------------------------------


def test_rows_round_trip_with_fixed_and_input_columns(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.append(_record("r1", rows=2))
    log.append(
        PredictionRecord("r2", T0, "credit", 0, "canary", [{"age": 5}], [[7.0]], 1.0, fallback=True,
                         fallback_reason="timeout", entity_ids=["cust-9"])
    )  # fmt: skip
    log.append(PredictionRecord("r3", T0, "credit", 3, "shadow", [{}], [[0.1, 0.2, 0.7]], 2.0))
    assert log.flush() == 4
    assert (log.written_rows, log.buffered_rows) == (4, 0)

    frame = read_prediction_log(tmp_path)
    assert frame.columns == [*FIXED_SCHEMA.names, *(f"input.{name}" for name, _ in COLUMNS)]
    assert frame["request_id"].to_list() == ["r1", "r1", "r2", "r3"]
    assert frame["row"].to_list() == [0, 1, 0, 0]
    assert frame["at"].to_list() == [T0] * 4
    assert frame["model_version"].to_list() == [3, 3, 0, 3]
    assert frame["route"].to_list() == ["production", "production", "canary", "shadow"]
    assert frame["fallback"].to_list() == [False, False, True, False]
    assert frame["fallback_reason"].to_list() == ["", "", "timeout", ""]
    assert frame["entity_id"].to_list() == [None, None, "cust-9", None]
    assert frame["output"].to_list() == [[0.25, 0.75], [0.25, 0.75], [7.0], [0.1, 0.2, 0.7]]
    assert frame["score"].to_list() == [0.75, 0.75, 7.0, None]
    assert frame["input.age"].to_list() == [30, 31, 5, None]
    assert frame["input.income"].to_list() == [0.0, 1000.5, None, None]
    assert frame["input.member"].to_list() == [True, False, None, None]
    assert frame["input.signup"].to_list() == ["2020-01-02", "2020-01-02", None, None]
    assert frame.schema["input.age"] == pl.Int64 and frame.schema["input.income"] == pl.Float64
    assert frame.schema["at"] == pl.Datetime("us", "UTC") and frame.schema["row"] == pl.Int32


def test_files_are_hive_partitioned_by_hour_named_and_readable_by_polars(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.append(_record("before", rows=2))
    log.append(_record("after", at=(T0 + timedelta(seconds=2)).astimezone(timezone(timedelta(hours=2)))))  # 11:00:01
    log.flush()

    files = _files(tmp_path)
    assert [f.parent.relative_to(tmp_path).as_posix() for f in files] == ["date=2026-03-01/hour=10",
                                                                          "date=2026-03-01/hour=11"]
    assert all(re.fullmatch(r"part-\d{8}T\d{12}Z-[0-9a-f]{8}\.parquet", f.name) for f in files)
    scanned = pl.scan_parquet(f"{tmp_path}/**/*.parquet", hive_partitioning=True).collect()
    assert sorted(zip(scanned["request_id"], scanned["hour"], strict=True)) == [
        ("after", 11), ("before", 10), ("before", 10)]
    assert scanned["date"].unique().to_list() == [T0.date()]


def test_read_filters_by_time_and_skips_hidden_files(tmp_path: Path) -> None:
    log = _log(tmp_path)
    for hours in range(3):
        log.append(_record(f"h{hours}", at=T0 + timedelta(hours=hours)))
    log.flush()
    (tmp_path / "date=2026-03-01" / "hour=10" / ".part-in-progress.parquet").write_bytes(b"not parquet")

    assert read_prediction_log(tmp_path)["request_id"].to_list() == ["h0", "h1", "h2"]
    window = read_prediction_log(tmp_path, since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))
    assert window["request_id"].to_list() == ["h1"]


def test_reading_an_empty_or_missing_folder_gives_an_empty_frame(tmp_path: Path) -> None:
    for root in (tmp_path, tmp_path / "missing"):
        frame = read_prediction_log(root)
        assert frame.height == 0 and frame.columns == FIXED_SCHEMA.names


def test_records_are_checked_when_built() -> None:
    with pytest.raises(PredictionRecordError):
        PredictionRecord("r", T0.replace(tzinfo=None), "m", 1, "production", [{}], [[1.0]], 1.0)
    with pytest.raises(PredictionRecordError, match="2 rows but 1 outputs"):
        PredictionRecord("r", T0, "m", 1, "production", [{}, {}], [[1.0]], 1.0)


# --- off the request path ---------------------------------------------------


def test_append_does_no_io_until_a_flush(tmp_path: Path) -> None:
    log = _log(tmp_path / "log")
    log.append(_record("r1", rows=3))
    assert log.buffered_rows == 3 and not (tmp_path / "log").exists()


def test_writer_thread_flushes_on_its_interval(tmp_path: Path) -> None:
    log = _log(tmp_path, flush_interval_s=0.02)
    log.start()
    log.append(_record("r1"))
    _wait_for(lambda: log.written_rows == 1)
    log.close()


def test_a_full_buffer_wakes_the_writer_at_once(tmp_path: Path) -> None:
    log = _log(tmp_path, flush_interval_s=3600, max_buffer_rows=5)
    log.start()
    log.append(_record("r1", rows=4))
    log.append(_record("r2", rows=1))
    _wait_for(lambda: log.written_rows == 5)  # long before the hour-long interval
    log.close()


def test_close_writes_every_row_appended_from_many_threads(tmp_path: Path) -> None:
    log = _log(tmp_path, flush_interval_s=0.01, max_buffer_rows=50)
    log.start()
    expected: Counter[str] = Counter()
    lock = threading.Lock()

    def produce(thread: int) -> None:
        for i in range(300):
            record = _record(f"t{thread}-{i}", rows=1 + i % 3, at=T0 + timedelta(minutes=i % 5))
            log.append(record)
            with lock:
                expected[record.request_id] += len(record.rows)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()

    frame = read_prediction_log(tmp_path)
    assert Counter(frame["request_id"].to_list()) == expected
    assert frame.height == log.written_rows == sum(expected.values()) and log.buffered_rows == 0
    assert frame.select("request_id", "row").is_unique().all()
    assert not [f for f in _files(tmp_path) if f.name.startswith(".")]


def test_close_is_idempotent_and_refuses_later_appends(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.start()
    log.append(_record("r1"))
    log.close()
    log.close()
    assert log.written_rows == 1
    with pytest.raises(PredictionLogClosedError) as caught:
        log.append(_record("r2"))
    assert caught.value.code == "predlog-closed" and str(tmp_path) in str(caught.value)


# --- backpressure -----------------------------------------------------------


def test_append_times_out_when_four_buffers_are_unwritten(tmp_path: Path) -> None:
    log = _log(tmp_path, max_buffer_rows=2, append_timeout_s=0.05)  # not started: nothing drains
    for i in range(4):
        log.append(_record(f"r{i}", rows=2))
    with pytest.raises(PredictionLogBackpressureError) as caught:
        log.append(_record("r4"))
    assert caught.value.code == "predlog-backpressure" and isinstance(caught.value, AssayError)
    assert "cannot keep up" in str(caught.value) and str(tmp_path) in str(caught.value)
    assert log.buffered_rows == 8  # the refused record was not accepted, nothing was dropped


def test_a_blocked_append_resumes_when_the_buffer_drains(tmp_path: Path) -> None:
    log = _log(tmp_path, max_buffer_rows=2, append_timeout_s=30)
    for i in range(4):
        log.append(_record(f"r{i}", rows=2))
    appended = threading.Event()
    blocked = threading.Thread(target=lambda: (log.append(_record("r4")), appended.set()))
    blocked.start()
    assert not appended.wait(0.05)
    assert log.flush() >= 8
    blocked.join(10)
    assert appended.is_set()
    log.close()
    assert read_prediction_log(tmp_path)["request_id"].to_list() == [f"r{i // 2}" for i in range(9)]


# --- failed writes ----------------------------------------------------------


def test_a_failed_write_keeps_the_batch_in_order_and_logs_without_values(tmp_path: Path) -> None:
    root = tmp_path / "log"
    root.write_text("a file where the folder should be")  # every mkdir below it fails
    log = _log(root)
    log.append(_record("r1", rows=2, email="alice@example.com"))
    log.append(_record("r2"))

    with structlog.testing.capture_logs() as events, pytest.raises(PredictionLogWriteError) as caught:
        log.flush()
    assert caught.value.code == "predlog-write-failed" and isinstance(caught.value, PredictionLogError)
    assert (log.failed_flushes, log.buffered_rows, log.written_rows) == (1, 3, 0)
    assert [e["log_level"] for e in events] == ["warning"] and events[0]["folder"] == str(root)
    assert "alice" not in repr(events) and "north" not in repr(events)

    log.append(_record("r3"))
    root.unlink()
    assert log.flush() == 4
    assert read_prediction_log(root)["request_id"].to_list() == ["r1", "r1", "r2", "r3"]


def test_a_write_failing_in_one_partition_keeps_only_that_partition(tmp_path: Path) -> None:
    blocker = tmp_path / "date=2026-03-01" / "hour=11"
    blocker.parent.mkdir()
    blocker.write_text("blocks the hour=11 folder")
    log = _log(tmp_path)
    log.append(_record("ten"))
    log.append(_record("eleven", at=T0 + timedelta(seconds=5)))
    with pytest.raises(PredictionLogWriteError):
        log.flush()
    assert (log.written_rows, log.buffered_rows) == (1, 1)
    blocker.unlink()
    assert log.flush() == 1
    assert sorted(read_prediction_log(tmp_path)["request_id"].to_list()) == ["eleven", "ten"]


def test_the_writer_thread_retries_a_failed_write(tmp_path: Path) -> None:
    root = tmp_path / "log"
    root.write_text("blocks the folder")
    log = _log(root, flush_interval_s=0.01)
    log.start()
    log.append(_record("r1"))
    _wait_for(lambda: log.failed_flushes >= 1)
    root.unlink()
    _wait_for(lambda: log.written_rows == 1)
    log.close()
    assert log.buffered_rows == 0


def test_retry_delay_doubles_and_is_capped_at_30_seconds() -> None:
    assert [_retry_delay_s(1.0, n) for n in (1, 2, 3, 4, 5, 6, 1000)] == [2, 4, 8, 16, 30, 30, 30]


def test_close_raises_when_the_final_write_fails_and_can_be_retried(tmp_path: Path) -> None:
    root = tmp_path / "log"
    root.write_text("blocks the folder")
    log = _log(root)
    log.append(_record("r1"))
    with pytest.raises(PredictionLogWriteError, match="1 rows stay buffered"):
        log.close()
    root.unlink()
    log.close()
    assert read_prediction_log(root)["request_id"].to_list() == ["r1"]


# --- PII --------------------------------------------------------------------

EMAILS = ["alice@example.com", "bob@example.org"]
NAMES = ["Alice Liddell", "Robert Tables"]


def test_pii_is_tokenised_or_dropped_and_never_written_raw(tmp_path: Path) -> None:
    tokeniser = Tokeniser(KEY)
    columns = [*COLUMNS, ("phone", "string")]
    log = _log(tmp_path, columns=columns, pii={"email": "tokenise", "name": "drop", "phone": "tokenise"},
               tokeniser=tokeniser)  # fmt: skip
    phones = ["+44 7700 900123", None]
    for i, (email, name, phone) in enumerate(zip(EMAILS, NAMES, phones, strict=True)):
        log.append(_record(f"r{i}", email=email, name=name, phone=phone, password="hunter2-secret"))
    log.close()

    raw = b"".join(path.read_bytes() for path in _files(tmp_path))
    for value in [*EMAILS, *NAMES, "+44 7700 900123", "hunter2-secret"]:
        assert value.encode() not in raw
    frame = read_prediction_log(tmp_path)
    assert frame["input.email"].to_list() == tokeniser.tokenise_column(EMAILS)
    assert frame["input.phone"].to_list() == tokeniser.tokenise_column(phones)
    assert frame["input.phone"].to_list()[1] is None
    inputs = [c for c in frame.columns if c.startswith("input.")]
    assert inputs == [*(f"input.{name}" for name, _ in columns), "input.email"]  # no input.name, input.password
    text = frame.drop("output").write_csv()
    assert not [v for v in [*EMAILS, *NAMES, "hunter2-secret"] if v in text]


def test_tokenised_pii_without_a_tokeniser_is_refused_at_construction(tmp_path: Path) -> None:
    with pytest.raises(PredictionLogConfigError) as caught:
        PredictionLog(tmp_path, columns=COLUMNS, pii={"email": "tokenise", "name": "drop"})
    assert caught.value.code == "predlog-config" and isinstance(caught.value, AssayError)
    assert "'email'" in str(caught.value) and "secret" in caught.value.hint


@pytest.mark.parametrize(
    ("columns", "pii", "message"),
    [
        ([("age", "integer")], {}, "unknown type 'integer'"),
        ([("age", "int"), ("age", "float")], {}, "declared twice"),
        ([("age", "int")], {"email": "hash"}, "unknown mode 'hash'"),
    ],
)
def test_bad_configuration_is_refused(tmp_path: Path, columns: list, pii: dict, message: str) -> None:
    with pytest.raises(PredictionLogConfigError, match=message):
        PredictionLog(tmp_path, columns=columns, pii=pii)


# --- coercion ---------------------------------------------------------------


def test_wrong_types_are_coerced_or_nulled_without_losing_the_batch(tmp_path: Path) -> None:
    log = _log(tmp_path)
    rows = [
        {"age": "41", "income": "1.5", "member": "true", "region": 7, "signup": "2020-01-02"},
        {"age": 3.0, "income": "lots", "member": 2, "region": None, "unknown": "ignored"},
        {"age": 2.5, "income": True, "member": 1, "region": "south", "signup": 20200102},
        {"age": 2**70, "income": 4, "member": False, "region": "east"},
    ]
    log.append(PredictionRecord("r", T0, "credit", 1, "production", rows, [[0.5]] * 4, 1.0))
    assert log.flush() == 4
    frame = read_prediction_log(tmp_path)
    assert frame["input.age"].to_list() == [41, 3, None, None]
    assert frame["input.income"].to_list() == [1.5, None, 1.0, 4.0]
    assert frame["input.member"].to_list() == [True, None, True, False]
    assert frame["input.region"].to_list() == ["7", None, "south", "east"]
    assert frame["input.signup"].to_list() == ["2020-01-02", None, None, None]
    assert "input.unknown" not in frame.columns
    assert log.coerced_nulls == 5  # age 2.5 and 2**70, income "lots", member 2, signup 20200102


VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=4),
    st.sampled_from(["1", " 2.5", "3.0", "true", "No", "2020-01-02", "NAN", "-inf"]),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.fixed_dictionaries({}, optional={name: VALUES for name, _ in COLUMNS}), max_size=6))
def test_fast_and_fallback_conversions_agree_value_by_value(rows: list[dict]) -> None:
    inputs = [(name, f"input.{name}", kind) for name, kind in COLUMNS]
    arrays, nulls = _input_arrays(rows, inputs, None)
    expected_nulls = 0
    for (name, _, kind), array in zip(inputs, arrays, strict=True):
        expected = [_coerce(row.get(name), kind) for row in rows]
        assert array.to_pylist() == expected, (kind, rows)
        expected_nulls += sum(row.get(name) is not None and value is None for row, value in zip(rows, expected))
    assert nulls == expected_nulls


def test_error_codes_are_distinct_and_rooted_in_assay_error() -> None:
    classes = [PredictionLogError, PredictionLogConfigError, PredictionRecordError, PredictionLogClosedError,
               PredictionLogBackpressureError, PredictionLogWriteError]  # fmt: skip
    assert all(issubclass(cls, AssayError) for cls in classes)
    assert len({cls.code for cls in classes}) == len(classes)
