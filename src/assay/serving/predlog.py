"""The prediction log: every answered request, appended off the request path, written in batches as Parquet.

Layout: ``<root>/date=YYYY-MM-DD/hour=HH/part-<UTC timestamp>-<8 hex>.parquet``, partitioned by the hour
of each request's arrival, one Parquet row per predicted row. Each file is written under a hidden
``.part-...parquet.tmp`` name and renamed into place, so readers never see half a file. Inputs are in
``input.<column>`` columns; PII columns are tokenised (keyed HMAC) or not written at all.
"""

from __future__ import annotations

import math
import operator
import os
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import structlog

from assay.security.tokens import Tokeniser
from assay.serving.batcher import ServingError

_COLUMN_TYPES = frozenset({"int", "float", "bool", "string", "category", "date", "datetime"})
_PII_MODES = frozenset({"tokenise", "drop"})
_BACKPRESSURE_FACTOR = 4  # append blocks while this many times max_buffer_rows are unwritten
_MAX_RETRY_DELAY_S = 30.0
_INT64 = (-(2**63), 2**63 - 1)
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})

FIXED_SCHEMA = pa.schema([
    ("request_id", pa.large_string()), ("row", pa.int32()), ("at", pa.timestamp("us", tz="UTC")),
    ("model_name", pa.large_string()), ("model_version", pa.int32()), ("route", pa.large_string()),
    ("latency_ms", pa.float64()), ("fallback", pa.bool_()), ("fallback_reason", pa.large_string()),
    ("entity_id", pa.large_string()), ("output", pa.large_list(pa.float64())), ("score", pa.float64()),
])  # fmt: skip
_ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}

# --- errors -----------------------------------------------------------------


class PredictionLogError(ServingError):
    """The prediction log is misconfigured, closed, or cannot write."""

    code = "predlog-error"


class PredictionLogConfigError(PredictionLogError, ValueError):
    """The log's columns, PII modes or limits are invalid, or tokenised PII has no tokeniser."""

    code = "predlog-config"


class PredictionRecordError(PredictionLogError, ValueError):
    """A record is inconsistent (rows vs outputs vs entity ids, or a naive time): a bug in the caller."""

    code = "predlog-record"


class PredictionLogClosedError(PredictionLogError, RuntimeError):
    code = "predlog-closed"

    def __init__(self, root: Path) -> None:
        super().__init__(f"the prediction log at {root} is closed", hint="append before close(); open a new log")


class PredictionLogBackpressureError(PredictionLogError, TimeoutError):
    code = "predlog-backpressure"

    def __init__(self, *, root: Path, pending_rows: int, waited_s: float) -> None:
        super().__init__(
            f"the prediction log cannot keep up: {pending_rows} rows are unwritten to {root} after waiting {waited_s:g}s",
            hint=f"check that {root} is writable and has free space; the log's warnings say why writes fail",
        )


class PredictionLogWriteError(PredictionLogError, OSError):
    code = "predlog-write-failed"

    def __init__(self, *, root: Path, pending_rows: int, cause: Exception) -> None:
        super().__init__(
            f"cannot write the prediction log to {root} ({_describe(cause)}); {pending_rows} rows stay buffered",
            hint=f"make {root} writable and free space, then flush() or close() again",
        )


# --- values -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One answered request (one or more rows). `model_version` is the version that answered (0: a rule)."""

    request_id: str
    at: datetime
    model_name: str
    model_version: int
    route: str
    rows: list[dict[str, Any]]
    outputs: list[list[float]]
    latency_ms: float
    fallback: bool = False
    fallback_reason: str = ""
    entity_ids: list[str] | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise PredictionRecordError(f"request {self.request_id!r}: `at` has no timezone", hint="pass a UTC time")
        if len(self.outputs) != len(self.rows) or (self.entity_ids is not None and len(self.entity_ids) != len(self.rows)):
            raise PredictionRecordError(
                f"request {self.request_id!r}: {len(self.rows)} rows but {len(self.outputs)} outputs"
                f" and {'no' if self.entity_ids is None else len(self.entity_ids)} entity ids",
                hint="pass one output (and one entity id, if any) per row",
            )


# --- the log ----------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PredictionLog:
    """Buffers records in memory; one daemon thread writes them every `flush_interval_s` (sooner when
    `max_buffer_rows` are waiting).

    - ``append`` only takes a lock and appends to a list; conversion and I/O happen on the writer thread.
    - A failed write loses nothing: the batch goes back to the front of the buffer and is retried after an
      exponential backoff (capped at 30 s). ``failed_flushes`` counts failures; each is logged, without values.
    - Backpressure: while ``4 * max_buffer_rows`` rows are unwritten (the writer is stuck or failing), ``append``
      blocks; after ``append_timeout_s`` it raises `PredictionLogBackpressureError`. Memory stays bounded and
      an accepted record is never dropped.
    - ``close()`` writes everything buffered. A crash (no close) loses at most the last flush interval
      (more only while writes are failing: what is still buffered then).
    - A value that cannot be converted to its column's type is written as null and counted in ``coerced_nulls``.

    Nothing is written before ``start()`` except by ``flush()``/``close()``. ``clock`` names the files only.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        columns: Sequence[tuple[str, str]],
        pii: Mapping[str, Literal["tokenise", "drop"]] = {},  # noqa: B006 - read only
        tokeniser: Tokeniser | None = None,
        flush_interval_s: float = 1.0,
        max_buffer_rows: int = 50_000,
        append_timeout_s: float = 30.0,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._root = Path(root)
        self._inputs = _plan_inputs(columns, pii, tokeniser)
        if flush_interval_s <= 0 or max_buffer_rows < 1 or append_timeout_s < 0:
            raise PredictionLogConfigError(
                f"invalid limits: flush_interval_s={flush_interval_s}, max_buffer_rows={max_buffer_rows},"
                f" append_timeout_s={append_timeout_s}",
                hint="use a positive interval, at least one buffered row and a non-negative timeout",
            )
        self._tokeniser = tokeniser
        self._interval_s, self._max_rows, self._timeout_s = flush_interval_s, max_buffer_rows, append_timeout_s
        self._clock = clock
        self._cond = threading.Condition()  # guards every field below
        self._buffer: list[PredictionRecord] = []
        self._pending = 0  # rows accepted and not yet on disk, in the buffer or being written
        self._written = self._failed = self._failures_in_a_row = self._coerced_nulls = 0
        self._closed = False
        self._write_lock = threading.Lock()  # one flush at a time keeps put-back batches in order
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._log = structlog.get_logger("assay.predlog")

    def start(self) -> None:
        """Start the writer thread (once)."""
        with self._cond:
            if self._closed:
                raise PredictionLogClosedError(self._root)
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="assay-predlog", daemon=True)
        self._thread.start()

    def append(self, record: PredictionRecord) -> None:
        """Accept a record; blocks only under backpressure (see the class docstring)."""
        limit = _BACKPRESSURE_FACTOR * self._max_rows
        with self._cond:
            if self._pending >= limit and not self._cond.wait_for(
                lambda: self._closed or self._pending < limit, self._timeout_s
            ):
                raise PredictionLogBackpressureError(root=self._root, pending_rows=self._pending, waited_s=self._timeout_s)
            if self._closed:
                raise PredictionLogClosedError(self._root)
            self._buffer.append(record)
            self._pending += len(record.rows)
            if self._pending >= self._max_rows:
                self._wake.set()

    def flush(self) -> int:
        """Write everything buffered now; returns the rows written. Raises `PredictionLogWriteError`
        when a write fails (the rows stay buffered)."""
        written, error = self._flush()
        if error is None:
            return written
        failure = PredictionLogWriteError(root=self._root, pending_rows=self.buffered_rows, cause=error)
        # Only OS errors are chained: a conversion error's message could quote a row value (PII).
        raise failure from (error if isinstance(error, OSError) else None)

    def close(self) -> None:
        """Stop the writer thread and write everything buffered. Calling it again retries a failed final write."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    @property
    def buffered_rows(self) -> int:
        """Rows accepted but not yet on disk."""
        with self._cond:
            return self._pending

    @property
    def written_rows(self) -> int:
        with self._cond:
            return self._written

    @property
    def failed_flushes(self) -> int:
        with self._cond:
            return self._failed

    @property
    def coerced_nulls(self) -> int:
        """Input values written as null because they could not be converted to their column's type."""
        with self._cond:
            return self._coerced_nulls

    # --- writer side ---

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                failures = self._failures_in_a_row
            if failures:
                self._stop.wait(_retry_delay_s(self._interval_s, failures))  # size triggers wait out a backoff
            else:
                self._wake.wait(self._interval_s)
            self._wake.clear()
            if not self._stop.is_set():
                self._flush()

    def _flush(self) -> tuple[int, Exception | None]:
        with self._write_lock:
            with self._cond:
                batch, self._buffer = self._buffer, []
            written = 0
            groups = _by_partition(batch)
            for index, (partition, records) in enumerate(groups):
                try:
                    nulls = self._write(partition, records)
                except Exception as exc:  # noqa: BLE001 - writer boundary: keep the batch, log, retry later
                    return written, self._put_back(batch, [r for _, rs in groups[index:] for r in rs], exc)
                rows = sum(len(r.rows) for r in records)
                written += rows
                with self._cond:
                    self._pending -= rows
                    self._written += rows
                    self._coerced_nulls += nulls
                    self._cond.notify_all()
            with self._cond:
                self._failures_in_a_row = 0
            return written, None

    def _put_back(self, batch: list[PredictionRecord], unwritten: list[PredictionRecord], exc: Exception) -> Exception:
        keep = {id(r) for r in unwritten}
        with self._cond:
            self._buffer[:0] = [r for r in batch if id(r) in keep]  # arrival order, ahead of newer records
            self._failed += 1
            self._failures_in_a_row += 1
            failures, pending = self._failures_in_a_row, self._pending
        self._log.warning(
            "prediction log write failed; the rows stay buffered and will be retried",
            folder=str(self._root), error=_describe(exc), pending_rows=pending,
            retry_in_s=_retry_delay_s(self._interval_s, failures),
        )  # fmt: skip
        return exc

    def _write(self, partition: tuple[str, str], records: list[PredictionRecord]) -> int:
        table, nulls = _to_table(records, self._inputs, self._tokeniser)
        folder = self._root / f"date={partition[0]}" / f"hour={partition[1]}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{self._clock().astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}.parquet"
        temporary = folder / f".{name}.tmp"
        try:
            strings = [f.name for f in table.schema if pa.types.is_large_string(f.type)]
            pq.write_table(table, temporary, compression="zstd", use_dictionary=strings)  # not numbers: slow, no gain
            os.replace(temporary, folder / name)
        finally:
            temporary.unlink(missing_ok=True)
        return nulls


# --- conversion -------------------------------------------------------------

# (source key in the row, output column, kind): kind is a column type, or "token" for tokenised PII.
_Input = tuple[str, str, str]


def _plan_inputs(
    columns: Sequence[tuple[str, str]], pii: Mapping[str, str], tokeniser: Tokeniser | None
) -> list[_Input]:
    problems = [f"column {n!r} has unknown type {t!r}" for n, t in columns if t not in _COLUMN_TYPES]
    problems += [f"PII column {n!r} has unknown mode {m!r}" for n, m in pii.items() if m not in _PII_MODES]
    names = [n for n, _ in columns]
    problems += [f"column {n!r} is declared twice" for n in sorted({n for n in names if names.count(n) > 1})]
    if problems:
        raise PredictionLogConfigError(
            "; ".join(problems), hint=f"types are {sorted(_COLUMN_TYPES)}; PII modes are {sorted(_PII_MODES)}"
        )
    tokenised = [n for n, m in pii.items() if m == "tokenise"]
    if tokenised and tokeniser is None:
        raise PredictionLogConfigError(
            f"PII column(s) {', '.join(map(repr, tokenised))} must be tokenised but the log has no tokeniser",
            hint="set the PII tokenisation key secret (for example env:ASSAY_PII_KEY) so a Tokeniser can be built",
        )
    plan = [(n, f"input.{n}", "token" if pii.get(n) == "tokenise" else t) for n, t in columns if pii.get(n) != "drop"]
    return plan + [(n, f"input.{n}", "token") for n in tokenised if n not in set(names)]


def _by_partition(records: list[PredictionRecord]) -> list[tuple[tuple[str, str], list[PredictionRecord]]]:
    groups: dict[int, list[PredictionRecord]] = {}
    for record in records:
        groups.setdefault(int(record.at.timestamp()) // 3600, []).append(record)
    return [(_partition_of(hour), group) for hour, group in groups.items()]


def _partition_of(hours_since_epoch: int) -> tuple[str, str]:
    start = datetime.fromtimestamp(hours_since_epoch * 3600, UTC)
    return f"{start:%Y-%m-%d}", f"{start:%H}"


def _to_table(records: list[PredictionRecord], inputs: list[_Input], tokeniser: Tokeniser | None) -> tuple[pa.Table, int]:
    """Columns are built per record then repeated per row (`take`), and per input column from the dict rows."""
    counts = np.fromiter((len(r.rows) for r in records), np.int64, len(records))
    take = pa.array(np.repeat(np.arange(len(records)), counts))
    starts = np.cumsum(counts) - counts

    def per_row(values: list[Any], arrow_type: pa.DataType) -> pa.Array:
        array = pa.array(values, arrow_type)
        return array if len(take) == len(records) else array.take(take)  # one row per record: nothing to repeat

    outputs = [out for r in records for out in r.outputs]
    lengths = np.fromiter(map(len, outputs), np.int64, len(outputs))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.fromiter((v for out in outputs for v in out), np.float64, int(offsets[-1]))
    first = np.minimum(offsets[:-1] + (lengths == 2), max(len(flat) - 1, 0))  # index of the score where it exists
    score = flat[first] if len(flat) else np.zeros(len(outputs))
    micros = [(r.at - _EPOCH) // _MICROSECOND for r in records]
    columns: list[pa.Array] = [
        per_row([r.request_id for r in records], pa.large_string()),
        pa.array(np.arange(int(counts.sum())) - np.repeat(starts, counts), pa.int32()),
        per_row(micros, pa.int64()).cast(FIXED_SCHEMA.field("at").type),
        per_row([r.model_name for r in records], pa.large_string()),
        per_row([r.model_version for r in records], pa.int32()),
        per_row([r.route for r in records], pa.large_string()),
        per_row([float(r.latency_ms) for r in records], pa.float64()),
        per_row([bool(r.fallback) for r in records], pa.bool_()),
        per_row([r.fallback_reason for r in records], pa.large_string()),
        pa.array([e for r in records for e in (r.entity_ids or [None] * len(r.rows))], pa.large_string()),
        pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat)),
        pa.array(score, mask=(lengths != 1) & (lengths != 2)),
    ]
    inputs_, nulls = _input_arrays([row for r in records for row in r.rows], inputs, tokeniser)
    names = [*FIXED_SCHEMA.names, *(name for _, name, _ in inputs)]
    return pa.Table.from_arrays(columns + inputs_, names=names), nulls


def _input_arrays(
    rows: list[dict[str, Any]], inputs: list[_Input], tokeniser: Tokeniser | None
) -> tuple[list[pa.Array], int]:
    """One array per input column, and how many values were written as null because they could not be converted."""
    exact = [(key, _ARROW_TYPES.get(kind, pa.large_string())) for key, _, kind in inputs if kind not in ("int", "token")]
    converted: dict[str, pa.Array] = {}
    if exact and rows:
        try:  # fast path: Arrow reads the dicts in C and refuses a value it cannot convert exactly (ints would truncate)
            converted = dict(zip([k for k, _ in exact], pa.array(rows, pa.struct(exact)).flatten(), strict=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    arrays, nulls = [], 0
    for key, _, kind in inputs:
        if key in converted:
            arrays.append(converted[key])
        elif kind == "token":
            assert tokeniser is not None  # checked in _plan_inputs
            values = [_tokenisable(v) for v in _values(rows, key)]
            arrays.append(pa.array(tokeniser.tokenise_column(values), pa.large_string()))
        else:
            array, dropped = _column(_values(rows, key), kind)
            arrays.append(array)
            nulls += dropped
    return arrays, nulls


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _values(rows: list[dict[str, Any]], key: str) -> list[Any]:
    try:  # fast path in C when every row has the key
        return list(map(operator.itemgetter(key), rows))
    except KeyError:
        return [row.get(key) for row in rows]


def _column(values: Sequence[Any], kind: str) -> tuple[pa.Array, int]:
    """An Arrow array of the column's type, and how many non-null values became null."""
    arrow_type = _ARROW_TYPES.get(kind, pa.large_string())
    try:  # fast path: Arrow converts exactly, or refuses (ints: it would truncate floats, so infer first)
        array = pa.array(values) if kind == "int" else pa.array(values, arrow_type)
        if array.type in (arrow_type, pa.null()):
            return array.cast(arrow_type), 0
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    converted = [_coerce(v, kind) for v in values]
    dropped = sum(1 for v, c in zip(values, converted, strict=True) if v is not None and c is None)
    return pa.array(converted, arrow_type), dropped


def _coerce(value: Any, kind: str) -> Any:
    """The value as the column's Python type, or None when it has no faithful conversion."""
    if value is None:
        return None
    if kind in ("int", "float"):
        number = _parse_number(value) if isinstance(value, str) else value
        if kind == "float":
            return float(number) if isinstance(number, (int, float)) else None
        if isinstance(number, float) and number.is_integer():
            number = int(number)
        return int(number) if isinstance(number, int) and _INT64[0] <= number <= _INT64[1] else None
    if kind == "bool":
        if isinstance(value, (bool, int)) and value in (0, 1):
            return bool(value)
        text = value.strip().lower() if isinstance(value, str) else None
        return True if text in _TRUE else False if text in _FALSE else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) or (kind in ("string", "category") and isinstance(value, (int, float))):
        return str(value)
    return value.isoformat() if kind in ("date", "datetime") and isinstance(value, date) else None


def _parse_number(text: str) -> int | float | None:
    """The number in `text`; None for anything else, "nan" and "inf" included (not a measurement)."""
    for parse in (int, float):
        try:
            number = parse(text.strip())
        except ValueError:
            continue
        return number if math.isfinite(number) else None
    return None


def _tokenisable(value: Any) -> Any:
    """Values the tokeniser has no canonical text for become their text: a token, never a raw value."""
    if value is None or isinstance(value, (str, int, float, bool, date)):
        return value
    return str(value)


def _retry_delay_s(interval_s: float, failures: int) -> float:
    """Backoff after `failures` failed writes in a row: the interval doubled each time, at most 30 s."""
    return min(_MAX_RETRY_DELAY_S, interval_s * 2.0 ** min(failures, 32))


def _describe(exc: Exception) -> str:
    """An error's type and, for OS errors, its reason and file; never its message (it may quote row values)."""
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or 'error'}" + (f" ({exc.filename})" if exc.filename else "")
    return type(exc).__name__


# --- reading ----------------------------------------------------------------


def read_prediction_log(root: Path | str, *, since: datetime | None = None, until: datetime | None = None) -> pl.DataFrame:
    """Every logged row with `since <= at < until`, sorted by (at, request_id, row). Hidden files are skipped."""
    files = log_files(root, since=since, until=until)
    if not files:
        return pl.from_arrow(FIXED_SCHEMA.empty_table())  # type: ignore[return-value]
    frame = pl.concat([pl.scan_parquet(p) for p in files], how="diagonal_relaxed")
    if since is not None:
        frame = frame.filter(pl.col("at") >= since.astimezone(UTC))
    if until is not None:
        frame = frame.filter(pl.col("at") < until.astimezone(UTC))
    return frame.sort("at", "request_id", "row").collect()


def log_files(root: Path | str, *, since: datetime | None = None, until: datetime | None = None) -> list[Path]:
    """The log's Parquet files in hour folders that may hold rows with `since <= at < until`, sorted;
    hidden (still being written) files are skipped."""
    files = sorted(p for p in Path(root).glob("date=*/hour=*/*.parquet") if not p.name.startswith("."))
    return [p for p in files if _hour_may_overlap(p.parent, since, until)]


def _hour_may_overlap(folder: Path, since: datetime | None, until: datetime | None) -> bool:
    try:
        start = datetime.strptime(f"{folder.parent.name}/{folder.name}", "date=%Y-%m-%d/hour=%H").replace(tzinfo=UTC)
    except ValueError:
        return False
    end = start + timedelta(hours=1)
    return (since is None or end > since) and (until is None or start < until)


__all__ = [
    "FIXED_SCHEMA",
    "PredictionLog",
    "PredictionLogBackpressureError",
    "PredictionLogClosedError",
    "PredictionLogConfigError",
    "PredictionLogError",
    "PredictionLogWriteError",
    "PredictionRecord",
    "PredictionRecordError",
    "log_files",
    "read_prediction_log",
]
