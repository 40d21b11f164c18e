"""Spec model rules that do not need YAML: feature selection and derived properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.spec import DataSpec, Spec

_COLUMNS = ["a", "b", "c", "d", "e", "f", "g", "h"]


def _spec(data: dict[str, Any], features: dict[str, Any] | None = None) -> Spec:
    return Spec.model_validate(
        {
            "project": "p",
            "data": {"source": "d.csv", **data},
            "model": {"name": "m", "estimator": "x.Y", "features": features or {}},
        }
    )


@st.composite
def _roles(draw: st.DrawFn) -> tuple[Spec, list[str]]:
    available = draw(st.permutations(_COLUMNS))
    target = draw(st.sampled_from(_COLUMNS))
    others = st.sampled_from([c for c in _COLUMNS if c != target])
    roles = {
        "target": target,
        "time": draw(st.none() | others),
        "entity": draw(st.none() | others),
        "id": draw(st.none() | others),
    }
    not_roles = [c for c in _COLUMNS if c not in roles.values()]  # a role column cannot be PII
    data = {
        **roles,
        "pii": draw(st.lists(st.sampled_from(not_roles), unique=True, max_size=3)) if not_roles else [],
        "sensitive": draw(st.lists(st.sampled_from(_COLUMNS), unique=True, max_size=3)),
    }
    features = {
        "include": draw(st.none() | st.lists(st.sampled_from(_COLUMNS), unique=True)),
        "exclude": draw(st.lists(st.sampled_from(_COLUMNS), unique=True, max_size=3)),
    }
    return _spec(data, features), list(available)


@settings(max_examples=200, deadline=None)
@given(case=_roles())
def test_feature_columns_never_include_role_pii_or_sensitive_columns(case: tuple[Spec, list[str]]) -> None:
    spec, available = case
    data = spec.data
    chosen = spec.feature_columns(available)
    assert chosen == [c for c in available if c in chosen]  # data order, no duplicates
    assert len(set(chosen)) == len(chosen)
    assert data.target not in chosen
    assert data.id not in chosen
    assert not set(data.pii) & set(chosen)
    if spec.model.features.include is None:
        never = {data.entity, data.time, *data.sensitive, *spec.model.features.exclude}
        assert not never & set(chosen)
    else:
        assert set(chosen) <= set(spec.model.features.include)


def test_feature_columns_default_is_every_eligible_column_in_data_order() -> None:
    spec = _spec(
        {"target": "y", "time": "t", "entity": "e", "id": "i", "pii": ["email"], "sensitive": ["sex"]},
        {"exclude": ["noise"]},
    )
    available = ["i", "x2", "t", "email", "x1", "e", "sex", "noise", "y"]
    assert spec.feature_columns(available) == ["x2", "x1"]


def test_feature_columns_include_keeps_order_of_the_data_and_drops_target_id_pii() -> None:
    spec = _spec(
        {"target": "y", "time": "t", "id": "i", "pii": ["email"]},
        {"include": ["x1", "t", "email", "y", "i", "absent"]},
    )
    assert spec.feature_columns(["y", "t", "x1", "i", "email", "x2"]) == ["t", "x1"]


def test_feature_columns_exclude_wins_over_include() -> None:
    spec = _spec({"target": "y"}, {"include": ["a", "b"], "exclude": ["b"]})
    assert spec.feature_columns(["a", "b", "y"]) == ["a"]


def test_feature_columns_include_never_returns_sensitive_columns() -> None:
    spec = _spec({"target": "y", "sensitive": ["sex"]}, {"include": ["a", "sex"]})
    assert spec.feature_columns(["a", "sex", "y"]) == ["a"]


def test_fractions_must_leave_room_for_training() -> None:
    with pytest.raises(ValueError, match="at least 10% for training"):
        Spec.model_validate(
            {
                "project": "p",
                "data": {"source": "d.csv", "target": "y"},
                "split": {"test_fraction": 0.5, "validation_fraction": 0.4},
                "model": {"name": "m", "estimator": "x.Y"},
            }
        )


def test_spec_is_frozen() -> None:
    spec = _spec({"target": "y"})
    with pytest.raises(ValueError):
        spec.seed = 1  # type: ignore[misc]


def test_a_role_column_cannot_be_pii() -> None:
    with pytest.raises(ValueError, match="pseudonymous key"):
        DataSpec(source="d.csv", target="y", entity="email", pii=["email"])
