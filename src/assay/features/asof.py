"""Point-in-time (as-of) joins, and windowed feature aggregations computed with them.

Every value a spine row receives comes from events strictly before that row's time (unless
``allow_exact_match=True`` is asked for explicitly), so training rows never see the future.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

from assay.errors import DataError, SpecError
from assay.features.definition import FeatureDefinition, check_unique_names

_ROW = "__assay_row"
_EVENT_TIME = "__assay_event_time"
_VALUE = "__assay_value"
_FEATURE = "__assay_feature"
_SUM = "__assay_sum"
_COUNT = "__assay_count"
_SHOWN_ROWS = 5


@dataclass(frozen=True, slots=True)
class ComputedFeatures:
    """The spine with one column per feature, and the version of each feature's definition."""

    frame: pl.DataFrame
    versions: Mapping[str, str] = field(default_factory=dict)


def asof_join(
    spine: pl.DataFrame,
    events: pl.DataFrame,
    *,
    entity: str,
    spine_time: str,
    event_time: str,
    columns: Sequence[str] | None = None,
    tolerance: timedelta | None = None,
    allow_exact_match: bool = False,
) -> pl.DataFrame:
    """For each spine row, the ``columns`` of its entity's latest event before ``spine_time``.

    "Before" is strict: an event at exactly the spine time is not used unless
    ``allow_exact_match=True``; an event after it never is. With ``tolerance``, the event must
    also be no older than ``spine_time - tolerance``. When several events of an entity share
    the latest time, the last of them in ``events`` row order wins. Spine rows keep their order;
    rows with no eligible event get nulls. ``columns`` defaults to every event column except
    the entity and time; naming ``event_time`` in it returns the matched event's time.

    Raises DataError when a key column is absent, a time or entity value is missing, the time
    (or entity) dtypes of the two tables differ, or an output column would collide.
    """
    _check_keys(spine, "spine", entity, spine_time)
    _check_keys(events, "events", entity, event_time)
    _check_same_dtype(spine, events, entity, entity)
    _check_same_dtype(spine, events, spine_time, event_time)
    wanted = _event_columns(events, entity, event_time, columns)
    collisions = sorted(set(wanted) & set(spine.columns))
    if collisions:
        raise DataError(f"asof_join: event columns {collisions} are already spine columns",
                        hint="pass columns=[...] without them, or rename them in one table first")
    return _join(spine, events, entity=entity, spine_time=spine_time, event_time=event_time, columns=wanted,
                 tolerance=tolerance, allow_exact_match=allow_exact_match)


def compute_features(
    spine: pl.DataFrame,
    events: pl.DataFrame | Mapping[str, pl.DataFrame],
    definitions: Sequence[FeatureDefinition],
    *,
    spine_time: str,
) -> ComputedFeatures:
    """Add one column per definition to ``spine``, computed point-in-time correctly.

    ``events`` is one event table for every definition, or a mapping of source name → table.
    The spine must have each definition's entity column and the ``spine_time`` column (same
    dtype as the events' timestamp). For a spine row at time ``t`` a feature with
    ``window_days = W`` aggregates its entity's events with ``t - W days <= time < t``;
    without a window, every event with ``time < t``.

    Method (vectorised; no per-row Python):

    - ``last``: :func:`asof_join` (strict) with ``tolerance = W days``.
    - windowed ``sum``/``mean``/``count``/``max``/``min``: the spine rows are appended to the
      events as marker rows (value null), the union is sorted by entity and time, and a polars
      ``rolling`` group-by with ``period = W days`` and ``closed="left"`` gives, for every row at
      ``t``, the aggregate over ``[t - W, t)``. Equal times are excluded by ``closed="left"``, and
      markers never count because their values are null. The marker rows are then taken back
      out, in spine order.
    - unbounded aggregations: cumulative sum/count/max/min per entity over the sorted events,
      then a strict as-of join picks, for each spine row, the running value of the last event
      before ``t``.

    Empty windows give ``count = 0`` and ``sum = 0``; ``mean``, ``max``, ``min`` and ``last``
    give null. Null values in the aggregated column are skipped, except by ``last``, which
    returns the latest event's value as it is.
    """
    check_unique_names(definitions)
    tables = _tables_by_source(events, definitions)
    clashes = sorted({d.name for d in definitions} & set(spine.columns))
    if clashes:
        raise DataError(f"compute_features: feature names {clashes} are already spine columns",
                        hint="rename the features or drop those spine columns")
    frame = spine.with_row_index(_ROW)
    for definition in definitions:
        table = tables[definition.source]
        _check_keys(spine, "spine", definition.entity, spine_time)
        _check_keys(table, f"events {definition.source!r}", definition.entity, definition.timestamp)
        _check_same_dtype(spine, table, definition.entity, definition.entity)
        _check_same_dtype(spine, table, spine_time, definition.timestamp)
        column = definition.expression.column
        if column is not None and column not in table.columns:
            raise DataError(f"feature {definition.name!r}: column {column!r} is not in events {definition.source!r}",
                            hint=f"columns there: {table.columns}")
        values = _feature_values(frame.select(_ROW, definition.entity, spine_time), table, definition, spine_time)
        frame = frame.with_columns(values.alias(definition.name))
    return ComputedFeatures(frame=frame.drop(_ROW), versions={d.name: d.version for d in definitions})


# --- the aggregations --------------------------------------------------------------------------


def _feature_values(keys: pl.DataFrame, table: pl.DataFrame, definition: FeatureDefinition,
                    spine_time: str) -> pl.Series:
    """The feature's values for ``keys`` (row index, entity, time), in ``keys`` row order."""
    entity, expression = definition.entity, definition.expression
    window = timedelta(days=expression.window_days) if expression.window_days is not None else None
    value = pl.col(expression.column) if expression.column is not None else pl.lit(1, dtype=pl.UInt8)
    events = table.select(entity, pl.col(definition.timestamp).alias(_EVENT_TIME), value.alias(_VALUE))
    if expression.agg == "last":
        joined = _join(keys, events, entity=entity, spine_time=spine_time, event_time=_EVENT_TIME,
                       columns=[_VALUE], tolerance=window, allow_exact_match=False)
        return joined[_VALUE]
    if window is None:
        return _cumulative(keys, events, entity, spine_time, expression.agg)
    return _rolling(keys, events, entity, spine_time, expression.agg, window)


def _rolling(keys: pl.DataFrame, events: pl.DataFrame, entity: str, spine_time: str, agg: str,
             window: timedelta) -> pl.Series:
    markers = keys.select(_ROW, entity, pl.col(spine_time).alias(_EVENT_TIME),
                          pl.lit(None, dtype=events.schema[_VALUE]).alias(_VALUE))
    union = pl.concat([events.with_columns(pl.lit(None, dtype=pl.UInt32).alias(_ROW)), markers], how="diagonal")
    union = union.sort(entity, _EVENT_TIME)
    aggregated = union.rolling(_EVENT_TIME, period=window, closed="left", group_by=entity).agg(
        _aggregate(agg, pl.col(_VALUE)).alias(_FEATURE))
    # rolling returns one row per input row; with the input sorted by entity then time, in input order.
    if not (aggregated[entity].equals(union[entity]) and aggregated[_EVENT_TIME].equals(union[_EVENT_TIME])):
        raise RuntimeError("polars rolling returned rows out of input order; assay.features needs updating")
    result = pl.concat([union.select(_ROW), aggregated.select(_FEATURE)], how="horizontal")
    return result.filter(pl.col(_ROW).is_not_null()).sort(_ROW)[_FEATURE]


def _cumulative(keys: pl.DataFrame, events: pl.DataFrame, entity: str, spine_time: str, agg: str) -> pl.Series:
    value = pl.col(_VALUE)
    running = {
        "sum": value.fill_null(0).cum_sum(),
        "count": value.is_not_null().cast(pl.Int64).cum_sum(),
        "max": value.cum_max(),
        "min": value.cum_min(),
    }
    ordered = events.sort(entity, _EVENT_TIME, maintain_order=True)
    if agg == "mean":
        ordered = ordered.with_columns(running["sum"].over(entity).alias(_SUM),
                                       running["count"].over(entity).alias(_COUNT))
        wanted = [_SUM, _COUNT]
    else:
        # cum_max/cum_min give null at null values; forward-fill keeps the running value there.
        ordered = ordered.with_columns(running[agg].forward_fill().over(entity).alias(_FEATURE))
        wanted = [_FEATURE]
    joined = _join(keys, ordered, entity=entity, spine_time=spine_time, event_time=_EVENT_TIME, columns=wanted,
                   tolerance=None, allow_exact_match=False)
    if agg == "mean":
        return joined.select(pl.when(pl.col(_COUNT) > 0).then(pl.col(_SUM) / pl.col(_COUNT))).to_series()
    if agg in ("sum", "count"):
        return joined[_FEATURE].fill_null(0)
    return joined[_FEATURE]


def _aggregate(agg: str, value: pl.Expr) -> pl.Expr:
    if agg == "sum":
        return value.sum()
    if agg == "mean":
        return value.mean()
    if agg == "count":
        return value.count().cast(pl.Int64)
    if agg == "max":
        return value.max()
    return value.min()


# --- the join and its checks -------------------------------------------------------------------


def _join(spine: pl.DataFrame, events: pl.DataFrame, *, entity: str, spine_time: str, event_time: str,
          columns: Sequence[str], tolerance: timedelta | None, allow_exact_match: bool) -> pl.DataFrame:
    """The checked join: sort both sides by time, join per entity, restore the spine's order."""
    right = events.select(entity, pl.col(event_time).alias(_EVENT_TIME), *[
        pl.col(c) for c in columns if c != event_time
    ])
    if event_time in columns:
        right = right.with_columns(pl.col(_EVENT_TIME).alias(event_time))
    right = right.sort(_EVENT_TIME, maintain_order=True)  # stable: among equal times, the last row wins
    left = spine.with_row_index(_ROW + "_join").sort(spine_time)
    joined = left.join_asof(right, left_on=spine_time, right_on=_EVENT_TIME, by=entity, strategy="backward",
                            tolerance=tolerance, allow_exact_matches=allow_exact_match, check_sortedness=False)
    return joined.sort(_ROW + "_join").drop(_ROW + "_join", _EVENT_TIME, strict=False).select(
        *spine.columns, *columns)


def _check_keys(frame: pl.DataFrame, table: str, entity: str, time: str) -> None:
    missing = [c for c in (entity, time) if c not in frame.columns]
    if missing:
        raise DataError(f"{table}: column(s) {missing} not found", hint=f"columns there: {frame.columns}")
    if not frame.schema[time].is_temporal():
        raise DataError(f"{table}: time column {time!r} has dtype {frame.schema[time]}, not a date or datetime",
                        hint=f"parse it first, e.g. pl.col({time!r}).str.to_datetime()")
    for column, kind in ((time, "timestamp"), (entity, "entity")):
        nulls = frame.select(pl.arg_where(pl.col(column).is_null())).to_series()
        if len(nulls):
            shown = nulls.head(_SHOWN_ROWS).to_list()
            raise DataError(f"{table}: column {column!r} has {len(nulls)} missing {kind} value(s), "
                            f"at rows {shown}{' …' if len(nulls) > _SHOWN_ROWS else ''}",
                            hint="drop or fill those rows first: a point-in-time join needs every key")


def _check_same_dtype(spine: pl.DataFrame, events: pl.DataFrame, spine_column: str, event_column: str) -> None:
    left, right = spine.schema[spine_column], events.schema[event_column]
    if left != right:
        raise DataError(f"spine column {spine_column!r} is {left} but events column {event_column!r} is {right}",
                        hint="cast one so both have the same dtype (and time zone)")


def _event_columns(events: pl.DataFrame, entity: str, event_time: str, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return [c for c in events.columns if c not in (entity, event_time)]
    wanted = list(columns)
    absent = [c for c in wanted if c not in events.columns]
    if absent:
        raise DataError(f"events: column(s) {absent} not found", hint=f"columns there: {events.columns}")
    if entity in wanted:
        raise DataError(f"events: the entity column {entity!r} cannot be a joined column",
                        hint="the spine already has it")
    if len(set(wanted)) != len(wanted):
        raise DataError(f"columns {wanted} names a column twice", hint="list each column once")
    return wanted


def _tables_by_source(events: pl.DataFrame | Mapping[str, pl.DataFrame],
                      definitions: Sequence[FeatureDefinition]) -> Mapping[str, pl.DataFrame]:
    if isinstance(events, pl.DataFrame):
        return {d.source: events for d in definitions}
    missing = sorted({d.source for d in definitions} - set(events))
    if missing:
        raise SpecError(f"no event table for source(s) {missing}",
                        hint=f"pass events={{name: frame}} with those names; given: {sorted(events)}")
    return events
