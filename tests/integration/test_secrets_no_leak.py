"""A secret resolved from a provider never comes out: not in stdlib logs, structlog JSON lines, CLI
output (errors and --debug tracebacks included), exception messages the CLI shows, or reports.

Each test resolves a real secret (from the local Vault API server), then pushes the value at one
output path the way a careless line of code or a library would, and scans what came out."""

from __future__ import annotations

import io
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from assay.project.demo import example_dir
from assay.project.page import write_atomic
from assay.project.workspace import Project
from assay.security.providers import SecretProviders
from assay.security.redaction import REDACTED, install_logging_redaction, install_structlog_redaction
from assay.security.secrets import resolve_secret
from assay.serving.logs import configure_logging
from tests.integration.cli_runner import cli
from tests.unit.security.vault_server import FakeVault, serve_vault

TOKEN = "hvs.leak-test-token-5521"  # assay: allow-secret (test fixture)
VALUE = "leak-test-secret-Zq81vX0pLm"
DB_VALUE = "not-a-db-url-" + "Hk29sPq7Wn4"


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    fake = FakeVault(token=TOKEN, secrets={("secret", "assay"): {"key": VALUE, "db": DB_VALUE}})
    with serve_vault(fake) as served:
        yield served


@pytest.fixture
def resolved(vault: FakeVault, tmp_path: Path) -> str:
    providers = SecretProviders({"VAULT_ADDR": vault.address, "VAULT_TOKEN": TOKEN}, base_dir=tmp_path)
    return resolve_secret("vault://secret/assay#key", providers).reveal()


def test_stdlib_logging_masks_messages_arguments_and_tracebacks(resolved: str) -> None:
    install_logging_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger("assay.test.leak")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("connecting with %s", resolved)
        logger.warning("dict args %(k)s", {"k": f"token={resolved}"})
        logger.warning(f"inline {resolved}")
        try:
            raise RuntimeError(f"upstream said {resolved}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert resolved not in text
    assert text.count(REDACTED) >= 4 and "upstream said ***" in text


def test_structlog_lines_are_masked_even_for_secrets_resolved_after_configuration(
    vault: FakeVault, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging([], level="info")
    providers = SecretProviders({"VAULT_ADDR": vault.address, "VAULT_TOKEN": TOKEN}, base_dir=tmp_path)
    value = resolve_secret("vault://secret/assay#key", providers).reveal()
    log = structlog.get_logger("leak")
    log.info("resolved", detail=f"value={value}", nested={"list": [value]})
    try:
        raise ValueError(value)
    except ValueError:
        log.exception("boom")
    err = capsys.readouterr().err
    assert value not in err and TOKEN not in err
    assert err.count(REDACTED) >= 3


def test_cli_errors_and_debug_tracebacks_never_show_the_value(
    vault: FakeVault, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The metadata store URL comes from Vault and is malformed: resolved, then refused without it.
    folder = tmp_path / "p"
    folder.mkdir()
    shutil.copyfile(example_dir("credit") / "assay.yaml", folder / "assay.yaml")
    monkeypatch.setenv("VAULT_ADDR", vault.address)
    monkeypatch.setenv("VAULT_TOKEN", TOKEN)
    monkeypatch.setenv("ASSAY_DB_URL_SECRET", "vault://secret/assay#db")
    code, out, err = cli(capsys, "-C", str(folder), "models", "list")
    assert code == 7 and "metadata database URL cannot be parsed" in err
    assert DB_VALUE not in out + err and TOKEN not in out + err

    # Code that puts the value in an exception: the error line and the --debug traceback mask it.
    def careless(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"could not connect with {DB_VALUE}")

    monkeypatch.setattr(Project, "open", careless)
    for debug in ((), ("--debug",)):
        code, out, err = cli(capsys, *debug, "-C", str(folder), "models", "list")
        assert code == 70 and "internal error: RuntimeError: could not connect with ***" in err
        assert DB_VALUE not in out + err and TOKEN not in out + err
    assert "Traceback" in err
    assert not any(DB_VALUE.encode() in path.read_bytes() for path in folder.rglob("*") if path.is_file())


def test_structlog_defaults_of_a_cli_command_are_masked(
    resolved: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A CLI command (assay train, assay score) logs through structlog's defaults, to stdout.
    structlog.reset_defaults()
    install_structlog_redaction()
    try:
        log = structlog.get_logger("assay.batch")
        log.warning("chunk failed", url=f"redis://:{resolved}@cache")
        try:
            raise ConnectionError(f"auth failed for {resolved}")
        except ConnectionError:
            log.exception("retrying")
    finally:
        structlog.reset_defaults()
    out = capsys.readouterr().out
    assert resolved not in out and "redis://:***@cache" in out and "auth failed for ***" in out


def test_reports_are_written_with_the_value_masked(resolved: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_atomic(page, f"<p>connection: {resolved}</p>")
    assert resolved not in page.read_text() and "connection: ***" in page.read_text()
