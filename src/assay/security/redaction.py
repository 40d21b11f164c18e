"""Keeping PII and secrets out of logs: a structlog processor and a text redactor.

Put the processor last before the renderer (after `format_exc_info`), so tracebacks and
formatted messages are redacted too:

    structlog.configure(processors=[..., structlog.processors.format_exc_info,
                                    redactor(spec_pii_columns, [db_url, token_key]),
                                    structlog.processors.JSONRenderer()])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

from assay.security.secrets import Secret

REDACTED = "***"

EventDict = MutableMapping[str, Any]
Processor = Callable[[Any, str, EventDict], EventDict]

_PLAIN = (int, float, bool, type(None), bytes)


def redact_text(text: str, secrets: Iterable[Secret]) -> str:
    """`text` with every occurrence of any secret's value replaced by `***`."""
    pattern = _secret_pattern(secrets)
    return text if pattern is None else pattern.sub(REDACTED, text)


def redactor(pii_fields: Iterable[str], secrets: Iterable[Secret]) -> Processor:
    """A structlog processor that masks PII and secrets in each event.

    The value under any key named in `pii_fields` (case-insensitive, at any depth of nested dicts,
    lists, tuples and sets) becomes `***`, whatever it is. Every occurrence of a secret's value inside
    a string (keys included) becomes `***`; so does any other object whose `str()` contains one.
    The event's nested containers are copied, never changed in place.
    """
    return _Redactor(frozenset(field.casefold() for field in pii_fields), _secret_pattern(secrets))


class _Redactor:
    __slots__ = ("_pii", "_pattern")

    def __init__(self, pii: frozenset[str], pattern: re.Pattern[str] | None) -> None:
        self._pii = pii
        self._pattern = pattern

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        return {self._text(key): self._field(key, value, set()) for key, value in event_dict.items()}

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


def _secret_pattern(secrets: Iterable[Secret]) -> re.Pattern[str] | None:
    # Longest first, so a secret that contains another is masked whole.
    values = sorted({secret.reveal() for secret in secrets if secret.reveal()}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, values))) if values else None


__all__ = ["REDACTED", "EventDict", "Processor", "redact_text", "redactor"]
