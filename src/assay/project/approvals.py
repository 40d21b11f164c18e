"""Approvals: reviewers approve or reject a model version, and protected aliases (production by
default) refuse a version until the spec's `approvals` policy is met.

Each reviewer's latest decision stands: a later approve replaces their earlier reject. A version
meets the policy when at least `required` distinct identities stand on approve, none stands on
reject, and (under four-eyes) none of the approvals is by the identity that trained it. Meeting the
policy sets the status `approved`; a reject of an approved version sets it back to `candidate`.
Every decision is a row in the store and an entry in the audit log, with its comment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from assay.errors import AssayError
from assay.project.workspace import ModelRef, Project
from assay.registry.records import Approval, ModelStatus, ModelVersion
from assay.security.identity import Action, Role
from assay.spec.access import ApprovalsSpec

APPROVE, REJECT = "approve", "reject"


class ApprovalError(AssayError):
    """An approve or reject cannot be recorded as asked (no comment, a rejected or archived model)."""

    code = "approval-error"


class SelfApprovalError(ApprovalError):
    code = "self-approval"


class ApprovalRequiredError(AssayError):
    """A protected alias was asked to point at a version that does not meet the approval policy."""

    code = "approval-required"

    def __init__(self, message: str, *, hint: str, state: ApprovalState) -> None:
        super().__init__(message, hint=hint)
        self.state = state


@dataclass(frozen=True, slots=True)
class ApprovalState:
    """Where a model version stands against the policy."""

    model: ModelVersion
    policy: ApprovalsSpec
    decisions: tuple[Approval, ...]  # every decision, oldest first
    approved_by: tuple[str, ...]  # standing approvals that count
    rejected_by: tuple[str, ...]  # standing rejects
    not_counted: tuple[tuple[str, str], ...]  # (identity, why) standing approvals that do not count

    @property
    def met(self) -> bool:
        return self.policy.required == 0 or (len(self.approved_by) >= self.policy.required and not self.rejected_by)

    def missing(self) -> str:
        """What the version still needs, in one sentence ("" when the policy is met)."""
        if self.met:
            return ""
        if self.rejected_by:
            return f"it was rejected by {', '.join(self.rejected_by)} (their reject stands until they approve)"
        need = self.policy.required - len(self.approved_by)
        text = (f"it has {len(self.approved_by)} of {self.policy.required} approvals; "
                f"{need} more from an identity with role {self.policy.role}")
        if self.policy.four_eyes:
            text += f" other than {self.model.created_by}, who trained it (four-eyes)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.ref,
            "required": self.policy.required,
            "role": self.policy.role,
            "four_eyes": self.policy.four_eyes,
            "met": self.met,
            "approved_by": list(self.approved_by),
            "rejected_by": list(self.rejected_by),
            "not_counted": [{"actor": actor, "why": why} for actor, why in self.not_counted],
            "missing": self.missing(),
            "decisions": [
                {"id": d.id, "decision": d.decision, "actor": d.actor, "comment": d.comment, "at": d.at.isoformat()}
                for d in self.decisions
            ],
        }


def policy_of(project: Project) -> ApprovalsSpec:
    return project.load_spec()[0].approvals


def approval_state(project: Project, ref: str | ModelRef | ModelVersion,
                   policy: ApprovalsSpec | None = None) -> ApprovalState:
    model = ref if isinstance(ref, ModelVersion) else project.resolve_model(ref)
    policy = policy or policy_of(project)
    return _state(model, policy, project.metadata.list_approvals(model.name, model.version))


def _state(model: ModelVersion, policy: ApprovalsSpec, decisions: Sequence[Approval]) -> ApprovalState:
    standing: dict[str, Approval] = {}
    for decision in decisions:  # oldest first: the latest decision of each identity stands
        standing.pop(decision.actor, None)
        standing[decision.actor] = decision
    approved, rejected, not_counted = [], [], []
    for actor, decision in standing.items():
        if decision.decision == REJECT:
            rejected.append(actor)
        elif policy.four_eyes and actor == model.created_by:
            not_counted.append((actor, "trained the model (four-eyes)"))
        else:
            approved.append(actor)
    return ApprovalState(model, policy, tuple(decisions), tuple(approved), tuple(rejected), tuple(not_counted))


def approve(project: Project, ref: str | ModelRef, *, comment: str) -> ApprovalState:
    """Record the acting identity's approval of `ref`; the version becomes `approved` once the
    policy is met."""
    return _decide(project, ref, APPROVE, comment)


def reject(project: Project, ref: str | ModelRef, *, comment: str) -> ApprovalState:
    """Record the acting identity's reject of `ref`: protected aliases refuse it while it stands."""
    return _decide(project, ref, REJECT, comment)


def _decide(project: Project, ref: str | ModelRef, decision: str, comment: str) -> ApprovalState:
    model = project.resolve_model(ref)
    identity = project.require(Action.APPROVE, subject=model.ref)
    policy = policy_of(project)
    verb = "approve" if decision == APPROVE else "reject"
    if not comment.strip():
        raise ApprovalError(f"an {verb} needs a comment: the audit log keeps why",
                            hint=f"assay models {verb} {model.ref} --comment \"what you checked\"")
    if not ({Role(policy.role), Role.ADMIN} & identity.roles):
        raise ApprovalError(f"{identity.name} does not hold role {policy.role}, which the approval policy asks of "
                            "reviewers", hint="an admin grants it under access.users in assay.yaml")
    if model.status in (ModelStatus.REJECTED, ModelStatus.ARCHIVED) and decision == APPROVE:
        why = "failed its evaluation gates" if model.status == ModelStatus.REJECTED else "is archived"
        raise ApprovalError(f"{model.ref} {why}; an approval cannot override that",
                            hint=f"see `assay models show {model.ref}`; train a model that passes, or an admin "
                            f"changes its status with `assay models status {model.ref} candidate --reason ...`")
    if decision == APPROVE and policy.four_eyes and identity.name == model.created_by:
        raise SelfApprovalError(
            f"{identity.name} trained {model.ref} and may not approve it (four-eyes)",
            hint=f"another identity with role {policy.role} reviews it: `assay models review {model.ref}`, then "
            f"`assay models approve {model.ref} --comment ...`")
    before = project.metadata.list_approvals(model.name, model.version)
    pending = Approval(id=0, model_name=model.name, version=model.version, decision=decision, actor=identity.name,
                       comment=comment, at=project.clock.now())
    after = _state(model, policy, [*before, pending])
    status = None
    if after.met and policy.required > 0 and model.status == ModelStatus.CANDIDATE:
        status = ModelStatus.APPROVED
    elif not after.met and model.status == ModelStatus.APPROVED:
        status = ModelStatus.CANDIDATE
    recorded = project.metadata.add_approval(model.name, model.version, decision, actor=identity.name,
                                             comment=comment, at=pending.at, status=status)
    return _state(replace(model, status=status or model.status), policy, [*before, recorded])


def require_approval(project: Project, model: ModelVersion, *, alias: str, doing: str,
                     policy: ApprovalsSpec | None = None) -> ApprovalState | None:
    """Refuse (`ApprovalRequiredError`) to let protected `alias` point at `model` before the policy
    (default: the spec's) is met. `doing` names the operation for the message ("become
    production", "take a canary")."""
    policy = policy or policy_of(project)
    if alias not in policy.protected_aliases or policy.required == 0:
        return None
    state = approval_state(project, model, policy)
    if not state.met:
        raise ApprovalRequiredError(
            f"{model.ref} may not {doing}: {alias} is protected and {state.missing()}",
            hint=f"a reviewer reads `assay models review {model.ref}` and runs "
            f"`assay models approve {model.ref} --comment \"...\"`",
            state=state,
        )
    return state


__all__ = [
    "ApprovalError",
    "ApprovalRequiredError",
    "ApprovalState",
    "SelfApprovalError",
    "approval_state",
    "approve",
    "policy_of",
    "reject",
    "require_approval",
]
