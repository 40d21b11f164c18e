"""The platform's own rules, judged from records like the rubric: lineage, leakage gate,
reproducibility, immutable artifact, calibration, fairness, shadow/canary history, monitoring and
SLOs, runbooks, approvals, retention and secrets.

Approvals are not built yet: their rule looks for what exists at run time (a spec section) and
says "not configured" as a fail with the reason when it is absent, never crash."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from assay.project.approvals import approval_state
from assay.errors import AssayError
from assay.monitoring.readiness_facts import (
    RULES_SECTION,
    Evidence,
    Facts,
    ReadinessItem,
    failed,
    not_applicable,
    passed,
)
from assay.monitoring.readiness_rubric import (
    artifact_evidence,
    audit_evidence,
    pinned_evidence,
    run_evidence,
    spec_evidence,
)
from assay.monitoring.runbooks import runbook_path
from assay.project.reproduction_record import NOT_REPRODUCED, REPRODUCED

S = RULES_SECTION


def rule_items(facts: Facts) -> list[ReadinessItem]:
    return [rule(facts) for rule in _RULES]


def _lineage(f: Facts) -> ReadinessItem:
    title = "Lineage: dataset version → run → model"
    evidence = [Evidence(f"dataset {f.dataset.id} ({f.dataset.row_count:,} rows)", f"dataset:{f.dataset.id}"),
                run_evidence(f), Evidence(f"model {f.model.ref}", f"model:{f.model.ref}")]
    if not f.project.artifacts.exists(f.dataset.snapshot_sha256):
        return failed(S, "lineage", title, f"the snapshot of {f.dataset.id} is missing from the artifact store",
                      evidence)
    return passed(S, "lineage", title, f"{f.model.ref} was trained by {f.run.id} on {f.dataset.id}, whose snapshot "
                  "is stored", [*evidence, Evidence("dataset snapshot", f"artifact:{f.dataset.snapshot_sha256}")])


def _leakage(f: Facts) -> ReadinessItem:
    title = "Leakage gate"
    evidence = artifact_evidence(f, "leakage")
    if not f.leakage:
        return failed(S, "leakage-gate", title, "; ".join(f.missing) or f"run {f.run.id} has no leakage result",
                      evidence)
    blocking = f.leakage.get("blocking") or []
    if blocking:
        return failed(S, "leakage-gate", title, f"{len(blocking)} blocking leakage findings", evidence)
    counts = f.leakage.get("counts", {})
    waived = len(f.leakage.get("waived") or [])
    return passed(S, "leakage-gate", title, f"the leakage check ran before training: no blocking finding "
                  f"({counts.get('warning', 0)} warnings, {waived} waived)", evidence)


def _reproducibility(f: Facts) -> ReadinessItem:
    title = "Reproducibility"
    evidence, missing = pinned_evidence(f)
    if missing:
        return failed(S, "reproducibility", title, f"the run lacks {', '.join(missing)}", evidence)
    verdicts = [e for e in f.audit if e.subject == f.model.ref and e.action in (REPRODUCED, NOT_REPRODUCED)]
    if not verdicts:
        return passed(S, "reproducibility", title, "everything a rebuild needs is pinned and stored; never "
                      f"reproduced yet: `assay reproduce {f.model.ref}` proves it", evidence)
    last = verdicts[-1]
    cited = Evidence(f"audit: {last.action} at {last.at.isoformat(timespec='seconds')}", f"audit:{last.seq}")
    if last.action == NOT_REPRODUCED:
        why = "; ".join(last.details.get("differences", [])) or "see `assay reproduce`"
        return failed(S, "reproducibility", title, f"the last reproduction failed: {why}", [*evidence, cited])
    return passed(S, "reproducibility", title, f"pinned and stored, and reproduced with identical predictions "
                  f"({len(verdicts)} reproduction(s) recorded)", [*evidence, cited])


def _immutable(f: Facts) -> ReadinessItem:
    title = "Immutable artifact"
    sha = f.model.artifact_sha256
    evidence = [Evidence(f"model artifact of {f.model.ref}", f"artifact:{sha}")]
    problems = f.project.artifacts.verify([sha])
    if problems:
        return failed(S, "immutable-artifact", title, f"re-hashing the model artifact now: {problems[0].problem} "
                      f"({problems[0].detail})", evidence)
    return passed(S, "immutable-artifact", title, "the model artifact was re-hashed now and matches its sha256 "
                  "address", evidence)


def _calibration(f: Facts) -> ReadinessItem:
    title = "Calibration"
    calibration = f.evaluation.get("calibration") or {}
    evidence = artifact_evidence(f, "evaluation")
    if f.run.params.get("model", {}).get("task", f.spec.model.task) != "classification":
        return not_applicable(S, "calibration", title, "a regression model gives no probabilities to calibrate")
    if not calibration.get("bins"):
        return failed(S, "calibration", title, "the evaluation recorded no calibration", evidence)
    ece = f.evaluation.get("metrics", {}).get("test", {}).get("ece")
    method = f.spec.evaluation.calibration.method
    ece_text = f"ECE {ece:.4f} on test" if isinstance(ece, int | float) else "no ECE recorded"
    return passed(S, "calibration", title, f"reliability measured over {len(calibration['bins'])} bins, {ece_text}; "
                  f"recalibration: {method}", evidence)


def _fairness(f: Facts) -> ReadinessItem:
    title = "Fairness"
    sensitive = list(f.spec.data.sensitive)
    fairness = f.evaluation.get("fairness") or {}
    evidence = artifact_evidence(f, "evaluation")
    if not sensitive:
        return failed(S, "fairness", title, "data.sensitive is empty: no group is checked")
    missing = [c for c in sensitive if c not in fairness]
    if missing:
        return failed(S, "fairness", title, f"no fairness result for {', '.join(missing)}", evidence)
    worst = max((float(v.get("equalized_odds_difference") or 0), c) for c, v in fairness.items() if isinstance(v, dict))
    return passed(S, "fairness", title, f"measured on {', '.join(sensitive)}; largest equalized-odds difference "
                  f"{worst[0]:.3f} ({worst[1]})", [*evidence, spec_evidence("sensitive columns", "data.sensitive")])


def _rollout(f: Facts) -> ReadinessItem:
    title = "Shadow and canary history"
    evidence = [*audit_evidence(f, "deployment.shadow", subject=f.model.name, model=f.model.ref),
                *audit_evidence(f, "deployment.canary", subject=f.model.name, model=f.model.ref)]
    if not evidence:
        return failed(S, "rollout-history", title, f"{f.model.ref} never ran as a shadow or a canary before serving")
    return passed(S, "rollout-history", title, f"{len(evidence)} shadow or canary stage(s) recorded", evidence)


def _slos(f: Facts) -> ReadinessItem:
    title = "Monitoring and SLOs configured"
    slos = f.spec.monitoring.slos
    if not slos:
        return failed(S, "monitoring-slos", title, "monitoring.slos is empty: `assay monitor check` has nothing to "
                      "alert on")
    sinks = ", ".join(s.kind for s in f.spec.monitoring.sinks)
    return passed(S, "monitoring-slos", title, f"{len(slos)} SLOs ({', '.join(s.name for s in slos)}), alerts to "
                  f"{sinks}", [spec_evidence("SLOs", "monitoring.slos"), spec_evidence("alert sinks", "monitoring.sinks")])


def _runbooks(f: Facts) -> ReadinessItem:
    title = "Runbooks present"
    monitoring = f.spec.monitoring
    links = {slo.runbook or runbook_path(monitoring.runbooks, slo.kind) for slo in monitoring.slos}
    links.add(runbook_path(monitoring.runbooks, "retraining"))
    local = sorted(link for link in links if not link.startswith(("http://", "https://")))
    missing = [link for link in local if not (f.root / link).is_file()]
    if missing:
        return failed(S, "runbooks", title, f"missing: {', '.join(missing)}; write them with `assay monitor runbooks`")
    return passed(S, "runbooks", title, f"every alert links an existing runbook ({len(links)} pages)",
                  [Evidence(f"runbook {link}", f"file:{link}") for link in local])


def _approvals(f: Facts) -> ReadinessItem:
    title = "Approvals"
    policy = f.spec.approvals
    if policy.required == 0 or not policy.protected_aliases:
        return failed(S, "approvals", title, "approvals are off: approvals.required is 0 or no alias is protected")
    state = approval_state(f.project, f.model, policy)
    if not state.met:
        return failed(S, "approvals", title, f"{f.model.ref} does not meet the approval policy: {state.missing()}",
                      [spec_evidence("approval policy", "approvals.protected_aliases")])
    evidence = [e for e in f.audit if e.action == "model.approved" and e.subject == f.model.ref
                and e.actor in state.approved_by]
    four_eyes = ", four-eyes" if policy.four_eyes else ""
    return passed(S, "approvals", title,
                  f"approved by {', '.join(state.approved_by)} ({policy.required} required from role "
                  f"{policy.role}{four_eyes}); protected: {', '.join(policy.protected_aliases)}",
                  [spec_evidence("approval policy", "approvals.protected_aliases"),
                   *(Evidence(f"audit: {e.action} by {e.actor}", f"audit:{e.seq}") for e in evidence)])


def _retention(f: Facts) -> ReadinessItem:
    title = "Retention"
    retention = f.spec.retention
    declared = [(name, value) for name, value in (
        ("prediction_logs", retention.prediction_logs), ("labels", retention.labels),
        ("quarantine", retention.quarantine), ("snapshots.keep_last", retention.snapshots.keep_last),
        ("snapshots.max_age", retention.snapshots.max_age)) if value is not None]
    if not declared:
        return failed(S, "retention", title, "not configured: every retention policy is null, so prediction logs, "
                      "labels, quarantines and snapshots are kept forever (spec `retention`, `assay gc`)")
    return passed(S, "retention", title, "retention declared: " + ", ".join(f"{n} {v}" for n, v in declared),
                  [spec_evidence(f"retention.{name}", f"retention.{name}") for name, _ in declared])


def _secrets(f: Facts) -> ReadinessItem:
    title = "Secrets from providers only"
    try:
        secrets: Any = importlib.import_module("assay.security.secrets")
    except ImportError:
        return failed(S, "secrets", title, "not configured: no secret providers are installed (assay.security.secrets)")
    used = _secret_fields(f)
    if not used:
        return not_applicable(S, "secrets", title, "the spec uses no secret")
    bad = []
    for dotted, value in used:
        try:
            secrets.SecretRef.parse(value)
        except AssayError:
            bad.append(dotted)
    if bad:
        return failed(S, "secrets", title, f"not a secret reference: {', '.join(bad)}")
    return passed(S, "secrets", title, f"{len(used)} secret(s) in the spec are provider references, never values",
                  [spec_evidence(f"secret reference {dotted}", dotted) for dotted, _ in used])


def _secret_fields(f: Facts) -> list[tuple[str, str]]:
    used = [("serving.pii_key", f.spec.serving.pii_key)] if f.spec.serving.pii_key else []
    for index, sink in enumerate(f.spec.monitoring.sinks):
        used.extend((f"monitoring.sinks.{index}.headers.{name}", value) for name, value in sink.headers.items())
    return used


_RULES: tuple[Callable[[Facts], ReadinessItem], ...] = (
    _lineage, _leakage, _reproducibility, _immutable, _calibration, _fairness, _rollout, _slos, _runbooks,
    _approvals, _retention, _secrets,
)

__all__ = ["rule_items"]
