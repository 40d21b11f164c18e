"""assay.yaml loading: every error names file, line and field; valid specs survive dump and load."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import assay.spec
from assay.errors import SpecError, SpecNotFoundError
from assay.spec import Spec, dump_spec, load_spec, parse_spec, spec_json_schema, spec_sha256
from assay.spec.model import CLASSIFICATION_METRICS, REGRESSION_METRICS

EXAMPLE = Path(__file__).parents[3] / "examples" / "credit" / "assay.yaml"
SOURCE = "proj/assay.yaml"

# Line numbers below are 1-based and refer to this text.
BASE = """\
version: 1
project: demo
data:
  source: data.csv
  target: y
model:
  name: m
  estimator: sklearn.linear_model.LogisticRegression
"""


def _error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(text, source=SOURCE)
    return str(info.value)


def _problem_lines(message: str) -> list[str]:
    return [line for line in message.splitlines() if line.startswith(f"{SOURCE}:")]


def _line_no(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_public_surface_is_pinned() -> None:
    assert sorted(assay.spec.__all__) == sorted(
        [
            "SPEC_FILENAME",
            "ColumnSchema",
            "DataSchema",
            "DataSpec",
            "DriftSpec",
            "EvaluationSpec",
            "FeatureSelection",
            "LeakageSpec",
            "ModelSpec",
            "Spec",
            "SplitSpec",
            "Waiver",
            "dump_spec",
            "load_spec",
            "parse_spec",
            "spec_json_schema",
            "spec_sha256",
        ]
    )


def test_minimal_spec_parses_with_defaults() -> None:
    spec = parse_spec(BASE)
    assert spec.project == "demo"
    assert spec.seed == 42
    assert spec.split.strategy == "random"
    assert spec.metrics == CLASSIFICATION_METRICS
    assert spec.primary_metric == "roc_auc"
    assert spec.dataset_name == "demo"


def test_unknown_field_is_reported_at_its_line() -> None:
    text = BASE.replace("  target: y\n", "  target: y\n  tagret: z\n")
    message = _error(text)
    assert f"{SOURCE}:6: data.tagret: unknown field" in message
    assert "1 problem" in message


def test_missing_required_field_names_the_field_and_its_block() -> None:
    message = _error(BASE.replace("  target: y\n", ""))
    (problem,) = _problem_lines(message)
    line = int(problem.split(":")[1])
    assert line in (3, 4)  # the `data:` key or the first line of its block
    assert "data.target: required field is missing" in problem


def test_missing_top_level_section_is_reported() -> None:
    text = "version: 1\nproject: demo\ndata:\n  source: d.csv\n  target: y\n"
    message = _error(text)
    assert "model: required field is missing" in message


def test_bad_literal_names_the_value_and_the_choices() -> None:
    text = BASE + "split:\n  strategy: weekly\n"
    message = _error(text)
    (problem,) = _problem_lines(message)
    assert problem.startswith(f"{SOURCE}:{_line_no(text, 'strategy')}: split.strategy:")
    assert "'weekly'" in problem
    for choice in ("time", "group", "random", "stratified"):
        assert repr(choice) in problem


def test_wrong_type_is_reported_at_its_line() -> None:
    text = BASE.replace("project: demo\n", "project: demo\nseed: abc\n")
    message = _error(text)
    assert f"{SOURCE}:3: seed:" in message
    assert "integer" in message


def test_out_of_range_value_is_reported() -> None:
    text = BASE + "split:\n  test_fraction: 1.5\n"
    message = _error(text)
    assert f"{SOURCE}:{_line_no(text, 'test_fraction')}: split.test_fraction:" in message


@pytest.mark.parametrize(
    ("extra", "field", "needle", "explains"),
    [
        ("split:\n  strategy: time\n", "split.strategy", "strategy:", ["'time'", "data.time"]),
        ("split:\n  strategy: group\n", "split.strategy", "strategy:", ["'group'", "data.entity"]),
        ("evaluation:\n  metrics: [rmse]\n", "evaluation.metrics", "metrics:", ["'rmse'", "classification", "roc_auc"]),
        ("evaluation:\n  primary: mae\n", "evaluation.primary", "primary:", ["'mae'", "classification"]),
    ],
    ids=["time-without-data.time", "group-without-entity", "metric-for-other-task", "primary-for-other-task"],
)
def test_cross_field_error_points_at_the_offending_field(
    extra: str, field: str, needle: str, explains: list[str]
) -> None:
    text = BASE + extra
    (problem,) = _problem_lines(_error(text))
    assert problem.startswith(f"{SOURCE}:{_line_no(text, needle)}: {field}:")
    for words in explains:
        assert words in problem


def test_valid_metric_choice_is_accepted() -> None:
    spec = parse_spec(BASE + "evaluation:\n  metrics: [accuracy, f1]\n  primary: accuracy\n")
    assert spec.metrics == ("accuracy", "f1")
    assert spec.primary_metric == "accuracy"


def test_stratified_split_is_refused_for_regression() -> None:
    text = BASE.replace("  name: m\n", "  name: m\n  task: regression\n") + "split:\n  strategy: stratified\n"
    (problem,) = _problem_lines(_error(text))
    assert problem.startswith(f"{SOURCE}:{_line_no(text, 'strategy:')}: split.strategy:")
    assert "classification only" in problem


def test_regression_metrics_are_valid_for_regression() -> None:
    regression = BASE.replace("  name: m\n", "  name: m\n  task: regression\n")
    spec = parse_spec(regression + "evaluation:\n  metrics: [rmse, mae]\n  primary: mae\n")
    assert spec.metrics == ("mae", "rmse")  # the primary always comes first
    assert spec.primary_metric == "mae"
    assert parse_spec(regression).metrics == REGRESSION_METRICS
    assert parse_spec(regression).primary_metric == "rmse"


def test_primary_metric_is_computed_even_when_not_listed() -> None:
    spec = parse_spec(BASE + "evaluation:\n  metrics: [accuracy]\n")
    assert spec.metrics == ("roc_auc", "accuracy")


def test_empty_metric_list_is_refused() -> None:
    assert "evaluation.metrics" in _error(BASE + "evaluation:\n  metrics: []\n")


def test_sklearn_flavor_refuses_both_estimator_and_factory() -> None:
    message = _error(BASE + "  factory: mymodule:build\n")
    (problem,) = _problem_lines(message)
    assert problem.startswith(f"{SOURCE}:8: model.estimator:")
    assert "exactly one of 'estimator' or 'factory'" in problem


def test_sklearn_flavor_needs_estimator_or_factory() -> None:
    text = BASE.replace("  estimator: sklearn.linear_model.LogisticRegression\n", "")
    assert "exactly one of 'estimator' or 'factory'" in _error(text)


def test_factory_must_name_module_and_function() -> None:
    text = BASE.replace("  estimator: sklearn.linear_model.LogisticRegression\n", "  factory: mymodule.build\n")
    assert "must look like 'module:function'" in _error(text)


def test_estimator_is_refused_for_non_sklearn_flavors() -> None:
    text = BASE.replace("  name: m\n", "  name: m\n  flavor: lightgbm\n")
    assert "apply to the sklearn flavor, not lightgbm" in _error(text)


@pytest.mark.parametrize("name", ["Credit", "bad name", "-lead", "x" * 65, ""])
def test_invalid_model_name_is_refused(name: str) -> None:
    text = BASE.replace("  name: m\n", f"  name: {json.dumps(name)}\n")
    message = _error(text)
    assert f"{SOURCE}:7: model.name:" in message
    assert "not a valid model name" in message


@pytest.mark.parametrize("role", ["time", "entity", "id"])
def test_target_cannot_also_be_a_role_column(role: str) -> None:
    text = BASE.replace("  target: y\n", f"  target: y\n  {role}: y\n")
    message = _error(text)
    assert f"{SOURCE}:5: data.target:" in message
    assert "target 'y' cannot also be the time, entity or id column" in message


def test_role_column_must_be_in_the_declared_schema() -> None:
    text = BASE.replace(
        "  target: y\n",
        "  target: y\n  time: when\n  schema:\n    columns:\n      y: {type: int}\n",
    )
    assert "time column 'when' is not in schema.columns" in _error(text)


def test_column_schema_rules() -> None:
    def with_column(body: str) -> str:
        return BASE.replace("  target: y\n", f"  target: y\n  schema:\n    columns:\n      y: {body}\n")

    message = _error(with_column("{type: float, min: 2, max: 1}"))
    assert f"{SOURCE}:8: data.schema.columns.y" in message
    assert "min (2.0) is greater than max (1.0)" in message
    assert "'allowed' applies to category, string, int and bool columns, not float" in _error(
        with_column("{type: float, allowed: [a]}")
    )
    assert "'min'/'max' apply to int/float columns, not string" in _error(with_column("{type: string, min: 0}"))


def test_yaml_syntax_error_names_the_line() -> None:
    text = BASE + "split: [random\n"
    message = _error(text)
    assert re.match(rf"{re.escape(SOURCE)}:\d+: not valid YAML", message)
    assert "hint:" in message


def test_yaml_syntax_error_bad_indentation() -> None:
    text = "version: 1\nproject: demo\ndata:\n  source: d.csv\n   target: y\n"
    message = _error(text)
    assert message.startswith(f"{SOURCE}:5: not valid YAML")


def test_duplicate_top_level_key_is_refused_with_both_lines() -> None:
    text = BASE + "seed: 1\nseed: 2\n"
    message = _error(text)
    assert message.startswith(f"{SOURCE}:10: not valid YAML")
    assert "duplicate key 'seed' (first at line 9)" in message


def test_duplicate_nested_key_is_refused_with_both_lines() -> None:
    text = BASE.replace("  target: y\n", "  target: y\n  target: z\n")
    message = _error(text)
    assert message.startswith(f"{SOURCE}:6: not valid YAML")
    assert "duplicate key 'target' (first at line 5)" in message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file_is_refused_with_a_hint(text: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text, source=SOURCE)
    assert info.value.message == f"{SOURCE} is empty"
    assert "assay init" in info.value.hint


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("just text\n", "str"), ("3\n", "int")])
def test_non_mapping_top_level_is_refused(text: str, kind: str) -> None:
    message = _error(text)
    assert message == f"{SOURCE}:1: the spec must be a mapping of fields, got {kind}"


def test_several_problems_are_reported_together_sorted_by_line() -> None:
    text = (
        BASE.replace("project: demo\n", "project: demo\nseed: -1\n").replace(
            "  target: y\n", "  target: y\n  tagret: z\n"
        )
        + "split:\n  strategy: weekly\n"
    )
    message = _error(text)
    assert message.splitlines()[0] == f"{SOURCE} has 3 problems:"
    problems = _problem_lines(message)
    assert len(problems) == 3
    lines = [int(p.split(":")[1]) for p in problems]
    assert lines == sorted(lines) == [3, 7, 12]
    assert "seed:" in problems[0]
    assert "data.tagret:" in problems[1]
    assert "split.strategy:" in problems[2]


def test_load_spec_reads_a_folder_or_a_file(tmp_path: Path) -> None:
    (tmp_path / "assay.yaml").write_text(BASE, encoding="utf-8")
    assert load_spec(tmp_path) == load_spec(tmp_path / "assay.yaml") == parse_spec(BASE)


def test_load_spec_errors_name_the_real_path(tmp_path: Path) -> None:
    path = tmp_path / "assay.yaml"
    path.write_text(BASE + "bogus: 1\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path)
    assert f"{path}:9: bogus: unknown field" in str(info.value)


def test_missing_spec_raises_not_found_with_hint(tmp_path: Path) -> None:
    assert issubclass(SpecNotFoundError, FileNotFoundError)
    with pytest.raises(SpecNotFoundError) as info:
        load_spec(tmp_path)
    assert str(tmp_path / "assay.yaml") in info.value.message
    assert "assay init" in info.value.hint
    assert info.value.code == "spec-not-found"


def test_non_utf8_spec_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "assay.yaml"
    path.write_bytes(b"project: \xff\xfe\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(path)


def test_example_spec_loads_and_round_trips() -> None:
    spec = load_spec(EXAMPLE)
    assert spec.split.strategy == "time"
    assert parse_spec(dump_spec(spec)) == spec


def test_spec_sha256_is_of_the_text() -> None:
    assert spec_sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# --- JSON Schema ------------------------------------------------------------


def test_json_schema_is_valid_json_with_top_level_properties() -> None:
    schema = json.loads(spec_json_schema())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == {
        "version", "project", "seed", "data", "split", "model", "evaluation", "leakage", "serving", "monitoring",
        "budgets", "retention", "access", "approvals", "features",
        "features_from"
    }
    assert set(schema["required"]) == {"project", "data", "model"}
    assert schema.get("additionalProperties") is False


def test_json_schema_validates_the_example_and_refuses_a_typo() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(spec_json_schema())
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert list(validator.iter_errors(document)) == []
    document["data"]["tagret"] = "x"
    assert list(validator.iter_errors(document))


def test_json_schema_is_deterministic() -> None:
    assert spec_json_schema() == spec_json_schema()


# --- dump/parse round trip --------------------------------------------------

_NAMES = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True)
_COLUMNS = ["a", "b", "c", "d", "e", "f", "g", "when", "who", "key"]
# U+0085 (NEL) is left out here: see test_next_line_character_survives_dump_and_parse.
_CHARS = st.characters(exclude_characters="\x85", exclude_categories=["Cs"])
_TEXT = st.text(_CHARS, max_size=20)
_JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
)
_PARAM_VALUE = st.recursive(
    _JSON_LEAF,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_TEXT, children, max_size=3),
    max_leaves=6,
)


@st.composite
def _column_schema(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["int", "float", "bool", "string", "category", "date", "datetime"]))
    column: dict[str, Any] = {"type": kind, "nullable": draw(st.booleans()), "unique": draw(st.booleans())}
    if kind in ("int", "float") and draw(st.booleans()):
        low = draw(st.floats(-1e6, 1e6, allow_nan=False))
        column["min"] = low
        column["max"] = draw(st.floats(low, 2e6, allow_nan=False))
    if kind in ("category", "string") and draw(st.booleans()):
        column["allowed"] = draw(st.lists(_TEXT, max_size=4))
    if draw(st.booleans()):
        column["description"] = draw(_TEXT)
    return column


@st.composite
def valid_spec(draw: st.DrawFn) -> Spec:
    columns = draw(st.permutations(_COLUMNS))
    target, rest = columns[0], list(columns[1:])
    time = draw(st.none() | st.just(rest[0]))
    entity = draw(st.none() | st.just(rest[1]))
    row_id = draw(st.none() | st.just(rest[2]))
    pii = draw(st.lists(st.sampled_from(rest[3:]), unique=True, max_size=2))
    sensitive = draw(st.lists(st.sampled_from(rest[3:]), unique=True, max_size=2))
    data: dict[str, Any] = {
        "source": draw(st.text(_CHARS, min_size=1, max_size=30)),
        "format": draw(st.sampled_from(["auto", "csv", "parquet"])),
        "name": draw(st.none() | _NAMES),
        "target": target,
        "time": time,
        "entity": entity,
        "id": row_id,
        "pii": pii,
        "sensitive": sensitive,
    }
    if draw(st.booleans()):
        declared = {name: draw(_column_schema()) for name in columns}
        schema: dict[str, Any] = {"columns": declared, "min_rows": draw(st.none() | st.integers(0, 10**6))}
        schema["max_rows"] = draw(st.none() | st.integers(max(1, schema["min_rows"] or 1), 10**9))
        data["schema"] = schema
    task = draw(st.sampled_from(["classification", "regression"]))
    strategies = ["random"] + (["time"] if time else []) + (["group"] if entity else [])
    strategies += ["stratified"] if task == "classification" else []
    test_fraction = draw(st.floats(0.01, 0.5))
    split = {
        "strategy": draw(st.sampled_from(strategies)),
        "test_fraction": test_fraction,
        "validation_fraction": draw(st.floats(0.0, 0.85 - test_fraction)),
        "gap_days": draw(st.integers(0, 400)),
    }
    flavor = draw(st.sampled_from(["sklearn", "lightgbm", "xgboost"]))
    model: dict[str, Any] = {
        "name": draw(_NAMES),
        "task": task,
        "flavor": flavor,
        "params": draw(st.dictionaries(_TEXT, _PARAM_VALUE, max_size=4)),
        "preprocessing": draw(st.sampled_from(["auto", "none"])),
        "features": {
            "include": draw(st.none() | st.lists(st.sampled_from(_COLUMNS), unique=True)),
            "exclude": draw(st.lists(st.sampled_from(_COLUMNS), unique=True)),
        },
        "threads": draw(st.integers(1, 256)),
    }
    if flavor == "sklearn":
        if draw(st.booleans()):
            model["estimator"] = draw(st.sampled_from(["sklearn.linear_model.Ridge", "a.b.C"]))
        else:
            model["factory"] = draw(_NAMES) + ":" + draw(st.from_regex(r"[a-z_]{1,10}", fullmatch=True))
    metrics = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    evaluation = {
        "metrics": draw(st.none() | st.lists(st.sampled_from(metrics), unique=True, min_size=1)),
        "primary": draw(st.none() | st.sampled_from(metrics)),
    }
    return Spec.model_validate(
        {
            "version": 1,
            "project": draw(_NAMES),
            "seed": draw(st.integers(0, 2**32 - 1)),
            "data": data,
            "split": split,
            "model": model,
            "evaluation": evaluation,
        }
    )


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=valid_spec())
def test_any_valid_spec_survives_dump_and_parse(spec: Spec) -> None:
    text = dump_spec(spec)
    again = parse_spec(text)
    assert again == spec
    assert dump_spec(again) == text  # the canonical form is a fixed point


def test_infinite_param_survives_dump_and_parse() -> None:
    spec = parse_spec(BASE + "  params: {tol: .inf}\n")
    assert spec.model.params == {"tol": float("inf")}
    assert parse_spec(dump_spec(spec)).model.params == {"tol": float("inf")}


def test_next_line_character_survives_dump_and_parse() -> None:
    spec = parse_spec(BASE.replace("data.csv", json.dumps("data\u0085.csv")))
    assert spec.data.source == "data\x85.csv"
    assert parse_spec(dump_spec(spec)).data.source == "data\x85.csv"
