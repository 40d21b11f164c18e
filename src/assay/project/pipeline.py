"""The lifecycle steps on a project: ingest → validate → split → train → evaluate → register."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from assay.security.identity import Action
from assay.data.dataset import read_snapshot
from assay.errors import AssayError, BudgetExceededError, DataError, GatesFailedError
from assay.features import FeatureDefinition
from assay.evaluation import METRIC_NAMES
from assay.evaluation.assessment import Assessment, Champion, assess
from assay.evaluation.evidence import permutation_importance
from assay.leakage.gate import LeakageGate, gate_leakage
from assay.leakage.split import SplitManifest, split_dataset
from assay.project.costs import CostMeter
from assay.project.calibrated import CALIBRATOR_ROLE, Calibration, fit_model, load_registered, with_calibrator
from assay.project.erasures import exclude_erased
from assay.project.feature_set import (
    EVENTS_ARTIFACT_PREFIX,
    EventSnapshot,
    feature_definitions,
    feature_params,
    features_for_run,
)
from assay.project.profiling import representativeness_findings
from assay.project.reference import REFERENCE_ROLE, build_reference
from assay.project.ingestion import IngestResult, ingest, validate
from assay.project.model_card import card_document, store_card
from assay.project.reporter import NullReporter, Reporter
from assay.project.workspace import Project
from assay.registry.records import PRODUCTION_ALIAS, DatasetVersion, ModelStatus, ModelVersion, Run, RunStatus
from assay.spec.budgets import BudgetsSpec
from assay.spec.model import Spec
from assay.training.environment import capture_environment, factory_source
from assay.training.signature import to_model_frame
from assay.training.trainer import (
    TrainedModel,
    load_model,
    model_features,
    predictions_to_bytes,
    seeded,
)


@dataclass(frozen=True, slots=True)
class TrainResult:
    dataset: DatasetVersion
    run: Run
    model: ModelVersion
    split_sizes: Mapping[str, int]
    warnings: tuple[str, ...] = ()
    timings_s: Mapping[str, float] = field(default_factory=dict)


def load_dataset_frame(project: Project, dataset: DatasetVersion) -> pl.DataFrame:
    """The dataset version's snapshot, verified against its address."""
    return read_snapshot(project.artifacts.get_bytes(dataset.snapshot_sha256))


def make_split(frame: pl.DataFrame, dataset: DatasetVersion, spec: Spec) -> SplitManifest:
    return split_dataset(frame, dataset_version_id=dataset.id, data=spec.data, split=spec.split, seed=spec.seed)


def evaluate(trained: TrainedModel, spec: Spec) -> dict[str, dict[str, float | None]]:
    """Metrics on the validation and test splits (training-split metrics are not evidence), as a
    run records them: the spec's metrics, the decision's and the calibration ones (no intervals)."""
    quick = spec.evaluation.model_copy(update={"confidence": spec.evaluation.confidence.model_copy(update={"resamples": 0})})
    assessed = assess(quick, task=spec.model.task, metric_names=spec.metrics, labels=trained.labels,
                      predictions=trained.predictions, seed=spec.seed)
    return {split: dict(values) for split, values in assessed.metrics.items()}


def train_project(
    project: Project,
    *,
    dataset_id: str | None = None,
    reporter: Reporter | None = None,
    description: str = "",
) -> TrainResult:
    """The whole run: ingest (or reuse a recorded dataset version), split, train, evaluate, and
    register the model as a candidate. Returns what was recorded."""
    reporter = reporter or NullReporter()
    project.require(Action.TRAIN, subject="a training run")
    timings: dict[str, float] = {}
    spec, spec_text = project.load_spec()
    definitions = feature_definitions(spec, project.root)  # before any work: a bad features_from fails fast
    meter = CostMeter()
    try:
        return _train_project(project, spec, spec_text, definitions, dataset_id=dataset_id, reporter=reporter,
                              description=description, timings=timings, meter=meter)
    finally:
        meter.close()


def _train_project(project: Project, spec: Spec, spec_text: str, definitions: Sequence[FeatureDefinition], *,
                   dataset_id: str | None, reporter: Reporter, description: str, timings: dict[str, float],
                   meter: CostMeter) -> TrainResult:
    started = time.perf_counter()
    with meter.stage("ingest"):
        if dataset_id is None:
            dataset = ingest(project, spec=spec, reporter=reporter).dataset
        else:
            dataset = project.metadata.get_dataset(dataset_id)
    timings["ingest"] = time.perf_counter() - started

    t0 = time.perf_counter()
    with meter.stage("load"):
        frame = load_dataset_frame(project, dataset)
        frame, exclusion = exclude_erased(project, dataset, frame, entity_column=spec.data.entity)
        dataset = exclusion.dataset
    if exclusion.excluded_rows:
        reporter.note(f"left out {exclusion.excluded_rows:,} row(s) of erased entities "
                      f"(dataset version {exclusion.source_dataset_id} -> {dataset.id})")
    load_s = time.perf_counter() - t0  # counted in "split", as it always was
    events: dict[str, EventSnapshot] = {}
    if definitions:
        with reporter.stage("features"), meter.stage("features"):
            t0 = time.perf_counter()
            frame, events = features_for_run(project, spec, frame, definitions)
            timings["features"] = time.perf_counter() - t0
    derived = tuple(d.name for d in definitions)
    with reporter.stage("split"), meter.stage("split"):
        t0 = time.perf_counter()
        manifest = make_split(frame, dataset, spec)
        timings["split"] = load_s + time.perf_counter() - t0
    for warning in manifest.warnings:
        reporter.note(f"warning: {warning}")

    spec_info = project.artifacts.put_bytes(spec_text.encode("utf-8"))
    split_info = project.artifacts.put_bytes(manifest.to_json_bytes())
    environment = capture_environment(project.root, extra_packages=factory_packages(spec))
    recorded_artifacts = {"spec": spec_info.sha256, "split": split_info.sha256, "dataset": dataset.snapshot_sha256}
    recorded_artifacts.update({f"{EVENTS_ARTIFACT_PREFIX}{s}": e.snapshot_sha256 for s, e in events.items()})
    source = factory_source(spec.model.factory, project.root)
    if source is not None:
        recorded_artifacts["factory_source"] = project.artifacts.put_file(source).sha256
    run = Run(
        id=project.new_id(),
        project=spec.project,
        dataset_version_id=dataset.id,
        status=RunStatus.RUNNING,
        seed=spec.seed,
        spec_sha256=spec_info.sha256,
        environment=environment,
        params={
            "model": spec.model.model_dump(mode="json"),
            "split": spec.split.model_dump(mode="json"),
            **({"features": feature_params(definitions), "events": {s: e.to_dict() for s, e in events.items()}}
               if definitions else {}),
            "erasure": exclusion.to_dict(),
        },
        metrics={},
        artifacts=recorded_artifacts,
        started_at=project.clock.now(),
        finished_at=None,
        created_by=project.actor,
    )
    project.metadata.add_run(run)
    artifacts = dict(run.artifacts)
    leakage_summary: dict[str, Any] = {}
    try:
        with reporter.stage("leakage check"), meter.stage("leakage check"):
            t0 = time.perf_counter()
            gate = check_split_leakage(project, frame, manifest, spec, dataset, exclude_run=run.id, derived=derived)
            artifacts["leakage"] = project.artifacts.put_bytes(gate.to_json_bytes()).sha256
            timings["leakage"] = time.perf_counter() - t0
        leakage_summary = _record_leakage(project, run.id, gate)
        for finding in gate.report.findings:
            if finding.severity == "warning" and all(finding is not f for f, _ in gate.waived):
                reporter.note(f"warning: leakage {finding.kind}: {finding.message}")
        if gate.blocking:
            raise gate.blocking_error()
        with reporter.stage("train"), meter.stage("train"):
            t0 = time.perf_counter()
            trained, calibration = fit_model(frame, manifest, spec, project_dir=project.root, derived=derived)
            if calibration is not None:
                artifacts[CALIBRATOR_ROLE] = project.artifacts.put_bytes(calibration.to_json_bytes()).sha256
            timings["train"] = time.perf_counter() - t0
        with reporter.stage("evaluate"), meter.stage("evaluate"):
            t0 = time.perf_counter()
            test_rows = frame[manifest.indices["test"]]
            assessment = assess(
                spec.evaluation,
                task=spec.model.task,
                metric_names=spec.metrics,
                labels=trained.labels,
                predictions=trained.predictions,
                seed=spec.seed,
                champions=champions_for(project, spec, test_rows),
                sensitive=_test_values(test_rows, spec.data.sensitive),
                slice_columns=_test_values(test_rows, spec.evaluation.slices),
            )
            metrics = assessment.metrics
            loaded = _loaded(project, trained, calibration)
            model_rows = to_model_frame(test_rows, trained.signature)  # the test rows as the model reads them
            evaluation = {**assessment.to_dict(), "importance": _importance(spec, trained, model_rows, loaded)}
            if calibration is not None and evaluation.get("calibration"):
                evaluation["calibration"] = {**evaluation["calibration"], "calibrator": calibration.summary()}
            artifacts["evaluation"] = project.artifacts.put_bytes(
                json.dumps(evaluation, sort_keys=True, separators=(",", ":")).encode()
            ).sha256
            timings["evaluate"] = time.perf_counter() - t0
        with reporter.stage("latency"), meter.stage("latency"):
            latency = predict_latency(loaded, model_rows,
                                      seed=spec.seed, threads=spec.model.threads)
        breaches = check_training_budget(spec.budgets, meter, reporter, latency=latency)
        with reporter.stage("register"):
            with meter.stage("register"):
                t0 = time.perf_counter()
                for split, predictions in trained.predictions.items():
                    artifacts[f"predictions.{split}"] = project.artifacts.put_bytes(predictions_to_bytes(predictions)).sha256
                model_info = project.artifacts.put_bytes(trained.artifact)
                artifacts["model"] = model_info.sha256
                run_metrics: dict[str, Any] = {
                    **metrics,
                    "primary": spec.primary_metric,
                    "fit_seconds": round(trained.fit_seconds, 4),
                    "split_sizes": manifest.sizes(),
                    "serving_latency_ms": latency,
                    **assessment.summary(),
                }
                model = project.metadata.register_model(
                    name=spec.model.name,
                    run_id=run.id,
                    flavor=trained.flavor,
                    artifact_sha256=model_info.sha256,
                    signature=trained.signature,
                    metrics=metrics.get("test", {}),
                    status=ModelStatus.CANDIDATE if assessment.passed else ModelStatus.REJECTED,
                    created_at=project.clock.now(),
                    created_by=project.actor,
                    description=description,
                )
                allowed = dict(spec.model.features.sensitive_inputs)
                if allowed:
                    project.metadata.append_audit(
                        actor=project.actor, action="model.sensitive_inputs", subject=model.ref,
                        details={"columns": allowed}, at=project.clock.now(),
                    )
                    reporter.note(f"warning: sensitive column(s) {', '.join(sorted(allowed))} are model inputs, "
                                  "as model.features.sensitive_inputs says (reasons kept in the audit log)")
                params = {
                    **run.params,
                    "resolved": trained.resolved,
                    "split_details": dict(manifest.details),
                    "leakage": leakage_summary,
                }
                recorded = replace(run, status=RunStatus.SUCCEEDED, metrics=run_metrics, artifacts=artifacts, params=params)
                document = card_document(model, recorded, dataset, evaluation, task=spec.model.task,
                                         primary_metric=spec.primary_metric, warnings=manifest.warnings)
                artifacts.update(store_card(project, document))
                reference = build_reference(frame[manifest.indices["train"]], trained.signature, trained.predictions)
                artifacts[REFERENCE_ROLE] = project.artifacts.put_bytes(reference.to_bytes()).sha256
            finished = project.metadata.finish_run(
                run.id,
                status=RunStatus.SUCCEEDED,
                finished_at=project.clock.now(),
                metrics={**run_metrics, "costs": meter.to_dict(), **({"budget_breaches": breaches} if breaches else {})},
                artifacts=artifacts,
                params=params,
            )
            timings["register"] = time.perf_counter() - t0
    except BaseException as exc:
        project.metadata.finish_run(
            run.id,
            status=RunStatus.FAILED,
            finished_at=project.clock.now(),
            metrics={"costs": meter.to_dict()},
            artifacts=artifacts,
            params={**run.params, "leakage": leakage_summary},
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        raise
    if not assessment.passed:
        raise _gates_error(model, assessment)
    return TrainResult(dataset, finished, model, manifest.sizes(), manifest.warnings, timings)


def check_training_budget(budgets: BudgetsSpec, meter: CostMeter, reporter: Reporter, *,
                          latency: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Judge the run so far against `budgets.training_minutes` and, given the measured one-row
    `latency`, `budgets.serving_p99_ms`: a breach fails the run (before the model is registered)
    under `on_breach: fail`, and is a warning, recorded with the run, under `warn`. The breaches
    found, as recorded."""
    found: list[tuple[dict[str, Any], str, str]] = []
    minutes = meter.total().wall_s / 60
    if budgets.training_minutes is not None and minutes > budgets.training_minutes:
        slowest = max(meter.stages, key=lambda s: s.wall_s)
        found.append((
            {"budget": "training_minutes", "limit": budgets.training_minutes, "used": round(minutes, 3),
             "stages": {s.name: round(s.wall_s, 2) for s in meter.stages}},
            f"the run took {minutes:.2f} min, over budgets.training_minutes ({budgets.training_minutes:g}); "
            f"the slowest stage was {slowest.name} ({slowest.wall_s:.1f} s)",
            "raise budgets.training_minutes in assay.yaml, or make the run cheaper (fewer rows or iterations); "
            "`assay runs show` lists the stages"))
    p99 = None if latency is None else latency.get("p99")
    if budgets.serving_p99_ms is not None and p99 is not None and p99 > budgets.serving_p99_ms:
        found.append((
            {"budget": "serving_p99_ms", "limit": budgets.serving_p99_ms, "used": p99,
             "calls": latency.get("calls") if latency else None},
            f"the model answers one row in {p99:.2f} ms at p99 ({latency.get('calls') if latency else 0} calls), "
            f"over budgets.serving_p99_ms ({budgets.serving_p99_ms:g})",
            "make the model cheaper to call (fewer trees or iterations, fewer features), or raise "
            "budgets.serving_p99_ms in assay.yaml; `assay runs show` has the measured percentiles"))
    if found and budgets.on_breach == "fail":
        raise BudgetExceededError("; ".join(message for _, message, _ in found), hint=found[0][2])
    for _, message, _ in found:
        reporter.note(f"warning: {message}")
    return [breach for breach, _, _ in found]


LATENCY_CALLS = 200  # one-row predictions timed after training


def predict_latency(loaded: Any, rows: Any, *, seed: int, threads: int, calls: int = LATENCY_CALLS) -> dict[str, Any] | None:
    """Milliseconds a one-row `loaded.predict` takes on up to `calls` test rows, one at a time, as
    a server calls the model (after one untimed warm-up call): p50, p95, p99 and max. The model call
    only: request parsing and the network come on top (the serving SLOs measure those). None when
    there are no rows."""
    n = min(calls, len(rows))
    if n == 0:
        return None
    singles = [rows.iloc[[i]] for i in range(n)]
    times = np.empty(n)
    with seeded(seed, threads):
        loaded.predict(singles[0])
        for i, row in enumerate(singles):
            started = time.perf_counter()
            loaded.predict(row)
            times[i] = time.perf_counter() - started
    p50, p95, p99 = np.percentile(times * 1000, [50, 95, 99])
    return {"calls": n, "p50": round(float(p50), 4), "p95": round(float(p95), 4), "p99": round(float(p99), 4),
            "max": round(float(times.max() * 1000), 4)}


def _test_values(test_rows: pl.DataFrame, columns: Sequence[str]) -> dict[str, np.ndarray]:
    return {c: test_rows.get_column(c).to_numpy() for c in columns if c in test_rows.columns}


def _loaded(project: Project, trained: TrainedModel, calibration: Calibration | None) -> Any:
    """The trained model as a server loads it: from its artifact bytes, with its calibrator."""
    return with_calibrator(
        load_model(trained.flavor, trained.artifact, signature=trained.signature,
                   trusted_modules=tuple(trained.resolved.get("trusted_modules", ())), project_dir=project.root),
        calibration.calibrator if calibration is not None else None,
    )


def _importance(spec: Spec, trained: TrainedModel, rows: Any, loaded: Any) -> list[dict[str, Any]]:
    """Permutation importance of each model input on the test rows (binary classification and
    regression), measured by the primary metric where it can be resampled, else roc_auc or rmse."""
    binary = spec.model.task == "classification" and trained.predictions["test"].ndim == 2 \
        and trained.predictions["test"].shape[1] == 2
    if spec.model.task == "classification" and not binary:
        return []
    primary = spec.primary_metric
    metric = primary if primary in METRIC_NAMES else ("roc_auc" if binary else "rmse")

    def predict(frame: Any) -> np.ndarray:
        with seeded(spec.seed, spec.model.threads):
            out = np.asarray(loaded.predict(frame))
        return out[:, 1] if binary else out

    return permutation_importance(predict, rows, trained.labels["test"], metric=metric, seed=spec.seed)


def champions_for(project: Project, spec: Spec, test_rows: pl.DataFrame) -> list[Champion]:
    """The models a candidate is compared with, scored on the same test rows: the one holding
    `production` (always, when there is one) and those the gates name (`no_regression_vs`)."""
    champions = []
    named = [g.no_regression_vs for g in spec.evaluation.gates if g.no_regression_vs]
    for alias in dict.fromkeys([PRODUCTION_ALIAS, *named]):
        version = project.metadata.get_alias(spec.model.name, alias)
        if version is None:
            champions.append(Champion(alias, None))
            continue
        model = project.metadata.get_model(spec.model.name, version)
        loaded = load_registered(project, model)
        try:
            rows = to_model_frame(test_rows, model.signature)
        except AssayError as exc:
            raise DataError(
                f"{model.ref} (@{alias}) cannot score these test rows: {str(exc).splitlines()[0]}",
                hint=f"the data no longer has what {model.ref} needs; remove the no_regression_vs gate for "
                "this change, or compare by hand",
            ) from exc
        with seeded(spec.seed, spec.model.threads):
            champions.append(Champion(alias, model.ref, np.asarray(loaded.predict(rows))))
    return champions


def _gates_error(model: ModelVersion, assessment: Assessment) -> GatesFailedError:
    failed = assessment.failed_gates
    lines = [
        f"  - {g.gate}: {'n/a' if g.value is None else f'{g.value:.4g}'} (needs {g.threshold})"
        + (f"; {g.detail}" if g.detail else "")
        for g in failed
    ]
    return GatesFailedError(
        f"{model.ref} failed {len(failed)} of {len(assessment.gates)} evaluation gate(s) and is recorded as rejected:\n"
        + "\n".join(lines),
        hint=f"see `assay models show {model.ref}`; fix the model or data, or correct evaluation.gates in assay.yaml",
        model_ref=model.ref,
        gates=tuple(g.to_dict() for g in assessment.gates),
    )


def check_split_leakage(
    project: Project,
    frame: pl.DataFrame,
    manifest: SplitManifest,
    spec: Spec,
    dataset: DatasetVersion,
    *,
    exclude_run: str | None = None,
    derived: Sequence[str] = (),
) -> LeakageGate:
    """Everything checked for leakage before training: the detectors on the split, test-split reuse
    across recorded runs, and whether the test rows represent the training population.
    `derived` names the computed feature columns (see `train`)."""
    features = model_features(frame, spec, derived=derived)
    return gate_leakage(
        frame,
        manifest,
        spec,
        features=features,
        earlier_runs=_runs_on_split(project, dataset.id, manifest.sha256, exclude=exclude_run),
        extra=representativeness_findings(frame, manifest, spec, features=features),
    )


def _runs_on_split(project: Project, dataset_id: str, split_sha256: str, *, exclude: str | None) -> list[str]:
    """Earlier succeeded runs that were evaluated on exactly this split of this dataset version."""
    return [
        r.id
        for r in project.metadata.list_runs(limit=10_000)
        if r.id != exclude
        and r.dataset_version_id == dataset_id
        and r.status == RunStatus.SUCCEEDED
        and r.artifacts.get("split") == split_sha256
    ]


def _record_leakage(project: Project, run_id: str, gate: LeakageGate) -> dict[str, Any]:
    """Audit every waived finding (who ran with it, and the reason the spec gives); summarise."""
    for finding, waiver in gate.waived:
        project.metadata.append_audit(
            actor=project.actor,
            action="leakage.waived",
            subject=run_id,
            details={
                "kind": finding.kind,
                "severity": finding.severity,
                "columns": list(finding.columns),
                "reason": waiver.reason,
            },
            at=project.clock.now(),
        )
    return {
        "findings": gate.report.counts(),
        "blocking": [f.kind for f in gate.blocking],
        "waived": [{"kind": f.kind, "columns": list(f.columns), "reason": w.reason} for f, w in gate.waived],
    }


def factory_packages(spec: Spec) -> tuple[str, ...]:
    """Top-level packages named by the spec's model (recorded with the environment)."""
    if spec.model.factory is None:
        return ()
    return (spec.model.factory.split(":", 1)[0].split(".", 1)[0],)


__all__ = [
    "IngestResult",
    "TrainResult",
    "evaluate",
    "ingest",
    "load_dataset_frame",
    "make_split",
    "train_project",
    "validate",
]
