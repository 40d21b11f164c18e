"""Verification commands: reproduce, spec check/schema, artifacts verify.

Commands import the training stack inside their bodies: `assay --help` and the record queries
should not pay seconds for scikit-learn they never use.
"""

from __future__ import annotations

import sys

import typer

from assay.cli.context import JSON_OPTION, open_project, state
from assay.cli.errors import EXIT_FAILED
from assay.cli.output import RichReporter, print_json, stderr, stdout, table
from assay.spec.loader import SPEC_FILENAME, load_spec, spec_json_schema

spec_app = typer.Typer(help="Check the spec, or print its JSON Schema.", no_args_is_help=True)
artifacts_app = typer.Typer(help="The content-addressed artifact store.", no_args_is_help=True)


def reproduce_command(ctx: typer.Context, ref: str = typer.Argument(..., help="NAME:VERSION, NAME@ALIAS or NAME."), as_json: bool = JSON_OPTION) -> None:
    """Rebuild a model from its recorded dataset snapshot, spec snapshot and seed, and verify that its
    test-split predictions (and artifact bytes) are identical.

    Exits 0 when predictions are identical, 1 when anything differs, printing what changed since
    the run (environment, code, data, feature definitions) to explain why. Features are recomputed
    from the recorded event snapshots with the definitions the run recorded.
    """
    from assay.project.reproduce import reproduce
    from assay.project.reproduction_record import record_reproduction

    with open_project(ctx) as project:
        from assay.project.workspace import ModelRef

        result = reproduce(project, ModelRef.parse(ref), reporter=RichReporter(stderr(), quiet=as_json))
        record_reproduction(project, result)
    if as_json:
        print_json(result.to_dict())
    else:
        out = stdout()
        if result.ok:
            bytes_note = "artifact bytes identical" if result.artifact_identical else "artifact bytes differ (predictions identical)"
            out.print(f"[green]reproduced[/] {result.model} from {result.run_id}: {result.rows_compared} test predictions identical; {bytes_note}")
        else:
            out.print(f"[red]not reproduced[/] {result.model} from {result.run_id}")
        sections = (("what differs", result.differences), ("environment changes since the run", result.environment_changes), ("code changes", result.code_changes), ("data", result.data_notes), ("feature definitions changed since the run", result.feature_changes))
        for title, lines in sections:
            if lines:
                out.print(f"{title}:")
                for line in lines:
                    out.print(f"  - {line}")
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


@spec_app.command("check")
def spec_check(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Parse and validate assay.yaml; errors name the line and field. Exits 3 when invalid."""
    path = state(ctx).project_dir / SPEC_FILENAME
    spec = load_spec(path)
    if as_json:
        print_json({"valid": True, "path": str(path), "project": spec.project, "model": spec.model.name})
    else:
        stdout().print(f"{path}: valid (project {spec.project}, model {spec.model.name}, split {spec.split.strategy})")


@spec_app.command("schema")
def spec_schema() -> None:
    """Print the JSON Schema of assay.yaml (for editors: yaml-language-server, VS Code)."""
    sys.stdout.write(spec_json_schema() + "\n")


@artifacts_app.command("verify")
def artifacts_verify(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Re-hash every artifact and name any that were tampered with, are missing, or misnamed,
    with the records that depend on them. Exits 6 when any is found."""
    with open_project(ctx) as project:
        from assay.project.lineage import verify_artifacts

        checked, findings = verify_artifacts(project)
    if as_json:
        print_json({"checked": checked, "ok": not findings, "problems": [f.to_dict() for f in findings]})
    elif findings:
        stdout().print(table(f"{len(findings)} problem(s) in {checked} artifact(s)", ["sha256", "problem", "used by", "detail"], [[f.problem.sha256, f.problem.problem, "; ".join(f.used_by) or "-", f.problem.detail] for f in findings]))
    else:
        stdout().print(f"all {checked} artifact(s) verified")
    if findings:
        raise typer.Exit(6)


__all__ = ["artifacts_app", "reproduce_command", "spec_app"]
