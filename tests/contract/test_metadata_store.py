"""The MetadataStore contract, run against every SQL backend (SQLite file, PostgreSQL schema)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from assay.errors import NotFoundError, StoreError, VersionConflictError
from assay.registry._orm import VERSION_TABLE, Base
from assay.registry.records import DatasetVersion, ModelStatus, ModelVersion, Run, RunStatus
from assay.registry.sql import SqlMetadataStore
from assay.registry.store import MetadataStore

T0 = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def sql_store(store_url: str) -> Iterator[SqlMetadataStore]:
    """A store on an empty, unmigrated database."""
    store = SqlMetadataStore.from_url(store_url)
    yield store
    store.close()


@pytest.fixture
def store(sql_store: SqlMetadataStore) -> MetadataStore:
    sql_store.migrate()
    return sql_store


def make_dataset(id: str = "ds-1", *, name: str = "credit", at: datetime = T0) -> DatasetVersion:
    return DatasetVersion(
        id=id,
        name=name,
        source_uri=f"file:///data/{name}.csv",
        content_hash="c" * 64,
        snapshot_sha256="s" * 64,
        row_count=1000,
        column_count=12,
        schema={"columns": {"age": {"type": "int64", "nullable": False}}},
        created_at=at,
        created_by="alice",
        checks={"passed": True, "failures": []},
    )


def make_run(id: str = "run-1", *, dataset_id: str = "ds-1", project: str = "credit", at: datetime = T0) -> Run:
    return Run(
        id=id,
        project=project,
        dataset_version_id=dataset_id,
        status=RunStatus.RUNNING,
        seed=42,
        spec_sha256="p" * 64,
        environment={"python": "3.11", "packages": {"scikit-learn": "1.5.0"}},
        params={"model": {"type": "logistic"}},
        metrics={},
        artifacts={},
        started_at=at,
        finished_at=None,
        created_by="alice",
    )


def register(store: MetadataStore, name: str = "credit", *, run_id: str = "run-1", at: datetime = T0) -> ModelVersion:
    return store.register_model(
        name=name,
        run_id=run_id,
        flavor="sklearn",
        artifact_sha256="a" * 64,
        signature={"inputs": [{"name": "age", "type": "int64"}]},
        metrics={"auc": 0.81},
        status=ModelStatus.CANDIDATE,
        created_at=at,
        created_by="bob",
        description="first try",
    )


def with_run(store: MetadataStore) -> MetadataStore:
    store.add_dataset(make_dataset())
    store.add_run(make_run())
    return store


def actions(store: MetadataStore) -> list[str]:
    return [entry.action for entry in store.list_audit()]


# --- datasets -------------------------------------------------------------------


def test_added_dataset_reads_back_equal(store: MetadataStore) -> None:
    dataset = make_dataset()
    stored, inserted = store.add_dataset(dataset)
    assert inserted is True
    assert stored == dataset
    assert store.get_dataset("ds-1") == dataset


def test_adding_identical_dataset_returns_existing_without_second_audit_entry(store: MetadataStore) -> None:
    first, _ = store.add_dataset(make_dataset())
    again, inserted = store.add_dataset(make_dataset(at=T0 + MINUTE))
    assert inserted is False
    assert again == first
    assert actions(store) == ["dataset.ingested"]


def test_list_datasets_is_newest_first_filtered_and_limited(store: MetadataStore) -> None:
    store.add_dataset(make_dataset("ds-1", at=T0))
    store.add_dataset(make_dataset("ds-2", at=T0 + 2 * MINUTE))
    store.add_dataset(make_dataset("ds-3", name="churn", at=T0 + MINUTE))
    assert [d.id for d in store.list_datasets()] == ["ds-2", "ds-3", "ds-1"]
    assert [d.id for d in store.list_datasets(name="credit")] == ["ds-2", "ds-1"]
    assert [d.id for d in store.list_datasets(limit=1)] == ["ds-2"]


# --- runs -----------------------------------------------------------------------


def test_run_is_added_finished_and_read_back(store: MetadataStore) -> None:
    with_run(store)
    assert store.get_run("run-1") == make_run()
    finished = store.finish_run(
        "run-1",
        status=RunStatus.SUCCEEDED,
        finished_at=T0 + MINUTE,
        metrics={"auc": 0.8},
        artifacts={"model": "m" * 64},
        params={"model": {"type": "logistic", "C": 1.0}},
    )
    assert finished.status is RunStatus.SUCCEEDED
    assert finished.finished_at == T0 + MINUTE
    assert finished.params == {"model": {"type": "logistic", "C": 1.0}}
    assert store.get_run("run-1") == finished


def test_finishing_without_params_keeps_them_and_records_error(store: MetadataStore) -> None:
    with_run(store)
    failed = store.finish_run("run-1", status=RunStatus.FAILED, finished_at=T0, metrics={}, artifacts={}, error="boom")
    assert (failed.status, failed.error, failed.params) == (RunStatus.FAILED, "boom", make_run().params)
    assert store.list_audit()[-1].details == {"status": "failed", "error": "boom"}


def test_list_runs_is_newest_first_and_filters_by_project(store: MetadataStore) -> None:
    store.add_dataset(make_dataset())
    store.add_run(make_run("run-1", at=T0))
    store.add_run(make_run("run-2", at=T0 + MINUTE, project="churn"))
    store.add_run(make_run("run-3", at=T0 + 2 * MINUTE))
    assert [r.id for r in store.list_runs()] == ["run-3", "run-2", "run-1"]
    assert [r.id for r in store.list_runs(project="credit", limit=1)] == ["run-3"]


def test_duplicate_run_id_conflicts(store: MetadataStore) -> None:
    with_run(store)
    with pytest.raises(VersionConflictError, match="run-1"):
        store.add_run(make_run())
    assert actions(store) == ["dataset.ingested", "run.started"]


def test_finishing_a_run_twice_conflicts(store: MetadataStore) -> None:
    with_run(store)
    store.finish_run("run-1", status=RunStatus.SUCCEEDED, finished_at=T0, metrics={}, artifacts={})
    with pytest.raises(VersionConflictError):
        store.finish_run("run-1", status=RunStatus.FAILED, finished_at=T0, metrics={}, artifacts={})


# --- models ---------------------------------------------------------------------


def test_register_numbers_versions_per_name(store: MetadataStore) -> None:
    with_run(store)
    refs = [register(store, name).ref for name in ["credit", "credit", "churn", "credit", "churn"]]
    assert refs == ["credit:1", "credit:2", "churn:1", "credit:3", "churn:2"]


def test_registered_model_reads_back_and_lists_newest_first(store: MetadataStore) -> None:
    with_run(store)
    v1 = register(store, at=T0)
    v2 = register(store, at=T0 + MINUTE)
    other = register(store, "churn", at=T0 + 2 * MINUTE)
    assert (v1.version, v1.status, v1.metrics, v1.description) == (1, ModelStatus.CANDIDATE, {"auc": 0.81}, "first try")
    assert store.get_model("credit", 2) == v2
    assert store.list_models() == [other, v2, v1]
    assert store.list_models(name="credit", limit=1) == [v2]


def test_status_change_is_stored_and_audited(store: MetadataStore) -> None:
    with_run(store)
    register(store)
    approved = store.set_model_status("credit", 1, ModelStatus.APPROVED, actor="carol", reason="gates passed", at=T0)
    assert approved.status is ModelStatus.APPROVED
    assert store.get_model("credit", 1).status is ModelStatus.APPROVED
    entry = store.list_audit(subject="credit:1")[-1]
    assert (entry.action, entry.actor) == ("model.status", "carol")
    assert entry.details == {"from": "candidate", "to": "approved", "reason": "gates passed"}


# --- aliases --------------------------------------------------------------------


def test_alias_set_move_remove_keeps_history(store: MetadataStore) -> None:
    with_run(store)
    register(store)
    register(store)
    first = store.set_alias("credit", "production", 1, actor="carol", reason="launch", at=T0)
    store.set_alias("credit", "staging", 2, actor="carol", reason="try", at=T0 + MINUTE)
    moved = store.set_alias("credit", "production", 2, actor="dave", reason="better auc", at=T0 + 2 * MINUTE)
    assert (first.version, first.previous_version) == (1, None)
    assert (moved.version, moved.previous_version, moved.actor) == (2, 1, "dave")
    assert store.get_alias("credit", "production") == 2
    assert store.list_aliases("credit") == {"production": 2, "staging": 2}

    removed = store.set_alias("credit", "production", None, actor="dave", reason="incident", at=T0 + 3 * MINUTE)
    assert (removed.version, removed.previous_version) == (None, 2)
    assert store.get_alias("credit", "production") is None
    assert store.list_aliases("credit") == {"staging": 2}
    history = store.alias_history("credit", "production")
    assert [(c.version, c.previous_version) for c in history] == [(None, 2), (2, 1), (1, None)]
    assert history[0] == removed
    assert len(store.alias_history("credit")) == 4


def test_alias_to_missing_version_is_not_found(store: MetadataStore) -> None:
    with_run(store)
    register(store)
    with pytest.raises(NotFoundError) as info:
        store.set_alias("credit", "production", 7, actor="carol", reason="", at=T0)
    assert (info.value.kind, info.value.ref) == ("model", "credit:7")
    assert store.alias_history("credit") == []


def test_unknown_alias_reads_as_none(store: MetadataStore) -> None:
    assert store.get_alias("credit", "production") is None
    assert store.list_aliases("credit") == {}


# --- not found ------------------------------------------------------------------


def _finish(store: MetadataStore) -> object:
    return store.finish_run("run-9", status=RunStatus.SUCCEEDED, finished_at=T0, metrics={}, artifacts={})


NOT_FOUND_CASES: list[tuple[str, str, Any]] = [
    ("dataset", "ds-9", lambda s: s.get_dataset("ds-9")),
    ("dataset", "ds-9", lambda s: s.add_run(make_run(dataset_id="ds-9"))),
    ("run", "run-9", lambda s: s.get_run("run-9")),
    ("run", "run-9", _finish),
    ("run", "run-9", lambda s: register(s, run_id="run-9")),
    ("model", "credit:9", lambda s: s.get_model("credit", 9)),
    ("model", "credit:9", lambda s: s.set_model_status("credit", 9, ModelStatus.REJECTED, actor="a", reason="", at=T0)),
    ("model", "churn:1", lambda s: s.set_alias("churn", "production", 1, actor="a", reason="", at=T0)),
    ("alias", "credit@production", lambda s: s.set_alias("credit", "production", None, actor="a", reason="", at=T0)),
]


@pytest.mark.parametrize(("kind", "ref", "call"), NOT_FOUND_CASES)
def test_missing_things_raise_not_found_and_change_nothing(
    store: MetadataStore, kind: str, ref: str, call: Any
) -> None:
    with_run(store)
    register(store)
    before = store.list_audit()
    with pytest.raises(NotFoundError) as info:
        call(store)
    assert (info.value.kind, info.value.ref) == (kind, ref)
    assert info.value.hint
    assert store.list_audit() == before


# --- audit ----------------------------------------------------------------------


def test_every_mutation_writes_exactly_its_audit_entry_in_order(store: MetadataStore) -> None:
    store.add_dataset(make_dataset())
    store.add_run(make_run())
    store.finish_run("run-1", status=RunStatus.SUCCEEDED, finished_at=T0, metrics={}, artifacts={})
    register(store)
    store.set_model_status("credit", 1, ModelStatus.APPROVED, actor="carol", reason="ok", at=T0)
    store.set_alias("credit", "production", 1, actor="carol", reason="launch", at=T0)
    store.append_audit(actor="eve", action="key.created", subject="key-1", details={"role": "reader"}, at=T0)

    entries = store.list_audit()
    assert [(e.action, e.subject, e.actor) for e in entries] == [
        ("dataset.ingested", "ds-1", "alice"),
        ("run.started", "run-1", "alice"),
        ("run.finished", "run-1", "alice"),
        ("model.registered", "credit:1", "bob"),
        ("model.status", "credit:1", "carol"),
        ("alias.moved", "credit@production", "carol"),
        ("key.created", "key-1", "eve"),
    ]
    seqs = [e.seq for e in entries]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert entries[3].details == {
        "run_id": "run-1",
        "flavor": "sklearn",
        "artifact_sha256": "a" * 64,
        "status": "candidate",
    }
    assert entries[5].details == {
        "model": "credit",
        "alias": "production",
        "version": 1,
        "previous_version": None,
        "reason": "launch",
    }


def test_append_audit_returns_the_stored_entry(store: MetadataStore) -> None:
    details = {"nested": {"list": [1, 2.5, "x", None]}, "flag": True}
    entry = store.append_audit(actor="eve", action="key.created", subject="key-1", details=details, at=T0)
    assert entry.details == details
    assert store.list_audit() == [entry]


def test_list_audit_filters_by_subject_and_limits_oldest_first(store: MetadataStore) -> None:
    for i in range(3):
        store.append_audit(actor="eve", action="note", subject=f"s{i % 2}", details={"i": i}, at=T0)
    assert [e.details["i"] for e in store.list_audit(subject="s0")] == [0, 2]
    assert [e.details["i"] for e in store.list_audit(limit=2)] == [0, 1]


def test_list_audit_finds_the_newest_entries_of_one_action(store: MetadataStore) -> None:
    for i in range(5):
        store.append_audit(actor="eve", action="ask" if i % 2 else "note", subject="m:1", details={"i": i}, at=T0)
    assert [e.details["i"] for e in store.list_audit(subject="m:1", action="ask", newest_first=True)] == [3, 1]
    assert [e.details["i"] for e in store.list_audit(newest_first=True, limit=2)] == [4, 3]
    assert store.list_audit(subject="m:2", action="ask", newest_first=True, limit=1) == []


# --- time -----------------------------------------------------------------------


def test_datetimes_round_trip_as_utc_aware(store: MetadataStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2025, 6, 1, 14, 30, 0, 654321, tzinfo=plus_two)
    stored, _ = store.add_dataset(make_dataset(at=local))
    read = store.get_dataset("ds-1").created_at
    for value in (stored.created_at, read, store.list_audit()[0].at):
        assert value == local
        assert value.utcoffset() == timedelta(0)
        assert value.hour == 12


def test_naive_datetimes_are_refused(store: MetadataStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.add_dataset(make_dataset(at=datetime(2025, 1, 1)))


# --- SQL lifecycle and errors (SqlMetadataStore only) ----------------------------


def test_migrate_is_idempotent(sql_store: SqlMetadataStore) -> None:
    assert sql_store.is_migrated() is False
    sql_store.migrate()
    sql_store.migrate()
    assert sql_store.is_migrated() is True
    with_run(sql_store)
    assert sql_store.get_run("run-1").id == "run-1"


def test_unmigrated_database_raises_store_error_with_migrate_hint(sql_store: SqlMetadataStore) -> None:
    with pytest.raises(StoreError) as info:
        sql_store.get_dataset("ds-1")
    assert "assay db migrate" in info.value.hint
    assert "SELECT" not in str(info.value)


def test_migrated_schema_matches_the_orm_metadata(sql_store: SqlMetadataStore, store_url: str) -> None:
    sql_store.migrate()
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://assay:s3cret-pw@127.0.0.1:1/assay",
        "postgres://assay:s3cret-pw@127.0.0.1:1/assay",
        "postgresql://assay@127.0.0.1:1/assay?password=s3cret-pw",
        "sqlite:////nonexistent-dir/assay.db",
    ],
)
def test_unreachable_database_raises_store_error_without_password(url: str) -> None:
    store = SqlMetadataStore.from_url(url)
    try:
        with pytest.raises(StoreError) as info:
            store.migrate()
    finally:
        store.close()
    if url.startswith("postgres"):
        assert "s3cret-pw" not in str(info.value)
        assert "127.0.0.1:1" in str(info.value)
    assert "ASSAY_DB_URL" in info.value.hint


@pytest.mark.parametrize("url", ["not a url", "mysql://assay:s3cret-pw@db/assay", "nosuchdb+driver://u:s3cret-pw@h/d"])
def test_bad_url_raises_store_error_without_password(url: str) -> None:
    with pytest.raises(StoreError) as info:
        SqlMetadataStore.from_url(url)
    assert "s3cret-pw" not in str(info.value)
    assert "ASSAY_DB_URL" in info.value.hint


def test_dataset_profile_address_round_trips(store: MetadataStore) -> None:
    from dataclasses import replace

    with_profile = replace(make_dataset("ds-p"), profile_sha256="f" * 64)
    stored, created = store.add_dataset(with_profile)
    assert created and stored.profile_sha256 == "f" * 64
    assert store.get_dataset("ds-p").profile_sha256 == "f" * 64
    assert store.add_dataset(make_dataset("ds-q"))[0].profile_sha256 is None


def test_upgrading_from_the_first_revision_keeps_recorded_datasets(sql_store: SqlMetadataStore) -> None:
    from alembic import command
    from sqlalchemy import text

    from assay.registry._sql_migrate import alembic_config

    with sql_store._engine.begin() as conn:  # noqa: SLF001 - drive Alembic to an old revision
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(
            text(
                "INSERT INTO datasets (id, name, source_uri, content_hash, snapshot_sha256, row_count, "
                "column_count, schema, checks, created_at, created_by) VALUES ('ds-old', 'credit', 'x', "
                "'c', 's', 1, 1, '{}', '{}', :at, 'alice')"
            ),
            {"at": T0},
        )
    assert not sql_store.is_migrated()
    sql_store.migrate()
    assert sql_store.is_migrated()
    old = sql_store.get_dataset("ds-old")
    assert old.name == "credit" and old.profile_sha256 is None
