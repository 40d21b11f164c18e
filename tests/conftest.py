"""Shared fixtures. Keep this small and general: suite-specific fixtures live with their suites."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis URL (env ASSAY_TEST_REDIS_URL); skips the test if nothing listens there within 0.2 s."""
    url = os.environ.get("ASSAY_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError as exc:
        reason = f"Redis not reachable within 0.2 s at {host}:{port} ({type(exc).__name__})"
        if os.environ.get("ASSAY_TEST_REQUIRE_SERVICES"):
            pytest.fail(f"Redis is required (ASSAY_TEST_REQUIRE_SERVICES is set): {reason}")
        pytest.skip(f"{reason}; start it or point ASSAY_TEST_REDIS_URL at one")
    return url


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A PostgreSQL URL (env ASSAY_TEST_PG_URL); skips the test if the server cannot be reached in 2 s."""
    parsed = make_url(os.environ.get("ASSAY_TEST_PG_URL", DEFAULT_PG_URL))
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, connect_args={"connect_timeout": 2})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError) as exc:
        if os.environ.get("ASSAY_TEST_REQUIRE_SERVICES"):
            pytest.fail(
                f"PostgreSQL is required (ASSAY_TEST_REQUIRE_SERVICES is set) but not reachable at "
                f"{parsed.render_as_string()}: {exc}"
            )
        pytest.skip(
            f"PostgreSQL not reachable within 2 s at {parsed.render_as_string()} ({type(exc).__name__}); "
            "start it or point ASSAY_TEST_PG_URL at one"
        )
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
def pg_schema_url(pg_url: str) -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema; the schema is dropped afterwards."""
    schema = f"assay_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata store URL, once on a fresh SQLite file and once on a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'assay.db'}"
    return str(request.getfixturevalue("pg_schema_url"))
