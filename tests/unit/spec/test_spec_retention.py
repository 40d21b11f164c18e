"""The `retention:` section: nothing is deleted unless declared, and a bad value names its field."""

from __future__ import annotations

import pytest

from assay.errors import SpecError
from assay.spec.loader import parse_spec

_BASE = """\
project: p
data: {source: d.csv, target: y}
model: {name: m, estimator: x.Y}
"""


def test_retention_defaults_keep_everything() -> None:
    retention = parse_spec(_BASE).retention
    assert retention.prediction_logs is None and retention.labels is None and retention.quarantine is None
    assert retention.snapshots.keep_last is None and retention.snapshots.max_age is None
    assert not retention.snapshots.is_set and retention.snapshots.include_archived_models is False


def test_retention_policies_are_read() -> None:
    spec = parse_spec(_BASE + "retention:\n  prediction_logs: 90d\n  quarantine: 26w\n"
                              "  snapshots: {keep_last: 3, max_age: 365d}\n")
    assert spec.retention.prediction_logs == "90d" and spec.retention.quarantine == "26w"
    assert spec.retention.snapshots.keep_last == 3 and spec.retention.snapshots.is_set


@pytest.mark.parametrize(("text", "field"), [
    ("retention:\n  prediction_logs: 90 days\n", "retention.prediction_logs"),
    ("retention:\n  snapshots: {keep_last: 0}\n", "retention.snapshots.keep_last"),
    ("retention:\n  snapshot: {keep_last: 2}\n", "retention.snapshot"),
])
def test_a_bad_retention_value_names_its_field(text: str, field: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(_BASE + text)
    assert field in str(raised.value)
