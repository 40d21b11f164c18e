"""Changes to registered models: aliases and lifecycle status, each audit-logged with actor and reason."""

from __future__ import annotations

import re

from assay.errors import NotFoundError, RegistryError
from assay.project.workspace import ModelRef, Project
from assay.project.approvals import policy_of, require_approval
from assay.project.deployment import promote_version
from assay.security.identity import Action
from assay.registry.records import PRODUCTION_ALIAS, AliasChange, ModelStatus, ModelVersion

_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_alias_name(alias: str) -> str:
    if not _ALIAS.match(alias):
        raise RegistryError(
            f"{alias!r} is not a valid alias name",
            hint="use letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. production, eu-west)",
        )
    return alias


def move_alias(project: Project, ref: str | ModelRef, alias: str, *, reason: str = "") -> AliasChange:
    """Point `alias` at the model version `ref` resolves to. A rejected version is refused: a
    person must change its status first (with a reason, in the audit log)."""
    model = project.resolve_model(ref)
    if model.status == ModelStatus.REJECTED:
        raise RegistryError(
            f"{model.ref} was rejected, so no alias may point at it",
            hint=f"read why with `assay models show {model.ref}`; to override, "
            f"`assay models status {model.ref} candidate --reason \"...\"` first",
        )
    alias = check_alias_name(alias)
    policy = policy_of(project)
    protected = alias in policy.protected_aliases
    project.require(Action.DEPLOY if protected else Action.MANAGE_MODELS, subject=f"{model.name}@{alias}")
    if protected:
        require_approval(project, model, alias=alias, doing=f"take the protected alias {alias}", policy=policy)
    if alias == PRODUCTION_ALIAS:
        current = project.metadata.get_deployment(model.name)
        if current.production != model.version:  # the same bookkeeping as `assay deploy --promote`
            promote_version(project, model, current, reason=reason, via="models alias")
            return project.metadata.alias_history(model.name, PRODUCTION_ALIAS)[0]
    return project.metadata.set_alias(
        model.name, alias, model.version, actor=project.actor, reason=reason, at=project.clock.now()
    )


def remove_alias(project: Project, name: str, alias: str, *, reason: str = "") -> AliasChange:
    protected = alias in policy_of(project).protected_aliases
    project.require(Action.DEPLOY if protected else Action.MANAGE_MODELS, subject=f"{name}@{alias}")
    if project.metadata.get_alias(name, alias) is None:
        raise NotFoundError("alias", f"{name}@{alias}", hint=f"run `assay models list --name {name}` to see its aliases")
    return project.metadata.set_alias(name, alias, None, actor=project.actor, reason=reason, at=project.clock.now())


def set_status(project: Project, ref: str | ModelRef, status: ModelStatus | str, *, reason: str = "") -> ModelVersion:
    try:
        wanted = ModelStatus(status)
    except ValueError:
        choices = ", ".join(s.value for s in ModelStatus)
        raise RegistryError(f"{status!r} is not a model status", hint=f"choose one of {choices}") from None
    model = project.resolve_model(ref)
    identity = project.require(Action.MANAGE_MODELS, subject=model.ref)
    if wanted == ModelStatus.APPROVED and model.status != ModelStatus.APPROVED:
        raise RegistryError(f"{model.ref} becomes approved through reviews, not by setting its status",
                            hint=f"a reviewer runs `assay models approve {model.ref} --comment \"...\"`")
    if model.status == ModelStatus.REJECTED and wanted != ModelStatus.REJECTED:
        identity.require(Action.OVERRIDE_GATES, subject=model.ref)
    return project.metadata.set_model_status(
        model.name, model.version, wanted, actor=project.actor, reason=reason, at=project.clock.now()
    )


def aliases_of(project: Project, model: ModelVersion) -> list[str]:
    return sorted(a for a, v in project.metadata.list_aliases(model.name).items() if v == model.version)


__all__ = ["aliases_of", "check_alias_name", "move_alias", "remove_alias", "set_status"]
