"""The `evaluation:` section of the spec: metrics, the decision the model supports, confidence
intervals and the gates a model must pass to be registered as a candidate."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from assay.spec.base import SpecModel, at

CLASSIFICATION_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "f1")
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")
# What the decision adds, measured on the test rows at the threshold chosen on validation.
DECISION_METRICS = ("threshold", "precision", "recall", "f1_at_threshold", "expected_cost", "expected_value")
# Binary classification, always measured on the test rows: calibration and fairness (per sensitive column).
CALIBRATION_METRICS = ("ece", "lift_top_10pct")  # lift: positive rate in the top 10% of scores / base rate
REGRESSION_EXTRA_METRICS = ("pinball_q10", "pinball_q50", "pinball_q90")  # quantile losses of the predictions
FAIRNESS_METRICS = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference")


class OutcomeCosts(SpecModel):
    """What each outcome of the yes/no decision costs, per row, in any unit (a gain is a negative cost)."""

    false_positive: float = Field(description="Cost of acting on a row that turns out negative.")
    false_negative: float = Field(description="Cost of not acting on a row that turns out positive.")
    true_positive: float = Field(0.0, description="Cost of acting on a positive row (often negative: a gain).")
    true_negative: float = Field(0.0, description="Cost of not acting on a negative row.")


class OutcomeValues(SpecModel):
    """What each outcome is worth to the business, per row (a loss is negative)."""

    true_positive: float = Field(description="Value of acting on a positive row.")
    false_positive: float = Field(description="Value of acting on a negative row (usually negative).")
    true_negative: float = Field(0.0, description="Value of not acting on a negative row.")
    false_negative: float = Field(0.0, description="Value of not acting on a positive row (usually negative).")


class DecisionSpec(SpecModel):
    """The decision a binary classifier supports. Assay picks the operating threshold on the
    validation split (never the test split) by exactly one rule and records it."""

    costs: OutcomeCosts | None = Field(None, description="Minimise the expected cost per row.")
    values: OutcomeValues | None = Field(None, description="Maximise the expected business value per row.")
    target_precision: float | None = Field(
        None, gt=0, le=1, description="The highest recall whose precision is at least this."
    )
    target_recall: float | None = Field(None, gt=0, le=1, description="The highest precision whose recall is at least this.")

    @model_validator(mode="after")
    def _one_rule(self) -> DecisionSpec:
        given = [name for name in ("costs", "values", "target_precision", "target_recall") if getattr(self, name) is not None]
        if len(given) != 1:
            listed = ", ".join(given) if given else "none"
            raise ValueError(
                "give exactly one of costs, values, target_precision or target_recall "
                f"(the rule that picks the threshold); got {listed}"
            )
        return self

    @property
    def rule(self) -> str:
        if self.costs is not None or self.values is not None:
            return "min_cost"
        return "target_precision" if self.target_precision is not None else "target_recall"


class ConfidenceSpec(SpecModel):
    """Seeded bootstrap confidence intervals on every test metric."""

    resamples: int = Field(1000, ge=0, le=100_000, description="Bootstrap resamples (0: no intervals).")
    level: float = Field(0.95, gt=0.5, lt=1, description="Confidence level of the percentile intervals.")


class GateSpec(SpecModel):
    """One condition a model must meet on the test split to be registered as a candidate.

    Either a threshold on a metric (`metric` with `min` and/or `max`), or no significant
    regression against the model holding an alias (`no_regression_vs: production`): a paired
    bootstrap of the primary metric on the same test rows, which fails when the candidate is
    worse with the spec's confidence level.
    """

    metric: str | None = Field(
        None, description="A test metric (evaluation.metrics, a decision metric, ece, or a fairness metric)."
    )
    column: str | None = Field(None, description="Fairness metrics: the sensitive column (one of data.sensitive).")
    min: float | None = Field(None, description="The metric must be at least this.")
    max: float | None = Field(None, description="The metric must be at most this.")
    no_regression_vs: str | None = Field(
        None, min_length=1, description="A model alias (e.g. production): the candidate must not be significantly worse."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> GateSpec:
        if (self.metric is None) == (self.no_regression_vs is None):
            raise ValueError("a gate has either `metric` (with min and/or max) or `no_regression_vs`, not both or neither")
        if self.metric is not None and self.min is None and self.max is None:
            raise ValueError(at("min", f"gate on {self.metric!r} needs min or max (or both)"))
        if self.no_regression_vs is not None and (self.min is not None or self.max is not None):
            raise ValueError(at("min", "a no_regression_vs gate takes no min or max: it compares with that model"))
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(at("max", f"max ({self.max}) is below min ({self.min})"))
        return self

    @property
    def name(self) -> str:
        if self.no_regression_vs is not None:
            return f"no regression vs {self.no_regression_vs}"
        bounds = [f">= {self.min:g}" if self.min is not None else "", f"<= {self.max:g}" if self.max is not None else ""]
        subject = f"{self.metric}[{self.column}]" if self.column else str(self.metric)
        return f"{subject} {' and '.join(b for b in bounds if b)}"


class FairnessSpec(SpecModel):
    """How the declared sensitive columns (data.sensitive) are assessed on the test rows."""

    min_group_size: int = Field(30, ge=1, description="Groups with fewer rows are flagged small and left out of the gaps.")
    min_positives: int = Field(5, ge=0, description="Groups with fewer positive rows are flagged small too.")


class CalibrationSpec(SpecModel):
    """An optional calibrator for a binary classifier's probabilities, fitted on a share of the
    training rows held out from fitting the model (never validation or test rows)."""

    method: Literal["none", "isotonic", "sigmoid"] = Field(
        "none", description="none, isotonic (monotone steps) or sigmoid (Platt scaling)."
    )
    fraction: float = Field(0.2, ge=0.05, le=0.5, description="Share of the training rows held out to fit it.")


class EvaluationSpec(SpecModel):
    """How a trained model is judged: metrics, the decision, confidence intervals, gates."""

    metrics: list[str] | None = Field(
        None, min_length=1, description="Metrics to compute (default: all for the task); the primary is always added."
    )
    primary: str | None = Field(None, description="The headline metric (default: roc_auc or rmse).")
    decision: DecisionSpec | None = Field(
        None, description="Binary classification: how the operating threshold is chosen on validation."
    )
    confidence: ConfidenceSpec = Field(default_factory=ConfidenceSpec)
    gates: list[GateSpec] = Field(
        default_factory=list, description="Conditions for registering the model as a candidate; it is rejected otherwise."
    )
    slices: list[str] = Field(
        default_factory=list, description="Columns to measure the primary metric on, value by value (numbers in quartiles)."
    )
    fairness: FairnessSpec = Field(default_factory=FairnessSpec)
    calibration: CalibrationSpec = Field(default_factory=CalibrationSpec)


__all__ = [
    "CALIBRATION_METRICS",
    "CalibrationSpec",
    "CLASSIFICATION_METRICS",
    "FAIRNESS_METRICS",
    "REGRESSION_EXTRA_METRICS",
    "FairnessSpec",
    "DECISION_METRICS",
    "REGRESSION_METRICS",
    "ConfidenceSpec",
    "DecisionSpec",
    "EvaluationSpec",
    "GateSpec",
    "OutcomeCosts",
    "OutcomeValues",
]
