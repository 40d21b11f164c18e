"""A project's versioned features: definitions from the spec, event snapshots, and the run record.

Training computes the features from event tables it snapshots into the artifact store;
reproduction computes them again from those snapshots and the definitions the run recorded,
so neither ever reads the current event files twice over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from assay.data.dataset import read_snapshot, write_snapshot
from assay.data.source import SourceRef, hash_source, read_source
from assay.errors import DataError, SpecError
from assay.features import FeatureDefinition, compute_features, load_definitions, parse_definitions
from assay.features.definition import check_unique_names
from assay.project.workspace import Project
from assay.spec.model import Spec, feature_problems

EVENTS_ARTIFACT_PREFIX = "events:"


@dataclass(frozen=True, slots=True)
class EventSnapshot:
    """One event table as a run used it: the columns its features read, stored by sha256."""

    source: str
    path: str  # as data.events names it
    content_sha256: str  # of the file as read
    snapshot_sha256: str  # of the stored Parquet snapshot
    frame: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "content_sha256": self.content_sha256,
            "snapshot_sha256": self.snapshot_sha256,
            "rows": self.frame.height,
        }


def feature_definitions(spec: Spec, project_dir: Path) -> tuple[FeatureDefinition, ...]:
    """The spec's `features:` and `features_from` definitions together, sorted by name.

    `features_from` is imported with the project folder importable, and its definitions are held
    to the same rules the spec checks for `features:` (SpecError naming the feature otherwise)."""
    inline = parse_definitions({name: f.model_dump(exclude_none=True) for name, f in spec.features.items()})
    if spec.features_from is None:
        return inline
    imported = load_definitions(spec.features_from, project_dir=project_dir)
    problems = [
        f"feature {d.name!r}" + (f" ({field})" if field else "") + f": {message}"
        for d in imported
        for field, message in feature_problems(spec, name=d.name, source=d.source, entity=d.entity)
    ]
    if problems:
        raise SpecError(
            f"features_from {spec.features_from!r} has {len(problems)} problem(s):\n"
            + "\n".join(f"  - {p}" for p in problems),
            hint="fix the definitions in that module, or data.events / data.schema in assay.yaml",
        )
    both = (*inline, *imported)
    try:
        check_unique_names(both)
    except SpecError as exc:
        raise SpecError(f"features and features_from {spec.features_from!r} define the same name: {exc}",
                        hint="each feature is defined once, in the spec or in the module") from exc
    return tuple(sorted(both, key=lambda d: d.name))


def snapshot_events(project: Project, spec: Spec, definitions: Sequence[FeatureDefinition]) -> dict[str, EventSnapshot]:
    """Read each event table the definitions use and store the columns they read as Parquet."""
    snapshots = {}
    for source in sorted({d.source for d in definitions}):
        path = spec.data.events[source]
        ref = SourceRef.resolve(path, base_dir=project.root)
        content_sha256, _ = hash_source(ref)
        table = read_source(ref)
        frame = table.select(_columns_read(table, source, definitions))
        snapshot = write_snapshot(frame, project.scratch_dir)
        try:
            info = project.artifacts.put_file(snapshot)
        finally:
            snapshot.unlink(missing_ok=True)
        snapshots[source] = EventSnapshot(source, path, content_sha256, info.sha256, frame)
    return snapshots


def load_event_snapshots(project: Project, artifacts: Mapping[str, str]) -> dict[str, pl.DataFrame]:
    """The event snapshots a run recorded (`events:<source>` artifacts), verified on load."""
    return {
        role.removeprefix(EVENTS_ARTIFACT_PREFIX): read_snapshot(project.artifacts.get_bytes(sha))
        for role, sha in sorted(artifacts.items())
        if role.startswith(EVENTS_ARTIFACT_PREFIX)
    }


def features_for_run(
    project: Project, spec: Spec, frame: pl.DataFrame, definitions: Sequence[FeatureDefinition]
) -> tuple[pl.DataFrame, dict[str, EventSnapshot]]:
    """Snapshot the event tables the definitions read and add the features to `frame` (the spine)."""
    snapshots = snapshot_events(project, spec, definitions)
    events = {source: snapshot.frame for source, snapshot in snapshots.items()}
    return add_features(frame, events, definitions, spine_time=spine_time_of(spec)), snapshots


def spine_time_of(spec: Spec) -> str:
    """The column features are computed as of (the spec refuses features without one)."""
    if spec.spine_time is None:
        raise SpecError("features need a time column for each row, and none is set", hint="set data.time in assay.yaml")
    return spec.spine_time


def add_features(
    frame: pl.DataFrame,
    events: Mapping[str, pl.DataFrame],
    definitions: Sequence[FeatureDefinition],
    *,
    spine_time: str,
) -> pl.DataFrame:
    """`frame` with one column per definition, computed strictly before each row's `spine_time`.

    Dates and datetimes meet on one type first (a date is its midnight), and an event entity
    column is cast to the data's entity type when that is text or both are integers; anything
    else that does not match is left for compute_features to refuse with its DataError."""
    entities = sorted({d.entity for d in definitions})
    missing = [c for c in (*entities, spine_time) if c not in frame.columns]
    if missing:
        raise DataError(
            f"the data has no column(s) {missing} that the features join on",
            hint="features need the entity column(s) and the time column in the data; check data.source and the "
            "features' entity",
        )
    clashes = sorted({d.name for d in definitions} & set(frame.columns))
    if clashes:
        raise DataError(
            f"feature name(s) {clashes} are also columns of the data",
            hint="rename the features (a feature never overwrites a data column)",
        )
    spine = frame.select(*entities, spine_time)
    event_times = [events[d.source].schema.get(d.timestamp) for d in definitions if d.source in events]
    time_dtype = _common_time_dtype(spine.schema[spine_time], event_times)
    if spine.schema[spine_time] != time_dtype:
        spine = spine.with_columns(pl.col(spine_time).cast(time_dtype))
    aligned = {source: _align_events(table, spine, definitions, source, time_dtype) for source, table in events.items()}
    computed = compute_features(spine, aligned, definitions, spine_time=spine_time)
    return frame.with_columns(computed.frame.select(d.name for d in definitions))


def feature_params(definitions: Sequence[FeatureDefinition]) -> dict[str, Any]:
    """What a run records about its features: version, source and the full definition."""
    return {d.name: {"version": d.version, "source": d.source, "definition": d.to_dict()} for d in definitions}


def recorded_definitions(params: Mapping[str, Any]) -> tuple[FeatureDefinition, ...]:
    """The definitions a run recorded in params["features"] (none for a run without features)."""
    recorded = params.get("features", {})
    return tuple(sorted((FeatureDefinition.from_dict(entry["definition"]) for entry in recorded.values()),
                        key=lambda d: d.name))


def describe_changes(recorded: Sequence[FeatureDefinition], current: Sequence[FeatureDefinition]) -> list[str]:
    """One line per feature whose definition differs between a run and the current spec."""
    old, new = {d.name: d for d in recorded}, {d.name: d for d in current}
    lines = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if after is None and before is not None:
            lines.append(f"feature {name}: version {before.version} is no longer defined in the spec")
        elif before is None and after is not None:
            lines.append(f"feature {name}: new since the run (version {after.version}); the rebuilt model does not use it")
        elif before is not None and after is not None and before.version != after.version:
            fields = ", ".join(_changed_fields(before.to_dict(), after.to_dict()))
            lines.append(f"feature {name}: version {before.version} -> {after.version} ({fields}); "
                         "reproduction uses the recorded definition")
    return lines


def _changed_fields(before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = "") -> list[str]:
    changed = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if key == "description" or old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            changed.extend(_changed_fields(old, new, f"{prefix}{key}."))
        else:
            changed.append(f"{prefix}{key} {old!r} -> {new!r}")
    return changed


def _columns_read(table: pl.DataFrame, source: str, definitions: Sequence[FeatureDefinition]) -> list[str]:
    """The table's columns that the definitions reading `source` use, in the table's order."""
    used = {c for d in definitions if d.source == source for c in (d.entity, d.timestamp, d.expression.column) if c}
    absent = sorted(used - set(table.columns))
    if absent:
        users = sorted(d.name for d in definitions if d.source == source)
        raise DataError(
            f"events {source!r}: column(s) {absent} used by feature(s) {users} are not in the table "
            f"(it has: {', '.join(table.columns)})",
            hint="fix the features' entity/timestamp/expression.column, or data.events in assay.yaml",
        )
    return [c for c in table.columns if c in used]


def _common_time_dtype(spine: pl.DataType, events: Sequence[pl.DataType | None]) -> pl.DataType:
    """The spine's time type, or the events' datetime type when the spine holds dates."""
    if spine == pl.Date:
        return next((d for d in events if isinstance(d, pl.Datetime)), spine)
    return spine


def _align_events(
    table: pl.DataFrame,
    spine: pl.DataFrame,
    definitions: Sequence[FeatureDefinition],
    source: str,
    time_dtype: pl.DataType,
) -> pl.DataFrame:
    """The event table with its time and entity columns cast to the spine's types where that is safe."""
    casts = {}
    for d in definitions:
        if d.source != source:
            continue
        event_time = table.schema.get(d.timestamp)
        if event_time is not None and event_time != time_dtype and _same_zone(event_time, time_dtype):
            casts[d.timestamp] = time_dtype
        event_entity, spine_entity = table.schema.get(d.entity), spine.schema[d.entity]
        if event_entity is not None and event_entity != spine_entity and (
            spine_entity == pl.String or (event_entity.is_integer() and spine_entity.is_integer())
        ):
            casts[d.entity] = spine_entity
    if not casts:
        return table
    try:
        return table.with_columns(pl.col(c).cast(t) for c, t in casts.items())
    except pl.exceptions.InvalidOperationError as exc:
        raise DataError(
            f"events {source!r}: cannot convert {sorted(casts)} to the data's types: {str(exc).splitlines()[0]}",
            hint="make the event table's entity and time columns the same types as the data's",
        ) from exc


def _same_zone(left: pl.DataType, right: pl.DataType) -> bool:
    """Whether both are dates or datetimes and a cast between them keeps the instants (a date has no zone)."""
    if not all(t == pl.Date or isinstance(t, pl.Datetime) for t in (left, right)):
        return False
    return getattr(left, "time_zone", None) == getattr(right, "time_zone", None)


__all__ = [
    "EVENTS_ARTIFACT_PREFIX",
    "EventSnapshot",
    "add_features",
    "describe_changes",
    "feature_definitions",
    "feature_params",
    "features_for_run",
    "load_event_snapshots",
    "recorded_definitions",
    "snapshot_events",
    "spine_time_of",
]
