"""Time going the wrong way: test rows older than training rows, and features observed after the
moment the prediction is made."""

from __future__ import annotations

import numpy as np
import polars as pl

from assay.errors import LeakageError
from assay.leakage.detect._stats import is_numeric
from assay.leakage.detect.finding import Declarations, Finding, examples

CRITICAL_SHARE = 0.05  # share of test rows older than the newest training row
CRITICAL_LATE_SHARE = 0.01  # share of rows whose feature was observed after the prediction time
_US_PER_DAY = 86_400_000_000.0


def instants(series: pl.Series) -> tuple[np.ndarray, bool]:
    """A time column as float64 (days since 1970 for dates and datetimes, the values themselves for
    numbers; NaN when missing) and whether it is a calendar time. Text is parsed as datetimes."""
    dtype = series.dtype
    if dtype == pl.String:
        try:
            parsed = series.str.to_datetime(strict=False)
        except pl.exceptions.PolarsError as exc:
            raise LeakageError(
                f"time column {series.name!r} holds text that is not one date format: {exc}".splitlines()[0],
                hint="give time columns ISO dates (2024-01-31 or 2024-01-31T12:00:00), or numbers",
            ) from exc
        if parsed.null_count() > series.null_count():
            raise LeakageError(
                f"time column {series.name!r} has values that are not dates or datetimes (e.g. {series.filter(parsed.is_null() & series.is_not_null())[0]!r})",
                hint="give time columns ISO dates (2024-01-31 or 2024-01-31T12:00:00), or numbers",
            )
        series, dtype = parsed, parsed.dtype
    if dtype == pl.Date:
        return series.cast(pl.Int32).cast(pl.Float64).to_numpy().astype(np.float64), True
    if isinstance(dtype, pl.Datetime):
        micros = series.dt.cast_time_unit("us").cast(pl.Int64).cast(pl.Float64)  # UTC for zoned times
        return (micros / _US_PER_DAY).to_numpy().astype(np.float64), True
    if is_numeric(dtype):
        return series.cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64), False
    raise LeakageError(
        f"time column {series.name!r} is {dtype}, not a date, datetime or number",
        hint="declare a column that holds when each row happened",
    )


def _span(days: float, calendar: bool) -> str:
    return f"{days:.1f} days" if calendar else f"{days:g}"


def _test_before_train(train: pl.DataFrame, test: pl.DataFrame, time: str) -> list[Finding]:
    train_t, calendar = instants(train.get_column(time))
    test_t, test_calendar = instants(test.get_column(time))
    if calendar != test_calendar:
        raise LeakageError(
            f"time column {time!r} is a date/datetime in one frame and a number in the other",
            hint="give the column the same type in train and test",
        )
    if not np.isfinite(train_t).any():
        return []
    latest = float(np.nanmax(train_t))
    earlier = np.isfinite(test_t) & (test_t < latest)
    count = int(earlier.sum())
    if count == 0:
        return []
    lag = latest - test_t[earlier]
    share = count / test.height
    rows, total = examples(np.flatnonzero(earlier))
    unit = "days" if calendar else "units"
    return [
        Finding(
            kind="test_before_train",
            severity="critical" if share >= CRITICAL_SHARE else "warning",
            message=(
                f"{count} of {test.height} test rows ({share:.1%}) are older than the newest training row, "
                f"by up to {_span(float(lag.max()), calendar)}: the model is tested on a past it has seen the future of"
            ),
            fix=f"split by {time} (split.strategy: time) so every test row is later than every training row",
            columns=(time,),
            test_rows=rows,
            test_row_count=total,
            evidence={
                "earlier_rows": count,
                "earlier_share": round(share, 4),
                f"max_lag_{unit}": round(float(lag.max()), 4),
                f"median_lag_{unit}": round(float(np.median(lag)), 4),
            },
        )
    ]


def _observed_late(frame: pl.DataFrame, feature_time: str, as_of: str) -> np.ndarray:
    observed, calendar = instants(frame.get_column(feature_time))
    cutoff, cutoff_calendar = instants(frame.get_column(as_of))
    if calendar != cutoff_calendar:
        raise LeakageError(
            f"{feature_time!r} and {as_of!r} cannot be compared: one is a date/datetime and the other a number",
            hint="give a feature's observation time the same type as the prediction time",
        )
    return np.asarray(np.isfinite(observed) & np.isfinite(cutoff) & (observed > cutoff), dtype=bool)


def _features_from_future(train: pl.DataFrame, test: pl.DataFrame, declarations: Declarations) -> list[Finding]:
    as_of = declarations.as_of
    if as_of is None:
        return []
    findings = []
    for feature, column in sorted(declarations.feature_time.items()):
        late_train = _observed_late(train, column, as_of)
        late_test = _observed_late(test, column, as_of)
        count = int(late_train.sum() + late_test.sum())
        if count == 0:
            continue
        share = count / (train.height + test.height)
        rows, total = examples(np.flatnonzero(late_test))
        findings.append(
            Finding(
                kind="feature_after_prediction_time",
                severity="critical" if share >= CRITICAL_LATE_SHARE else "warning",
                message=(
                    f"{feature!r} was observed after the prediction time ({as_of!r}) in {count} rows ({share:.1%}; "
                    f"{int(late_train.sum())} train, {int(late_test.sum())} test): the model would use information it will not have"
                ),
                fix=f"take {feature!r} as it was at {as_of!r} (a point-in-time join), or drop it",
                columns=(feature, column, as_of),
                test_rows=rows,
                test_row_count=total,
                evidence={"late_rows": count, "late_share": round(share, 4), "late_train_rows": int(late_train.sum()), "late_test_rows": int(late_test.sum())},
            )
        )
    return findings


def detect_temporal(
    train: pl.DataFrame,
    test: pl.DataFrame,
    declarations: Declarations,
    *,
    validation: pl.DataFrame | None = None,
    seed: int = 0,
) -> list[Finding]:
    """Test rows older than the newest training row (by `time`), and features whose observation
    time (`feature_time`) is later than the row's prediction time (`prediction_time`, else `time`)."""
    findings = _test_before_train(train, test, declarations.time) if declarations.time else []
    return findings + _features_from_future(train, test, declarations)


__all__ = ["detect_temporal", "instants"]
