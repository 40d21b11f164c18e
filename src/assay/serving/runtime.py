"""The models a server holds and which one answers: load, verify and warm before traffic moves.

A `ServedModel` is one registered version, loaded (its artifact's hash is verified on read),
warmed with a prediction, and fed by its own `MicroBatcher`. `Routes` is an immutable snapshot of
what serves (production, the previous production model for fallback, a canary with its share, a
shadow); the server swaps the snapshot in one assignment, so a request sees the old models or the
new ones, never a half-loaded one. `RouteTable.refresh` builds the next snapshot from the
deployment state in the metadata store: every replica polls it and converges.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import structlog
from threadpoolctl import threadpool_limits

from assay.errors import AssayError
from assay.registry.records import Deployment, ModelVersion
from assay.serving.batcher import BatchStats, MicroBatcher
from assay.serving.request import RowBlock, RowSchema, model_frame
from assay.spec.serving import BatchingSpec
from assay.training.flavors.base import LoadedModel

_log = structlog.get_logger("assay.serve")
RETRY_LOAD_S = 30.0  # a version that failed to load is tried again this often

Loader = Callable[[ModelVersion], LoadedModel]


class ModelUnavailableError(AssayError):
    """No model could answer: nothing in production, or the model and every fallback failed (503)."""

    code = "model-unavailable"


class ServedModel:
    """One model version ready for traffic: loaded, warmed, with a running batcher."""

    def __init__(self, record: ModelVersion, loaded: LoadedModel, schema: RowSchema, *,
                 batching: BatchingSpec, threads: int, on_batch: Callable[[ModelVersion, BatchStats], None]) -> None:
        self.record = record
        self.loaded = loaded
        self.schema = schema  # how a request's rows are checked against this version's signature
        self.columns = schema.columns
        self.identity = f"{record.ref}@{record.artifact_sha256}"
        self.label = record.ref
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"assay-model-{record.version}",
            initializer=_pin_threads, initargs=(threads,),
        )
        self.batcher = MicroBatcher(
            self._predict_blocks, max_batch_rows=batching.max_batch_rows, max_wait_ms=batching.max_wait_ms,
            max_queue_rows=batching.max_queue_rows, executor=self._executor,
            on_batch=lambda stats: on_batch(record, stats), combine=list, eager_when_idle=batching.eager_when_idle,
        )

    @property
    def version(self) -> int:
        return self.record.version

    def _predict_blocks(self, blocks: Any) -> np.ndarray:
        frame = blocks if isinstance(blocks, pd.DataFrame) else model_frame(blocks, self.columns)
        return np.asarray(self.loaded.predict(frame))

    def warm(self) -> None:
        """One prediction on a synthetic row, in the model's own thread; raises if it cannot answer."""
        row: dict[str, list[Any]] = {c.name: [None if c.kind in ("category", "string") else 0.0] for c in self.columns}
        block = RowBlock(row, [{}])
        output = self._executor.submit(self._predict_blocks, [block]).result(timeout=60)
        if output.shape[0] != 1:
            raise ValueError(f"{self.label} returned {output.shape[0]} predictions for 1 row while warming up")

    async def start(self) -> None:
        await self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop(drain=True)
        self._executor.shutdown(wait=False)


def _pin_threads(threads: int) -> None:
    # In the model's own thread: OpenMP's thread count is a per-thread setting, so it is set here,
    # where predict runs, and stays for the thread's life. Measured: unpinned per-request serving of
    # a histogram gradient-boosting model on 2 cores ran over 100x slower.
    threadpool_limits(limits=threads)


@dataclass(frozen=True, slots=True)
class Routes:
    """What answers, as one immutable snapshot."""

    deployment: Deployment
    production: ServedModel | None
    previous: ServedModel | None = None
    canary: ServedModel | None = None
    shadow: ServedModel | None = None

    def models(self) -> list[ServedModel]:
        seen: dict[int, ServedModel] = {}
        for model in (self.production, self.previous, self.canary, self.shadow):
            if model is not None:
                seen.setdefault(model.version, model)
        return list(seen.values())

    def pick(self, sticky_key: str) -> tuple[ServedModel | None, str]:
        """The model for a request and its route: the canary for a sticky share of keys."""
        if self.canary is not None and bucket(sticky_key) < self.deployment.canary_percent:
            return self.canary, "canary"
        return self.production, "production"


def bucket(key: str) -> float:
    """A stable position in [0, 100) for a routing key: the same entity always lands the same side."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 / 100


class RouteTable:
    """Keeps `current` in step with the deployment state: loads what is new, then swaps, then stops
    what is no longer used. Loading runs in a thread; the swap is one assignment on the event loop."""

    def __init__(self, *, model_name: str, read_deployment: Callable[[], Deployment],
                 get_model: Callable[[int], ModelVersion],
                 build: Callable[[ModelVersion], ServedModel], use_previous: bool,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.model_name = model_name
        self._read = read_deployment
        self._get_model = get_model
        self._build = build
        self._use_previous = use_previous
        self._clock = clock
        self.current = Routes(Deployment(model_name=model_name, production=None), None)
        self.last_error: str | None = None
        self._retry_at = 0.0
        self._lock = asyncio.Lock()

    async def refresh(self) -> bool:
        """Read the deployment state; switch if it changed. True when the routes changed."""
        async with self._lock:
            deployment = await asyncio.to_thread(self._read)
            current = self.current
            now = self._clock()
            retry = self.last_error is not None and now >= self._retry_at
            if _same(deployment, current.deployment) and not retry:
                return False
            wanted = {
                "production": deployment.production,
                "previous": deployment.fallback if self._use_previous and deployment.fallback != deployment.production else None,
                "canary": deployment.canary,
                "shadow": deployment.shadow,
            }
            loaded = {model.version: model for model in current.models()}
            fresh: list[ServedModel] = []
            errors: list[str] = []
            for role, version in wanted.items():
                if version is None or version in loaded:
                    continue
                try:
                    model = await asyncio.to_thread(self._load, version)
                except Exception as exc:  # a model that cannot load or answer never takes traffic
                    errors.append(f"{self.model_name}:{version} ({role}): {type(exc).__name__}: {exc}")
                    _log.error("model.load_failed", model=f"{self.model_name}:{version}", role=role,
                               error=f"{type(exc).__name__}: {exc}")
                    continue
                await model.start()
                loaded[version] = model
                fresh.append(model)

            def slot(role: str) -> ServedModel | None:
                version = wanted[role]
                return loaded.get(version) if version is not None else None

            production = slot("production") or (current.production if deployment.production is not None else None)
            routes = Routes(deployment, production, slot("previous"), slot("canary"), slot("shadow"))
            self.current = routes  # the switch: one assignment, every model in it is warm
            self.last_error = "; ".join(errors) or None
            self._retry_at = now + RETRY_LOAD_S
            in_use = {model.version for model in routes.models()}
            for model in loaded.values():
                if model.version not in in_use:
                    await model.stop()  # drains what it already accepted
            for model in fresh:
                _log.info("model.ready", model=model.label)
            return True

    def _load(self, version: int) -> ServedModel:
        model = self._build(self._get_model(version))
        model.warm()
        return model

    async def close(self) -> None:
        async with self._lock:
            for model in self.current.models():
                await model.stop()


def _same(a: Deployment, b: Deployment) -> bool:
    return (a.revision, a.production, a.canary, a.canary_percent, a.shadow, a.fallback) == (
        b.revision, b.production, b.canary, b.canary_percent, b.shadow, b.fallback)


__all__ = ["ModelUnavailableError", "Routes", "RouteTable", "ServedModel", "bucket"]
