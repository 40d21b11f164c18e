"""Resource groups over what was recorded: models, datasets, runs; plus lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from assay.cli.context import JSON_OPTION, open_project
from assay.cli.output import (
    costs_table,
    fmt_metric,
    fmt_time,
    key_values,
    print_json,
    stdout,
    table,
)
from assay.registry.records import AliasChange, DatasetVersion, ModelVersion, Run

models = typer.Typer(help="Registered model versions and their aliases.", no_args_is_help=True)
datasets = typer.Typer(help="Recorded dataset versions.", no_args_is_help=True)
runs = typer.Typer(help="Training runs.", no_args_is_help=True)

LIMIT = typer.Option(50, "--limit", min=1, help="Show at most this many, newest first.")


def model_dict(model: ModelVersion, aliases: list[str]) -> dict[str, Any]:
    return {
        "ref": model.ref,
        "name": model.name,
        "version": model.version,
        "status": model.status.value,
        "aliases": aliases,
        "flavor": model.flavor,
        "run_id": model.run_id,
        "artifact_sha256": model.artifact_sha256,
        "metrics": dict(model.metrics),
        "signature": dict(model.signature),
        "created_at": model.created_at,
        "created_by": model.created_by,
        "description": model.description,
    }


def dataset_dict(dataset: DatasetVersion) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "name": dataset.name,
        "source_uri": dataset.source_uri,
        "content_hash": dataset.content_hash,
        "snapshot_sha256": dataset.snapshot_sha256,
        "rows": dataset.row_count,
        "columns": dataset.column_count,
        "schema": dict(dataset.schema),
        "checks": dict(dataset.checks),
        "created_at": dataset.created_at,
        "created_by": dataset.created_by,
    }


def run_dict(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "project": run.project,
        "status": run.status.value,
        "dataset_version_id": run.dataset_version_id,
        "seed": run.seed,
        "spec_sha256": run.spec_sha256,
        "metrics": dict(run.metrics),
        "params": dict(run.params),
        "artifacts": dict(run.artifacts),
        "environment": dict(run.environment),
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "created_by": run.created_by,
        "error": run.error,
    }


def _aliases_by_version(project: Any, name: str) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for alias, version in sorted(project.metadata.list_aliases(name).items()):
        found.setdefault(version, []).append(alias)
    return found


@models.command("list")
def models_list(ctx: typer.Context, name: str | None = typer.Option(None, "--name", help="Only this model name."), limit: int = LIMIT, as_json: bool = JSON_OPTION) -> None:
    """List model versions, newest first, with status, aliases and the primary test metric."""
    with open_project(ctx) as project:
        found = project.metadata.list_models(name=name, limit=limit)
        alias_map = {n: _aliases_by_version(project, n) for n in {m.name for m in found}}
        primaries = {m.run_id: project.metadata.get_run(m.run_id).metrics.get("primary", "") for m in found}
    rows = [model_dict(m, alias_map[m.name].get(m.version, [])) for m in found]
    if as_json:
        print_json(rows)
        return
    if not rows:
        stdout().print("no models yet: run `assay run` (or `assay demo`)")
        return
    def headline(model: ModelVersion) -> str:
        name = primaries.get(model.run_id) or next(iter(model.metrics), "")
        return f"{name} {fmt_metric(model.metrics.get(name))}" if name else "-"

    stdout().print(
        table(
            None,
            ["model", "status", "aliases", "flavor", "metric (test)", "created", "by"],
            [[m.ref, m.status.value, ", ".join(alias_map[m.name].get(m.version, [])), m.flavor, headline(m), fmt_time(m.created_at), m.created_by] for m in found],
        )
    )


@models.command("show")
def models_show(ctx: typer.Context, ref: str = typer.Argument(..., help="NAME:VERSION, NAME@ALIAS or NAME (newest)."), as_json: bool = JSON_OPTION) -> None:
    """Everything recorded about one model version: status, aliases, metrics, signature, artifact."""
    with open_project(ctx) as project:
        model = project.resolve_model(ref)
        from assay.project.models import aliases_of

        aliases = aliases_of(project, model)
    data = model_dict(model, aliases)
    if as_json:
        print_json(data)
        return
    out = stdout()
    out.print(key_values({"model": model.ref, "status": model.status.value, "aliases": ", ".join(aliases) or "-", "flavor": model.flavor, "run": model.run_id, "artifact": model.artifact_sha256, "created": f"{fmt_time(model.created_at)} by {model.created_by}", "description": model.description or "-"}))
    out.print(table("test metrics", ["metric", "value"], [[k, fmt_metric(v)] for k, v in model.metrics.items()]))
    inputs = model.signature.get("inputs", [])
    out.print(table("signature: inputs", ["column", "type", "nullable"], [[c["name"], c["type"], c["nullable"]] for c in inputs]))
    out.print(f"output: {model.signature.get('output')}")


@models.command("alias")
def models_alias(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="The version to point at: NAME:VERSION."),
    alias: str = typer.Argument(..., help="Alias name, e.g. production or staging."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Point a named alias (e.g. production) at a model version; the move is audit-logged."""
    with open_project(ctx) as project:
        from assay.project.models import move_alias

        change = move_alias(project, ref, alias, reason=reason)
    _print_alias_change(change, as_json)


@models.command("unalias")
def models_unalias(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name."),
    alias: str = typer.Argument(..., help="Alias to remove."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove an alias from a model; the removal is audit-logged."""
    with open_project(ctx) as project:
        from assay.project.models import remove_alias

        change = remove_alias(project, name, alias, reason=reason)
    _print_alias_change(change, as_json)


def _print_alias_change(change: AliasChange, as_json: bool) -> None:
    if as_json:
        print_json({"model": change.model_name, "alias": change.alias, "version": change.version, "previous_version": change.previous_version, "actor": change.actor, "reason": change.reason, "at": change.at})
        return
    target = f"{change.model_name}:{change.version}" if change.version is not None else "(removed)"
    before = f" (was version {change.previous_version})" if change.previous_version is not None else ""
    stdout().print(f"{change.model_name}@{change.alias} -> {target}{before}")


@datasets.command("list")
def datasets_list(ctx: typer.Context, name: str | None = typer.Option(None, "--name"), limit: int = LIMIT, as_json: bool = JSON_OPTION) -> None:
    """List dataset versions, newest first."""
    with open_project(ctx) as project:
        found = project.metadata.list_datasets(name=name, limit=limit)
    if as_json:
        print_json([dataset_dict(d) for d in found])
        return
    if not found:
        stdout().print("no dataset versions yet: run `assay ingest`")
        return
    stdout().print(table(None, ["version", "name", "rows", "cols", "source", "content", "created"], [[d.id, d.name, d.row_count, d.column_count, d.source_uri, d.content_hash[:12], fmt_time(d.created_at)] for d in found]))


@datasets.command("show")
def datasets_show(ctx: typer.Context, dataset_id: str = typer.Argument(..., help="Dataset version id (ds-...)."), as_json: bool = JSON_OPTION) -> None:
    """One dataset version: source, hashes, schema and the checks it passed."""
    with open_project(ctx) as project:
        dataset = project.metadata.get_dataset(dataset_id)
    if as_json:
        print_json(dataset_dict(dataset))
        return
    out = stdout()
    out.print(key_values({"version": dataset.id, "name": dataset.name, "source": dataset.source_uri, "content sha256": dataset.content_hash, "snapshot sha256": dataset.snapshot_sha256, "rows × columns": f"{dataset.row_count} × {dataset.column_count}", "created": f"{fmt_time(dataset.created_at)} by {dataset.created_by}", "checks": "passed" if dataset.checks.get("passed") else "see --json"}))
    columns = dataset.schema.get("columns", {})
    out.print(table("schema", ["column", "type", "nullable", "constraints"], [[n, c.get("type"), c.get("nullable", True), ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("type", "nullable") and v not in (None, False, ""))] for n, c in columns.items()]))


@runs.command("list")
def runs_list(ctx: typer.Context, limit: int = LIMIT, as_json: bool = JSON_OPTION) -> None:
    """List training runs, newest first."""
    with open_project(ctx) as project:
        found = project.metadata.list_runs(limit=limit)
    if as_json:
        print_json([run_dict(r) for r in found])
        return
    if not found:
        stdout().print("no runs yet: run `assay train`")
        return
    def primary(run: Run) -> str:
        name = run.metrics.get("primary")
        return f"{name} {fmt_metric(run.metrics.get('test', {}).get(name))}" if name else "-"
    stdout().print(table(None, ["run", "status", "dataset", "seed", "test", "started", "by"], [[r.id, r.status.value, r.dataset_version_id, r.seed, primary(r), fmt_time(r.started_at), r.created_by] for r in found]))


@runs.command("show")
def runs_show(ctx: typer.Context, run_id: str = typer.Argument(..., help="Run id (run-...)."), as_json: bool = JSON_OPTION) -> None:
    """One run: dataset, seed, spec snapshot, environment, metrics and artifacts."""
    with open_project(ctx) as project:
        run = project.metadata.get_run(run_id)
    if as_json:
        print_json(run_dict(run))
        return
    out = stdout()
    env = run.environment
    git = env.get("git", {})
    out.print(key_values({"run": run.id, "status": run.status.value, "dataset": run.dataset_version_id, "seed": run.seed, "spec sha256": run.spec_sha256, "python": env.get("python"), "platform": env.get("platform"), "git": f"{git.get('commit') or 'not a git repo'}{' (dirty)' if git.get('dirty') else ''}", "started": fmt_time(run.started_at), "finished": fmt_time(run.finished_at), "by": run.created_by, "error": run.error or "-"}))
    out.print(table("artifacts", ["role", "sha256"], [[k, v] for k, v in sorted(run.artifacts.items())]))
    from assay.project.lineage import run_features

    features = run_features(run)
    if features:
        out.print(table("features", ["feature", "version", "source", "events sha256"], [[f["name"], f["version"], f["source"], f["events_sha256"]] for f in features]))
    for split in ("validation", "test"):
        if split in run.metrics:
            out.print(table(f"{split} metrics", ["metric", "value"], [[k, fmt_metric(v)] for k, v in run.metrics[split].items()]))
    costs = run.metrics.get("costs") or {}
    if costs:
        out.print(costs_table(costs))
    latency = run.metrics.get("serving_latency_ms")
    if latency:
        out.print(f"one-row prediction (model call, {latency['calls']} calls): p50 {latency['p50']:.2f} ms · "
                  f"p95 {latency['p95']:.2f} ms · p99 {latency['p99']:.2f} ms · max {latency['max']:.2f} ms")
    for breach in run.metrics.get("budget_breaches") or []:
        out.print(f"[yellow]budget:[/] {breach['budget']} {breach['used']} over {breach['limit']}")
    out.print(table("packages", ["package", "version"], [[k, v] for k, v in env.get("packages", {}).items()]))


def lineage_command(ctx: typer.Context, ref: str = typer.Argument(..., help="NAME:VERSION, NAME@ALIAS or NAME."), as_json: bool = JSON_OPTION) -> None:
    """Print the chain dataset version → run → model, with every hash needed to check it."""
    with open_project(ctx) as project:
        from assay.project.lineage import lineage
        from assay.project.workspace import ModelRef

        found = lineage(project, ModelRef.parse(ref))
    data = found.to_dict()
    if as_json:
        print_json(data)
        return
    d, r, m = data["dataset"], data["run"], data["model"]
    out = stdout()
    out.print(f"[bold]dataset[/] {d['id']} ({d['name']}, {d['rows']} rows)\n  source {d['source_uri']}\n  content sha256 {d['content_hash']}\n  snapshot sha256 {d['snapshot_sha256']}")
    git = f"{r['git_commit'] or 'no git'}{' (dirty)' if r['git_dirty'] else ''}"
    out.print(f"  [dim]↓[/]\n[bold]run[/] {r['id']} ({r['status']}, seed {r['seed']}, python {r['python']}, by {r['created_by']})\n  spec sha256 {r['spec_sha256']}\n  split sha256 {r['split_sha256']}\n  code {git}")
    for feature in data["features"]:
        out.print(f"  feature {feature['name']} version {feature['version']} from {feature['source']} (events sha256 {feature['events_sha256']})")
    aliases = f" @{', @'.join(m['aliases'])}" if m["aliases"] else ""
    out.print(f"  [dim]↓[/]\n[bold]model[/] {m['ref']}{aliases} ({m['status']}, {m['flavor']})\n  artifact sha256 {m['artifact_sha256']}")




@models.command("status")
def models_status(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME:VERSION."),
    status: str = typer.Argument(..., help="One of: candidate, rejected, archived (approved comes from `assay models approve`)."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Move a model version through its lifecycle; the change is audit-logged."""
    with open_project(ctx) as project:
        before = project.resolve_model(ref)
        from assay.project.models import aliases_of, set_status

        updated = set_status(project, before, status, reason=reason)
        aliases = aliases_of(project, updated)
    if as_json:
        print_json(model_dict(updated, aliases))
        return
    stdout().print(f"{updated.ref}: {before.status.value} -> {updated.status.value}")


@models.command("card")
def models_card(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME:VERSION, NAME@ALIAS, or NAME (the newest version)."),
    out: Path = typer.Option(Path("."), "--out", help="Folder to write the card into."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write a model's card: one self-contained HTML page (verdict and gates first, then the
    evidence: metrics with intervals, decision, ROC/PR curves, calibration, fairness, slices,
    importance; then lineage) and its JSON twin. Prints the page's path.

    The card was stored as an immutable artifact when the model was registered; a model from
    before cards existed gets one built from its records.

    Example: assay models card credit-default@production --out reports/
    """
    from assay.project.model_card import write_card  # imports matplotlib

    with open_project(ctx) as project:
        html_path, json_path = write_card(project, ref, out)
    if as_json:
        print_json({"html": str(html_path), "json": str(json_path)})
        return
    stdout().print(str(html_path))


@models.command("review")
def models_review(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME:VERSION, NAME@ALIAS, or NAME (the newest version)."),
    html: Path | None = typer.Option(None, "--html", help="Also write the review as one self-contained HTML page to this file (the model card is written beside it and linked)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show what a reviewer needs before approving a model version for production, in one place.

    The model card's verdict and key metrics, the evaluation gates as the run recorded them, the leakage waivers its spec accepted, and the diff against the model now in production of the same name: test metrics (both values and the delta, primary metric first), input features added, removed or retyped, the training dataset version, and a unified diff of the two spec snapshots.

    Nothing is retrained or rescored: the review is read from the records, so it is the same every time. With no model in production the diff section says so (first production model).

    Example: assay models review credit-default:2 --html review.html
    """
    from assay.project.review import review  # imports the evaluation stack
    from assay.project.review_page import render_review_html, render_review_text

    with open_project(ctx) as project:
        found = review(project, ref)
        if html is not None:
            from assay.project.model_card import write_card
            from assay.project.page import write_atomic

            html.parent.mkdir(parents=True, exist_ok=True)
            card_path, _ = write_card(project, found.model.ref, html.parent)
            write_atomic(html, render_review_html(found, card_href=card_path.name))
    if as_json:
        print_json(found.to_dict())
        return
    out = stdout()
    for line in render_review_text(found):
        out.print(line, markup=False, emoji=False)
    if html is not None:
        out.print(f"review page: {html}", markup=False)


# Its commands (`log`, `verify`) are in `assay.cli.audit`.
audit = typer.Typer(help="The append-only, hash-chained audit log of every recorded change.", no_args_is_help=True)


__all__ = ["audit", "datasets", "lineage_command", "models", "runs"]
