"""The `features:` / `features_from` / `data.events` sections: parsed, cross-checked, errors with lines."""

from __future__ import annotations

import json

import pytest

from assay.errors import SpecError
from assay.features import parse_definitions
from assay.spec import parse_spec, spec_json_schema

SOURCE = "shop/assay.yaml"

# Line numbers below are 1-based and refer to this text.
SPEC = """\
version: 1
project: shop
data:
  source: spine.csv
  target: churned
  time: as_of
  events:
    payments: events/payments.csv
model:
  name: churn
  estimator: sklearn.linear_model.LogisticRegression
features:
  spend_30d:
    source: payments
    entity: customer_id
    timestamp: occurred_at
    expression:
      agg: sum
      column: amount
      window_days: 30
    description: Money spent in the 30 days before the row's time.
  payments_ever:
    source: payments
    entity: customer_id
    timestamp: occurred_at
    expression: {agg: count}
"""

SCHEMA = """\
  schema:
    columns:
      as_of: {type: datetime}
      churned: {type: int}
      customer_id: {type: int}
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, source=SOURCE)
    return [line for line in str(info.value).splitlines() if line.startswith(f"{SOURCE}:")]


def _line_no(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_a_features_section_parses_into_the_library_definitions() -> None:
    spec = parse_spec(SPEC)
    assert spec.data.events == {"payments": "events/payments.csv"}
    assert spec.spine_time == "as_of"
    definitions = parse_definitions({n: f.model_dump(exclude_none=True) for n, f in spec.features.items()})
    assert [d.name for d in definitions] == ["payments_ever", "spend_30d"]
    spend = definitions[1]
    assert (spend.expression.agg, spend.expression.column, spend.expression.window_days) == ("sum", "amount", 30)
    # The version is the library's: written in the spec or in code, the same definition has the same version.
    direct = parse_definitions({"spend_30d": {"entity": "customer_id", "timestamp": "occurred_at", "source": "payments",
                                              "expression": {"window_days": 30, "column": "amount", "agg": "sum"}}})
    assert spend.version == direct[0].version


def test_prediction_time_is_the_spine_time_when_set() -> None:
    spec = parse_spec(SPEC + "leakage:\n  prediction_time: decided_at\n")
    assert spec.spine_time == "decided_at"


def test_an_unknown_aggregation_points_at_its_line() -> None:
    text = SPEC.replace("agg: sum", "agg: median")
    [problem] = _problems(text)
    assert problem.startswith(f"{SOURCE}:{_line_no(text, 'agg: median')}: features.spend_30d.expression.agg:")
    assert "'median'" in problem and "'sum'" in problem


@pytest.mark.parametrize(
    ("old", "new", "needle", "field", "words"),
    [
        ("      column: amount\n", "", "agg: sum", "features.spend_30d.expression.column", "needs a column"),
        ("window_days: 30", "window_days: 0", "window_days: 0", "features.spend_30d.expression.window_days", "greater than or equal to 1"),
        ("window_days: 30", "window_days: true", "window_days: true", "features.spend_30d.expression.window_days", "integer"),
        ("    entity: customer_id\n    timestamp: occurred_at\n    expression: {agg: count}",
         "    entity: customer_id\n    expression: {agg: count}", "payments_ever:", "features.payments_ever.timestamp", "missing"),
        ("expression: {agg: count}", "expression: {agg: count, days: 3}", "count, days: 3", "features.payments_ever.expression.days", "unknown field"),
        ("  payments_ever:\n    source: payments", "  payments_ever:\n    source: orders", "source: orders",
         "features.payments_ever.source", "not in data.events (payments)"),
        ("  spend_30d:\n    source: payments", "  spend_30d:\n    name: spend\n    source: payments", "name: spend",
         "features.spend_30d.name", "key says 'spend_30d'"),
        ("  payments_ever:", "  payments.ever:", "features:", "features.payments.ever",
         "must start with a letter or '_'"),
        ("payments: events/payments.csv", "payments: events/payments.json", "payments.json", "data.events.payments",
         "ending in .csv"),
    ],
)
def test_feature_mistakes_name_the_field_and_line(old: str, new: str, needle: str, field: str, words: str) -> None:
    assert old in SPEC
    text = SPEC.replace(old, new)
    problems = _problems(text)
    # A missing field, or a key, points at the first line of the mapping that lacks or holds it.
    line = _line_no(text, needle) + (1 if needle.endswith(":") else 0)
    assert any(p.startswith(f"{SOURCE}:{line}: {field}") and words in p for p in problems), problems


def test_features_need_a_time_column() -> None:
    text = SPEC.replace("  time: as_of\n", "")
    [problem] = _problems(text)
    assert problem.startswith(f"{SOURCE}:{_line_no(text, 'spend_30d:')}: features:")
    assert "set data.time" in problem


def test_features_from_alone_needs_a_time_column_and_a_reference() -> None:
    base = SPEC.split("features:\n")[0]
    assert parse_spec(base + "features_from: shop_features:FEATURES\n").features_from == "shop_features:FEATURES"
    [problem] = _problems(base.replace("  time: as_of\n", "") + "features_from: shop_features:FEATURES\n")
    assert ": features_from:" in problem and "set data.time" in problem
    [problem] = _problems(base + "features_from: shop_features.FEATURES\n")
    assert "must look like 'module:attribute'" in problem


def test_with_a_schema_the_entity_must_be_a_data_column() -> None:
    text = SPEC.replace("  events:\n", SCHEMA + "  events:\n")
    assert parse_spec(text).features
    broken = text.replace("      customer_id: {type: int}\n", "      customer: {type: int}\n")
    problems = _problems(broken)
    line = _line_no(broken, "entity: customer_id")
    assert any(p.startswith(f"{SOURCE}:{line}: features.spend_30d.entity:") and "not in data.schema.columns" in p
               for p in problems), problems


def test_a_feature_name_may_not_be_a_data_column() -> None:
    text = SPEC.replace("  events:\n", SCHEMA + "  events:\n").replace("  spend_30d:", "  customer_id:")
    [problem] = _problems(text)
    assert ": features.customer_id:" in problem and "also a column of the data" in problem
    [problem] = _problems(SPEC.replace("  spend_30d:", "  churned:"))
    assert "'churned' is also a column of the data" in problem


def test_the_entity_may_not_be_pii() -> None:
    [problem] = _problems(SPEC.replace("  events:\n", "  pii: [customer_id]\n  events:\n"))
    assert "features.spend_30d.entity" in problem and "pii" in problem


def test_json_schema_describes_the_feature_sections() -> None:
    schema = json.loads(spec_json_schema())
    feature = schema["$defs"]["FeatureSpec"]
    assert set(feature["properties"]) == {"name", "source", "entity", "timestamp", "expression", "description"}
    assert schema["$defs"]["FeatureExpression"]["properties"]["agg"]["enum"] == ["sum", "mean", "count", "max", "min", "last"]
    assert "events" in schema["$defs"]["DataSpec"]["properties"]
    for name in ("FeatureSpec", "FeatureExpression"):
        assert all(p.get("description") for p in schema["$defs"][name]["properties"].values()), name
