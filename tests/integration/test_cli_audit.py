"""`assay audit log` and `assay audit verify` end to end, on SQLite and PostgreSQL: the store is
filled through the library, tampered with directly in the database, and read through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cli_runner import cli, cli_json

from assay.registry._orm import AuditRow
from assay.registry.sql import SqlMetadataStore

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SPEC = """\
project: audited
data:
  source: data.csv
  target: churned
model:
  name: churn
  estimator: sklearn.linear_model.LogisticRegression
"""
SUBJECTS = ["churn:1", "churn@production", "churn", "ds-1", "churn:2", "churner:1"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def project(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, str]]:
    url = (f"sqlite:///{tmp_path / 'assay.db'}" if request.param == "sqlite"
           else str(request.getfixturevalue("pg_schema_url")))
    monkeypatch.setenv("ASSAY_DB_URL", url)
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "assay.yaml").write_text(SPEC)
    store = SqlMetadataStore.from_url(url)
    try:
        store.migrate()
        for day, subject in enumerate(SUBJECTS):
            store.append_audit(actor="alice", action="alias.moved" if "@" in subject else "test.step",
                               subject=subject, details={"reason": f"step {day}"}, at=T0 + timedelta(days=day))
    finally:
        store.close()
    yield directory, url


def test_verify_passes_then_names_an_edited_entry(
    project: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    directory, url = project
    code, out, _ = cli(capsys, "-C", str(directory), "audit", "verify")
    assert code == 0 and "intact: 6 entries" in out
    head = cli_json(capsys, "-C", str(directory), "audit", "verify")["head_hash"]
    assert cli(capsys, "-C", str(directory), "audit", "verify", "--expect-head", head)[0] == 0

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(AuditRow.__table__).where(AuditRow.__table__.c.seq == 4).values(actor="mallory"))
    finally:
        engine.dispose()
    code, out, _ = cli(capsys, "-C", str(directory), "audit", "verify")
    assert code == 1
    assert "BROKEN at seq 4 (2026-11-05 09:00:00, test.step): edited" in out
    code, out, _ = cli(capsys, "-C", str(directory), "audit", "verify", "--json")
    verdict = json.loads(out)
    assert code == 1 and verdict["intact"] is False
    assert verdict["broken"]["seq"] == 4 and verdict["broken"]["problem"] == "edited"
    assert verdict["head_seq"] == 3


def test_verify_with_a_wrong_anchor_fails_and_a_malformed_one_is_a_usage_error(
    project: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    directory, _ = project
    code, out, _ = cli(capsys, "-C", str(directory), "audit", "verify", "--expect-head", "ab" * 32)
    assert code == 1 and "anchor-missing" in out
    code, _, err = cli(capsys, "-C", str(directory), "audit", "verify", "--expect-head", "abc")
    assert code == 2 and "64-character" in err


def test_log_filters_by_model_since_and_action_and_exports_the_chain(
    project: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    directory, _ = project
    entries = cli_json(capsys, "-C", str(directory), "audit", "log", "--model", "churn")
    assert [e["subject"] for e in entries] == ["churn:1", "churn@production", "churn", "churn:2"]
    assert all(len(e["hash"]) == 64 and len(e["prev_hash"]) == 64 for e in entries)
    assert entries[1]["prev_hash"] == entries[0]["hash"]  # seq 1 and 2 are consecutive

    since = cli_json(capsys, "-C", str(directory), "audit", "log", "--model", "churn", "--since", "2026-11-03")
    assert [e["seq"] for e in since] == [2, 3, 5]
    moved = cli_json(capsys, "-C", str(directory), "audit", "log", "--action", "alias.moved")
    assert [e["subject"] for e in moved] == ["churn@production"]
    limited = cli_json(capsys, "-C", str(directory), "audit", "log", "--limit", "2")
    assert [e["seq"] for e in limited] == [1, 2]

    code, out, _ = cli(capsys, "-C", str(directory), "audit", "log", "--subject", "churn@production")
    assert code == 0 and "churn@production" in out and "step 1" in out


def test_log_refuses_bad_options(project: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    directory, _ = project
    code, _, err = cli(capsys, "-C", str(directory), "audit", "log", "--model", "churn", "--subject", "churn:1")
    assert code == 2 and "not both" in err
    code, _, err = cli(capsys, "-C", str(directory), "audit", "log", "--since", "last tuesday")
    assert code == 2 and "ISO 8601" in err
