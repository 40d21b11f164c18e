"""`assay serve`, `assay keys`, `assay deploy`, `assay rollback`, `assay deployment`."""

from __future__ import annotations

from typing import Any

import typer

from assay.cli.context import JSON_OPTION, open_project
from assay.cli.output import fmt_time, key_values, print_json, stdout, table
from assay.project.deployment import deployment_dict
from assay.registry.records import Deployment
from assay.security.keys import ApiKey, Role

keys_app = typer.Typer(help="API keys for the inference service (only their hashes are stored).", no_args_is_help=True)


def serve_command(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for every one)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes (one model copy each)."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request (JSON, with its request id)."),
) -> None:
    """Serve the project's production model over HTTP until stopped (Ctrl-C or SIGTERM drains).

    Clients POST rows to /v1/predict with an Authorization: Bearer KEY header (make a key with: assay keys create --role predict --name NAME).

    Also: GET /healthz, /readyz, /metrics, /v1/models and /openapi.json, and the governance routes (approvals, deployments, aliases, the audit log; docs/governance.md). Deploys and rollbacks reach a running server within serving.poll_interval_s, with no restart. See docs/serving.md.
    """
    from assay.serving.server import run_server

    with open_project(ctx) as project:
        spec, _ = project.load_spec()
        root = project.root
        production = project.metadata.get_deployment(spec.model.name).production
    if production is None:
        stdout().print(f"note: {spec.model.name} has no production model yet; /readyz answers 503 until "
                       f"`assay deploy {spec.model.name}:VERSION --promote`")
    run_server(root, host=host, port=port, workers=workers, threads=spec.model.threads,
               pii_fields=list(spec.data.pii), log_level=log_level, access_log=access_log)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    role: Role = typer.Option(..., "--role", help="predict (services calling /v1/predict), viewer, trainer, approver, deployer or admin (CI); see docs/governance.md."),
    name: str = typer.Option(..., "--name", help="Who uses the key, e.g. checkout-service."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a key and print it ONCE: store it in your secret manager; only its hash is kept here."""
    from assay.project.access import create_key

    with open_project(ctx) as project:
        key, record = create_key(project, role=role, name=name)
    if as_json:
        print_json({**_key_dict(record), "key": key})
        return
    stdout().print(f"created key {record.id} ({record.name}, role {record.role.value}); it is shown only now:\n")
    stdout().print(key, soft_wrap=True, highlight=False)
    stdout().print("\nclients send it as: Authorization: Bearer <key>")


@keys_app.command("list")
def keys_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Keys by id, name, role and state (never the keys themselves)."""
    from assay.project.access import list_keys

    with open_project(ctx) as project:
        records = list_keys(project)
    if as_json:
        print_json([_key_dict(k) for k in records])
        return
    rows = [[k.id, k.name, k.role.value, fmt_time(k.created_at), "revoked " + fmt_time(k.revoked_at) if k.revoked_at else "active"]
            for k in records]
    stdout().print(table("API keys", ["id", "name", "role", "created", "state"], rows))


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: str = typer.Argument(..., help="The key's id (see `assay keys list`)."),
                as_json: bool = JSON_OPTION) -> None:
    """Revoke a key: running servers refuse it within serving.key_cache_s (default 5 s)."""
    from assay.project.access import revoke_key

    with open_project(ctx) as project:
        record = revoke_key(project, key_id)
    if as_json:
        print_json(_key_dict(record))
    else:
        stdout().print(f"revoked key {record.id} ({record.name}) at {fmt_time(record.revoked_at)}")


def deploy_command(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME:VERSION, NAME@ALIAS or NAME (newest version)."),
    shadow: bool = typer.Option(False, "--shadow", help="Score a copy of live traffic; production still answers."),
    canary: float | None = typer.Option(None, "--canary", help="Send this percent of traffic (sticky by entity)."),
    promote: bool = typer.Option(False, "--promote", help="Make it the production model."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Roll a model out: --shadow, then --canary PCT (guarded, rolled back automatically on a breach),
    then --promote. Running servers switch blue/green within serving.poll_interval_s, no restart.

    Example: assay deploy credit-default:4 --canary 10
    """
    from assay.project.deployment import deploy

    modes = [m for m, on in (("shadow", shadow), ("canary", canary is not None), ("promote", promote)) if on]
    if len(modes) != 1:
        raise typer.BadParameter("give exactly one of --shadow, --canary PCT or --promote")
    with open_project(ctx) as project:
        change = deploy(project, ref, mode=modes[0], percent=canary, reason=reason)  # type: ignore[arg-type]
    _print_change(change.message, change.deployment, as_json)


def rollback_command(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Model name (default: the spec's model)."),
    canary: bool = typer.Option(False, "--canary", help="End the canary instead."),
    shadow: bool = typer.Option(False, "--shadow", help="End the shadow instead."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Put production back on the model it replaced, in seconds and without a restart (or end the
    canary or the shadow)."""
    from assay.project.deployment import rollback

    if canary and shadow:
        raise typer.BadParameter("give at most one of --canary and --shadow")
    target = "canary" if canary else "shadow" if shadow else "production"
    with open_project(ctx) as project:
        change = rollback(project, name, target=target, reason=reason)  # type: ignore[arg-type]
    _print_change(change.message, change.deployment, as_json)


def deployment_command(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Model name (default: the spec's model)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """What serves now (production, canary, shadow) and the latest rollout changes."""
    from assay.project.deployment import (
        deployment_history,
        deployment_state,
        history_dict,
    )

    with open_project(ctx) as project:
        current = deployment_state(project, name)
        history = deployment_history(project, current.model_name)
    if as_json:
        print_json({**deployment_dict(current), "history": [history_dict(e) for e in history]})
        return
    stdout().print(key_values(deployment_dict(current)))
    if history:
        rows = [[fmt_time(e.at), e.action.removeprefix("deployment."), e.actor, str(e.details.get("reason", ""))]
                for e in reversed(history)]
        stdout().print(table("recent changes", ["at", "change", "by", "reason"], rows))


def _print_change(message: str, deployment: Deployment, as_json: bool) -> None:
    if as_json:
        print_json({"message": message, **deployment_dict(deployment)})
    else:
        stdout().print(message)
        stdout().print(key_values(deployment_dict(deployment)))


def _key_dict(k: ApiKey) -> dict[str, Any]:
    return {"id": k.id, "name": k.name, "role": k.role.value, "created_at": k.created_at, "revoked_at": k.revoked_at}


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.command("deploy")(deploy_command)
    app.command("rollback")(rollback_command)
    app.command("deployment")(deployment_command)
    app.add_typer(keys_app, name="keys")


__all__ = ["register"]
