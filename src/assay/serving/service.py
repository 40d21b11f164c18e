"""`Service`: what one server process holds (models, routes, keys, cache, logs, metrics, guards)
and how it answers a prediction request, fallbacks and shadow copies included."""

from __future__ import annotations

import asyncio
import gc
import itertools
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import structlog

from assay.errors import AssayError, NotFoundError, RegistryError, StoreError
from assay.project.approvals import ApprovalError, ApprovalRequiredError
from assay.project.calibrated import load_registered
from assay.project.deployment import DeploymentError, rollback
from assay.project.settings import STATE_DIR, Settings
from assay.project.workspace import Project
from assay.registry.records import ModelVersion
from assay.security.identity import PermissionDeniedError
from assay.security.keys import Action, ForbiddenError, UnauthenticatedError
from assay.security.providers import SecretProviders
from assay.security.secrets import (
    Secret,
    SecretProvider,
    resolve_secret,
)
from assay.security.tokens import Tokeniser
from assay.serving.auth import KeyCache
from assay.serving.batcher import (
    BatcherUnavailableError,
    BatchStats,
    DeadlineExceededError,
    ModelError,
    QueueFullError,
    RequestTooLargeError,
)
from assay.serving.cache import LocalCache, PredictionCache, RedisCache, row_keys
from assay.serving.guard import CanaryGuard
from assay.serving.identity import RequestIdentities
from assay.serving.logs import redact_secrets
from assay.serving.metrics import ServingMetrics
from assay.serving.predlog import PredictionLog, PredictionLogError, PredictionRecord
from assay.serving.request import (
    RequestValidationError,
    RowBlock,
    RowSchema,
    TooManyRowsError,
    parse_body,
)
from assay.serving.runtime import ModelUnavailableError, Routes, RouteTable, ServedModel
from assay.spec.model import Spec

_log = structlog.get_logger("assay.serve")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_FALLBACK_REASONS = {DeadlineExceededError: "timeout", ModelError: "model-error", BatcherUnavailableError: "unavailable"}
DEADLINE_HEADER = "x-assay-deadline-ms"
ROUTING_HEADER = "x-assay-routing-key"  # sticky canary routing when rows carry no entity column
GUARD_ACTOR = "assay-serve (canary guard)"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    project_dir: Path
    settings: Settings | None = None
    secrets: SecretProvider | None = None
    access_log: bool = False


class Service:
    """Everything one server process holds, wired from the project's spec and stores."""

    def __init__(self, project: Project, spec: Spec, options: ServeOptions) -> None:
        self.project = project
        self.spec = spec
        self.options = options
        self.serving = spec.serving
        self.model_name = spec.model.name
        self.metrics = ServingMetrics()
        self.keys = KeyCache(project.metadata.get_api_key, ttl_s=self.serving.key_cache_s)
        self.identities = RequestIdentities(self.keys, spec.access)
        self._spec_stamp = _mtime_ns(project.spec_path)
        self.guard = CanaryGuard(self.serving.canary)
        provider = options.secrets or SecretProviders(base_dir=project.root)
        pii_key = resolve_secret(self.serving.pii_key, provider) if self.serving.pii_key else None
        self.tokeniser = Tokeniser(pii_key) if pii_key is not None else None
        redis_url = resolve_secret(self.serving.cache.redis, provider) if self.serving.cache.redis else None
        redact_secrets([s for s in (pii_key, redis_url) if s is not None])
        self.cache = self._cache(redis_url)
        self.table = RouteTable(
            model_name=self.model_name,
            read_deployment=lambda: project.metadata.get_deployment(self.model_name),
            get_model=lambda version: project.metadata.get_model(self.model_name, version),
            build=self._build,
            use_previous=self.serving.fallback.previous_model,
        )
        self._log: PredictionLog | None = None  # opened on first use
        self._tasks: set[asyncio.Task[Any]] = set()
        self._canary_seen: int | None = None
        self._id_prefix = f"{secrets.token_hex(6)}-"  # unique per process; the counter makes each id unique
        self._ids = itertools.count(1)

    # --- wiring ---------------------------------------------------------------

    def _cache(self, redis_url: Secret | None) -> PredictionCache | None:
        cache = self.serving.cache
        if not cache.enabled:
            return None
        if redis_url is not None:
            return RedisCache(redis_url.reveal(), ttl_s=cache.ttl_s)
        return LocalCache(max_entries=cache.max_entries, ttl_s=cache.ttl_s)

    def _build(self, record: ModelVersion) -> ServedModel:
        loaded = load_registered(self.project, record)  # the artifact's hash is verified on read
        schema = RowSchema(record.signature, pii=self.spec.data.pii, entity=self.spec.data.entity,
                           max_rows=self.serving.max_rows_per_request)
        return ServedModel(record, loaded, schema, batching=self.serving.batching,
                           threads=self.spec.model.threads, on_batch=self._on_batch)

    def _on_batch(self, record: ModelVersion, stats: BatchStats) -> None:
        self.metrics.observe_batch(model_version=record.ref, rows=stats.rows, requests=stats.requests, run_s=stats.run_s)
        self.metrics.set_queue_rows(record.ref, stats.queue_rows_after)

    def prediction_log(self, schema: RowSchema) -> PredictionLog | None:
        """The model's prediction log (opened on first use with the columns of `schema`), or None when off."""
        settings = self.serving.prediction_log
        if not settings.enabled:
            return None
        log = self._log
        if log is None:
            root = Path(settings.path) if settings.path else self.project.root / STATE_DIR / "predictions"
            if not root.is_absolute():
                root = self.project.root / root
            pii = {name: settings.pii for name in self.spec.data.pii}
            columns = [(c.name, c.kind) for c in schema.columns]
            # append_timeout_s bounds how long the event loop may wait on a stuck log; `predict` sheds
            # requests before that point (see `_check_log`), so answered predictions are logged.
            log = PredictionLog(root / self.model_name, columns=columns, pii=pii, tokeniser=self.tokeniser,
                                flush_interval_s=settings.flush_interval_s, max_buffer_rows=settings.max_buffer_rows,
                                append_timeout_s=0.5)
            log.start()
            self._log = log
        return log

    # --- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        await self.table.refresh()
        self._publish_routes()
        # Everything loaded so far (libraries, the model) lives as long as the process: moving it out
        # of the collector's sight keeps full collections from walking it under load (tail latency).
        gc.collect()
        gc.freeze()
        self._spawn(self._poll(), "assay-deployment-poll")
        self._spawn(self._watch_canary(), "assay-canary-guard")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.table.close()  # drains what the batchers accepted
        if self._log is not None:
            await asyncio.to_thread(self._log.close)  # flushes every accepted prediction
        if self.cache is not None:
            self.cache.close()

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.serving.poll_interval_s)
            await self.refresh()
            await self.reload_access()

    async def reload_access(self) -> bool:
        """Take up a changed `access` section of assay.yaml (who holds which role, the proxy
        header), so a role granted or taken away applies without a restart. A spec that does not
        load is logged and the current access kept. Whether it changed."""
        path = self.project.spec_path
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return False
        if stamp == self._spec_stamp:
            return False
        self._spec_stamp = stamp
        try:
            spec = (await asyncio.to_thread(self.project.load_spec))[0]
        except Exception as exc:  # an edit in progress or a mistake: keep serving with what was loaded
            _log.error("access.reload_failed", error=f"{type(exc).__name__}: {exc}")
            return False
        if spec.access == self.identities.access:
            return False
        self.identities.update(spec.access)
        _log.warning("access.reloaded", users=len(spec.access.users), default_roles=list(spec.access.default_roles),
                     user_header=spec.access.proxy.user_header)
        return True

    async def refresh(self) -> bool:
        try:
            changed = await self.table.refresh()
        except Exception as exc:  # a database outage must not take the server down: keep serving
            _log.error("deployment.read_failed", error=f"{type(exc).__name__}: {exc}")
            return False
        if changed:
            self._publish_routes()
        return changed

    def _publish_routes(self) -> None:
        routes = self.table.current
        for route, model in (("production", routes.production), ("canary", routes.canary),
                             ("shadow", routes.shadow), ("fallback", routes.previous)):
            self.metrics.set_model_info(route=route, model=self.model_name,
                                        version=None if model is None else model.version)
        canary = routes.canary.version if routes.canary is not None else None
        if canary != self._canary_seen:
            self.guard.reset()
            self._canary_seen = canary

    async def _watch_canary(self) -> None:
        while True:
            await asyncio.sleep(self.serving.canary.check_interval_s)
            routes = self.table.current
            if routes.canary is None:
                continue
            breach = self.guard.check()
            if breach is None:
                continue
            _log.warning("canary.rollback", model=routes.canary.label, reason=breach.reason)
            self.metrics.observe_canary_rollback(breach.guard)
            try:
                await asyncio.to_thread(
                    rollback, self.project, self.model_name, target="canary", reason=breach.reason, actor=GUARD_ACTOR,
                    only_canary=routes.canary.version,
                    details={"guard": breach.guard, "observed": breach.observed, "limit": breach.limit,
                             "requests": breach.requests},
                )
            except Exception as exc:
                _log.error("canary.rollback_failed", error=f"{type(exc).__name__}: {exc}")
                continue
            self.guard.reset()
            await self.refresh()

    # --- answering ----------------------------------------------------------------

    async def predict(self, headers: Mapping[str, str], body: bytes,
                      peer: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """POST /v1/predict: (status, headers, JSON body). Never raises: every error is an answer.
        `peer` is the connection's TCP peer address (it decides whether a proxy's user header counts)."""
        started = time.monotonic()
        request_id = self.request_id(headers.get("x-request-id"))
        route, label, status = "production", "none", 200
        try:
            await self.identities.authorize(headers, peer, Action.PREDICT)
            deadline = started + self.deadline_s(headers.get(DEADLINE_HEADER))
            rows = parse_body(body, max_rows=self.serving.max_rows_per_request)
            routes = self.table.current
            sticky = headers.get(ROUTING_HEADER) or _sticky_key(rows, self.spec.data.entity, request_id)
            model, route = routes.pick(sticky)
            if model is None:
                raise ModelUnavailableError("no model is in production",
                                            hint="promote one with `assay deploy MODEL --promote`")
            label = model.label
            schema = model.schema
            block = schema.check_rows(rows)
            self._check_log(schema, len(block))
            at = datetime.now(UTC)
            output, answered, reason = await self.answer(model, block, deadline, routes)
            latency = time.monotonic() - started
            if reason:
                self.metrics.observe_fallback(reason=reason, model_version=label)
            if routes.shadow is not None and routes.shadow is not model:
                self.shadow(routes.shadow, block.rows, request_id, at)
            if routes.canary is not None:  # the guards compare the canary with production
                self.guard.record(route, latency_s=latency, failed=False, fallback=bool(reason), scores=_scores(output))
            self.metrics.observe_rows(model_version=label, route=route, rows=len(block))
            self.log_prediction(schema, request_id, at, answered, route, block, output, latency, reason)
            document = prediction_body(request_id, self, answered, route, reason, output, model.record)
            return 200, {"x-request-id": request_id}, document
        except Exception as exc:
            status, error_headers, document = error_answer(exc, request_id, self.metrics)
            if status >= 500 and label != "none":  # the routed model (or its queue) failed this request
                self.guard.record(route, latency_s=time.monotonic() - started, failed=True, fallback=False)
            return status, error_headers, orjson.dumps(document)
        finally:
            latency = time.monotonic() - started
            self.metrics.observe_request(endpoint="predict", status=status, model_version=label, route=route,
                                         latency_s=latency)
            if self.options.access_log:
                _log.info("request", request_id=request_id, status=status, model=label, route=route,
                          latency_ms=round(latency * 1000, 3))

    def request_id(self, given: str | None) -> str:
        """The client's X-Request-Id if it is well formed, else a new id unique to this process."""
        if given is not None and REQUEST_ID.match(given):
            return given
        return f"{self._id_prefix}{next(self._ids):x}"

    def deadline_s(self, header: str | None) -> float:
        if header is None:
            return self.serving.deadline_ms / 1000
        try:
            value = float(header)
        except ValueError:
            raise RequestValidationError([{"row": None, "field": DEADLINE_HEADER,
                                           "problem": "must be a number of milliseconds"}]) from None
        if not 0 < value <= self.serving.max_deadline_ms:
            raise RequestValidationError([{"row": None, "field": DEADLINE_HEADER,
                                           "problem": f"must be in (0, {self.serving.max_deadline_ms:g}] ms"}])
        return value / 1000

    async def answer(self, model: ServedModel, block: RowBlock, deadline: float,
                     routes: Routes) -> tuple[np.ndarray, ModelVersion | None, str]:
        """The predictions for `block`, who made them, and the fallback reason ("" if none)."""
        try:
            return await self._predict(model, block, deadline), model.record, ""
        except QueueFullError:
            raise
        except (DeadlineExceededError, ModelError, BatcherUnavailableError) as exc:
            reason = next(r for kind, r in _FALLBACK_REASONS.items() if isinstance(exc, kind))
            if isinstance(exc, ModelError):
                _log.error("model.failed", model=model.label, error=str(exc))
        # A failing canary is answered by production; a failing production model by the one it replaced.
        candidates = [routes.production, routes.previous] if model is routes.canary else [routes.previous]
        for previous in candidates:
            if previous is None or previous.version == model.version:
                continue
            try:
                rows = block if previous.schema is model.schema else previous.schema.check_rows(block.rows)
                budget = time.monotonic() + self.serving.fallback.deadline_ms / 1000
                return await self._predict(previous, rows, budget), previous.record, reason
            except (AssayError, ValueError) as exc:
                _log.warning("fallback.previous_failed", model=previous.label, error=str(exc).splitlines()[0])
        score = self.serving.fallback.score
        if score is not None:
            n = len(block)
            output = (np.column_stack([np.full(n, 1 - score), np.full(n, score)])
                      if self.spec.model.task == "classification" else np.full(n, score))
            return output, None, reason
        raise ModelUnavailableError(
            f"the model could not answer ({reason}) and no fallback could",
            hint="declare serving.fallback.score in the spec, or keep a previous production model loadable",
        )

    async def _predict(self, model: ServedModel, block: RowBlock, deadline: float) -> np.ndarray:
        cache = self.cache
        if cache is None:
            return await model.batcher.predict(block, deadline=deadline)
        keys = row_keys(model.identity, list(zip(*(block.columns[c.name] for c in model.columns), strict=True)))
        remote = isinstance(cache, RedisCache)  # network calls go off the event loop
        errors_before = cache.errors if remote else 0
        hits = await asyncio.to_thread(cache.get_many, keys) if remote else cache.get_many(keys)
        found = all(hit is not None for hit in hits)
        if found:
            output = np.stack(hits)  # type: ignore[arg-type]
        else:
            output = await model.batcher.predict(block, deadline=deadline)
            items = [(k, np.atleast_1d(np.asarray(v, dtype=np.float64))) for k, v in zip(keys, output, strict=True)]
            if remote:
                await asyncio.to_thread(cache.set_many, items)
            else:
                cache.set_many(items)
        errors = (cache.errors - errors_before) if remote else 0
        self.metrics.observe_cache(hits=len(hits) if found else 0, misses=0 if found else len(hits), errors=errors)
        return output

    def shadow(self, shadow: ServedModel, rows: list[dict[str, Any]], request_id: str, at: datetime) -> None:
        """Score a copy of the request on the shadow model, off the response path."""
        if shadow.batcher.queue_rows > self.serving.batching.max_queue_rows // 2:
            self.metrics.observe_error("shadow-shed")
            return
        self._spawn(self._shadow(shadow, rows, request_id, at), "assay-shadow")

    async def _shadow(self, shadow: ServedModel, rows: list[dict[str, Any]], request_id: str, at: datetime) -> None:
        started = time.monotonic()
        try:
            block = shadow.schema.check_rows(rows)
            output = await shadow.batcher.predict(block, deadline=started + self.serving.deadline_ms / 1000)
        except Exception as exc:  # the shadow never affects anything but its own counters
            self.metrics.observe_error("shadow")
            _log.info("shadow.failed", model=shadow.label, error=type(exc).__name__)
            return
        latency = time.monotonic() - started
        self.metrics.observe_rows(model_version=shadow.label, route="shadow", rows=len(block))
        self.log_prediction(shadow.schema, request_id, at, shadow.record, "shadow", block, output, latency, "")

    def _check_log(self, schema: RowSchema, rows: int) -> None:
        """Shed the request (503) when the prediction log cannot take it: a prediction is only
        answered if it can be logged."""
        log = self.prediction_log(schema)
        limit = 4 * self.serving.prediction_log.max_buffer_rows
        if log is not None and log.buffered_rows + rows > limit:
            raise QueueFullError(rows=rows, queue_rows=log.buffered_rows, max_queue_rows=limit, retry_after_s=5)

    def log_prediction(self, schema: RowSchema, request_id: str, at: datetime, answered: ModelVersion | None,
                       route: str, block: RowBlock, output: np.ndarray, latency_s: float, reason: str) -> None:
        log = self.prediction_log(schema)
        if log is None:
            return
        outputs = output.reshape(len(block), -1).tolist()
        try:
            self._append(log, block, request_id, at, answered, route, outputs, latency_s, reason)
        except PredictionLogError as exc:  # a race past _check_log while the writer is stuck: counted, loud
            self.metrics.observe_error("prediction-log")
            _log.error("prediction_log.append_failed", request_id=request_id, error=type(exc).__name__)

    def _append(self, log: PredictionLog, block: RowBlock, request_id: str, at: datetime,
                answered: ModelVersion | None, route: str, outputs: list[list[float]], latency_s: float,
                reason: str) -> None:
        log.append(PredictionRecord(
            request_id=request_id, at=at, model_name=self.model_name,
            model_version=0 if answered is None else answered.version, route=route, rows=block.rows,
            outputs=outputs, latency_ms=latency_s * 1000, fallback=bool(reason), fallback_reason=reason,
            entity_ids=block.entity_ids,
        ))



def prediction_body(request_id: str, svc: Service, answered: ModelVersion | None, route: str, reason: str,
                     output: np.ndarray, routed: ModelVersion) -> bytes:
    signature_output = routed.signature.get("output", {})
    document: dict[str, Any] = {
        "request_id": request_id,
        "model": svc.model_name,
        "version": None if answered is None else answered.version,
        "route": route,
        "fallback": bool(reason),
        "fallback_reason": reason or None,
        "answered_by": "model" if not reason else ("rule" if answered is None else "previous-model"),
    }
    if output.ndim == 2 and output.shape[1] == 2:
        document["predictions"] = np.ascontiguousarray(output[:, 1])
        document["classes"] = signature_output.get("classes")
    else:
        document["predictions"] = np.ascontiguousarray(output)
        if output.ndim == 2:
            document["classes"] = signature_output.get("classes")
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def _scores(output: np.ndarray) -> np.ndarray | None:
    if output.ndim == 1:
        return output
    if output.ndim == 2 and output.shape[1] == 2:
        return output[:, 1]
    return None


def _sticky_key(rows: list[Any], entity: str | None, request_id: str) -> str:
    if entity is not None and rows and isinstance(rows[0], dict):
        value = rows[0].get(entity)
        if value is not None:
            return str(value)
    return request_id




def error_answer(exc: BaseException, request_id: str,
                 metrics: ServingMetrics | None = None) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The one map from errors to HTTP statuses. Unknown errors are 500 and logged with the request id."""
    headers = {"x-request-id": request_id}
    if isinstance(exc, UnauthenticatedError):
        status, kind = 401, "auth"
        headers["www-authenticate"] = "Bearer"
    elif isinstance(exc, ForbiddenError | PermissionDeniedError):
        status, kind = 403, "auth"
    elif isinstance(exc, NotFoundError):
        status, kind = 404, "not-found"
    elif isinstance(exc, StoreError):  # the database, not the request: a replica that can reach it may answer
        status, kind = 503, "store"
    elif isinstance(exc, ApprovalRequiredError | ApprovalError | DeploymentError | RegistryError):
        status, kind = 409, "conflict"
    elif isinstance(exc, RequestValidationError):
        status, kind = 422, "validation"
    elif isinstance(exc, TooManyRowsError | RequestTooLargeError):
        status, kind = 413, "validation"
    elif isinstance(exc, QueueFullError):
        status, kind = 503, "shed"
        headers["retry-after"] = str(exc.retry_after_s)
    elif isinstance(exc, ModelUnavailableError):
        status, kind = 503, "model-unavailable"
    else:
        _log.error("request.failed", request_id=request_id, error=f"{type(exc).__name__}: {exc}")
        if metrics is not None:
            metrics.observe_error("internal")
        document = {"error": {"code": "internal", "message": "internal error; the request id is in the server log"},
                    "request_id": request_id}
        return 500, headers, document
    if metrics is not None:
        metrics.observe_shed() if kind == "shed" else metrics.observe_error(kind)
    error: dict[str, Any] = {"code": getattr(exc, "code", kind), "message": str(exc).splitlines()[0]}
    hint = getattr(exc, "hint", None)
    if hint:
        error["hint"] = hint
    if isinstance(exc, RequestValidationError):
        error["problems"], error["problem_count"] = exc.problems, exc.total
    return status, headers, {"error": error, "request_id": request_id}





def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


__all__ = ["DEADLINE_HEADER", "ROUTING_HEADER", "ServeOptions", "Service", "error_answer"]
