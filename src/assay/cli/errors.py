"""The one table from errors to exit codes, and how an error is shown to a person."""

from __future__ import annotations

from assay.batch.errors import ScoringError
from assay.monitoring.errors import MonitoringError
from assay.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    AssayError,
    BudgetExceededError,
    DataError,
    GatesFailedError,
    LeakageError,
    NotFoundError,
    RegistryError,
    ReproductionError,
    SpecError,
    StoreError,
    TrainingError,
)
from assay.project.approvals import ApprovalError, ApprovalRequiredError
from assay.security.identity import PermissionDeniedError
from assay.security.keys import AuthError
from assay.security.redaction import redact_text

# Most specific first: the first matching class decides.
EXIT_CODES: tuple[tuple[type[AssayError], int], ...] = (
    (SpecError, 3),
    (LeakageError, 10),
    (DataError, 4),
    (NotFoundError, 5),
    (ArtifactIntegrityError, 6),
    (ArtifactError, 6),
    (StoreError, 7),
    (RegistryError, 7),
    (TrainingError, 8),
    (ReproductionError, 9),
    (GatesFailedError, 11),
    (ScoringError, 12),
    (MonitoringError, 13),
    (BudgetExceededError, 14),
    (PermissionDeniedError, 15),
    (AuthError, 15),
    (ApprovalRequiredError, 15),
    (ApprovalError, 15),
)
EXIT_FAILED = 1  # the command ran and its verdict is "no" (e.g. reproduce found a difference)
EXIT_USAGE = 2
EXIT_INTERNAL = 70


def exit_code_for(error: AssayError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(error, cls):
            return code
    return 1


def format_error(error: AssayError) -> str:
    """The one line a person sees; any secret resolved in this process is masked in it."""
    return redact_text(f"error [{error.code}]: {error}")


__all__ = ["EXIT_CODES", "EXIT_FAILED", "EXIT_INTERNAL", "EXIT_USAGE", "exit_code_for", "format_error"]
