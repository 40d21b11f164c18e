"""Runbooks: every alert kind has a page with the commands to confirm, mitigate and roll back;
writing again updates untouched pages and keeps the ones a person edited."""

from __future__ import annotations

from pathlib import Path

from assay.monitoring.runbooks import KINDS, is_edited, render_runbook, write_runbooks


def test_every_kind_gets_a_page_with_the_commands(tmp_path: Path) -> None:
    pages = write_runbooks(tmp_path / "docs" / "runbooks", model="credit-default")
    assert [(p.kind, p.outcome) for p in pages] == [(k, "written") for k in KINDS]
    for kind in KINDS:
        text = (tmp_path / "docs" / "runbooks" / f"{kind}.md").read_text()
        assert "## Confirm" in text and "## Mitigate" in text and "## Roll back" in text
        assert "assay rollback credit-default" in text and not is_edited(text)
    assert "assay monitor check --model credit-default" in (tmp_path / "docs/runbooks/availability.md").read_text()


def test_writing_again_is_idempotent(tmp_path: Path) -> None:
    write_runbooks(tmp_path, model="m")
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert {p.outcome for p in write_runbooks(tmp_path, model="m")} == {"unchanged"}
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before


def test_an_edited_page_is_kept_unless_forced(tmp_path: Path) -> None:
    write_runbooks(tmp_path, model="m")
    page = tmp_path / "latency.md"
    edited = page.read_text().replace("## Mitigate", "## Mitigate\n\nCall the on-call DBA first.\n")
    page.write_text(edited)
    outcomes = {p.kind: p.outcome for p in write_runbooks(tmp_path, model="m")}
    assert outcomes["latency"] == "kept" and page.read_text() == edited
    assert {p.kind: p.outcome for p in write_runbooks(tmp_path, model="m", force=True)}["latency"] == "overwritten"
    assert page.read_text() == render_runbook("latency", model="m")


def test_a_page_without_the_marker_counts_as_edited(tmp_path: Path) -> None:
    (tmp_path / "drift.md").write_text("# Our own drift runbook\n")
    outcomes = {p.kind: p.outcome for p in write_runbooks(tmp_path, model="m")}
    assert outcomes["drift"] == "kept" and (tmp_path / "drift.md").read_text() == "# Our own drift runbook\n"


def test_an_untouched_page_from_an_older_text_is_updated(tmp_path: Path) -> None:
    (tmp_path / "quality.md").write_text(render_runbook("quality", model="old-name"))  # as an older release wrote it
    outcomes = {p.kind: p.outcome for p in write_runbooks(tmp_path, model="m")}
    assert outcomes["quality"] == "updated"
    assert (tmp_path / "quality.md").read_text() == render_runbook("quality", model="m")
