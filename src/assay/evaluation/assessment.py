"""Judge a trained model the way the spec says: metrics with confidence intervals, the decision
threshold chosen on validation, the comparison with the model in production, and the gates.

Pure computation on labels and predictions; the project layer supplies them (and the champion's
predictions on the same test rows) and records the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.errors import DataError
from assay.evaluation import evidence
from assay.evaluation._kernel import Metric
from assay.evaluation.bootstrap import ConfidenceInterval, PairedComparison, bootstrap_cis, compare_models
from assay.evaluation.calibration import expected_calibration_error
from assay.evaluation.cost import CostMatrix
from assay.evaluation.metrics import classification_at, compute_metrics, expected_cost, lift_at, pinball_loss
from assay.evaluation.threshold import (
    ThresholdChoice,
    choose_threshold_for_cost,
    choose_threshold_for_precision,
    choose_threshold_for_recall,
)
from assay.spec.evaluation import DecisionSpec, EvaluationSpec, GateSpec


@dataclass(frozen=True, slots=True)
class Champion:
    """The model a candidate is compared with, and its predictions on the candidate's test rows."""

    alias: str
    ref: str | None  # None: no model holds the alias yet
    test_predictions: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class GateResult:
    gate: str
    value: float | None
    threshold: str
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "value": self.value, "threshold": self.threshold, "passed": self.passed,
                "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Assessment:
    metrics: Mapping[str, Mapping[str, float | None]]  # split -> metric -> value
    intervals: Mapping[str, ConfidenceInterval] = field(default_factory=dict)  # test metrics
    decision: ThresholdChoice | None = None
    comparisons: Mapping[str, PairedComparison] = field(default_factory=dict)  # alias -> comparison
    gates: tuple[GateResult, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)  # curves, calibration, fairness, slices...

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def failed_gates(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    def summary(self) -> dict[str, Any]:
        """What a run's metrics record besides the per-split values: intervals, threshold, gates."""
        out: dict[str, Any] = {}
        if self.intervals:
            out["intervals"] = {
                name: {"low": ci.low, "high": ci.high, "level": ci.level, "resamples": ci.n_resamples}
                for name, ci in self.intervals.items()
            }
        if self.decision is not None:
            out["decision"] = self.decision.to_dict()
        if self.comparisons:
            out["comparisons"] = {alias: c.to_dict() for alias, c in self.comparisons.items()}
        if self.gates:
            out["gates"] = [g.to_dict() for g in self.gates]
            out["gates_passed"] = self.passed
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": {split: dict(values) for split, values in self.metrics.items()},
            "intervals": {name: ci.to_dict() for name, ci in self.intervals.items()},
            "decision": self.decision.to_dict() if self.decision is not None else None,
            "comparisons": {alias: c.to_dict() for alias, c in self.comparisons.items()},
            "gates": [g.to_dict() for g in self.gates],
            "passed": self.passed,
            **self.evidence,
        }


def _scores(predictions: np.ndarray) -> np.ndarray:
    """The positive class's probability of a binary classifier."""
    return predictions[:, 1] if predictions.ndim == 2 else predictions


def _costs(decision: DecisionSpec) -> CostMatrix | None:
    if decision.costs is not None:
        c = decision.costs
        return CostMatrix(false_positive=c.false_positive, false_negative=c.false_negative,
                          true_positive=c.true_positive, true_negative=c.true_negative)
    if decision.values is not None:
        v = decision.values
        return CostMatrix.from_values(true_positive=v.true_positive, true_negative=v.true_negative,
                                      false_positive=v.false_positive, false_negative=v.false_negative)
    return None


def choose_threshold(decision: DecisionSpec, labels: np.ndarray, scores: np.ndarray) -> ThresholdChoice:
    costs = _costs(decision)
    if decision.target_precision is not None:
        return choose_threshold_for_precision(labels, scores, target=decision.target_precision, costs=costs)
    if decision.target_recall is not None:
        return choose_threshold_for_recall(labels, scores, target=decision.target_recall, costs=costs)
    assert costs is not None
    return choose_threshold_for_cost(labels, scores, costs=costs)


def _decision_metrics(decision: DecisionSpec, choice: ThresholdChoice, labels: np.ndarray, scores: np.ndarray) -> dict[str, float | None]:
    at = classification_at(labels, scores, threshold=choice.threshold)
    out: dict[str, float | None] = {
        "threshold": choice.threshold,
        "precision": at.precision,
        "recall": at.recall,
        "f1_at_threshold": at.f1,
    }
    costs = _costs(decision)
    if costs is not None:
        cost = expected_cost(labels, scores, threshold=choice.threshold, costs=costs)
        out["expected_cost" if decision.costs is not None else "expected_value"] = (
            cost if decision.costs is not None else -cost
        )
    return out


def assess(
    evaluation: EvaluationSpec,
    *,
    task: str,
    metric_names: Sequence[str],
    labels: Mapping[str, np.ndarray],
    predictions: Mapping[str, np.ndarray],
    seed: int,
    champions: Sequence[Champion] = (),
    sensitive: Mapping[str, np.ndarray] | None = None,
    slice_columns: Mapping[str, np.ndarray] | None = None,
    decided: ThresholdChoice | None = None,
) -> Assessment:
    """Every number the spec asks for on the validation and test splits, and the gates' verdicts.

    `sensitive` and `slice_columns` hold the test rows' values of the declared sensitive and slice
    columns, for the fairness and slice evidence. `decided` is a threshold already chosen (when a
    registered model is evaluated again on new rows, its recorded one); else, with a decision in
    the spec, it is chosen on the validation split.
    """
    metrics = {
        split: compute_metrics(task, labels[split], predictions[split], metric_names)
        for split in ("validation", "test")
        if split in predictions
    }
    binary = task == "classification" and predictions["test"].ndim == 2 and predictions["test"].shape[1] == 2
    decision = decided
    if evaluation.decision is not None and decision is None:
        if not binary:
            raise DataError(
                "evaluation.decision needs a binary target (two classes)",
                hint="remove evaluation.decision, or predict a yes/no outcome",
            )
        if "validation" not in predictions:
            raise DataError(
                "evaluation.decision chooses the threshold on the validation split, and this run has none",
                hint="set split.validation_fraction above 0 (or give data.sources a validation file)",
            )
        decision = choose_threshold(evaluation.decision, labels["validation"], _scores(predictions["validation"]))
    if evaluation.decision is not None and decision is not None:
        for split in metrics:
            metrics[split] = {**metrics[split], **_decision_metrics(
                evaluation.decision, decision, labels[split], _scores(predictions[split]))}
    resampled = _resampled_metrics(evaluation.decision, decision, binary=binary,
                                   regression=not binary and task != "classification")
    intervals: dict[str, ConfidenceInterval] = {}
    if evaluation.confidence.resamples:
        test_labels = labels["test"]
        test_scores = _scores(predictions["test"]) if binary else predictions["test"]
        wanted = {name: metric for name, metric in resampled.items()
                  if (name in metric_names or name in metrics["test"]) and metrics["test"].get(name) is not None}
        found = bootstrap_cis(list(wanted.values()), test_labels, test_scores, seed=seed,
                              n_resamples=evaluation.confidence.resamples, level=evaluation.confidence.level)
        intervals = {name: found[metric.label] for name, metric in wanted.items()}
    comparisons: dict[str, PairedComparison] = {}
    primary = metric_names[0]
    for champion in champions:
        if champion.test_predictions is None or primary not in resampled:
            continue
        champion_scores = _scores(champion.test_predictions) if binary else champion.test_predictions
        challenger_scores = _scores(predictions["test"]) if binary else predictions["test"]
        comparisons[champion.alias] = compare_models(
            resampled[primary], labels["test"], champion_scores, challenger_scores, seed=seed,
            n_resamples=max(evaluation.confidence.resamples, 200), level=evaluation.confidence.level,
        )
    slice_metric = resampled.get(primary) or Metric("roc_auc" if binary else "rmse")
    evidence = _evidence(evaluation, binary, slice_metric, labels["test"], predictions["test"],
                         threshold=decision.threshold if decision is not None else 0.5,
                         sensitive=sensitive or {}, slice_columns=slice_columns or {})
    for split in metrics:
        metrics[split] = {**metrics[split], **_extra_metrics(labels[split], predictions[split], binary=binary)}
    gates = tuple(
        _gate(gate, metrics["test"], comparisons, {c.alias: c for c in champions}, primary, evidence.get("fairness", {}))
        for gate in evaluation.gates
    )
    return Assessment(metrics, intervals, decision, comparisons, gates, evidence)


def _resampled_metrics(spec: DecisionSpec | None, decision: ThresholdChoice | None, *, binary: bool,
                       regression: bool) -> dict[str, Metric]:
    """The recorded metrics that get a bootstrap interval, as the bootstrap's metric objects: every
    headline metric of a binary classifier or a regression (r2 and multiclass metrics have none)."""
    if regression:
        return {name: Metric(name) for name in ("rmse", "mae", "mape")}
    if not binary:
        return {}
    out = {name: Metric(name) for name in ("roc_auc", "pr_auc", "log_loss", "brier")}
    out |= {"accuracy": Metric("accuracy", threshold=0.5), "f1": Metric("f1", threshold=0.5)}
    if spec is not None and decision is not None:
        at = decision.threshold
        out |= {"precision": Metric("precision", threshold=at), "recall": Metric("recall", threshold=at),
                "f1_at_threshold": Metric("f1", threshold=at)}
        costs = _costs(spec)
        if costs is not None:
            out["expected_cost" if spec.costs is not None else "expected_value"] = Metric(
                "expected_cost" if spec.costs is not None else "value", threshold=at, costs=costs)
    return out


def _extra_metrics(labels: np.ndarray, predictions: np.ndarray, *, binary: bool) -> dict[str, float | None]:
    """Binary: calibration error and lift in the top 10%; regression: quantile (pinball) losses."""
    if binary:
        scores = _scores(predictions)
        lift = lift_at(labels, scores, fraction=0.1) if labels.any() else float("nan")
        return {"ece": expected_calibration_error(labels, scores), "lift_top_10pct": lift if np.isfinite(lift) else None}
    if predictions.ndim == 1:
        return {f"pinball_q{round(q * 100):02d}": pinball_loss(labels, predictions, quantile=q) for q in (0.1, 0.5, 0.9)}
    return {}


def _evidence(evaluation: EvaluationSpec, binary: bool, slice_metric: Metric, labels: np.ndarray, predictions: np.ndarray, *,
              threshold: float, sensitive: Mapping[str, np.ndarray], slice_columns: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """What the model card draws: curves, calibration, score distribution, fairness, slices."""
    out: dict[str, Any] = {"curves": None, "calibration": None, "fairness": {}, "slices": {}}
    scores = _scores(predictions) if binary else predictions
    regression = predictions.ndim == 1
    if binary:
        out["curves"] = evidence.curves(labels, scores)
        out["calibration"] = evidence.calibration(labels, scores)
        if sensitive:
            out["fairness"] = evidence.fairness(
                labels, scores, sensitive, threshold=threshold,
                min_group_size=evaluation.fairness.min_group_size, min_positives=evaluation.fairness.min_positives,
            )
    if binary or regression:
        out["score_distribution"] = evidence.score_distribution(labels, scores, binary=binary)
        if slice_columns:
            out["slices"] = evidence.slices(slice_metric, labels, scores, slice_columns,
                                            min_slice_size=evaluation.fairness.min_group_size)
    return out


def _gate(gate: GateSpec, test: Mapping[str, float | None], comparisons: Mapping[str, PairedComparison],
          champions: Mapping[str, Champion], primary: str, fairness: Mapping[str, Any]) -> GateResult:
    if gate.no_regression_vs is not None:
        alias = gate.no_regression_vs
        champion = champions.get(alias)
        if champion is None or champion.ref is None:
            return GateResult(gate.name, None, "not significantly worse", True,
                              f"no model holds the alias {alias!r} yet: nothing to compare with")
        comparison = comparisons[alias]
        detail = (f"{primary} {comparison.challenger:.4g} vs {champion.ref} {comparison.champion:.4g}; "
                  f"difference {comparison.difference:+.4g}, {comparison.level:.0%} interval "
                  f"[{comparison.low:+.4g}, {comparison.high:+.4g}]: {comparison.verdict.replace('_', ' ')}")
        return GateResult(gate.name, comparison.difference, "not significantly worse",
                          comparison.verdict != "worse", detail)
    assert gate.metric is not None
    if gate.column is not None:
        column = fairness.get(gate.column, {})
        value = column.get(gate.metric)
        small = column.get("small_groups") or []
        detail = f"groups too small to judge, left out: {', '.join(small)}" if small else ""
    else:
        value, detail = test.get(gate.metric), ""
    bounds = " and ".join(part for part in (
        f">= {gate.min:g}" if gate.min is not None else "", f"<= {gate.max:g}" if gate.max is not None else "") if part)
    if value is None:
        return GateResult(gate.name, None, bounds, False, f"{gate.metric} could not be computed on the test split")
    passed = (gate.min is None or value >= gate.min) and (gate.max is None or value <= gate.max)
    return GateResult(gate.name, value, bounds, passed, detail)


__all__ = ["Assessment", "Champion", "GateResult", "assess", "choose_threshold"]
