"""Optional cache of predictions for identical input rows: in-process (`LocalCache`) or shared (`RedisCache`).

The cache is per row. A row's key is a 16-byte BLAKE2b digest of the model identity
(e.g. ``"credit-default:3@<artifact sha256>"``, so a retrained artifact never meets an
old entry) and the row's canonical form: its values in the model signature's column
order, serialised with orjson. The caller passes rows already coerced to the signature's
types, so a float column holds ``1.0`` whether the client sent ``1`` or ``1.0``, and field
order in the request body cannot matter. NaN and None serialise alike (both missing).

A value is one row's model output, stored as a 1-D float64 array; arrays handed back are
read-only. A cache must never fail or noticeably slow a request: `RedisCache` turns every
Redis failure into misses (or a skipped write), counts it, and then leaves Redis alone
for a back-off that grows from 1 s to 30 s while the failures continue.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import numpy as np
import orjson
import structlog

if TYPE_CHECKING:
    import redis

_FIRST_BACKOFF_S = 1.0
_MAX_BACKOFF_S = 30.0

_log = structlog.get_logger(__name__)


class PredictionCache(Protocol):
    """Stores one row's prediction under its `row_keys` key for a while."""

    def get_many(self, keys: Sequence[bytes]) -> list[np.ndarray | None]:
        """The cached output for each key, in order; None for a miss."""
        ...

    def set_many(self, items: Sequence[tuple[bytes, np.ndarray]]) -> None:
        """Store each (key, output) pair; a failure is swallowed, never raised."""
        ...

    def close(self) -> None: ...


def row_keys(model_identity: str, rows: Sequence[Sequence[object]]) -> list[bytes]:
    """The cache key of each row: BLAKE2b-128 of the model identity and the row's ordered values.

    Each row is its values in the signature's column order, already coerced to the column
    types (numbers, strings, bools, None, dates and datetimes; numpy scalars are fine).
    """
    identity = model_identity.encode("utf-8")
    base = hashlib.blake2b(digest_size=16)
    base.update(len(identity).to_bytes(4, "big"))
    base.update(identity)
    keys = []
    for row in rows:
        digest = base.copy()
        digest.update(orjson.dumps(list(row), default=_encode_other, option=orjson.OPT_SERIALIZE_NUMPY))
        keys.append(digest.digest())
    return keys


def _encode_other(value: Any) -> str:
    isoformat = getattr(value, "isoformat", None)  # pandas Timestamp and NaT
    if callable(isoformat):
        return str(isoformat())
    raise TypeError(
        f"cannot build a cache key from a row value of type {type(value).__name__}; "
        "coerce rows to the model signature's types first"
    )


def _as_output(value: np.ndarray) -> np.ndarray:
    array = np.array(value, dtype="<f8", copy=True).reshape(-1)
    array.flags.writeable = False
    return array


class LocalCache:
    """An in-process LRU cache whose entries expire `ttl_s` after they were set; thread-safe."""

    def __init__(
        self, *, max_entries: int = 10_000, ttl_s: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        self._max_entries = max_entries
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[float, np.ndarray]] = OrderedDict()  # key -> (expires_at, output)

    def __len__(self) -> int:
        """Entries held, expired ones not yet looked up included."""
        with self._lock:
            return len(self._entries)

    def get_many(self, keys: Sequence[bytes]) -> list[np.ndarray | None]:
        now = self._clock()
        found: list[np.ndarray | None] = []
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is None:
                    found.append(None)
                elif entry[0] <= now:
                    del self._entries[key]
                    found.append(None)
                else:
                    self._entries.move_to_end(key)
                    found.append(entry[1])
        return found

    def set_many(self, items: Sequence[tuple[bytes, np.ndarray]]) -> None:
        prepared = [(key, _as_output(value)) for key, value in items]
        expires_at = self._clock() + self._ttl_s
        with self._lock:
            for key, output in prepared:
                self._entries[key] = (expires_at, output)
                self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def close(self) -> None:
        with self._lock:
            self._entries.clear()


class RedisCache:
    """A cache in Redis, shared by every replica; a failing Redis costs one timeout per back-off.

    Values are raw little-endian float64 bytes under ``prefix + key.hex()``, written with a
    ``PX`` expiry. Connecting is lazy: the constructor opens no socket. `url` may carry a
    password; only its host and port are ever logged.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl_s: float = 300.0,
        prefix: str = "assay:pred:",
        timeout_s: float = 0.05,
        client: redis.Redis | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._prefix = prefix.encode("utf-8")
        self._where = _host_port(url)
        self._clock = clock
        self._client = client if client is not None else _make_client(url, timeout_s)
        self._failures = _failure_types()
        self._lock = threading.Lock()
        self._errors = 0
        self._backoff_s = 0.0  # 0 while Redis answers
        self._retry_at = 0.0

    @property
    def errors(self) -> int:
        """Redis calls that failed so far (calls skipped during a back-off are not counted)."""
        with self._lock:
            return self._errors

    def get_many(self, keys: Sequence[bytes]) -> list[np.ndarray | None]:
        if not keys or not self._may_try():
            return [None] * len(keys)
        try:
            raw = self._client.mget([self._prefix + key.hex().encode("ascii") for key in keys])
        except self._failures as exc:
            self._failed("get_many", exc)
            return [None] * len(keys)
        self._succeeded()
        return [_decode(value) for value in raw]

    def set_many(self, items: Sequence[tuple[bytes, np.ndarray]]) -> None:
        if not items or not self._may_try():
            return
        payload = [(self._prefix + key.hex().encode("ascii"), _as_output(value).tobytes()) for key, value in items]
        try:
            pipe = self._client.pipeline(transaction=False)
            for name, data in payload:
                pipe.set(name, data, px=self._ttl_ms)
            pipe.execute()
        except self._failures as exc:
            self._failed("set_many", exc)
            return
        self._succeeded()

    def close(self) -> None:
        self._client.close()

    def _may_try(self) -> bool:
        with self._lock:
            if self._backoff_s == 0.0:
                return True
            now = self._clock()
            if now < self._retry_at:
                return False
            self._retry_at = now + self._backoff_s  # this call probes; concurrent ones keep backing off
            return True

    def _succeeded(self) -> None:
        with self._lock:
            recovered = self._backoff_s > 0.0
            self._backoff_s = 0.0
        if recovered:
            _log.info("prediction_cache_recovered", redis=self._where)

    def _failed(self, operation: str, exc: Exception) -> None:
        with self._lock:
            self._errors += 1
            self._backoff_s = min(_MAX_BACKOFF_S, self._backoff_s * 2) if self._backoff_s else _FIRST_BACKOFF_S
            self._retry_at = self._clock() + self._backoff_s
            backoff_s = self._backoff_s
        # The exception's text is left out: it may quote the command, the values or the URL.
        _log.warning(
            "prediction_cache_unavailable", redis=self._where, operation=operation,
            error=type(exc).__name__, retry_in_s=backoff_s,
        )


# redis is the optional `assay[redis]` extra: imported only when a RedisCache is built, so the
# serving package imports without it.


def _make_client(url: str, timeout_s: float) -> redis.Redis:
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError as exc:
        raise ImportError("RedisCache needs the redis client: pip install 'assay[redis]'") from exc
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),  # redis-py retries 3 times by default; our back-off replaces that
    )


def _failure_types() -> tuple[type[Exception], ...]:
    """What a Redis call raises when Redis is down, slow or refusing: turned into misses."""
    try:
        import redis
    except ImportError:  # an injected client without redis-py installed
        return (OSError,)
    return (redis.RedisError, OSError)


def _decode(value: object) -> np.ndarray | None:
    if not isinstance(value, bytes) or len(value) % 8:
        return None  # absent, or not something this cache wrote
    return np.frombuffer(value, dtype="<f8")


def _host_port(url: str) -> str:
    """Where the URL points, without user, password or database: safe to log."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path or "unix socket"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.hostname or 'localhost'}:{port or 6379}"
