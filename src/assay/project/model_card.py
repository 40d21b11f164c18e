"""The model card of a registered model: its document (JSON) built from the run's evidence, stored
with the run as two immutable artifacts (`card.json` and `card.html`), and written out on request.

The document is deterministic (its time is the model's registration time), so the same model
always has the same card bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assay.errors import ArtifactNotFoundError
from assay.project.card import render_card
from assay.project.page import write_atomic
from assay.security.redaction import redact_text
from assay.project.workspace import ModelRef, Project
from assay.registry.records import DatasetVersion, ModelVersion, Run

CARD_FORMAT = "assay.model-card/1"
CARD_HTML, CARD_JSON = "card.html", "card.json"
KEY_PACKAGES = ("assay", "scikit-learn", "lightgbm", "xgboost", "numpy", "polars", "pandas", "scipy", "skops")


def card_document(
    model: ModelVersion,
    run: Run,
    dataset: DatasetVersion,
    evaluation: Mapping[str, Any] | None,
    *,
    task: str,
    primary_metric: str,
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """Everything the card shows, from records: verdict and gates first, evidence, then lineage."""
    evaluation = evaluation or {}
    metrics = run.metrics
    environment = run.environment
    packages = environment.get("packages", {})
    features = run.params.get("features") or {}
    gates = list(evaluation.get("gates", metrics.get("gates", [])))
    return {
        "format": CARD_FORMAT,
        "model": {
            "ref": model.ref,
            "name": model.name,
            "version": model.version,
            "status": model.status.value,
            "flavor": model.flavor,
            "created_at": model.created_at.isoformat(),
            "description": model.description,
        },
        "task": task,
        "primary_metric": primary_metric,
        "verdict": {"passed": all(g["passed"] for g in gates), "gates": gates},
        "metrics": {split: dict(metrics.get(split, {})) for split in ("validation", "test")},
        "intervals": {
            name: {"low": ci.get("low"), "high": ci.get("high"), "level": ci.get("level"), "resamples": ci.get("n_resamples")}
            for name, ci in evaluation.get("intervals", {}).items()
        },
        "decision": evaluation.get("decision"),
        "comparisons": dict(evaluation.get("comparisons", {})),
        "curves": evaluation.get("curves"),
        "calibration": evaluation.get("calibration"),
        "score_distribution": evaluation.get("score_distribution"),
        "fairness": dict(evaluation.get("fairness", {})),
        "slices": dict(evaluation.get("slices", {})),
        "importance": list(evaluation.get("importance", [])),
        "lineage": {
            "run_id": run.id,
            "dataset_version": dataset.id,
            "dataset_rows": dataset.row_count,
            "split_strategy": run.params.get("split", {}).get("strategy"),
            "split_sha256": run.artifacts.get("split"),
            "split_sizes": dict(metrics.get("split_sizes", {})),
            "spec_sha256": run.spec_sha256,
            "seed": run.seed,
            "model_artifact_sha256": model.artifact_sha256,
            "environment": {
                "python": environment.get("python"),
                "platform": environment.get("platform"),
                "assay": packages.get("assay"),
                "git": environment.get("git"),
                "packages": {name: packages[name] for name in KEY_PACKAGES if name in packages},
            },
            "features": [{"name": name, "version": f.get("version")} for name, f in sorted(features.items())],
            "sensitive_inputs": dict(run.params.get("model", {}).get("features", {}).get("sensitive_inputs", {})),
        },
        "warnings": list(warnings),
        "generated_at": model.created_at.isoformat(),
    }


def store_card(project: Project, document: Mapping[str, Any]) -> dict[str, str]:
    """Render the card and store the page and its JSON twin; returns {role: sha256}."""
    text = redact_text(json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False))
    return {
        CARD_JSON: project.artifacts.put_bytes(text.encode("utf-8")).sha256,
        CARD_HTML: project.artifacts.put_bytes(redact_text(render_card(document)).encode("utf-8")).sha256,
    }


def write_card(project: Project, ref: str | ModelRef, out_dir: Path) -> tuple[Path, Path]:
    """Write a model's card (page and JSON twin) into `out_dir`; a model registered before cards
    existed gets one built from its records now (and stored)."""
    model = project.resolve_model(ref)
    run = project.metadata.get_run(model.run_id)
    roles = {role: run.artifacts[role] for role in (CARD_HTML, CARD_JSON) if role in run.artifacts}
    if len(roles) < 2:
        roles = store_card(project, _rebuilt(project, model, run))
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"model-card-{model.name}-{model.version}"
    html_path, json_path = out_dir / f"{stem}.html", out_dir / f"{stem}.json"
    write_atomic(html_path, project.artifacts.get_bytes(roles[CARD_HTML]).decode("utf-8"))
    write_atomic(json_path, project.artifacts.get_bytes(roles[CARD_JSON]).decode("utf-8"))
    return html_path, json_path


def _rebuilt(project: Project, model: ModelVersion, run: Run) -> dict[str, Any]:
    evaluation = None
    if "evaluation" in run.artifacts:
        try:
            evaluation = json.loads(project.artifacts.get_bytes(run.artifacts["evaluation"]))
        except ArtifactNotFoundError:
            evaluation = None
    task = run.params.get("model", {}).get("task", "classification")
    primary = run.metrics.get("primary") or ("roc_auc" if task == "classification" else "rmse")
    note = [] if evaluation is not None else ["this model was registered before evaluation evidence was recorded: "
                                               "only its metrics and lineage are shown"]
    dataset = project.metadata.get_dataset(run.dataset_version_id)
    return card_document(model, run, dataset, evaluation, task=task, primary_metric=primary, warnings=note)


__all__ = ["CARD_FORMAT", "CARD_HTML", "CARD_JSON", "card_document", "store_card", "write_card"]
