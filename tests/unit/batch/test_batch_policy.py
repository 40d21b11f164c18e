"""Retry delays stay within their bounds; only transient I/O errors are retried; rows are checked
as the spec declares the model's inputs."""

from __future__ import annotations

import errno
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.batch.options import RetryPolicy
from assay.batch.plan import check_schema
from assay.batch.scorer import is_transient
from assay.spec.model import ColumnSchema, DataSchema


@given(attempt=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_backoff_is_exponential_with_full_jitter_and_capped(attempt: int, seed: int) -> None:
    policy = RetryPolicy(attempts=5, base_s=0.2, max_s=5.0)
    delay = policy.delay_s(attempt, random.Random(seed))
    assert 0.0 <= delay <= min(5.0, 0.2 * 2 ** (attempt - 1))


def test_only_transient_io_errors_are_retried() -> None:
    assert is_transient(OSError(errno.EIO, "i/o"))
    assert is_transient(ConnectionResetError()) and is_transient(TimeoutError())
    assert not is_transient(FileNotFoundError()) and not is_transient(PermissionError())
    assert not is_transient(ValueError("a model bug"))


def test_rows_are_checked_as_the_spec_declares_the_model_inputs() -> None:
    signature = {"inputs": [{"name": "amount", "type": "float", "nullable": True},
                            {"name": "region", "type": "category", "nullable": False}], "output": {"kind": "value"}}
    declared = DataSchema(columns={"amount": ColumnSchema(type="float", nullable=False, min=0, unique=True),
                                   "other": ColumnSchema(type="int")})
    checks = check_schema(signature, declared)
    assert set(checks.columns) == {"amount", "region"}  # only what the model reads
    assert checks.columns["amount"].min == 0 and checks.columns["amount"].nullable is False
    assert checks.columns["amount"].unique is False  # a dataset property, not a row's
    assert checks.columns["region"] == ColumnSchema(type="category", nullable=False)
    assert checks.min_rows is None


class _FlakyRay:
    """Stands in for the `ray` module's init/shutdown: fails `failures` times with `error`."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.inits, self.shutdowns = failures, error, 0, 0

    def init(self, **options: object) -> None:
        self.inits += 1
        if self.inits <= self.failures:
            raise self.error

    def shutdown(self) -> None:
        self.shutdowns += 1


def test_a_ray_client_session_that_fails_to_start_is_tried_again_a_bounded_number_of_times() -> None:
    import random

    from assay.batch.ray_engine import _init_with_retries

    waits: list[float] = []
    flaky = _FlakyRay(2, ConnectionAbortedError("Initialization failure from server:\nboom"))
    _init_with_retries(flaky, {}, client=True, rng=random.Random(1), sleep=waits.append)
    assert flaky.inits == 3 and flaky.shutdowns == 2 and len(waits) == 2 and all(0 <= w <= 5 for w in waits)

    always = _FlakyRay(9, ConnectionAbortedError("Initialization failure from server:\nboom"))
    with pytest.raises(ConnectionAbortedError):
        _init_with_retries(always, {}, client=True, sleep=waits.append)
    assert always.inits == 3  # bounded

    for flaky, client in ((_FlakyRay(1, ConnectionError("ray client connection timeout")), True),
                          (_FlakyRay(1, ConnectionAbortedError("Initialization failure from server")), False)):
        with pytest.raises(ConnectionError):
            _init_with_retries(flaky, {}, client=client, sleep=waits.append)
        assert flaky.inits == 1  # not that failure, or not a client: no retry
