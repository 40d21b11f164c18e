"""`assay models approve|reject|approvals`: reviewers' decisions on a model version."""

from __future__ import annotations

from typing import Any

import typer

from assay.cli.context import JSON_OPTION, open_project
from assay.cli.output import print_json, stdout, table

_REF = typer.Argument(..., help="NAME:VERSION (or NAME@ALIAS, NAME for the newest).")
_COMMENT = typer.Option(..., "--comment", "-m", help="What you checked, or why not (kept in the audit log).")


def approve_command(ctx: typer.Context, ref: str = _REF, comment: str = _COMMENT, as_json: bool = JSON_OPTION) -> None:
    """Approve a model version for protected aliases (production by default).

    The spec's `approvals` section sets how many approvals are needed, from which role, and four-eyes (whoever trained the model may not approve it). Once the policy is met the version's status becomes `approved` and `assay deploy MODEL --promote` is allowed. Read `assay models review MODEL` first.
    """
    from assay.project.approvals import approve

    with open_project(ctx) as project:
        state = approve(project, ref, comment=comment)
    _print_state(state.to_dict(), as_json, verb="approval recorded")


def reject_command(ctx: typer.Context, ref: str = _REF, comment: str = _COMMENT, as_json: bool = JSON_OPTION) -> None:
    """Reject a model version: protected aliases refuse it while your reject stands.

    A later `assay models approve` by the same identity replaces the reject. A version that was `approved` goes back to `candidate`.
    """
    from assay.project.approvals import reject

    with open_project(ctx) as project:
        state = reject(project, ref, comment=comment)
    _print_state(state.to_dict(), as_json, verb="reject recorded")


def approvals_command(ctx: typer.Context, ref: str = _REF, as_json: bool = JSON_OPTION) -> None:
    """Show a model version's approvals against the policy: who decided what, when, and what is missing."""
    from assay.project.approvals import approval_state

    with open_project(ctx) as project:
        state = approval_state(project, ref)
    _print_state(state.to_dict(), as_json, verb=None)


def _print_state(state: dict[str, Any], as_json: bool, *, verb: str | None) -> None:
    if as_json:
        print_json(state)
        return
    out = stdout()
    if verb is not None:
        out.print(f"{state['model']}: {verb}")
    if state["decisions"]:
        out.print(table(None, ["decision", "by", "at", "comment"],
                        [[d["decision"], d["actor"], d["at"][:19].replace("T", " "), d["comment"]] for d in state["decisions"]]))
    policy = f"{state['required']} approval(s) from role {state['role']}" + (", four-eyes" if state["four_eyes"] else "")
    if state["met"]:
        out.print(f"policy met ({policy}): protected aliases may point at {state['model']}")
    else:
        out.print(f"policy not met ({policy}): {state['missing']}")


def register(models: typer.Typer) -> None:
    models.command("approve")(approve_command)
    models.command("reject")(reject_command)
    models.command("approvals")(approvals_command)


__all__ = ["register"]
