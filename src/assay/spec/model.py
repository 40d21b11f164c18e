"""The project spec (`assay.yaml`): typed, frozen, and the single source of truth."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from assay.spec.base import SpecModel, at
from assay.spec.serving import ServingSpec
from assay.spec.monitoring import MonitoringSpec
from assay.spec.access import AccessSpec, ApprovalsSpec
from assay.spec.budgets import BudgetsSpec
from assay.spec.retention import RetentionSpec
from assay.spec.evaluation import (
    CALIBRATION_METRICS,
    CLASSIFICATION_METRICS,
    DECISION_METRICS,
    FAIRNESS_METRICS,
    REGRESSION_EXTRA_METRICS,
    REGRESSION_METRICS,
    EvaluationSpec,
)

ColumnType = Literal["int", "float", "bool", "string", "category", "date", "datetime"]
Task = Literal["classification", "regression"]
Flavor = Literal["sklearn", "lightgbm", "xgboost"]
SplitStrategy = Literal["time", "group", "random", "stratified", "predefined"]
FeatureAggregation = Literal["sum", "mean", "count", "max", "min", "last"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
# Feature and event-table names: they become column names and dotted spec paths, so no dots.
KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
EventName = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
FeatureName = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
EVENT_SUFFIXES = (".csv", ".csv.gz", ".txt", ".parquet", ".pq")


def _check_keys(value: Any, what: str) -> Any:
    """Refuse a name that cannot be a column and a dotted spec path, with a message people can act on."""
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str) or not re.match(KEY_PATTERN, key):
                raise ValueError(at(str(key), f"{what} name {key!r} must start with a letter or '_' and hold only "
                                              "letters, digits and '_'"))
    return value



_Model = SpecModel


class ColumnSchema(_Model):
    """What a column must look like. Checked on every ingest."""

    type: ColumnType = Field(description="Logical type the column is parsed and checked as.")
    nullable: bool = Field(True, description="Whether missing values are allowed.")
    unique: bool = Field(False, description="Whether every value must be distinct (ids).")
    min: float | None = Field(None, description="Smallest allowed value (numeric columns).")
    max: float | None = Field(None, description="Largest allowed value (numeric columns).")
    allowed: list[str] | None = Field(None, description="Allowed values (category columns).")
    format: str | None = Field(
        None,
        description="date/datetime columns read from text: strftime format (default: ISO 8601, e.g. 2024-03-31).",
    )
    description: str = ""

    @model_validator(mode="after")
    def _check_bounds(self) -> ColumnSchema:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(at("min", f"min ({self.min}) is greater than max ({self.max})"))
        if self.allowed is not None and self.type not in ("category", "string", "bool", "int"):
            raise ValueError(at("allowed", f"'allowed' applies to category, string, int and bool columns, not {self.type}"))
        if self.format is not None and self.type not in ("date", "datetime"):
            raise ValueError(at("format", f"'format' applies to date/datetime columns, not {self.type}"))
        if (self.min is not None or self.max is not None) and self.type not in (
            "int",
            "float",
        ):
            raise ValueError(at("min" if self.min is not None else "max", f"'min'/'max' apply to int/float columns, not {self.type}"))
        return self


class DataSchema(_Model):
    columns: dict[str, ColumnSchema] = Field(description="Expected columns, by name.")
    min_rows: int | None = Field(1, ge=0, description="Fewest rows a batch may have.")
    max_rows: int | None = Field(None, ge=1, description="Most rows a batch may have.")

    @model_validator(mode="after")
    def _check_rows(self) -> DataSchema:
        if self.min_rows is not None and self.max_rows is not None and self.max_rows < self.min_rows:
            raise ValueError(at("max_rows", f"max_rows ({self.max_rows}) is below min_rows ({self.min_rows})"))
        return self


RowCheck = Literal["type", "not_null", "range", "allowed", "unique"]
CheckPolicy = Literal["fail", "warn", "quarantine"]


class PreSplitSources(_Model):
    """Files that are already split. Every check (schema, drift, leakage) applies to them all."""

    train: str = Field(description="Training rows.")
    validation: str | None = Field(None, description="Validation rows (optional).")
    test: str = Field(description="Test rows.")


class DriftSpec(_Model):
    """How far a new batch may move from the previous dataset version's profile before it is flagged."""

    psi_warn: float = Field(0.1, ge=0, description="PSI above this is a warning.")
    psi_fail: float = Field(0.25, ge=0, description="PSI above this is a failure.")
    ks: float = Field(0.1, ge=0, le=1, description="Kolmogorov-Smirnov distance above this fails (numeric columns).")
    unseen_share: float = Field(
        0.01, ge=0, le=1, description="Share of values in categories the reference never saw above this fails."
    )
    null_rate_increase: float = Field(
        0.05, ge=0, le=1, description="A rise in the share of missing values above this (absolute) fails."
    )
    on_fail: Literal["warn", "fail"] = Field(
        "warn", description="What a failing drift check does to the ingest: record a warning, or refuse the batch."
    )

    @model_validator(mode="after")
    def _check_psi(self) -> DriftSpec:
        if self.psi_warn > self.psi_fail:
            raise ValueError(at("psi_warn", f"psi_warn ({self.psi_warn}) is above psi_fail ({self.psi_fail})"))
        return self


class DataSpec(_Model):
    source: str | None = Field(
        None, description="CSV or Parquet file: a path relative to assay.yaml, or an fsspec URL."
    )
    sources: PreSplitSources | None = Field(
        None, description="Data that arrives already split: one file per split, instead of `source`."
    )
    format: Literal["auto", "csv", "parquet"] = "auto"
    name: str | None = Field(None, description="Dataset name (defaults to the project name).")
    target: str = Field(description="The column the model predicts.")
    time: str | None = Field(None, description="When each row happened (the prediction time).")
    entity: str | None = Field(None, description="Who a row is about (customer, account): kept in one split.")
    id: str | None = Field(None, description="Unique row id, used in split manifests and outputs.")
    pii: list[str] = Field(
        default_factory=list,
        description="Personal data: checked on ingest, then left out of dataset snapshots; never a feature, "
        "masked in reports.",
    )
    sensitive: list[str] = Field(
        default_factory=list, description="Protected attributes: evaluation only, never features."
    )
    data_schema: DataSchema | None = Field(None, alias="schema", description="Frozen schema, checked on ingest.")
    policy: dict[RowCheck, CheckPolicy] = Field(
        default_factory=dict,
        description="What a failing row-level check does: fail the ingest (default), warn, or quarantine "
        "the failing rows into a separate dataset version.",
    )
    drift: DriftSpec = Field(
        default_factory=DriftSpec,
        description="Distribution checks of each new batch against the previous dataset version's profile.",
    )
    events: dict[EventName, str] = Field(
        default_factory=dict,
        description="Event tables that features aggregate: source name -> CSV or Parquet file (by extension), "
        "a path relative to assay.yaml or an fsspec URL.",
    )

    @field_validator("events", mode="before")
    @classmethod
    def _check_event_names(cls, value: Any) -> Any:
        return _check_keys(value, "event table")

    @model_validator(mode="after")
    def _check_events(self) -> DataSpec:
        for name, path in self.events.items():
            if not path.lower().split("?", 1)[0].endswith(EVENT_SUFFIXES):
                raise ValueError(
                    at(f"events.{name}", f"event table {name!r} is {path!r}: name a file ending in "
                       f"{', '.join(EVENT_SUFFIXES)} (the extension decides how it is read)")
                )
        return self

    @model_validator(mode="after")
    def _check_columns(self) -> DataSpec:
        if (self.source is None) == (self.sources is None):
            raise ValueError(at("source", "give exactly one of 'source' (one file) or 'sources' (pre-split files)"))
        roles = {"target": self.target, "time": self.time, "entity": self.entity, "id": self.id}
        if self.data_schema is not None:
            known = self.data_schema.columns
            for role, column in roles.items():
                if column is not None and column not in known:
                    raise ValueError(at(role, f"{role} column {column!r} is not in schema.columns"))
            for group in ("pii", "sensitive"):
                for column in getattr(self, group):
                    if column not in known:
                        raise ValueError(at(group, f"{group} column {column!r} is not in schema.columns"))
        if self.target in (self.time, self.entity, self.id):
            raise ValueError(at("target", f"target {self.target!r} cannot also be the time, entity or id column"))
        for role, column in roles.items():
            if column is not None and column in self.pii:
                raise ValueError(
                    at(
                        "pii",
                        f"{role} column {column!r} is listed as pii; personal data is never stored in dataset "
                        f"snapshots, so it cannot be the {role}: use a pseudonymous key column instead",
                    )
                )
        return self


class SplitSpec(_Model):
    strategy: SplitStrategy = Field(
        "random",
        description="time: train on the past, test on the future; group: no entity in two splits; "
        "stratified: keep the target rate; random: shuffle.",
    )
    test_fraction: float = Field(0.2, gt=0, lt=1)
    validation_fraction: float = Field(0.1, ge=0, lt=1)
    gap_days: int = Field(0, ge=0, description="time strategy: days left out between splits (embargo).")

    @model_validator(mode="after")
    def _check_fractions(self) -> SplitSpec:
        if self.test_fraction + self.validation_fraction >= 0.9:
            raise ValueError(at("test_fraction", "test_fraction + validation_fraction must leave at least 10% for training"))
        return self


class FeatureSelection(_Model):
    include: list[str] | None = Field(None, description="Only these columns (default: every eligible one).")
    exclude: list[str] = Field(default_factory=list, description="Columns never used as features.")
    sensitive_inputs: dict[str, Annotated[str, StringConstraints(min_length=10)]] = Field(
        default_factory=dict,
        description="Sensitive columns (data.sensitive) the model may use as inputs after all, each with the "
        "reason (kept with the run, on the model card and in the audit log).",
    )


class ModelSpec(_Model):
    name: str = Field(description="Registered model name: lowercase letters, digits, '-', '_', '.'.")
    task: Task = "classification"
    flavor: Flavor = "sklearn"
    estimator: str | None = Field(
        None,
        description="sklearn flavor: dotted path of a scikit-learn-compatible estimator class, "
        "e.g. sklearn.ensemble.HistGradientBoostingClassifier.",
    )
    factory: str | None = Field(
        None,
        description="sklearn flavor: 'module:function' returning your own estimator or Pipeline "
        "(called with seed= and the params).",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Hyperparameters.")
    preprocessing: Literal["auto", "none"] = Field(
        "auto", description="auto: Assay encodes categoricals and fills gaps for a bare estimator."
    )
    features: FeatureSelection = Field(default_factory=FeatureSelection)
    threads: int = Field(1, ge=1, le=256, description="Threads the model library may use (recorded).")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid model name: use lowercase letters, digits, '-', '_' or '.'"
            )
        return value

    @model_validator(mode="after")
    def _check_flavor(self) -> ModelSpec:
        if self.flavor == "sklearn":
            if (self.estimator is None) == (self.factory is None):
                raise ValueError(at("estimator" if self.estimator else "flavor", "the sklearn flavor needs exactly one of 'estimator' or 'factory'"))
            if self.factory is not None and ":" not in self.factory:
                raise ValueError(at("factory", f"factory {self.factory!r} must look like 'module:function'"))
        elif self.estimator is not None or self.factory is not None:
            raise ValueError(at("estimator" if self.estimator else "factory", f"'estimator'/'factory' apply to the sklearn flavor, not {self.flavor}"))
        return self


class Waiver(_Model):
    """A person's decision that a leakage finding is acceptable, with the reason on the record."""

    kind: str = Field(description="The finding's kind, as `assay leakage check` prints it.")
    columns: list[str] = Field(
        default_factory=list,
        description="Columns that must all be among the finding's columns (empty: every finding of this kind).",
    )
    reason: str = Field(min_length=10, description="Why this is not a leak (kept in the run and the audit log).")


class LeakageSpec(_Model):
    """What the leakage detectors need beyond data.* and which findings a person waived."""

    entity_may_cross: bool = Field(
        False,
        description="Whether one entity may legitimately appear in train and test "
        "(a returning customer under a time split).",
    )
    prediction_time: str | None = Field(
        None, description="Column holding when the prediction is made, where it differs from data.time."
    )
    feature_time: dict[str, str] = Field(
        default_factory=dict, description="feature -> column holding when that feature's value was observed."
    )
    waivers: list[Waiver] = Field(default_factory=list, description="Findings a person accepted, with reasons.")


class FeatureExpression(_Model):
    """What a feature computes over the entity's events strictly before the row's time."""

    agg: FeatureAggregation = Field(description="Aggregation: sum, mean, count, max, min or last.")
    column: str | None = Field(
        None, min_length=1, description="Event column to aggregate; only count may omit it (then it counts events)."
    )
    window_days: int | None = Field(
        None, ge=1, strict=True, description="Only events in the last N days before the row's time (default: all)."
    )

    @model_validator(mode="after")
    def _check_column(self) -> FeatureExpression:
        if self.column is None and self.agg != "count":
            raise ValueError(at("column", f"agg {self.agg!r} needs a column: name the event column to aggregate "
                                          "(only count may omit it)"))
        return self


class FeatureSpec(_Model):
    """One versioned feature: an aggregation of one event table per entity (docs/features.md)."""

    name: str | None = Field(None, description="Optional; the key is the feature's name and this must equal it.")
    source: str = Field(min_length=1, description="Event table the feature reads: a key of data.events.")
    entity: str = Field(
        min_length=1, description="Entity column, in the event table and in the data (the spine) alike."
    )
    timestamp: str = Field(min_length=1, description="Event time column of the source table.")
    expression: FeatureExpression = Field(description="The aggregation: agg, column, window_days.")
    description: str = Field("", description="What the feature means (not part of its version).")


def feature_problems(spec: Spec, *, name: str, source: str, entity: str) -> list[tuple[str, str]]:
    """(field, message) for every way one feature does not fit the rest of the spec.

    Shared by the `features:` section (checked when the spec loads) and `features_from`
    definitions (checked when they are imported)."""
    data = spec.data
    problems: list[tuple[str, str]] = []
    if source not in data.events:
        declared = ", ".join(data.events) or "none declared"
        problems.append(("source", f"feature {name!r} reads source {source!r}, which is not in data.events "
                                   f"({declared}): add `{source}: path/to/{source}.csv` under data.events"))
    if data.data_schema is not None and entity not in data.data_schema.columns:
        problems.append(("entity", f"feature {name!r}: entity column {entity!r} is not in data.schema.columns; "
                                   "the data must carry the entity to join events on"))
    if entity in data.pii:
        problems.append(("entity", f"feature {name!r}: entity column {entity!r} is listed as pii, so it is not "
                                   "kept in dataset snapshots and events cannot be joined on it"))
    roles = (data.target, data.time, data.entity, data.id, *data.pii, *data.sensitive)
    schema_columns = data.data_schema.columns if data.data_schema is not None else {}
    if name in roles or name in schema_columns:
        problems.append(("", f"feature name {name!r} is also a column of the data: rename the feature"))
    return problems


class Spec(_Model):
    """An Assay project: data, split, model and evaluation, with one seed."""

    version: Literal[1] = Field(1, description="Spec format version.")
    project: str = Field(description="Project name.")
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Seed for every random choice.")
    data: DataSpec
    split: SplitSpec = Field(default_factory=SplitSpec)
    model: ModelSpec
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    leakage: LeakageSpec = Field(default_factory=LeakageSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    budgets: BudgetsSpec = Field(default_factory=BudgetsSpec)
    retention: RetentionSpec = Field(default_factory=RetentionSpec)
    access: AccessSpec = Field(default_factory=AccessSpec)
    approvals: ApprovalsSpec = Field(default_factory=ApprovalsSpec)
    features: dict[FeatureName, FeatureSpec] = Field(
        default_factory=dict,
        description="Versioned features computed from data.events: feature name -> definition.",
    )
    features_from: str | None = Field(
        None,
        description="'module:attribute' naming a list of assay.features.FeatureDefinition (or a function "
        "returning one); modules beside assay.yaml are importable.",
    )

    @field_validator("project")
    @classmethod
    def _check_project(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a valid project name: use lowercase letters, digits, '-', '_' or '.'")
        return value

    @model_validator(mode="after")
    def _check_cross(self) -> Spec:
        if self.data.sources is not None and self.split.strategy != "predefined":
            raise ValueError(
                at("split.strategy", "data.sources names files that are already split: set split.strategy: predefined")
            )
        if self.split.strategy == "predefined" and self.data.sources is None:
            raise ValueError(at("split.strategy", "split.strategy 'predefined' needs data.sources (one file per split)"))
        if self.split.strategy == "time" and self.data.time is None:
            raise ValueError(at("split.strategy", "split.strategy 'time' needs data.time (the column that orders rows in time)"))
        if self.split.strategy == "group" and self.data.entity is None:
            raise ValueError(at("split.strategy", "split.strategy 'group' needs data.entity (the column that groups rows)"))
        if self.split.strategy == "stratified" and self.model.task != "classification":
            raise ValueError(at("split.strategy", "split.strategy 'stratified' applies to classification only"))
        allowed = CLASSIFICATION_METRICS if self.model.task == "classification" else REGRESSION_METRICS
        candidates = [("evaluation.metrics", m) for m in self.evaluation.metrics or []]
        if self.evaluation.primary:
            candidates.append(("evaluation.primary", self.evaluation.primary))
        for field, metric in candidates:
            if metric not in allowed:
                raise ValueError(
                    at(field, f"metric {metric!r} is not available for {self.model.task}; choose from {', '.join(allowed)}")
                )
        self._check_decision_and_gates(allowed)
        if self.serving.fallback.score is not None and self.model.task == "classification":
            if not 0 <= self.serving.fallback.score <= 1:
                raise ValueError(at("serving.fallback.score", "for a classifier the fallback score is a probability in [0, 1]"))
        return self

    def _check_decision_and_gates(self, allowed: tuple[str, ...]) -> None:
        for column in self.model.features.sensitive_inputs:
            if column not in self.data.sensitive:
                raise ValueError(at(f"model.features.sensitive_inputs.{column}",
                                    f"{column!r} is not in data.sensitive: only a declared sensitive column needs a reason"))
        decision = self.evaluation.decision
        if self.evaluation.calibration.method != "none" and self.model.task != "classification":
            raise ValueError(at("evaluation.calibration.method", "a calibrator applies to (binary) classification only"))
        if decision is not None and self.model.task != "classification":
            raise ValueError(at("evaluation.decision", "a decision threshold applies to (binary) classification only"))
        decided = DECISION_METRICS if decision is not None else ()
        binary = self.model.task == "classification"
        for index, gate in enumerate(self.evaluation.gates):
            where = f"evaluation.gates.{index}"
            if gate.metric in FAIRNESS_METRICS and binary:
                if gate.column not in self.data.sensitive:
                    declared = ", ".join(self.data.sensitive) or "none declared"
                    raise ValueError(at(f"{where}.column", f"a {gate.metric} gate needs `column:`, one of data.sensitive "
                                                           f"({declared})"))
                continue
            if gate.column is not None:
                raise ValueError(at(f"{where}.column", f"`column` applies to fairness metrics ({', '.join(FAIRNESS_METRICS)}) only"))
            if gate.metric is None or gate.metric in allowed or (binary and gate.metric in CALIBRATION_METRICS):
                continue
            if not binary and gate.metric in REGRESSION_EXTRA_METRICS:
                continue
            if gate.metric in decided:
                if gate.metric == "expected_cost" and decision is not None and decision.costs is None:
                    raise ValueError(at(f"evaluation.gates.{index}.metric", "expected_cost needs evaluation.decision.costs"))
                if gate.metric == "expected_value" and decision is not None and decision.values is None:
                    raise ValueError(at(f"evaluation.gates.{index}.metric", "expected_value needs evaluation.decision.values"))
                continue
            extra = (*CALIBRATION_METRICS, *FAIRNESS_METRICS) if binary else REGRESSION_EXTRA_METRICS
            hint = (f"; also {', '.join(extra)}" if extra else "") + (
                "" if decision is not None or not binary else f"; with evaluation.decision also {', '.join(DECISION_METRICS)}"
            )
            raise ValueError(
                at(f"{where}.metric", f"gate metric {gate.metric!r} is not measured; choose from {', '.join(allowed)}{hint}")
            )
        schema = self.data.data_schema
        for index, column in enumerate(self.evaluation.slices):
            if schema is not None and column not in schema.columns:
                raise ValueError(at(f"evaluation.slices.{index}", f"slice column {column!r} is not in data.schema.columns"))
            if column in self.data.pii:
                raise ValueError(at(f"evaluation.slices.{index}", f"{column!r} is pii: it is not stored, so it cannot be sliced by"))

    @field_validator("features", mode="before")
    @classmethod
    def _check_feature_names(cls, value: Any) -> Any:
        return _check_keys(value, "feature")

    @model_validator(mode="after")
    def _check_features(self) -> Spec:
        if self.features_from is not None and not re.match(r"^[\w.]+:\w+$", self.features_from):
            raise ValueError(at("features_from", f"features_from {self.features_from!r} must look like 'module:attribute'"))
        if (self.features or self.features_from) and self.spine_time is None:
            raise ValueError(
                at("features" if self.features else "features_from",
                   "features aggregate the events before each row's time, and no time column is set: "
                   "set data.time (or leakage.prediction_time)")
            )
        for name, feature in self.features.items():
            if feature.name is not None and feature.name != name:
                raise ValueError(at(f"features.{name}.name", f"name is {feature.name!r} but the key says {name!r}: "
                                                             "drop the name field; the key is the feature's name"))
            for field, message in feature_problems(self, name=name, source=feature.source, entity=feature.entity):
                raise ValueError(at(f"features.{name}" + (f".{field}" if field else ""), message))
        return self

    @property
    def spine_time(self) -> str | None:
        """The column features are computed as of: leakage.prediction_time, else data.time."""
        return self.leakage.prediction_time or self.data.time

    @property
    def dataset_name(self) -> str:
        return self.data.name or self.project

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics to compute: the declared ones (or all for the task), the primary always first."""
        default = CLASSIFICATION_METRICS if self.model.task == "classification" else REGRESSION_METRICS
        chosen = self.evaluation.metrics if self.evaluation.metrics is not None else default
        primary = self.primary_metric
        return (primary, *(m for m in chosen if m != primary))

    @property
    def primary_metric(self) -> str:
        if self.evaluation.primary:
            return self.evaluation.primary
        return "roc_auc" if self.model.task == "classification" else "rmse"

    def feature_columns(self, available: list[str]) -> list[str]:
        """The model's input columns, in data order.

        Never the target, id, PII, sensitive or excluded columns; by default not the time or entity
        columns either (an explicit `include` may name those two)."""
        data = self.data
        sensitive = set(data.sensitive) - set(self.model.features.sensitive_inputs)  # allowed with a reason
        never = {data.target, data.id, data.entity, data.time, *data.pii, *sensitive}
        never.update(self.model.features.exclude)
        include = self.model.features.include
        if include is not None:
            # An explicit list may name the time or entity column, never the target, id, PII,
            # sensitive (without a reason) or excluded ones.
            forbidden = {data.target, data.id, *data.pii, *sensitive, *self.model.features.exclude}
            return [c for c in available if c in include and c not in forbidden]
        return [c for c in available if c not in never]
