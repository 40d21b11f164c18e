"""Labels joined to the predictions they judge.

Each stored label resolves to one logged prediction key, (request_id, row):

- `request_id` labels name it; the label joins when the log has that key.
- `entity+time` labels join the entity's latest prediction at or before the label's event time (an
  as-of join by entity).

A label whose event time is more than `max_label_delay` after its prediction is "too late" and not
joined (a `request_id` label without an event time is never too late: its key is exact). A key
joined by several labels keeps the one ingested last (within one file, the last row): corrections
supersede, and nothing is edited. Every logged copy of that key (production, shadow, a fallback
model) gets the label, so each model version is judged on its own predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl

from assay.project.settings import STATE_DIR
from assay.serving.predlog import read_prediction_log
from assay.spec.model import Spec

KEY = ["request_id", "row"]
LOG_COLUMNS = ["request_id", "row", "at", "model_version", "entity_id", "output", "score"]
MATCHED, NO_PREDICTION, TOO_LATE = "matched", "no_prediction", "too_late"


def prediction_log_dir(project_root: Path, spec: Spec, model_name: str) -> Path:
    """Where the server writes the prediction log of `model_name` (as `assay serve` resolves it)."""
    configured = spec.serving.prediction_log.path
    root = Path(configured) if configured else project_root / STATE_DIR / "predictions"
    if not root.is_absolute():
        root = project_root / root
    return root / model_name


def read_predictions(folder: Path) -> pl.DataFrame:
    """The columns of the log that labels and quality need, every logged row, oldest first."""
    return read_prediction_log(folder).select(LOG_COLUMNS)


@dataclass(frozen=True, slots=True)
class Matching:
    """Every label with its verdict (`status`) and, when matched, the prediction key it joined
    (`p_request_id`, `p_row`) and that prediction's time (`predicted_at`)."""

    resolved: pl.DataFrame

    def count(self, status: str) -> int:
        return int((self.resolved.get_column("status") == status).sum())

    def current(self) -> pl.DataFrame:
        """One label per prediction key (request_id, row, label): the latest ingest's, last row first."""
        matched = self.resolved.filter(pl.col("status") == MATCHED)
        return (
            matched.sort("ingest", "position")
            .unique(subset=["p_request_id", "p_row"], keep="last", maintain_order=True)
            .select(pl.col("p_request_id").alias("request_id"), pl.col("p_row").alias("row"), "label", "ingest")
        )


def prediction_keys(predictions: pl.DataFrame) -> pl.DataFrame:
    """Each logged (request_id, row) once, with its time and entity (the first logged copy's)."""
    return predictions.select("request_id", "row", "at", "entity_id").unique(subset=KEY, keep="first", maintain_order=True)


def match_labels(keys: pl.DataFrame, labels: pl.DataFrame, *, max_delay: timedelta) -> Matching:
    """Resolve each label (rows of `LabelStore.read()`) against the logged keys (`prediction_keys`)."""
    by_request = labels.filter(pl.col("request_id").is_not_null()).join(
        keys.select("request_id", "row", pl.col("request_id").alias("p_request_id"), pl.col("row").alias("p_row"),
                    pl.col("at").alias("predicted_at")),
        on=KEY, how="left",
    )
    by_entity = labels.filter(pl.col("request_id").is_null()).sort("event_time")
    logged = (
        keys.filter(pl.col("entity_id").is_not_null() & (pl.col("entity_id") != ""))
        .select("entity_id", pl.col("request_id").alias("p_request_id"), pl.col("row").alias("p_row"),
                pl.col("at").alias("predicted_at"))
        .sort("predicted_at")
    )
    by_entity = by_entity.join_asof(logged, left_on="event_time", right_on="predicted_at", by="entity_id",
                                    strategy="backward", check_sortedness=False)  # both sorted above
    columns = [*labels.columns, "p_request_id", "p_row", "predicted_at"]
    resolved = pl.concat([by_request.select(columns), by_entity.select(columns)], how="vertical_relaxed")
    late = pl.col("event_time").is_not_null() & ((pl.col("event_time") - pl.col("predicted_at")) > max_delay)
    status = (
        pl.when(pl.col("predicted_at").is_null()).then(pl.lit(NO_PREDICTION))
        .when(late).then(pl.lit(TOO_LATE))
        .otherwise(pl.lit(MATCHED))
    )
    return Matching(resolved.with_columns(status.alias("status")))


def labelled_predictions(predictions: pl.DataFrame, matching: Matching) -> pl.DataFrame:
    """The logged rows that have a label (every copy of each labelled key), with `label`."""
    return predictions.join(matching.current(), on=KEY, how="inner")


__all__ = [
    "KEY",
    "LOG_COLUMNS",
    "MATCHED",
    "NO_PREDICTION",
    "TOO_LATE",
    "Matching",
    "labelled_predictions",
    "match_labels",
    "prediction_keys",
    "prediction_log_dir",
    "read_predictions",
]
