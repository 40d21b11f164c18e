"""Keeping PII and secrets out of logs: a structlog processor, a stdlib logging hook and a text redactor.

Put the processor last before the renderer (after `format_exc_info`), so tracebacks and
formatted messages are redacted too:

    structlog.configure(processors=[..., structlog.processors.format_exc_info,
                                    redactor(spec_pii_columns, [db_url, token_key]),
                                    structlog.processors.JSONRenderer()])

Besides the secrets it is given, each of them also masks every secret resolved in this process so
far (`known_secrets()`), including ones resolved after it was made. `install_logging_redaction()`
does the same for the standard library's `logging` (uvicorn, botocore, hvac's requests, any
library): every record's message, arguments and traceback text are masked as the record is made,
whichever handler later writes it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

from assay.security.secrets import Secret, known_secret_count, known_secrets

REDACTED = "***"

EventDict = MutableMapping[str, Any]
Processor = Callable[[Any, str, EventDict], EventDict]

_PLAIN = (int, float, bool, type(None), bytes)


def redact_text(text: str, secrets: Iterable[Secret] = ()) -> str:
    """`text` with every occurrence of any secret's value (given, or resolved in this process)
    replaced by `***`."""
    given = list(secrets)
    pattern = _secret_pattern(given) if given else None
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    known = _known_pattern()
    return text if known is None else known.sub(REDACTED, text)


def redactor(pii_fields: Iterable[str], secrets: Iterable[Secret]) -> Processor:
    """A structlog processor that masks PII and secrets in each event.

    The value under any key named in `pii_fields` (case-insensitive, at any depth of nested dicts,
    lists, tuples and sets) becomes `***`, whatever it is. Every occurrence of a secret's value inside
    a string (keys included) becomes `***`; so does any other object whose `str()` contains one.
    The event's nested containers are copied, never changed in place.
    """
    return _Redactor(frozenset(field.casefold() for field in pii_fields), tuple(secrets))


class _Redactor:
    __slots__ = ("_pii", "_given", "_pattern", "_seen")

    def __init__(self, pii: frozenset[str], given: tuple[Secret, ...]) -> None:
        self._pii = pii
        self._given = given
        self._seen = -1
        self._pattern: re.Pattern[str] | None = None

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        self._refresh()
        return {self._text(key): self._field(key, value, set()) for key, value in event_dict.items()}

    def _refresh(self) -> None:
        if known_secret_count() != self._seen:  # the process registry only grows
            known = known_secrets()
            self._pattern = _secret_pattern([*self._given, *known])
            self._seen = len(known)

    def __repr__(self) -> str:  # never the secrets
        return f"redactor(pii_fields={sorted(self._pii)!r}, secrets=<hidden>)"

    def _field(self, key: object, value: object, path: set[int]) -> object:
        if isinstance(key, str) and key.casefold() in self._pii:
            return REDACTED
        return self._value(value, path)

    def _value(self, value: object, path: set[int]) -> object:
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, _PLAIN):
            return value
        if not isinstance(value, (Mapping, list, tuple, set, frozenset)):
            return self._object(value)
        if id(value) in path:  # a container that holds itself
            return "<cycle>"
        path = path | {id(value)}
        if isinstance(value, Mapping):
            return {self._text(k) if isinstance(k, str) else k: self._field(k, v, path) for k, v in value.items()}
        items = [self._value(item, path) for item in value]
        if isinstance(value, list):
            return items
        if isinstance(value, tuple):
            return tuple(items)
        return set(items) if isinstance(value, set) else frozenset(items)

    def _object(self, value: object) -> object:
        if self._pattern is None:
            return value
        text = str(value)
        return self._pattern.sub(REDACTED, text) if self._pattern.search(text) else value

    def _text(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(REDACTED, text)


_FACTORY_LOCK = threading.Lock()
_INSTALLED: list[bool] = []


def install_logging_redaction() -> None:
    """Mask resolved secrets in every stdlib `logging` record of this process (idempotent).

    It wraps the log record factory, so it holds whatever handlers and formatters are configured
    later. Arguments are masked one by one, keeping their shape (uvicorn's access formatter reads
    them as a tuple); the message and any traceback text too.
    """
    with _FACTORY_LOCK:
        if _INSTALLED:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _INSTALLED.append(True)


_KNOWN_PATTERN: list[tuple[int, re.Pattern[str] | None]] = [(0, None)]


def _known_pattern() -> re.Pattern[str] | None:
    """The mask pattern of the remembered secrets, compiled again only when one was added."""
    count = known_secret_count()
    cached_count, pattern = _KNOWN_PATTERN[0]
    if count != cached_count:
        pattern = _secret_pattern(known_secrets())
        _KNOWN_PATTERN[0] = (count, pattern)
    return pattern


def install_structlog_redaction() -> None:
    """Mask resolved secrets in structlog's output when nothing configured structlog (a CLI command
    such as `assay train` or `assay score` logs through the defaults). The defaults are kept; the
    traceback is formatted as text before the redactor so that it is masked too. A later
    `structlog.configure` (the server's `configure_logging`) replaces this with its own redactor."""
    import structlog

    if structlog.is_configured():
        return
    processors = list(structlog.get_config()["processors"])
    renderer = processors.pop()
    structlog.configure(processors=[*processors, structlog.processors.format_exc_info, redactor((), ()), renderer])


def _redact_record(record: logging.LogRecord) -> None:
    pattern = _known_pattern()
    if pattern is None:
        return

    def clean(value: object) -> object:
        if isinstance(value, str):
            return pattern.sub(REDACTED, value)
        if isinstance(value, _PLAIN):
            return value
        text = str(value)
        return pattern.sub(REDACTED, text) if pattern.search(text) else value

    if isinstance(record.msg, str):
        record.msg = pattern.sub(REDACTED, record.msg)
    elif not isinstance(record.msg, _PLAIN):
        record.msg = clean(record.msg)
    if isinstance(record.args, Mapping):
        record.args = {key: clean(value) for key, value in record.args.items()}
    elif isinstance(record.args, tuple):
        record.args = tuple(clean(value) for value in record.args)
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = pattern.sub(REDACTED, logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = pattern.sub(REDACTED, record.stack_info)


def _secret_pattern(secrets: Iterable[Secret]) -> re.Pattern[str] | None:
    # Longest first, so a secret that contains another is masked whole.
    values = sorted({secret.reveal() for secret in secrets if secret.reveal()}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, values))) if values else None


__all__ = [
    "REDACTED",
    "EventDict",
    "Processor",
    "install_logging_redaction",
    "install_structlog_redaction",
    "redact_text",
    "redactor",
]
