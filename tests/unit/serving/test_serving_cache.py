"""Prediction caches: row keys, the in-process LRU with TTL, and Redis (real server; a dead one costs nothing)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import redis
import structlog
import structlog.testing
from hypothesis import given
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry

from assay.serving.cache import LocalCache, PredictionCache, RedisCache, row_keys

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
IDENTITY = "credit-default:3@" + "ab" * 32


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def out(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=np.float64)


# --- keys -----------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.floats(allow_nan=False), st.text(max_size=20)
)


@given(st.lists(scalars, max_size=8))
def test_same_values_give_the_same_key(row: list[object]) -> None:
    assert row_keys(IDENTITY, [row]) == row_keys(IDENTITY, [tuple(row)]) == row_keys(IDENTITY, [list(row)])
    assert len(row_keys(IDENTITY, [row])[0]) == 16


def test_key_ignores_field_order_once_rows_follow_the_signature() -> None:
    columns = ["a", "b"]
    one, two = {"a": 1.0, "b": "x"}, {"b": "x", "a": 1.0}
    assert row_keys(IDENTITY, [[one[c] for c in columns]]) == row_keys(IDENTITY, [[two[c] for c in columns]])


def test_numpy_scalars_key_like_python_values() -> None:
    assert row_keys(IDENTITY, [[np.float64(1.5), np.int64(2), np.bool_(True)]]) == row_keys(IDENTITY, [[1.5, 2, True]])


def test_model_identity_changes_the_key() -> None:
    row = [[1.0, "x"]]
    assert row_keys(IDENTITY, row) != row_keys("credit-default:4@" + "ab" * 32, row)
    assert row_keys(IDENTITY, row) != row_keys("credit-default:3@" + "cd" * 32, row)


def test_any_value_changes_the_key() -> None:
    keys = row_keys(IDENTITY, [[1.0, "x"], [1.5, "x"], [1.0, "y"], ["x", 1.0], [1.0, "x", None], [1.0, "x"]])
    assert len(set(keys)) == 5 and keys[0] == keys[-1]


def test_identity_and_row_cannot_run_into_each_other() -> None:
    assert row_keys("m", [["1"]]) != row_keys('m["1"', [[]])


def test_unkeyable_value_is_a_type_error_naming_the_type() -> None:
    with pytest.raises(TypeError, match="object"):
        row_keys(IDENTITY, [[object()]])


# --- LocalCache -----------------------------------------------------------------


def test_local_round_trip_returns_read_only_float64_rows() -> None:
    cache: PredictionCache = LocalCache()
    keys = row_keys(IDENTITY, [[1.0], [2.0], [3.0]])
    cache.set_many([(keys[0], out(0.2, 0.8)), (keys[2], np.array([1, 0]))])
    found = cache.get_many(keys)
    assert found[1] is None
    assert found[0] is not None and found[2] is not None
    np.testing.assert_array_equal(found[0], out(0.2, 0.8))
    assert found[2].dtype == np.float64 and not found[2].flags.writeable


def test_local_cache_copies_what_it_stores() -> None:
    cache = LocalCache()
    value = out(0.5)
    cache.set_many([(b"k", value)])
    value[0] = 9.0
    assert cache.get_many([b"k"])[0] == pytest.approx([0.5])


def test_lru_evicts_the_least_recently_used_entry() -> None:
    cache = LocalCache(max_entries=3)
    cache.set_many([(b"a", out(1)), (b"b", out(2)), (b"c", out(3))])
    cache.get_many([b"a"])  # b is now the least recently used
    cache.set_many([(b"d", out(4))])
    assert len(cache) == 3
    assert [v is not None for v in cache.get_many([b"a", b"b", b"c", b"d"])] == [True, False, True, True]
    cache.set_many([(b"c", out(30)), (b"e", out(5))])  # setting c again makes it recent; a goes
    assert [v is not None for v in cache.get_many([b"a", b"c", b"d", b"e"])] == [False, True, True, True]


def test_entries_expire_after_ttl() -> None:
    clock = FakeClock()
    cache = LocalCache(ttl_s=10.0, clock=clock)
    cache.set_many([(b"old", out(1))])
    clock.now += 6
    cache.set_many([(b"new", out(2))])
    clock.now += 3.9
    assert [v is not None for v in cache.get_many([b"old", b"new"])] == [True, True]
    clock.now += 0.1
    assert [v is not None for v in cache.get_many([b"old", b"new"])] == [False, True]
    assert len(cache) == 1  # the expired entry went when it was looked up
    clock.now += 6
    assert cache.get_many([b"new"]) == [None]


def test_local_cache_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        LocalCache(max_entries=0)
    with pytest.raises(ValueError, match="ttl_s"):
        LocalCache(ttl_s=0)


# --- RedisCache against a real server ----------------------------------------------


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"assay-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        stale = list(client.scan_iter(match=prefix + "*"))
        if stale:
            client.delete(*stale)
    finally:
        client.close()


def test_redis_round_trip(redis_url: str, prefix: str) -> None:
    cache: PredictionCache = RedisCache(redis_url, prefix=prefix, timeout_s=1.0)
    keys = row_keys(IDENTITY, [[1.0], [2.0], [3.0]])
    try:
        cache.set_many([(keys[0], out(0.25, 0.75)), (keys[2], out(-1.5))])
        found = cache.get_many(keys)
    finally:
        cache.close()
    assert found[1] is None
    assert found[0] is not None and found[2] is not None
    np.testing.assert_array_equal(found[0], out(0.25, 0.75))
    np.testing.assert_array_equal(found[2], out(-1.5))
    assert found[0].dtype == np.float64 and not found[0].flags.writeable
    assert isinstance(cache, RedisCache) and cache.errors == 0


def test_redis_stores_raw_float64_bytes_under_the_prefix(redis_url: str, prefix: str) -> None:
    cache = RedisCache(redis_url, prefix=prefix, timeout_s=1.0)
    key = row_keys(IDENTITY, [[1.0]])[0]
    client = redis.Redis.from_url(redis_url)
    try:
        cache.set_many([(key, out(0.5, 2.0))])
        assert client.get(prefix + key.hex()) == out(0.5, 2.0).astype("<f8").tobytes()
        client.set(prefix + "ff" * 16, b"odd")  # not something the cache wrote: a miss, not an error
        assert cache.get_many([bytes.fromhex("ff" * 16)]) == [None]
    finally:
        cache.close()
        client.close()


def test_redis_entries_expire_after_ttl(redis_url: str, prefix: str) -> None:
    cache = RedisCache(redis_url, prefix=prefix, ttl_s=0.2, timeout_s=1.0)
    key = row_keys(IDENTITY, [[1.0]])[0]
    client = redis.Redis.from_url(redis_url)
    try:
        cache.set_many([(key, out(1.0))])
        assert 0 < client.pttl(prefix + key.hex()) <= 200
        give_up = time.monotonic() + 5.0
        while cache.get_many([key]) != [None]:  # Redis expires it ~0.2 s later; bounded wait
            assert time.monotonic() < give_up, "the entry never expired"
            time.sleep(0.05)
    finally:
        cache.close()
        client.close()
    assert cache.errors == 0


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_dead_redis_gives_misses_and_backs_off() -> None:
    clock = FakeClock()
    cache = RedisCache(f"redis://:hunter2@127.0.0.1:{_unused_port()}/0", timeout_s=0.05, clock=clock)
    keys = row_keys(IDENTITY, [[1.0], [2.0]])
    try:
        assert cache.get_many(keys) == [None, None]
        assert cache.errors == 1
        for _ in range(100):
            assert cache.get_many(keys) == [None, None]
            cache.set_many([(keys[0], out(1.0))])
        assert cache.errors == 1  # no attempt while backing off
        clock.now += 1.0
        assert cache.get_many(keys) == [None, None]  # the back-off is over: one probe, which fails
        assert cache.errors == 2
        clock.now += 1.9  # the back-off doubled to 2 s
        cache.set_many([(keys[0], out(1.0))])
        assert cache.errors == 2
        clock.now += 0.1
        cache.set_many([(keys[0], out(1.0))])
        assert cache.errors == 3
    finally:
        cache.close()


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP port that accepts connections and never answers (a hung Redis); yields (port, accepted)."""
    accepted: list[socket.socket] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1]), accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
        for conn in accepted:
            conn.close()


def test_hung_redis_times_out_once_per_probe_without_retries(silent_server: tuple[int, list[socket.socket]]) -> None:
    port, accepted = silent_server
    clock = FakeClock()
    cache = RedisCache(f"redis://127.0.0.1:{port}/0", timeout_s=0.05, clock=clock)
    try:
        assert cache.get_many([b"k"]) == [None]
        for _ in range(100):
            cache.get_many([b"k"])
        give_up = time.monotonic() + 5.0
        while not accepted:  # the accepting thread may lag; bounded wait
            assert time.monotonic() < give_up, "the cache never connected"
            time.sleep(0.01)
        assert (cache.errors, len(accepted)) == (1, 1)  # redis-py's own retries are off
        clock.now += 1.0
        cache.set_many([(b"k", out(1.0))])
        assert cache.errors == 2
    finally:
        cache.close()


class SwitchableClient:
    """A Redis client that talks to whichever real client `target` is: Redis going down and coming back."""

    def __init__(self, target: redis.Redis) -> None:
        self.target = target

    def __getattr__(self, name: str) -> object:
        return getattr(self.target, name)


def test_back_off_stops_at_30_s_and_ends_when_redis_answers(redis_url: str, prefix: str) -> None:
    clock = FakeClock()
    dead = redis.Redis(
        host="127.0.0.1", port=_unused_port(), socket_connect_timeout=0.05, retry=Retry(NoBackoff(), 0)
    )
    live = redis.Redis.from_url(redis_url)
    client = SwitchableClient(dead)
    cache = RedisCache(redis_url, prefix=prefix, timeout_s=1.0, client=client, clock=clock)  # type: ignore[arg-type]
    try:
        for backoff_s in (1, 2, 4, 8, 16, 30, 30):
            cache.get_many([b"k"])
            clock.now += backoff_s - 0.01
            errors = cache.errors
            cache.get_many([b"k"])
            assert cache.errors == errors, f"tried again before the {backoff_s} s back-off ended"
            clock.now += 0.01
        client.target = live  # Redis comes back
        cache.set_many([(b"k", out(1.0))])
        assert cache.get_many([b"k"])[0] == pytest.approx([1.0])
        errors = cache.errors
        client.target = dead
        cache.get_many([b"k"])
        clock.now += 1.0  # after a success the back-off starts again at 1 s
        cache.get_many([b"k"])
        assert cache.errors == errors + 2
    finally:
        dead.close()
        live.close()


def test_logs_name_host_and_port_but_never_the_password() -> None:
    port = _unused_port()
    cache = RedisCache(f"redis://user:s3cret-pw@127.0.0.1:{port}/0", timeout_s=0.05)
    try:
        with structlog.testing.capture_logs() as logs:
            cache.get_many([b"k"])
    finally:
        cache.close()
    assert [(log["event"], log["redis"], log["error"]) for log in logs] == [
        ("prediction_cache_unavailable", f"127.0.0.1:{port}", "ConnectionError")
    ]
    assert "s3cret-pw" not in repr(logs)
