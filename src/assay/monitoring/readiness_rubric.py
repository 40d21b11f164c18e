"""The 28 tests of the ML Test Score rubric (Breck et al., 2017), each judged from the model's
records. docs/readiness.md says, test by test, what Assay checks and why an item it cannot judge
is not applicable."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pyarrow.parquet as pq

from assay.errors import AssayError
from assay.monitoring.labelled import prediction_log_dir
from assay.monitoring.labels import label_store
from assay.monitoring.readiness_facts import (
    Evidence,
    Facts,
    ReadinessItem,
    failed,
    not_applicable,
    passed,
)
from assay.spec.loader import parse_spec
from assay.spec.monitoring import duration_s


def rubric_items(facts: Facts) -> list[ReadinessItem]:
    return [check(facts) for check in _CHECKS]


# shared evidence -------------------------------------------------------------------------------

def run_evidence(facts: Facts) -> Evidence:
    return Evidence(f"training run {facts.run.id} ({facts.run.status.value})", f"run:{facts.run.id}")


def artifact_evidence(facts: Facts, role: str) -> list[Evidence]:
    sha = facts.run.artifacts.get(role)
    return [Evidence(f"{role} artifact of {facts.run.id}", f"artifact:{sha}")] if sha else []


def audit_evidence(facts: Facts, action: str, *, subject: str | None = None, model: str | None = None) -> list[Evidence]:
    return [Evidence(f"audit: {e.action} {e.subject} at {e.at.isoformat(timespec='seconds')}", f"audit:{e.seq}")
            for e in facts.audit_for(action, subject=subject, model=model)]


def spec_evidence(what: str, dotted: str) -> Evidence:
    return Evidence(what, f"spec:{dotted}")


def first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def features_of(facts: Facts) -> list[str]:
    return list(facts.run.params.get("resolved", {}).get("features", []))


# data ------------------------------------------------------------------------------------------

def _schema(f: Facts) -> ReadinessItem:
    title = "Feature expectations are captured in a schema"
    checks = f.dataset.checks
    if f.spec.data.data_schema is None:
        return failed("data", "data-1", title, "no data.schema in the spec: ingests are checked against an inferred "
                      "schema only; freeze one with `assay init`")
    if not checks.get("passed"):
        return failed("data", "data-1", title, f"dataset {f.dataset.id} did not pass its checks",
                      [Evidence(f"dataset {f.dataset.id} checks", f"dataset:{f.dataset.id}")])
    return passed("data", "data-1", title,
                  f"data.schema declares {len(f.spec.data.data_schema.columns)} columns; {checks.get('checks', 0)} "
                  f"checks passed on the ingest of {f.dataset.id}, as on every ingest",
                  [spec_evidence("the frozen schema", "data.schema"),
                   Evidence(f"dataset {f.dataset.id} checks", f"dataset:{f.dataset.id}"),
                   *audit_evidence(f, "dataset.ingested", subject=f.dataset.id)])


def _beneficial(f: Facts) -> ReadinessItem:
    title = "All features are beneficial"
    importance = f.evaluation.get("importance") or []
    if not importance:
        return failed("data", "data-2", title, "the evaluation recorded no permutation importance",
                      artifact_evidence(f, "evaluation"))
    useless = [row["feature"] for row in importance if float(row["drop"]) <= 0]
    evidence = artifact_evidence(f, "evaluation")
    if useless:
        return failed("data", "data-2", title, f"permutation importance on the test split is zero or negative for "
                      f"{', '.join(useless)}: drop them or show why they stay", evidence)
    return passed("data", "data-2", title, f"every one of {len(importance)} features lowers the primary metric "
                  "when permuted on the test split", evidence)


def _cost(f: Facts) -> ReadinessItem:
    return not_applicable("data", "data-3", "No feature's cost is too much",
                          "Assay records no per-feature cost (compute, latency, upkeep); judge it by hand")


def _meta(f: Facts) -> ReadinessItem:
    title = "Features adhere to meta-level requirements"
    allowed_sensitive = set(f.run.params.get("model", {}).get("features", {}).get("sensitive_inputs", {}))
    banned = (set(f.spec.data.pii) | set(f.spec.data.sensitive)) - allowed_sensitive
    used = set(features_of(f)) & banned
    evidence = [spec_evidence("declared PII columns", "data.pii"), spec_evidence("declared sensitive columns",
                                                                                 "data.sensitive")]
    evidence = [e for e, present in zip(evidence, (f.spec.data.pii, f.spec.data.sensitive), strict=True) if present]
    if used:
        return failed("data", "data-4", title, f"the model uses {', '.join(sorted(used))}, declared PII or sensitive",
                      [*evidence, run_evidence(f)])
    if not banned:
        return failed("data", "data-4", title, "no column is declared PII or sensitive (data.pii, data.sensitive): "
                      "there is no requirement to hold the features to")
    return passed("data", "data-4", title, f"none of the {len(features_of(f))} features is declared PII or sensitive "
                  "(enforced on every run)", [*evidence, run_evidence(f)])


def _privacy(f: Facts) -> ReadinessItem:
    title = "The data pipeline has appropriate privacy controls"
    pii = list(f.spec.data.pii)
    if not pii:
        return failed("data", "data-5", title, "data.pii is empty: declare the PII columns so Assay keeps them out "
                      "of snapshots, features and logs")
    evidence = [spec_evidence("declared PII columns", "data.pii"),
                Evidence(f"snapshot of {f.dataset.id} (its columns, read now)", f"artifact:{f.dataset.snapshot_sha256}")]
    try:
        stored = set(pq.read_schema(io.BytesIO(f.project.artifacts.get_bytes(f.dataset.snapshot_sha256))).names)
    except AssayError as exc:
        return failed("data", "data-5", title, f"the snapshot of {f.dataset.id} cannot be read: {first_line(exc)}",
                      evidence[:1])
    leaked = [column for column in pii if column in stored]
    if leaked:
        return failed("data", "data-5", title, f"the snapshot of {f.dataset.id} stores PII columns "
                      f"{', '.join(leaked)}", evidence)
    mode = f.spec.serving.prediction_log.pii
    return passed("data", "data-5", title, f"PII columns {', '.join(pii)} are absent from the snapshot; the "
                  f"prediction log handles PII by {mode!r}",
                  [*evidence, spec_evidence("prediction log PII handling", "serving.prediction_log.pii")])


def _new_features(f: Facts) -> ReadinessItem:
    title = "New features can be added quickly"
    total = f.run.metrics.get("costs", {}).get("total", {}).get("wall_s")
    if total is None:
        return failed("data", "data-6", title, f"run {f.run.id} recorded no pipeline cost")
    return passed("data", "data-6", title, f"a feature is a spec change; the whole pipeline (ingest to registered "
                  f"model) ran in {float(total):.0f} s with one command", [run_evidence(f)])


def _feature_code(f: Facts) -> ReadinessItem:
    title = "All input feature code is tested"
    definitions = f.run.params.get("features", {})
    if f.spec.model.factory:
        return failed("data", "data-7", title, f"model.factory {f.spec.model.factory} is user code Assay cannot "
                      "see tests for", [spec_evidence("the factory", "model.factory")])
    if not definitions:
        return not_applicable("data", "data-7", title, "the model reads raw columns only: there is no feature code")
    return passed("data", "data-7", title, f"{len(definitions)} features are declarative definitions computed by "
                  "Assay's tested point-in-time engine, versioned in the run", [run_evidence(f)])


# model -----------------------------------------------------------------------------------------

def _reviewed(f: Facts) -> ReadinessItem:
    title = "Model specs are reviewed and submitted"
    git = f.run.environment.get("git", {}) or {}
    evidence = [Evidence("spec snapshot of the run", f"artifact:{f.run.spec_sha256}")]
    if not git.get("commit"):
        return failed("model", "model-1", title, "the run recorded no git commit: the spec was not under version "
                      "control, so no review can be shown", evidence)
    if git.get("dirty"):
        return failed("model", "model-1", title, f"the run's checkout at {git['commit'][:12]} had uncommitted "
                      "changes", evidence)
    return passed("model", "model-1", title, f"the spec was committed ({git['commit'][:12]}, clean) and snapshotted "
                  "with the run", [*evidence, run_evidence(f)])


def _online_offline(f: Facts) -> ReadinessItem:
    title = "Offline and online metrics correlate"
    labels = label_store(f.root, f.model.name).files()
    if not labels:
        return failed("model", "model-2", title, f"no labels ingested for {f.model.name}: online quality is unknown; "
                      "`assay labels ingest` then `assay monitor quality`")
    log = prediction_log_dir(f.root, f.spec, f.model.name)
    if not any(log.rglob("*.parquet")):
        return failed("model", "model-2", title, f"no prediction log in {log}")
    return passed("model", "model-2", title, f"{len(labels)} label files join the prediction log; `assay monitor "
                  "quality` compares online metrics with the offline ones",
                  [Evidence("labels", f"file:{labels[-1]}"), Evidence("prediction log", f"file:{log}")])


def _tuned(f: Facts) -> ReadinessItem:
    return failed("model", "model-3", "All hyperparameters have been tuned",
                  "no hyperparameter search is recorded: the parameters come from the spec as written",
                  [spec_evidence("hand-set parameters", "model.params")] if f.spec.model.params else [])


def _staleness(f: Facts) -> ReadinessItem:
    title = "The impact of model staleness is known"
    details = f.run.params.get("split_details", {})
    if f.run.params.get("split", {}).get("strategy") != "time" or "test_start" not in details:
        return failed("model", "model-4", title, "the split is not by time: test rows are not later than training "
                      "rows, so the metrics say nothing about ageing")
    return passed("model", "model-4", title, f"the test split starts {details['test_start']}, after every training "
                  "row: its metrics measure the model on a later period",
                  [*artifact_evidence(f, "split"), spec_evidence("split strategy", "split.strategy")])


def _simpler(f: Facts) -> ReadinessItem:
    return failed("model", "model-5", "A simpler model is not better",
                  "no simpler baseline is trained and compared: comparisons are only against champions",
                  artifact_evidence(f, "evaluation"))


def _slices(f: Facts) -> ReadinessItem:
    title = "Model quality is sufficient on all important data slices"
    slices = f.evaluation.get("slices") or {}
    if not slices:
        return failed("model", "model-6", title, "no evaluation.slices declared: quality per slice is not measured",
                      artifact_evidence(f, "evaluation"))
    return passed("model", "model-6", title, f"quality measured on slices of {', '.join(sorted(slices))}",
                  [*artifact_evidence(f, "evaluation"), spec_evidence("slices", "evaluation.slices")])


def _inclusion(f: Facts) -> ReadinessItem:
    title = "The model has been tested for considerations of inclusion"
    fairness = f.evaluation.get("fairness") or {}
    sensitive = list(f.spec.data.sensitive)
    if not sensitive:
        return failed("model", "model-7", title, "data.sensitive is empty: no group is checked")
    missing = [c for c in sensitive if c not in fairness]
    if missing:
        return failed("model", "model-7", title, f"no fairness result for {', '.join(missing)}",
                      artifact_evidence(f, "evaluation"))
    return passed("model", "model-7", title, f"per-group metrics and gaps measured for {', '.join(sensitive)}",
                  [*artifact_evidence(f, "evaluation"), spec_evidence("sensitive columns", "data.sensitive")])


# infrastructure --------------------------------------------------------------------------------

REPRODUCTION_ROLES = ("spec", "dataset", "split")


def pinned_evidence(f: Facts) -> tuple[list[Evidence], list[str]]:
    """What a rebuild needs, as evidence, and what is missing."""
    evidence, missing = [run_evidence(f)], []
    for role in REPRODUCTION_ROLES:
        sha = f.run.artifacts.get(role)
        if sha and f.project.artifacts.exists(sha):
            evidence.append(Evidence(f"{role} snapshot", f"artifact:{sha}"))
        else:
            missing.append(f"the {role} snapshot")
    if not f.run.environment.get("packages"):
        missing.append("the package versions")
    return evidence, missing


def _reproducible(f: Facts) -> ReadinessItem:
    title = "Training is reproducible"
    evidence, missing = pinned_evidence(f)
    if missing:
        return failed("infrastructure", "infra-1", title, f"the run lacks {', '.join(missing)}", evidence)
    return passed("infrastructure", "infra-1", title, f"seed {f.run.seed}, spec, data snapshot, split and "
                  f"{len(f.run.environment['packages'])} package versions pinned; `assay reproduce` rebuilds it", evidence)


def _spec_tested(f: Facts) -> ReadinessItem:
    title = "Model specs are unit tested"
    evidence = [Evidence("spec snapshot of the run", f"artifact:{f.run.spec_sha256}")]
    try:
        parse_spec(f.project.artifacts.get_bytes(f.run.spec_sha256).decode("utf-8"), source="spec snapshot")
    except AssayError as exc:
        return failed("infrastructure", "infra-2", title, f"the run's spec snapshot cannot be used: {first_line(exc)}",
                      evidence)
    return passed("infrastructure", "infra-2", title, "the run's spec snapshot validates against the spec schema "
                  "(checked on every load, and again now)", evidence)


def _integration(f: Facts) -> ReadinessItem:
    title = "The ML pipeline is integration tested"
    evidence = [*audit_evidence(f, "run.started", subject=f.run.id), *audit_evidence(f, "model.registered",
                                                                                      subject=f.model.ref)]
    if f.run.status.value != "succeeded" or len(evidence) < 2:
        return failed("infrastructure", "infra-3", title, f"run {f.run.id} did not go through the whole pipeline",
                      [run_evidence(f)])
    return passed("infrastructure", "infra-3", title, "ingest, validation, split, leakage check, training, evaluation "
                  "and registration ran end to end in one recorded run", [run_evidence(f), *evidence])


def _validated(f: Facts) -> ReadinessItem:
    title = "Model quality is validated before attempting to serve it"
    gates = f.evaluation.get("gates") or []
    evidence = artifact_evidence(f, "evaluation")
    if not gates:
        return failed("infrastructure", "infra-4", title, "no evaluation.gates declared: nothing stops a worse model "
                      "from being registered and served", evidence)
    failing = [g.get("name") or g.get("metric") for g in gates if not g.get("passed")]
    if failing:
        return failed("infrastructure", "infra-4", title, f"gates failed: {', '.join(map(str, failing))}", evidence)
    return passed("infrastructure", "infra-4", title, f"{len(gates)} gates passed before registration",
                  [*evidence, spec_evidence("gates", "evaluation.gates")])


def _debuggable(f: Facts) -> ReadinessItem:
    return failed("infrastructure", "infra-5", "The model allows debugging by observing the step-by-step computation "
                  "on a single example", "Assay offers no step-by-step trace of one example's computation; the "
                  "prediction log and `assay score` only replay its output")


def _canary(f: Facts) -> ReadinessItem:
    title = "Models are tested via a canary process before they enter production"
    evidence = audit_evidence(f, "deployment.canary", subject=f.model.name, model=f.model.ref)
    if not evidence:
        return failed("infrastructure", "infra-6", title, f"{f.model.ref} never ran as a canary: "
                      f"`assay deploy {f.model.ref} --canary 10`")
    return passed("infrastructure", "infra-6", title, f"{f.model.ref} took canary traffic {len(evidence)} time(s), "
                  "guarded by automatic rollback", evidence)


def _rollback(f: Facts) -> ReadinessItem:
    title = "Models can be quickly and safely rolled back to a previous serving version"
    done = audit_evidence(f, "deployment.rollback", subject=f.model.name)
    if f.deployment.fallback is not None or done:
        what = (f"production can go back to version {f.deployment.fallback} with `assay rollback`"
                if f.deployment.fallback is not None else f"{len(done)} rollback(s) recorded")
        return passed("infrastructure", "infra-7", title, what,
                      [Evidence(f"deployment of {f.model.name} (revision {f.deployment.revision})",
                                f"deployment:{f.model.name}"), *done])
    return failed("infrastructure", "infra-7", title, f"{f.model.name} has no earlier production version to roll "
                  "back to, and no rollback was ever recorded")


# monitoring ------------------------------------------------------------------------------------

def _dependencies(f: Facts) -> ReadinessItem:
    return failed("monitoring", "monitoring-1", "Dependency changes result in notification",
                  "package versions are recorded with the run and `assay reproduce` lists changes, but no "
                  "notification is sent when they change", [run_evidence(f)])


def _invariants(f: Facts) -> ReadinessItem:
    title = "Data invariants hold in training and serving inputs"
    if not f.dataset.checks.get("passed"):
        return failed("monitoring", "monitoring-2", title, f"dataset {f.dataset.id} failed its checks",
                      [Evidence("dataset checks", f"dataset:{f.dataset.id}")])
    return passed("monitoring", "monitoring-2", title, "training data passed its schema checks and every request is "
                  f"validated against the model's signature ({len(f.model.signature.get('inputs', []))} inputs)",
                  [Evidence("dataset checks", f"dataset:{f.dataset.id}"),
                   Evidence("model signature", f"model:{f.model.ref}")])


def _skew(f: Facts) -> ReadinessItem:
    title = "Training and serving features compute the same values"
    preprocessing = f.run.params.get("resolved", {}).get("preprocessing")
    if not preprocessing:
        return failed("monitoring", "monitoring-3", title, "the run recorded no preprocessing")
    return passed("monitoring", "monitoring-3", title, "preprocessing is part of the model artifact: training and "
                  "serving run the same code on the same columns",
                  [run_evidence(f), Evidence("model artifact", f"artifact:{f.model.artifact_sha256}")])


def _stale(f: Facts) -> ReadinessItem:
    title = "Models are not too stale"
    limit = f.spec.monitoring.retraining.max_model_age
    if limit is None:
        return failed("monitoring", "monitoring-4", title, "monitoring.retraining.max_model_age is null: age is "
                      "not watched")
    age = f.project.clock.now() - f.model.created_at
    evidence = [spec_evidence("maximum model age", "monitoring.retraining.max_model_age"),
                Evidence(f"{f.model.ref} registered {f.model.created_at.date()}", f"model:{f.model.ref}")]
    if age > timedelta(seconds=duration_s(limit)):
        return failed("monitoring", "monitoring-4", title, f"{f.model.ref} is {age.days} days old, over {limit}",
                      evidence)
    return passed("monitoring", "monitoring-4", title, f"{f.model.ref} is {age.days} days old, under the {limit} "
                  "`assay monitor check` asks retraining at", evidence)


def _stable(f: Facts) -> ReadinessItem:
    title = "The model is numerically stable"
    sha = f.run.artifacts.get("predictions.test")
    if sha is None:
        return failed("monitoring", "monitoring-5", title, f"run {f.run.id} kept no test predictions")
    # The .npy bytes training writes (training.trainer.predictions_to_bytes), read without pickle and
    # without importing the training stack.
    evidence = artifact_evidence(f, "predictions.test")
    try:
        values = np.load(io.BytesIO(f.project.artifacts.get_bytes(sha)), allow_pickle=False)
    except AssayError as exc:
        return failed("monitoring", "monitoring-5", title, f"the test predictions cannot be read: {first_line(exc)}")
    bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
    if bad:
        return failed("monitoring", "monitoring-5", title, f"{bad} test predictions are NaN or infinite", evidence)
    return passed("monitoring", "monitoring-5", title, f"all {np.size(values):,} test predictions are finite "
                  "(re-checked now)", evidence)


def _performance(f: Facts) -> ReadinessItem:
    title = "No regression in training speed, serving latency, throughput or RAM"
    latency = [slo for slo in f.spec.monitoring.slos if slo.kind == "latency"]
    budgets = f.spec.budgets.training_minutes is not None or f.spec.budgets.scoring_cpu_s_per_million_rows is not None
    evidence = []
    if latency:
        evidence.append(spec_evidence(f"latency SLO {latency[0].name}", "monitoring.slos"))
    if budgets:
        evidence.append(spec_evidence("cost budgets", "budgets"))
    if not latency or not budgets:
        lacking = [name for name, have in (("latency SLO", latency), ("cost budgets", budgets)) if not have]
        return failed("monitoring", "monitoring-6", title, f"no {' and no '.join(lacking)}: regressions go unnoticed",
                      evidence)
    return passed("monitoring", "monitoring-6", title, "serving latency is held to an SLO and training and scoring "
                  "costs to budgets, on every run and check", [*evidence, run_evidence(f)])


def _quality(f: Facts) -> ReadinessItem:
    title = "No regression in prediction quality on served data"
    slos = [slo for slo in f.spec.monitoring.slos if slo.kind == "quality"]
    labels = label_store(f.root, f.model.name).files()
    if not slos or not labels:
        lacking = [name for name, have in (("quality SLO", slos), ("labels", labels)) if not have]
        return failed("monitoring", "monitoring-7", title, f"no {' and no '.join(lacking)}: quality on served data "
                      "is not watched", [spec_evidence(f"quality SLO {s.name}", "monitoring.slos") for s in slos])
    return passed("monitoring", "monitoring-7", title, f"quality SLO {slos[0].name} is judged on labelled "
                  "predictions by `assay monitor check`",
                  [spec_evidence(f"quality SLO {slos[0].name}", "monitoring.slos"), Evidence("labels", f"file:{labels[-1]}")])


_CHECKS: tuple[Callable[[Facts], ReadinessItem], ...] = (
    _schema, _beneficial, _cost, _meta, _privacy, _new_features, _feature_code,
    _reviewed, _online_offline, _tuned, _staleness, _simpler, _slices, _inclusion,
    _reproducible, _spec_tested, _integration, _validated, _debuggable, _canary, _rollback,
    _dependencies, _invariants, _skew, _stale, _stable, _performance, _quality,
)

__all__ = ["artifact_evidence", "audit_evidence", "first_line", "pinned_evidence", "rubric_items", "run_evidence", "spec_evidence"]
