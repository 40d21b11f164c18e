"""Several processes writing one metadata store at once: no lost or duplicate versions.

Workers are spawned (not forked) so each builds its own engine, as separate CLI or
service processes would. Every join is bounded: a stalled worker fails the test.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.synchronize import Event


from assay.registry.records import DatasetVersion, ModelStatus, Run, RunStatus
from assay.registry.sql import SqlMetadataStore

WORKERS = 6
VERSIONS_EACH = 15
JOIN_TIMEOUT_S = 120
T0 = datetime(2025, 3, 4, tzinfo=UTC)


def register_versions(url: str, worker: int, start: Event) -> None:
    store = SqlMetadataStore.from_url(url)
    try:
        start.wait(JOIN_TIMEOUT_S)
        for i in range(VERSIONS_EACH):
            store.register_model(
                name="fraud",
                run_id="run-1",
                flavor="sklearn",
                artifact_sha256="a" * 64,
                signature={},
                metrics={"worker": worker, "i": i},
                status=ModelStatus.CANDIDATE,
                created_at=T0,
                created_by=f"worker-{worker}",
            )
    finally:
        store.close()


def migrate(url: str, _worker: int, start: Event) -> None:
    store = SqlMetadataStore.from_url(url)
    try:
        start.wait(JOIN_TIMEOUT_S)
        store.migrate()
    finally:
        store.close()


def run_workers(target: Callable[[str, int, Event], None], url: str, count: int) -> None:
    """Start `count` spawned workers together; fail if any errs or outlives the timeout."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    processes = [ctx.Process(target=target, args=(url, n, start)) for n in range(count)]
    for process in processes:
        process.start()
    start.set()
    stalled = []
    for process in processes:
        process.join(timeout=JOIN_TIMEOUT_S)
        if process.is_alive():
            stalled.append(process.name)
            process.terminate()
            process.join(timeout=10)
    assert not stalled, f"workers still running after {JOIN_TIMEOUT_S} s: {stalled}"
    assert [p.exitcode for p in processes] == [0] * count


def seed_run(store: SqlMetadataStore) -> None:
    store.add_dataset(
        DatasetVersion(
            id="ds-1",
            name="fraud",
            source_uri="file:///fraud.csv",
            content_hash="c" * 64,
            snapshot_sha256="s" * 64,
            row_count=1,
            column_count=1,
            schema={},
            created_at=T0,
            created_by="setup",
        )
    )
    store.add_run(
        Run(
            id="run-1",
            project="fraud",
            dataset_version_id="ds-1",
            status=RunStatus.RUNNING,
            seed=0,
            spec_sha256="p" * 64,
            environment={},
            params={},
            metrics={},
            artifacts={},
            started_at=T0,
            finished_at=None,
            created_by="setup",
        )
    )


def test_concurrent_registrations_get_every_version_exactly_once(store_url: str) -> None:
    store = SqlMetadataStore.from_url(store_url)
    try:
        store.migrate()
        seed_run(store)

        run_workers(register_versions, store_url, WORKERS)

        total = WORKERS * VERSIONS_EACH
        models = store.list_models(name="fraud", limit=10 * total)
        assert sorted(m.version for m in models) == list(range(1, total + 1))
        for worker in range(WORKERS):
            mine = sorted((m for m in models if m.created_by == f"worker-{worker}"), key=lambda m: m.version)
            assert [m.metrics["i"] for m in mine] == list(range(VERSIONS_EACH))
        registered = [e for e in store.list_audit(limit=10 * total) if e.action == "model.registered"]
        assert sorted(e.subject for e in registered) == sorted(f"fraud:{v}" for v in range(1, total + 1))
    finally:
        store.close()


def test_concurrent_migrations_all_succeed(store_url: str) -> None:
    run_workers(migrate, store_url, 4)
    store = SqlMetadataStore.from_url(store_url)
    try:
        assert store.is_migrated()
        seed_run(store)
        assert store.get_run("run-1").project == "fraud"
    finally:
        store.close()
