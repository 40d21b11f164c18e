"""Canary guards, sticky routing and the key cache."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest

from assay.security.keys import (
    Action,
    ApiKey,
    ForbiddenError,
    InvalidKeyError,
    Role,
    generate_key,
    key_id,
)
from assay.serving.auth import KeyCache
from assay.serving.guard import CanaryGuard
from assay.serving.runtime import bucket
from assay.spec.serving import CanaryGuards


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _feed(guard: CanaryGuard, route: str, n: int, *, failed: bool = False, latency_s: float = 0.01,
          scores: np.ndarray | None = None) -> None:
    for i in range(n):
        guard.record(route, latency_s=latency_s, failed=failed, fallback=False,
                     scores=None if scores is None else scores[i % len(scores):i % len(scores) + 1])


def test_no_judgement_below_the_minimum_then_an_error_rate_breach() -> None:
    clock = Clock()
    guard = CanaryGuard(CanaryGuards(min_requests=50, max_error_rate=0.05), clock=clock)
    _feed(guard, "canary", 45)
    _feed(guard, "canary", 4, failed=True)
    assert guard.check() is None  # 49 requests: too few to judge
    _feed(guard, "canary", 1, failed=True)
    breach = guard.check()
    assert breach is not None and breach.guard == "error_rate" and breach.observed == pytest.approx(0.1)
    assert "error_rate breached" in breach.reason and "50 canary requests" in breach.reason


def test_old_events_leave_the_window() -> None:
    clock = Clock()
    guard = CanaryGuard(CanaryGuards(min_requests=10, window_s=60, max_error_rate=0.05), clock=clock)
    _feed(guard, "canary", 20, failed=True)
    clock.now += 61
    _feed(guard, "canary", 20)
    assert guard.check() is None


def test_latency_and_score_shift_guards() -> None:
    rng = np.random.default_rng(0)
    guard = CanaryGuard(CanaryGuards(min_requests=100, max_p99_ms=50, max_score_psi=0.2), clock=Clock())
    _feed(guard, "canary", 200, latency_s=0.2)
    breach = guard.check()
    assert breach is not None and breach.guard == "p99_latency" and breach.observed == pytest.approx(200)
    same = CanaryGuard(CanaryGuards(min_requests=100, max_score_psi=0.2), clock=Clock())
    _feed(same, "production", 2000, scores=rng.beta(2, 5, 2000))
    _feed(same, "canary", 500, scores=rng.beta(2, 5, 500))
    assert same.check() is None  # the same score distribution does not trip the guard
    shifted = CanaryGuard(CanaryGuards(min_requests=100, max_score_psi=0.2), clock=Clock())
    _feed(shifted, "production", 2000, scores=rng.beta(2, 5, 2000))
    _feed(shifted, "canary", 500, scores=rng.beta(5, 2, 500))
    breach = shifted.check()
    assert breach is not None and breach.guard == "score_psi" and breach.observed > 1


def test_routing_is_sticky_and_splits_in_proportion() -> None:
    assert bucket("customer-42") == bucket("customer-42")
    shares = Counter(bucket(f"c{i}") < 10 for i in range(20_000))
    assert abs(shares[True] / 20_000 - 0.10) < 0.01


def test_the_key_cache_answers_from_memory_until_its_ttl_then_sees_a_revocation() -> None:
    key, hashed = generate_key()
    record = ApiKey(id=key_id(key), name="svc", role=Role.PREDICT, hash=hashed, created_at=datetime.now(UTC))
    store = {record.id: record}
    lookups: list[str] = []

    def lookup(kid: str) -> ApiKey | None:
        lookups.append(kid)
        return store.get(kid)

    clock = Clock()
    cache = KeyCache(lookup, ttl_s=5, clock=clock)

    async def run() -> None:
        header = f"Bearer {key}"
        assert (await cache.authorize(header, Action.PREDICT)).id == record.id
        with pytest.raises(ForbiddenError):
            await cache.authorize(header, Action.LIST_MODELS)
        store[record.id] = ApiKey(**{**{f: getattr(record, f) for f in record.__slots__}, "revoked_at": datetime.now(UTC)})
        await cache.authorize(header, Action.PREDICT)  # still cached
        assert len(lookups) == 1
        clock.now += 5.1
        with pytest.raises(InvalidKeyError, match="revoked"):
            await cache.authorize(header, Action.PREDICT)

    asyncio.run(run())


def test_a_version_that_fails_to_load_is_retried_after_a_pause_not_on_every_poll() -> None:
    from assay.registry.records import Deployment
    from assay.serving.runtime import RETRY_LOAD_S, RouteTable

    clock = Clock()
    builds: list[int] = []

    def build(record: object) -> object:
        builds.append(1)
        raise OSError("artifact store unreachable")

    table = RouteTable(model_name="m", read_deployment=lambda: Deployment("m", production=1, revision=1),
                       get_model=lambda version: version, build=build, use_previous=True, clock=clock)  # type: ignore[arg-type]

    async def run() -> None:
        await table.refresh()
        assert len(builds) == 1 and table.current.production is None and "unreachable" in (table.last_error or "")
        assert await table.refresh() is False and len(builds) == 1  # the next poll does not hammer the store
        clock.now += RETRY_LOAD_S
        await table.refresh()
        assert len(builds) == 2

    asyncio.run(run())
