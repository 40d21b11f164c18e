"""What can stop a scoring job, each error saying what to do next."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assay.errors import AssayError


class ScoringError(AssayError, RuntimeError):
    """Base of the batch scoring errors."""

    code = "scoring-error"


class OutputConflictError(ScoringError):
    """The output location holds another job's output, or files that are not a job's output."""

    code = "score-output-conflict"

    def __init__(self, location: str, existing: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> None:
        if existing is None:
            message = f"{location} already holds files that are not a scoring job's output"
        else:
            message = (f"{location} holds the output of another job ({existing.get('job_id')}); this is job "
                       f"{wanted['job_id']}, which differs in {', '.join(_differences(existing, wanted)) or 'its identity'}")
        super().__init__(message, hint="outputs never mix: choose another --output, or delete that folder to score there afresh")
        self.location = location


def _differences(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    found = []
    old_model, new_model = existing.get("model", {}), wanted["model"]
    if old_model.get("ref") != new_model["ref"] or old_model.get("artifact_sha256") != new_model["artifact_sha256"]:
        found.append(f"the model ({old_model.get('ref')} there, {new_model['ref']} now)")
    if existing.get("input", {}).get("sha256") != wanted["input"]["sha256"]:
        found.append("the input's content")
    old_options, new_options = existing.get("options", {}), wanted["options"]
    for name in sorted(new_options):
        if old_options.get(name) != new_options[name]:
            shown = "" if name == "checks" else f" ({old_options.get(name)} there, {new_options[name]} now)"
            found.append(f"{name.replace('_', ' ')}{shown}")
    if existing.get("format") != wanted.get("format"):
        found.append("the output format (written by another Assay version)")
    return found


class ChunkFailedError(ScoringError):
    """A chunk kept failing: the job stopped; every chunk committed before stays committed."""

    code = "score-chunk-failed"

    def __init__(self, chunk: str, cause: str, *, attempts: int, committed: int, total: int | None) -> None:
        of = f" of {total}" if total is not None else ""
        super().__init__(
            f"{chunk} failed after {attempts} attempt(s): {cause}; {committed}{of} chunk(s) are committed and kept",
            hint="fix the cause, then run the same command again: it resumes and scores only the chunks not committed",
        )
        self.chunk = chunk
        self.cause = cause
        self.attempts = attempts


class EngineUnavailableError(ScoringError):
    """The engine asked for cannot run here (Ray not installed, or its cluster not reachable)."""

    code = "score-engine"


__all__ = ["ChunkFailedError", "EngineUnavailableError", "OutputConflictError", "ScoringError"]
