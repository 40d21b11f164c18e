"""The `budgets:` section of the spec: what a training run and a scoring job may cost, how slow the
model may answer one row, and whether a breach fails them or only warns. Nothing is limited unless
declared."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from assay.spec.base import SpecModel


class BudgetsSpec(SpecModel):
    """Limits judged against the costs every run and scoring job records (wall time, CPU time,
    peak memory per stage: `assay runs show`)."""

    training_minutes: float | None = Field(
        None, gt=0, description="Wall time of a training run (`assay train` / `assay run`), in minutes."
    )
    scoring_cpu_s_per_million_rows: float | None = Field(
        None, gt=0, description="CPU seconds per million input rows an `assay score` job may use, workers included."
    )
    serving_p99_ms: float | None = Field(
        None, gt=0,
        description="p99 latency of a one-row prediction by the trained model (the model call a server makes, "
        "measured at training time on test rows), in milliseconds.",
    )
    on_breach: Literal["warn", "fail"] = Field(
        "warn", description="warn: the breach is recorded and printed; fail: the run or job fails with budget-exceeded."
    )


__all__ = ["BudgetsSpec"]
