"""What can stop a monitoring command, each error saying what to do next."""

from __future__ import annotations

from assay.errors import AssayError


class MonitoringError(AssayError, RuntimeError):
    """Base of the monitoring errors: a monitoring command could not reach a verdict."""

    code = "monitoring-error"


__all__ = ["MonitoringError"]
