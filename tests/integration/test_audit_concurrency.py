"""Several processes appending to one audit log at once: one chain, no fork, no lost entry.

Workers are spawned (not forked) so each builds its own engine, as separate CLI or service
processes would; half register models (a row lock, then the audit entry), half append audit
entries directly. Every join is bounded: a stalled worker fails the test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from multiprocessing.synchronize import Event

from assay.registry.audit_chain import verify_chain
from assay.registry.records import ModelStatus
from assay.registry.sql import SqlMetadataStore
from tests.integration.test_metadata_concurrency import (
    JOIN_TIMEOUT_S,
    run_workers,
    seed_run,
)

WORKERS = 6
APPENDS_EACH = 20


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


def test_concurrent_appends_form_one_valid_chain(store_url: str) -> None:
    store = SqlMetadataStore.from_url(store_url)
    try:
        store.migrate()
        seed_run(store)
        run_workers(append_entries, store_url, WORKERS)

        entries = list(store.iter_audit())
        assert len(entries) == 2 + WORKERS * APPENDS_EACH
        # No fork: every prev_hash is used once, by the entry right after its owner.
        assert len({e.prev_hash for e in entries}) == len(entries)
        verdict = verify_chain(entries)
        assert verdict.intact, verdict.broken
        assert verdict.head_seq == entries[-1].seq
    finally:
        store.close()
