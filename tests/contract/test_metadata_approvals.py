"""Approval rows on SQLite and PostgreSQL: stored with their audit entry and the status change in one
transaction, listed oldest first, and never accepted for a model that does not exist."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assay.errors import NotFoundError
from assay.registry.records import ModelStatus
from assay.registry.store import MetadataStore
from tests.contract.test_metadata_store import T0, register, sql_store, store, with_run as _with_run  # noqa: F401


@pytest.fixture
def with_run(store: MetadataStore) -> MetadataStore:  # noqa: F811
    return _with_run(store)


def test_decisions_are_stored_audited_and_listed_oldest_first(with_run: MetadataStore) -> None:
    db = with_run
    register(db)
    register(db)
    first = db.add_approval("credit", 1, "approve", actor="carol", comment="gates read", at=T0)
    db.add_approval("credit", 2, "reject", actor="dave", comment="no", at=T0 + timedelta(seconds=1))
    second = db.add_approval("credit", 1, "reject", actor="dave", comment="fairness gap",
                                at=T0 + timedelta(seconds=2))
    assert [(a.version, a.decision, a.actor) for a in db.list_approvals("credit", 1)] == [
        (1, "approve", "carol"), (1, "reject", "dave")]
    assert len(db.list_approvals("credit")) == 3 and db.list_approvals("other") == []
    assert (first.ref, first.comment, first.at) == ("credit:1", "gates read", T0) and second.id > first.id
    entries = db.list_audit(subject="credit:1")
    approvals = [(e.action, e.actor, e.details["comment"]) for e in entries if e.action.startswith("model.")
                 and e.action != "model.registered"]
    assert approvals == [("model.approved", "carol", "gates read"), ("model.rejected", "dave", "fairness gap")]


def test_a_status_change_commits_with_the_decision(with_run: MetadataStore) -> None:
    db = with_run
    register(db)
    db.add_approval("credit", 1, "approve", actor="carol", comment="ok", at=T0, status=ModelStatus.APPROVED)
    assert db.get_model("credit", 1).status == ModelStatus.APPROVED
    status = [e for e in db.list_audit(subject="credit:1") if e.action == "model.status"]
    assert [(e.actor, e.details["from"], e.details["to"]) for e in status] == [("carol", "candidate", "approved")]


def test_unknown_models_and_decisions_are_refused_and_nothing_is_written(with_run: MetadataStore) -> None:
    db = with_run
    register(db)
    before = len(db.list_audit())
    with pytest.raises(NotFoundError):
        db.add_approval("credit", 9, "approve", actor="carol", comment="ok", at=T0)
    with pytest.raises(ValueError, match="approve' or 'reject"):
        db.add_approval("credit", 1, "maybe", actor="carol", comment="ok", at=T0)
    assert db.list_approvals("credit") == [] and len(db.list_audit()) == before
