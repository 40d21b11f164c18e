"""What can stop a monitoring command, each error saying what to do next."""

from __future__ import annotations

from assay.errors import AssayError


class MonitoringError(AssayError, RuntimeError):
    """Base of the monitoring errors: a monitoring command could not reach a verdict."""

    code = "monitoring-error"


class MonitoringSourceError(MonitoringError, ValueError):
    """The data to monitor cannot be used as asked: it holds none of the model's inputs, the
    window is empty or inverted, or the options name two sources at once."""

    code = "monitoring-source"


__all__ = ["MonitoringError", "MonitoringSourceError"]
