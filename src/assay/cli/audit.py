"""`assay audit log` and `assay audit verify`: reading the audit log, and proving it unchanged."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import typer

from assay.cli.context import JSON_OPTION, open_project
from assay.cli.errors import EXIT_FAILED
from assay.cli.output import fmt_time, print_json, stdout, table
from assay.cli.records import audit
from assay.project.audit import entry_dict, parse_since
from assay.registry.audit_chain import ChainVerdict, verify_chain

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@audit.command("log")
def audit_log(
    ctx: typer.Context,
    subject: str | None = typer.Option(
        None, "--subject",
        help="Only entries about this record (e.g. credit-default:1, credit-default@production, ds-…).",
    ),
    model: str | None = typer.Option(
        None, "--model", help="Only entries about this model: its name, every version NAME:N and alias NAME@A."
    ),
    since: str | None = typer.Option(
        None, "--since",
        help="Only entries at or after this time (ISO 8601, e.g. 2026-11-01 or 2026-11-01T09:00Z; UTC if no offset).",
    ),
    action: str | None = typer.Option(None, "--action", help="Only entries of this action (e.g. alias.moved)."),
    limit: int = typer.Option(1000, "--limit", min=1, help="At most this many entries, oldest first."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show who changed what, when, and why: oldest first.

    `--json` prints every field with the chain hashes (`seq`, `hash`, `prev_hash`), for export to
    a SIEM, which can re-check the chain itself.

    Examples:  assay audit log --model credit-default   ·   assay audit log --model credit-default --since 2026-11-01 --action alias.moved   ·   assay audit log --since 2026-11-01T00:00Z --json > audit.json
    """
    if subject is not None and model is not None:
        raise typer.BadParameter("give --subject or --model, not both", param_hint="--model")
    since_at = _parse_since(since) if since is not None else None
    with open_project(ctx) as project:
        entries = project.metadata.list_audit(subject=subject, model=model, action=action, since=since_at, limit=limit)
    if as_json:
        print_json([entry_dict(e) for e in entries])
        return
    stdout().print(table(None, ["#", "at", "actor", "action", "subject", "reason / comment"],
                         [[e.seq, fmt_time(e.at), e.actor, e.action, e.subject, e.details.get("reason") or e.details.get("comment", "")]
                          for e in entries]))


@audit.command("verify")
def audit_verify(
    ctx: typer.Context,
    expect_head: str | None = typer.Option(
        None, "--expect-head",
        help="A head hash recorded earlier (a ticket, a release note): its entry must still be in the chain.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Prove the audit log unchanged: recompute its hash chain, name the first broken entry.

    Walks the whole log in seq order, recomputes every entry's hash and checks that each one
    chains from the one before. Exits 0 when the chain is intact, 1 naming the first broken entry
    (edited, deleted, reordered). Prints the head hash: keep it somewhere else and pass it back
    later with --expect-head, because a chain alone cannot show that its newest entries were
    removed or that it was rewritten from some entry on.

    Examples:  assay audit verify   ·   assay audit verify --json   ·   assay audit verify --expect-head "$(cat audit-head.txt)"
    """
    if expect_head is not None and not _HEX64.fullmatch(expect_head):
        raise typer.BadParameter(
            "expected a 64-character hex sha256, as printed by `assay audit verify`", param_hint="--expect-head"
        )
    with open_project(ctx) as project:
        verdict = verify_chain(project.metadata.iter_audit(), expect_head=expect_head)
    if as_json:
        print_json(verdict_dict(verdict))
    else:
        _print_verdict(verdict)
    if not verdict.intact:
        raise typer.Exit(EXIT_FAILED)


def verdict_dict(verdict: ChainVerdict) -> dict[str, Any]:
    broken = verdict.broken
    return {
        "intact": verdict.intact,
        "entries_checked": verdict.entries,
        "head_seq": verdict.head_seq,
        "head_hash": verdict.head_hash,
        "chain_started_seq": verdict.chain_started_seq,
        "broken": None if broken is None else {
            "problem": broken.problem, "seq": broken.seq, "at": broken.at, "action": broken.action,
            "detail": broken.detail,
            "missing_seqs": None if broken.missing_seqs is None else list(broken.missing_seqs),
        },
    }


def _print_verdict(verdict: ChainVerdict) -> None:
    out = stdout()
    broken = verdict.broken
    if broken is None:
        out.print(f"audit log intact: {verdict.entries} entries, head seq {verdict.head_seq}")
        out.print(f"head hash: {verdict.head_hash}")
    else:
        where = "" if broken.seq is None else f" at seq {broken.seq}"
        when = "" if broken.at is None else f" ({fmt_time(broken.at)}, {broken.action})"
        out.print(f"audit log BROKEN{where}{when}: {broken.problem}")
        out.print(broken.detail)
        if verdict.head_seq is not None and broken.problem != "anchor-missing":
            out.print(f"last good entry: seq {verdict.head_seq}, hash {verdict.head_hash}")
    if verdict.chain_started_seq is not None:
        out.print(f"entries up to seq {verdict.chain_started_seq} were written before the chain existed and were "
                  f"chained at upgrade: they are proven unchanged since then, not before")


def _parse_since(value: str) -> datetime:
    try:
        return parse_since(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from exc


__all__ = ["audit_log", "audit_verify", "verdict_dict"]
