"""Feature definitions: versions ignore key order and description, change with any value-affecting field."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import assay.features
from assay.errors import SpecError
from assay.features import AGGREGATIONS, Aggregation, FeatureDefinition, load_definitions, parse_definitions

_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
_expressions = st.builds(
    Aggregation,
    agg=st.sampled_from(AGGREGATIONS),
    column=_names,
    window_days=st.one_of(st.none(), st.integers(1, 3650)),
)
_definitions = st.builds(
    FeatureDefinition,
    name=_names, entity=_names, timestamp=_names, source=_names, expression=_expressions, description=st.text(),
)


def _reordered(data: dict[str, Any], draw: st.DataObject) -> dict[str, Any]:
    keys = draw.draw(st.permutations(list(data)))
    return {k: _reordered(data[k], draw) if isinstance(data[k], dict) else data[k] for k in keys}


@settings(max_examples=200, deadline=None)
@given(definition=_definitions, draw=st.data())
def test_version_survives_dict_round_trip_in_any_key_order(definition: FeatureDefinition, draw) -> None:
    restored = FeatureDefinition.from_dict(_reordered(definition.to_dict(), draw))
    assert restored == definition
    assert restored.version == definition.version
    assert len(definition.version) == 12


@settings(max_examples=200, deadline=None)
@given(definition=_definitions, other=_definitions,
       field=st.sampled_from(["name", "entity", "timestamp", "source", "agg", "column", "window_days"]))
def test_version_changes_when_any_value_affecting_field_changes(definition, other, field) -> None:
    if field in ("agg", "column", "window_days"):
        new_value = getattr(other.expression, field)
        changed = dataclasses.replace(definition, expression=dataclasses.replace(definition.expression,
                                                                                 **{field: new_value}))
        same = getattr(definition.expression, field) == new_value
    else:
        new_value = getattr(other, field)
        changed = dataclasses.replace(definition, **{field: new_value})
        same = getattr(definition, field) == new_value
    assert (changed.version == definition.version) == same


@settings(max_examples=100, deadline=None)
@given(definition=_definitions, description=st.text())
def test_description_does_not_change_the_version(definition: FeatureDefinition, description: str) -> None:
    assert dataclasses.replace(definition, description=description).version == definition.version


def test_version_is_pinned_for_a_known_definition() -> None:
    """Guards the canonical form: changing it would silently re-version every recorded feature."""
    definition = FeatureDefinition(name="spend_30d", entity="customer_id", timestamp="occurred_at",
                                   source="payments", expression=Aggregation(agg="sum", column="amount",
                                                                             window_days=30))
    canonical = (
        '{"entity":"customer_id","expression":{"agg":"sum","column":"amount","window_days":30},'
        '"name":"spend_30d","source":"payments","timestamp":"occurred_at"}'
    )
    assert definition.version == hashlib.sha256(canonical.encode()).hexdigest()[:12] == "fd528f164dd3"


def test_parse_definitions_reads_the_spec_mapping_sorted_by_name() -> None:
    parsed = parse_definitions({
        "spend_30d": {"entity": "customer_id", "timestamp": "occurred_at", "source": "payments",
                      "expression": {"agg": "sum", "column": "amount", "window_days": 30},
                      "description": "money spent in the last 30 days"},
        "orders": {"entity": "customer_id", "timestamp": "occurred_at", "source": "payments",
                   "expression": {"agg": "count"}},
    })
    assert [d.name for d in parsed] == ["orders", "spend_30d"]
    assert parsed[0].expression == Aggregation(agg="count")
    assert parsed[1].description == "money spent in the last 30 days"


_GOOD = {"entity": "c", "timestamp": "t", "source": "s", "expression": {"agg": "sum", "column": "x"}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**_GOOD, "window": 3}, "feature 'f': unknown fields ['window']"),
        ({k: v for k, v in _GOOD.items() if k != "entity"}, "feature 'f': missing field 'entity'"),
        ({**_GOOD, "timestamp": ""}, "feature 'f': field 'timestamp' must be a non-empty string"),
        ({**_GOOD, "source": 3}, "feature 'f': field 'source' must be a non-empty string, got 3"),
        ({k: v for k, v in _GOOD.items() if k != "expression"}, "feature 'f': missing field 'expression'"),
        ({**_GOOD, "expression": "sum(x)"}, "feature 'f': field 'expression' must be a mapping"),
        ({**_GOOD, "expression": {"agg": "median", "column": "x"}}, "feature 'f': field 'expression.agg' is 'median'"),
        ({**_GOOD, "expression": {"agg": "mean"}}, "feature 'f': field 'expression.column' is required for agg 'mean'"),
        ({**_GOOD, "expression": {"agg": "sum", "column": "x", "window_days": 0}},
         "feature 'f': field 'expression.window_days' must be a whole number of days >= 1, got 0"),
        ({**_GOOD, "expression": {"agg": "sum", "column": "x", "window_days": True}},
         "field 'expression.window_days' must be a whole number"),
        ({**_GOOD, "expression": {"agg": "sum", "column": "x", "days": 3}},
         "feature 'f': unknown fields ['expression.days']"),
        ({**_GOOD, "description": 5}, "feature 'f': field 'description' must be a string"),
        ({**_GOOD, "name": "g"}, "feature 'f': field 'name' is 'g', but the key says 'f'"),
        ("sum of x", "feature 'f': definition must be a mapping, got str"),
    ],
)
def test_parse_definitions_names_feature_and_field(body: Any, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_definitions({"f": body})
    assert message in str(caught.value)
    assert caught.value.hint


def test_from_dict_requires_a_name() -> None:
    with pytest.raises(SpecError, match="field 'name' must be a non-empty string"):
        FeatureDefinition.from_dict(_GOOD)


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("assay_test_feature_defs")]:
        del sys.modules[name]


def _write_module(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")


def test_load_definitions_from_a_list_or_a_function(module_dir: Path) -> None:
    _write_module(module_dir, "assay_test_feature_defs_ok", """
        from assay.features import Aggregation, FeatureDefinition

        def _spend(days):
            return FeatureDefinition(name=f"spend_{days}d", entity="customer_id", timestamp="occurred_at",
                                     source="payments", expression=Aggregation("sum", "amount", days))

        FEATURES = [_spend(30), _spend(7)]

        def features():
            return FEATURES
    """)
    from_list = load_definitions("assay_test_feature_defs_ok:FEATURES")
    from_function = load_definitions("assay_test_feature_defs_ok:features")
    assert [d.name for d in from_list] == ["spend_30d", "spend_7d"]
    assert from_function == from_list


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no_colon_here", "must look like 'package.module:attribute'"),
        ("assay_test_feature_defs_absent:FEATURES", "cannot import module 'assay_test_feature_defs_absent'"),
        ("assay_test_feature_defs_bad:MISSING", "has no attribute 'MISSING'"),
        ("assay_test_feature_defs_bad:NOT_A_LIST", "expected a list of FeatureDefinition, got dict"),
        ("assay_test_feature_defs_bad:WRONG_ITEMS", "items at positions [1] are not FeatureDefinition"),
        ("assay_test_feature_defs_bad:TWICE", "repeated: ['n']"),
    ],
)
def test_load_definitions_refuses_bad_references(module_dir: Path, reference: str, message: str) -> None:
    _write_module(module_dir, "assay_test_feature_defs_bad", """
        from assay.features import Aggregation, FeatureDefinition

        ONE = FeatureDefinition(name="n", entity="c", timestamp="t", source="s", expression=Aggregation("count"))
        NOT_A_LIST = {"n": ONE}
        WRONG_ITEMS = [ONE, "n"]
        TWICE = [ONE, ONE]
    """)
    with pytest.raises(SpecError) as caught:
        load_definitions(reference)
    assert message in str(caught.value)


def test_public_api_is_pinned() -> None:
    assert sorted(assay.features.__all__) == [
        "AGGREGATIONS", "Aggregation", "AggregationKind", "ComputedFeatures", "FeatureDefinition",
        "asof_join", "compute_features", "load_definitions", "parse_definitions",
    ]
