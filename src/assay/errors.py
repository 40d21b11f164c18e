"""The one exception hierarchy. Every error says what failed and what to do next."""

from __future__ import annotations


class AssayError(Exception):
    """Root of every error assay raises on purpose."""

    code: str = "assay-error"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        return f"{text}\n  hint: {self.hint}" if self.hint else text


# --- spec -------------------------------------------------------------------


class SpecError(AssayError, ValueError):
    """The project spec (assay.yaml) is missing, unreadable or invalid."""

    code = "spec-invalid"


class SpecNotFoundError(SpecError, FileNotFoundError):
    code = "spec-not-found"


# --- data -------------------------------------------------------------------


class DataError(AssayError, ValueError):
    """A data source cannot be read or does not have what the spec needs."""

    code = "data-error"


class DataSourceError(DataError):
    """The file is missing, empty or malformed."""

    code = "data-source"


class DataCheckError(DataError):
    """Data failed validation checks whose policy is to fail."""

    code = "data-check-failed"


class LeakageError(AssayError, ValueError):
    code = "leakage"


# --- training / evaluation --------------------------------------------------


class TrainingError(AssayError, RuntimeError):
    code = "training-failed"


class FlavorError(TrainingError):
    """A model flavor is unknown, not installed or misconfigured."""

    code = "flavor"


class GatesFailedError(AssayError):
    """A trained model failed the evaluation gates its spec declares; it is recorded as rejected."""

    code = "gates-failed"

    def __init__(self, message: str, *, hint: str = "", model_ref: str = "", gates: tuple[dict, ...] = ()) -> None:
        super().__init__(message, hint=hint)
        self.model_ref = model_ref
        self.gates = gates  # every gate: {"gate", "value", "threshold", "passed", "detail"}


class BudgetExceededError(AssayError, RuntimeError):
    """A run or a scoring job used more than a budget the spec declares with `on_breach: fail`."""

    code = "budget-exceeded"


class ReproductionError(AssayError, RuntimeError):
    """A model could not be reproduced from its recorded lineage."""

    code = "reproduce-failed"


# --- registry / stores ------------------------------------------------------


class RegistryError(AssayError):
    code = "registry-error"


class NotFoundError(RegistryError, LookupError):
    """A dataset version, run, model or alias does not exist."""

    code = "not-found"

    def __init__(self, kind: str, ref: str, *, hint: str = "") -> None:
        super().__init__(f"{kind} {ref!r} not found", hint=hint or f"run `assay {kind}s list` to see what exists")
        self.kind = kind
        self.ref = ref


class VersionConflictError(RegistryError):
    code = "version-conflict"


class StoreError(RegistryError):
    """The metadata store cannot be reached or is not migrated."""

    code = "store-error"


class ArtifactError(AssayError):
    code = "artifact-error"


class ArtifactNotFoundError(ArtifactError, LookupError):
    code = "artifact-not-found"


class ArtifactIntegrityError(ArtifactError):
    """An artifact's bytes no longer hash to its address: tampered or corrupted."""

    code = "artifact-tampered"


__all__ = [
    "ArtifactError",
    "ArtifactIntegrityError",
    "ArtifactNotFoundError",
    "AssayError",
    "DataCheckError",
    "DataError",
    "DataSourceError",
    "FlavorError",
    "GatesFailedError",
    "LeakageError",
    "NotFoundError",
    "RegistryError",
    "ReproductionError",
    "SpecError",
    "SpecNotFoundError",
    "StoreError",
    "TrainingError",
    "VersionConflictError",
]
