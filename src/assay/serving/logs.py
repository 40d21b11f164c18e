"""The server's structured logs: JSON lines on stderr, declared PII fields and resolved secrets masked.

`configure_logging` runs once when the server starts (PII fields from the spec); the service
calls `redact_secrets` after it has resolved its secrets (the PII key, a Redis URL), so their
values are masked in every later event, tracebacks included.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

import structlog

from assay.security.redaction import install_logging_redaction, redactor
from assay.security.secrets import Secret

_state: dict[str, object] = {}


def configure_logging(pii_fields: Iterable[str], *, level: str = "info", secrets: Iterable[Secret] = ()) -> None:
    pii, known = list(pii_fields), list(secrets)
    install_logging_redaction()  # uvicorn's and libraries' stdlib logs too
    _state.update(pii=pii, level=level, secrets=known)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redactor(pii, known),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,  # so redact_secrets reaches loggers made before it
    )


def redact_secrets(secrets: Iterable[Secret]) -> None:
    """Mask these secrets too, if `configure_logging` set up the logs (a no-op otherwise)."""
    if not _state:
        return
    known = [*_state["secrets"], *secrets]  # type: ignore[misc]
    configure_logging(_state["pii"], level=str(_state["level"]), secrets=known)  # type: ignore[arg-type]


__all__ = ["configure_logging", "redact_secrets"]
