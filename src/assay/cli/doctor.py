"""`assay doctor`: committed secrets and undeclared personal-data columns in a project."""

from __future__ import annotations

import typer

from assay.cli.context import JSON_OPTION, state
from assay.cli.errors import EXIT_FAILED
from assay.cli.output import print_json, stdout, table


def doctor_command(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Scan the project for secrets committed in its files and for personal-data columns that data.pii does not declare.

    Files: what git tracks (and untracked files git does not ignore) in a git work tree, else every file under the folder; .assay/, .git/ and files over 1 MiB are skipped. It looks for known key formats (AWS access key ids, private key headers, GitHub and Slack tokens), password=/secret=/token= values in config, and high-entropy strings; values are shown masked. Data: the columns of data.source (first 1,000 rows) whose name or values look like emails, phone numbers, social security numbers, names, addresses or birth dates. A line that says `assay: allow-secret` is skipped. Nothing is written and no store is opened.

    Exit code: 0 when nothing is found, 1 when something is (each finding names file:line or file:column and what to do). See docs/governance.md.

    Examples:  assay doctor   ·   assay doctor --json   ·   assay -C path/to/project doctor
    """
    from assay.project.doctor import run_doctor

    report = run_doctor(state(ctx).project_dir)
    if as_json:
        print_json(report.to_dict())
    else:
        out = stdout()
        if report.findings:
            rows = [[finding.location, finding.kind, finding.detail, finding.advice] for finding in report.findings]
            out.print(table("assay doctor", ["where", "kind", "found", "what to do"], rows))
        data = ", ".join(report.columns_checked) or "none"
        verdict = "[green]clean[/]" if report.clean else f"[red]{len(report.findings)} finding(s)[/]"
        out.print(f"{verdict}: {report.files_scanned} files scanned; data columns checked: {data}")
        for note in report.notes:
            out.print(f"note: {note}", markup=False)
    if not report.clean:
        raise typer.Exit(EXIT_FAILED)


__all__ = ["doctor_command"]
