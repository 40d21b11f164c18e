"""The `serving:` section of the spec: how `assay serve` answers, sheds load, falls back, logs and
guards a canary. Every field has a default, so a project serves without one."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from assay.spec.base import SpecModel, at

# `env:NAME` or `file:PATH` (or another provider's scheme); the value itself never goes in the spec.
_SECRET_REF = re.compile(r"^[a-z][a-z0-9+.-]*:\S+$")


def _secret_ref(value: str | None, field: str) -> str | None:
    if value is not None and not _SECRET_REF.match(value):
        raise ValueError(
            f"{field} must be a secret reference such as env:ASSAY_PII_KEY or file:/run/secrets/pii-key, "
            "never the secret itself"
        )
    return value


class BatchingSpec(SpecModel):
    """Adaptive micro-batching: concurrent requests share one model call."""

    max_batch_rows: int = Field(1024, ge=1, le=100_000, description="Rows in one model call at most.")
    max_wait_ms: float = Field(2.0, ge=0, le=1_000, description="How long a lone request waits for company.")
    eager_when_idle: bool = Field(
        True,
        description="Send a request to the model at once when the previous batch held a single request, "
        "instead of waiting max_wait_ms (low latency at low load; the wait applies again under load).",
    )
    max_queue_rows: int = Field(
        20_000, ge=1, le=10_000_000, description="Rows waiting at most; past this the server answers 503 at once."
    )


class FallbackSpec(SpecModel):
    """Who answers when the model fails or misses the deadline: the previous production model, then
    the rule; with neither, the request fails with 503."""

    previous_model: bool = Field(True, description="Let the previous production model answer.")
    score: float | None = Field(
        None,
        description="A constant answer: the positive-class probability (binary classification) or the "
        "value (regression).",
    )
    deadline_ms: float = Field(100.0, gt=0, le=60_000, description="Time the fallback model gets on its own.")


class CacheSpec(SpecModel):
    """A cache of predictions for identical rows of the same model version."""

    enabled: bool = Field(False, description="Cache predictions (off by default).")
    max_entries: int = Field(100_000, ge=1, description="In-process LRU size.")
    ttl_s: float = Field(300.0, gt=0, description="Seconds an entry lives.")
    redis: str | None = Field(
        None, description="Secret reference to a Redis URL (env:ASSAY_REDIS_URL): a cache shared by replicas."
    )

    @field_validator("redis")
    @classmethod
    def _redis_ref(cls, value: str | None) -> str | None:
        return _secret_ref(value, "serving.cache.redis")


class PredictionLogSpec(SpecModel):
    """Every prediction, appended off the request path to Parquet under .assay/predictions/."""

    enabled: bool = True
    flush_interval_s: float = Field(
        1.0, gt=0, le=3600, description="Seconds between writes: a crash loses at most this much of the log."
    )
    max_buffer_rows: int = Field(50_000, ge=1, description="A write starts early when this many rows wait.")
    pii: Literal["drop", "tokenise"] = Field(
        "drop",
        description="What happens to data.pii columns a client sends: dropped, or replaced by a keyed "
        "HMAC token (needs serving.pii_key). Never written in clear.",
    )
    path: str | None = Field(None, description="Folder for the log (default .assay/predictions).")


class CanaryGuards(SpecModel):
    """Checked continuously while a canary takes traffic; a breach rolls it back automatically."""

    min_requests: int = Field(100, ge=1, description="Canary requests needed before the guards judge.")
    window_s: float = Field(300.0, gt=0, description="The guards look at this many recent seconds.")
    check_interval_s: float = Field(5.0, gt=0, description="Seconds between checks.")
    max_error_rate: float = Field(0.01, ge=0, le=1, description="Share of canary requests that may fail.")
    max_fallback_rate: float = Field(0.02, ge=0, le=1, description="Share the fallback may answer.")
    max_p99_ms: float = Field(250.0, gt=0, description="P99 latency of the canary, in ms.")
    max_p99_ratio: float | None = Field(
        None, gt=0, description="P99 of the canary over P99 of production at most this (e.g. 1.5)."
    )
    max_score_psi: float = Field(
        0.25, gt=0, description="PSI of the canary's scores against production's over the window."
    )


class ServingSpec(SpecModel):
    """`assay serve`: deadlines, batching, fallback, cache, prediction log and canary guards."""

    deadline_ms: float = Field(1000.0, gt=0, le=600_000, description="Default deadline of a request.")
    max_deadline_ms: float = Field(
        10_000.0, gt=0, le=600_000, description="Upper bound of the X-Assay-Deadline-Ms header."
    )
    max_rows_per_request: int = Field(1_000, ge=1, le=1_000_000, description="Larger requests get 413.")
    batching: BatchingSpec = Field(default_factory=BatchingSpec)
    fallback: FallbackSpec = Field(default_factory=FallbackSpec)
    cache: CacheSpec = Field(default_factory=CacheSpec)
    prediction_log: PredictionLogSpec = Field(default_factory=PredictionLogSpec)
    pii_key: str | None = Field(
        None, description="Secret reference to the HMAC key that tokenises PII (env:ASSAY_PII_KEY)."
    )
    canary: CanaryGuards = Field(default_factory=CanaryGuards)
    key_cache_s: float = Field(
        5.0, ge=0, le=300, description="Seconds a server trusts its cached copy of a key record (a revoked key "
        "stops working within this time)."
    )
    poll_interval_s: float = Field(
        2.0, gt=0, le=300, description="Seconds between reads of the deployment state (replicas converge)."
    )

    @field_validator("pii_key")
    @classmethod
    def _pii_ref(cls, value: str | None) -> str | None:
        return _secret_ref(value, "serving.pii_key")

    @model_validator(mode="after")
    def _check(self) -> ServingSpec:
        if self.deadline_ms > self.max_deadline_ms:
            raise ValueError(at("deadline_ms", f"deadline_ms ({self.deadline_ms:g}) exceeds max_deadline_ms "
                                               f"({self.max_deadline_ms:g})"))
        if self.prediction_log.pii == "tokenise" and self.pii_key is None:
            raise ValueError(at("prediction_log.pii", "pii: tokenise needs serving.pii_key, a secret reference "
                                                      "such as env:ASSAY_PII_KEY"))
        if self.max_rows_per_request > self.batching.max_queue_rows:
            raise ValueError(at("max_rows_per_request", "max_rows_per_request exceeds batching.max_queue_rows: "
                                                        "such a request could never be queued"))
        return self


__all__ = ["BatchingSpec", "CacheSpec", "CanaryGuards", "FallbackSpec", "PredictionLogSpec", "ServingSpec"]
