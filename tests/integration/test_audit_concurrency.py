"""Several processes appending to one audit log at once: one chain, no fork, no lost entry.

Workers are spawned (not forked) so each builds its own engine, as separate CLI or service
processes would; half register models (a row lock, then the audit entry), half append audit
entries directly. Every join is bounded: a stalled worker fails the test.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from multiprocessing.synchronize import Event


from assay.registry.audit_chain import verify_chain
from assay.registry.records import DatasetVersion, ModelStatus, Run, RunStatus
from assay.registry.sql import SqlMetadataStore

WORKERS = 6
APPENDS_EACH = 20
JOIN_TIMEOUT_S = 120
T0 = datetime(2025, 3, 4, tzinfo=UTC)


def append_entries(url: str, worker: int, start: Event) -> None:
    store = SqlMetadataStore.from_url(url)
    try:
        start.wait(JOIN_TIMEOUT_S)
        for i in range(APPENDS_EACH):
            if worker % 2:
                store.append_audit(actor=f"worker-{worker}", action="test.append", subject=f"w{worker}",
                                   details={"i": i}, at=datetime.now(UTC))
            else:
                store.register_model(name="fraud", run_id="run-1", flavor="sklearn", artifact_sha256="a" * 64,
                                     signature={}, metrics={"i": i}, status=ModelStatus.CANDIDATE,
                                     created_at=datetime.now(UTC), created_by=f"worker-{worker}")
    finally:
        store.close()


def seed_run(store: SqlMetadataStore) -> None:
    store.add_dataset(DatasetVersion(id="ds-1", name="fraud", source_uri="file:///fraud.csv", content_hash="c" * 64,
                                     snapshot_sha256="s" * 64, row_count=1, column_count=1, schema={},
                                     created_at=T0, created_by="setup"))
    store.add_run(Run(id="run-1", project="fraud", dataset_version_id="ds-1", status=RunStatus.RUNNING, seed=0,
                      spec_sha256="p" * 64, environment={}, params={}, metrics={}, artifacts={}, started_at=T0,
                      finished_at=None, created_by="setup"))


def test_concurrent_appends_form_one_valid_chain(store_url: str) -> None:
    store = SqlMetadataStore.from_url(store_url)
    try:
        store.migrate()
        seed_run(store)
        ctx = multiprocessing.get_context("spawn")
        start = ctx.Event()
        processes = [ctx.Process(target=append_entries, args=(store_url, n, start)) for n in range(WORKERS)]
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
        assert [p.exitcode for p in processes] == [0] * WORKERS

        entries = list(store.iter_audit())
        assert len(entries) == 2 + WORKERS * APPENDS_EACH
        # No fork: every prev_hash is used once, by the entry right after its owner.
        assert len({e.prev_hash for e in entries}) == len(entries)
        verdict = verify_chain(entries)
        assert verdict.intact, verdict.broken
        assert verdict.head_seq == entries[-1].seq
    finally:
        store.close()
