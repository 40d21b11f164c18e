"""How long-running library steps tell a caller what they are doing (the CLI draws progress)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Reporter(Protocol):
    def stage(self, name: str) -> AbstractContextManager[None]:
        """Wrap one named step (ingest, split, train, ...)."""

    def note(self, message: str) -> None:
        """Something the user should see (a warning, a decision taken)."""


class NullReporter:
    """Reports nothing: the default for library calls."""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        yield

    def note(self, message: str) -> None:
        return None


class ListReporter:
    """Collects what was reported (for tests and for callers that log it themselves)."""

    def __init__(self) -> None:
        self.events: list[str] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.events.append(f"start {name}")
        yield
        self.events.append(f"done {name}")

    def note(self, message: str) -> None:
        self.events.append(message)


__all__ = ["ListReporter", "NullReporter", "Reporter"]
