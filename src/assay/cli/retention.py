"""`assay gc` and `assay erase`: retention policies and the erasure of one entity's rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from assay.cli.context import JSON_OPTION, open_project
from assay.cli.errors import EXIT_FAILED
from assay.cli.output import key_values, print_json, stdout, table

if TYPE_CHECKING:
    from assay.monitoring.erasure import ErasureResult
    from assay.monitoring.retention import GcPlan


def gc_command(
    ctx: typer.Context,
    apply: bool = typer.Option(False, "--apply", help="Delete what the policies select (default: only list it)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Apply the spec's retention policies (the retention: section): list, or with --apply delete, the prediction-log hours, label files, quarantine snapshots and dataset snapshots past their policy.

    A policy left null keeps everything, and the default is null everywhere. A snapshot that a running run or a registered model's run needs is never deleted (archived models' too, unless retention.snapshots.include_archived_models is true); it is listed as protected. Deleting is atomic per item: an hour folder is renamed away before it is removed. With --apply, what was deleted is recorded in the audit log. Without --apply nothing is deleted, and the exit code is 1 when something would be (0 when nothing is past its policy).

    Examples:  assay gc   ·   assay gc --json   ·   assay gc --apply
    """
    from assay.monitoring.retention import apply_gc, plan_gc

    with open_project(ctx) as project:
        spec = project.load_spec()[0]
        plan = plan_gc(project, spec, now=project.clock.now())
        if apply:
            apply_gc(project, plan)
    if as_json:
        print_json(plan.to_dict(applied=apply))
    else:
        _print_plan(plan, applied=apply)
    if plan.items and not apply:
        raise typer.Exit(EXIT_FAILED)


def _print_plan(plan: GcPlan, *, applied: bool) -> None:
    out = stdout()
    if not plan.declared:
        out.print("no retention policy is declared (retention: in assay.yaml): everything is kept")
        return
    verb = "deleted" if applied else "would delete"
    rows = [[policy, f"{t['items']:,}", f"{t['rows']:,}", f"{t['bytes']:,}"]
            for policy, t in plan.totals().items() if policy in plan.declared]
    out.print(table(f"retention at {plan.now:%Y-%m-%d %H:%M} UTC: {verb}", ["policy", "items", "rows", "bytes"], rows))
    if plan.items:
        out.print(table(None, ["policy", "item", "rows", "bytes", "why"],
                        [[i.policy, i.target, f"{i.rows:,}", f"{i.size_bytes:,}", i.reason] for i in plan.items]))
    if plan.protected:
        out.print(f"kept {len(plan.protected)} snapshot(s) past their policy that a model or running run needs")
    if plan.items and not applied:
        out.print("nothing was deleted: run `assay gc --apply` to delete these")


def erase_command(
    ctx: typer.Context,
    entity: str = typer.Option(..., "--entity", help="The entity's id, as in the data.entity column (e.g. a customer id)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count the entity's rows; change nothing, record nothing."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Erase one entity: remove its rows from the prediction log, the stored labels and the ingest quarantines, and put it on the erasure list so the next `assay train` or `assay run` leaves its rows out.

    Files are rewritten atomically (a temporary file renamed over the old one). Dataset snapshots are immutable: the versions holding the entity are marked, not rewritten. The audit log records the erasure with counts and a salted hash of the id, never the id. Models already trained may have learned from the entity: retrain (docs/governance.md, "Retention and erasure"). With --dry-run the exit code is 1 when the entity has rows somewhere, 0 when none.

    Examples:  assay erase --entity C-1042 --dry-run   ·   assay erase --entity C-1042   ·   assay erase --entity 1042 --json
    """
    from assay.monitoring.erasure import erase_entity

    with open_project(ctx) as project:
        spec = project.load_spec()[0]
        result = erase_entity(project, spec, entity, apply=not dry_run)
    if as_json:
        print_json(result.to_dict())
    else:
        _print_erasure(result)
    if dry_run and result.found:
        raise typer.Exit(EXIT_FAILED)


def _print_erasure(result: ErasureResult) -> None:
    out = stdout()
    verb = "removed" if result.applied else "would remove"
    named = f"entity sha256 {result.entity_sha256[:16]}…" if result.entity_sha256 else "the entity"
    out.print(f"{named}: {verb}")
    replaced = {k: v for k, (_, v) in result.quarantines.items() if v}
    out.print(key_values({
        "prediction log": f"{result.prediction_log_rows:,} row(s) in {len(result.prediction_log)} file(s)",
        "labels": f"{result.label_rows:,} row(s) in {len(result.labels)} file(s)",
        "quarantine": f"{result.quarantine_rows:,} row(s) in {len(result.quarantines)} version(s)"
                      + (f" (replaced: {', '.join(f'{k} → {v}' for k, v in replaced.items())})" if replaced else ""),
        "dataset versions": (", ".join(f"{k} ({v:,} rows)" for k, v in sorted(result.dataset_versions.items()))
                             or "none hold the entity") + (" (marked; training leaves these rows out)"
                                                           if result.dataset_versions else ""),
    }))
    if result.unreadable_snapshots:
        out.print(f"not checked (snapshot deleted): {', '.join(result.unreadable_snapshots)}")
    if result.applied:
        out.print("recorded in the audit log (action erase). Models trained before now may have learned from "
                  "this entity: retrain with `assay run`.")
    elif result.found:
        out.print("nothing was changed: run without --dry-run to erase")


__all__ = ["erase_command", "gc_command"]
