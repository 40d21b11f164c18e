"""Rollout: shadow, canary, promote and rollback, as changes of the deployment state in the
metadata store. Running servers poll that state and switch blue/green (load, verify, warm, then
move traffic), so none of these needs a restart."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from assay.errors import AssayError, RegistryError
from assay.project.approvals import policy_of, require_approval
from assay.project.workspace import ModelRef, Project
from assay.registry.records import PRODUCTION_ALIAS, AuditEntry, Deployment, ModelStatus, ModelVersion
from assay.security.identity import Action

DEPLOYABLE = (ModelStatus.CANDIDATE, ModelStatus.APPROVED)


class DeploymentError(AssayError):
    code = "deployment-error"


@dataclass(frozen=True, slots=True)
class DeploymentChange:
    action: str
    deployment: Deployment
    message: str


def deployment_state(project: Project, name: str | None = None) -> Deployment:
    return project.metadata.get_deployment(name or project.load_spec()[0].model.name)


def deployment_history(project: Project, name: str, *, limit: int = 10) -> list[AuditEntry]:
    """The latest `limit` rollout changes of `name` (deployment.* audit entries), oldest first."""
    entries = project.metadata.list_audit(subject=name, limit=100_000)
    return [e for e in entries if e.action.startswith("deployment.")][-limit:]


def deployment_dict(d: Deployment) -> dict[str, Any]:
    """The deployment state as a document (`assay deployment --json`, `GET /v1/deployments/NAME`)."""
    return {"model": d.model_name, "production": d.production, "canary": d.canary,
            "canary_percent": d.canary_percent if d.canary is not None else None, "shadow": d.shadow,
            "fallback": d.fallback,
            "revision": d.revision, "updated_at": d.updated_at, "updated_by": d.updated_by or None}


def history_dict(entry: AuditEntry) -> dict[str, Any]:
    return {"at": entry.at, "actor": entry.actor, "action": entry.action, "reason": entry.details.get("reason")}


def deploy(project: Project, ref: str, *, mode: Literal["shadow", "canary", "promote"], percent: float | None = None,
           reason: str = "") -> DeploymentChange:
    """Start a shadow or a canary of `ref`, or promote it to production."""
    model = _deployable(project, ref)
    project.require(Action.DEPLOY, subject=model.ref)
    current = project.metadata.get_deployment(model.name)
    common = {"actor": project.actor, "at": project.clock.now(), "details": {"model": model.ref}}
    if mode == "shadow":
        if model.version == current.production:
            raise DeploymentError(f"{model.ref} is in production; a shadow must be another version",
                                  hint="shadow a candidate to compare it with production on live traffic")
        state = project.metadata.change_deployment(
            model.name, canary=current.canary, canary_percent=current.canary_percent, shadow=model.version,
            fallback=current.fallback, action="shadow", reason=reason or f"shadow {model.ref}", **common)
        return DeploymentChange("shadow", state, f"{model.ref} now scores a copy of live traffic (shadow); "
                                                 "production still answers")
    if mode == "canary":
        if percent is None or not 0 < percent <= 100:
            raise DeploymentError("--canary needs a share of traffic in (0, 100] percent", hint="e.g. --canary 10")
        if current.production is None:
            raise DeploymentError(f"{model.name} has no production model to compare a canary with",
                                  hint=f"promote one first: assay deploy {model.ref} --promote")
        if model.version == current.production:
            raise DeploymentError(f"{model.ref} is already in production", hint="canary another version")
        policy = policy_of(project)
        if policy.canary:
            require_approval(project, model, alias=PRODUCTION_ALIAS, doing="take live traffic as a canary",
                             policy=policy)
        state = project.metadata.change_deployment(
            model.name, canary=model.version, canary_percent=float(percent),
            shadow=None if current.shadow == model.version else current.shadow, fallback=current.fallback,
            action="canary", reason=reason or f"canary {model.ref} at {percent:g}%", **common)
        return DeploymentChange("canary", state, f"{model.ref} takes {percent:g}% of traffic (sticky by entity); "
                                                 "its guards roll it back on a breach")
    if model.version == current.production:
        raise DeploymentError(f"{model.ref} is already in production", hint="nothing to do")
    require_approval(project, model, alias=PRODUCTION_ALIAS, doing="become production")
    state = promote_version(project, model, current, reason=reason or f"promote {model.ref}")
    before = f" (was version {current.production})" if current.production is not None else ""
    return DeploymentChange("promote", state, f"{model.ref} is now production{before}; servers switch once "
                                              "it is loaded, verified and warm")


def promote_version(project: Project, model: ModelVersion, current: Deployment, *, reason: str,
                    via: str = "deploy") -> Deployment:
    """Move production to `model` with the bookkeeping every promotion needs: the replaced version
    becomes the fallback, a running canary ends (it was judged against the old production), and a
    shadow of the promoted version stops shadowing."""
    return project.metadata.change_deployment(
        model.name, canary=None, canary_percent=0.0,
        shadow=None if current.shadow == model.version else current.shadow, fallback=current.production,
        action="promote", actor=project.actor, reason=reason, at=project.clock.now(), production=model.version,
        details={"model": model.ref, "via": via},
    )


def rollback(project: Project, name: str | None = None, *, target: Literal["production", "canary", "shadow"] = "production",
             reason: str = "", actor: str | None = None, only_canary: int | None = None,
             details: Mapping[str, Any] | None = None) -> DeploymentChange:
    """Production back to the model it replaced; or end the canary or the shadow.

    `actor` overrides the project's: a server's canary guard acts as itself, under the authority
    the spec's canary guards give it, so no role is checked; otherwise the acting identity needs
    `deployments:change`. No approval is needed: production goes back to the version it replaced.
    With `only_canary`, a canary is ended only if it is still that version (a newer canary is left
    alone)."""
    name = name or project.load_spec()[0].model.name
    if actor is None:
        project.require(Action.DEPLOY, subject=name)
    current = project.metadata.get_deployment(name)
    common = {"actor": actor or project.actor, "at": project.clock.now()}
    if target == "canary":
        if current.canary is None or (only_canary is not None and current.canary != only_canary):
            raise DeploymentError(f"{name} has no canary" if current.canary is None else
                                  f"{name}'s canary is now version {current.canary}, not {only_canary}",
                                  hint="see `assay deployment`")
        state = project.metadata.change_deployment(
            name, canary=None, canary_percent=0.0, shadow=current.shadow, fallback=current.fallback,
            action="canary-rollback", reason=reason or "canary ended by hand",
            details={"rolled_back": current.canary, **(details or {})}, **common)
        return DeploymentChange("canary-rollback", state, f"{name}:{current.canary} no longer takes traffic")
    if target == "shadow":
        if current.shadow is None:
            raise DeploymentError(f"{name} has no shadow", hint="see `assay deployment`")
        state = project.metadata.change_deployment(
            name, canary=current.canary, canary_percent=current.canary_percent, shadow=None,
            fallback=current.fallback, action="shadow-end",
            reason=reason or "shadow ended", details={"ended": current.shadow}, **common)
        return DeploymentChange("shadow-end", state, f"{name}:{current.shadow} no longer shadows production")
    if current.production is None:
        raise DeploymentError(f"{name} has no production model", hint="promote one with `assay deploy MODEL --promote`")
    previous = current.fallback
    if previous is None or previous == current.production:
        raise DeploymentError(f"{name}:{current.production} replaced no earlier production model; nothing to roll back to",
                              hint="promote another version with `assay deploy NAME:VERSION --promote`")
    state = project.metadata.change_deployment(
        name, canary=None, canary_percent=0.0, shadow=current.shadow,
        fallback=fallback_before(project, name, previous, rolled_back=current.production), action="rollback",
        reason=reason or f"roll back from version {current.production}", production=previous,
        details={"from": current.production, "to": previous}, **common)
    return DeploymentChange("rollback", state, f"{name} production is back on version {previous} "
                                               f"(from {current.production})")


def fallback_before(project: Project, name: str, version: int, *, rolled_back: int) -> int | None:
    """After rolling back to `version`: the model `version` itself replaced when it was promoted,
    never the one just rolled back from (None if there is none)."""
    for change in project.metadata.alias_history(name, PRODUCTION_ALIAS):
        if change.version == version and change.previous_version not in (rolled_back, version):
            return change.previous_version
    return None


def _deployable(project: Project, ref: str) -> ModelVersion:
    parsed = ModelRef.parse(ref)
    model = project.resolve_model(parsed)
    if model.status not in DEPLOYABLE:
        allowed = ", ".join(s.value for s in DEPLOYABLE)
        raise RegistryError(
            f"{model.ref} has status {model.status.value!r}; only {allowed} models are deployed",
            hint=f"see why with `assay models show {model.ref}`; a rejected model failed its gates",
        )
    return model


__all__ = [
    "DeploymentChange",
    "DeploymentError",
    "deploy",
    "deployment_dict",
    "deployment_history",
    "deployment_state",
    "fallback_before",
    "history_dict",
    "promote_version",
    "rollback",
]
