"""Schema inference and conformance: every failure reported, with examples, PII masked."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from assay.data.schema import CheckResult, ValidationReport, conform, infer_schema, schema_from_mapping, schema_to_dict
from assay.spec.model import ColumnSchema, DataSchema


def _schema(min_rows: int | None = 1, max_rows: int | None = None, **columns: ColumnSchema) -> DataSchema:
    return DataSchema(columns=columns, min_rows=min_rows, max_rows=max_rows)


def _result(report: ValidationReport, check: str, column: str = "") -> CheckResult:
    (found,) = [r for r in report.results if r.check == check and r.column == column]
    return found


def test_clean_text_frame_conforms_and_is_typed() -> None:
    frame = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "n": ["1", "2", "3"],
            "x": ["0.5", " 1.25 ", "2"],
            "flag": ["yes", "no", "true"],
            "day": ["2024-01-01", "2024-02-29", "2024-03-01"],
            "at": ["2024-01-01 10:00:00", "2024-01-01T11:30:00", "2024-01-02 00:00:00"],
            "color": ["red", "blue", "red"],
        }
    )
    schema = _schema(
        id=ColumnSchema(type="string", unique=True, nullable=False),
        n=ColumnSchema(type="int", min=0, max=10),
        x=ColumnSchema(type="float"),
        flag=ColumnSchema(type="bool"),
        day=ColumnSchema(type="date"),
        at=ColumnSchema(type="datetime"),
        color=ColumnSchema(type="category", allowed=["red", "blue"]),
    )
    out, report = conform(frame, schema)
    assert report.passed, report.summary()
    assert report.warnings == []
    assert dict(out.schema) == (
        {
            "id": pl.String,
            "n": pl.Int64,
            "x": pl.Float64,
            "flag": pl.Boolean,
            "day": pl.Date,
            "at": pl.Datetime("us"),
            "color": pl.String,
        }
    )
    assert out.get_column("x").to_list() == [0.5, 1.25, 2.0]
    assert out.get_column("flag").to_list() == [True, False, True]
    assert out.get_column("day").to_list() == [date(2024, 1, 1), date(2024, 2, 29), date(2024, 3, 1)]
    assert out.get_column("at").to_list()[1] == datetime(2024, 1, 1, 11, 30)


def test_type_failures_are_reported_with_examples_and_become_null() -> None:
    frame = pl.DataFrame({"x": ["1.5", "abc", "2", "n/a", "", None]})
    out, report = conform(frame, _schema(x=ColumnSchema(type="float")))
    failure = _result(report, "type", "x")
    assert not failure.passed
    assert failure.severity == "error"
    assert failure.failed_count == 2  # blanks and nulls are missing values, not type failures
    assert failure.examples == ("'abc'", "'n/a'")
    assert failure.message == "2 value(s) are not float"
    assert out.get_column("x").to_list() == [1.5, None, 2.0, None, None, None]
    assert not report.passed


def test_type_examples_are_capped_at_five() -> None:
    frame = pl.DataFrame({"x": [f"bad{i}" for i in range(9)]})
    _, report = conform(frame, _schema(x=ColumnSchema(type="int")))
    failure = _result(report, "type", "x")
    assert failure.failed_count == 9
    assert len(failure.examples) == 5


def test_pii_examples_are_masked_in_every_check() -> None:
    frame = pl.DataFrame({"email": ["a@x.io", "b@x.io", "b@x.io", "zz"], "age": ["17", "30", "x", "200"]})
    schema = _schema(
        email=ColumnSchema(type="category", allowed=["a@x.io"], unique=True),
        age=ColumnSchema(type="int", min=18, max=100),
    )
    _, report = conform(frame, schema, masked=["email", "age"])
    assert report.masked_columns == frozenset({"email", "age"})
    for check, column in [("allowed", "email"), ("unique", "email"), ("type", "age"), ("range", "age")]:
        failure = _result(report, check, column)
        assert not failure.passed
        assert failure.examples and set(failure.examples) == {"***"}, (check, column)
    text = repr(report.summary())
    for secret in ("a@x.io", "b@x.io", "zz", "'17'", "'200'"):
        assert secret not in text


def test_unmasked_examples_show_the_values() -> None:
    frame = pl.DataFrame({"age": ["17", "30", "200"]})
    _, report = conform(frame, _schema(age=ColumnSchema(type="int", min=18, max=100)))
    failure = _result(report, "range", "age")
    assert failure.failed_count == 2
    assert failure.examples == ("17", "200")
    assert failure.message == "2 value(s) outside [18.0, 100.0]"


def test_not_null_counts_missing_values_but_not_unparsable_ones() -> None:
    frame = pl.DataFrame({"n": ["1", "", None, "x"]})
    _, report = conform(frame, _schema(n=ColumnSchema(type="int", nullable=False)))
    assert _result(report, "not_null", "n").failed_count == 2
    assert _result(report, "type", "n").failed_count == 1


def test_nullable_column_has_no_not_null_check() -> None:
    frame = pl.DataFrame({"n": ["1", None]})
    _, report = conform(frame, _schema(n=ColumnSchema(type="int")))
    assert report.passed
    assert [r.check for r in report.results if r.column == "n"] == ["type"]


def test_range_with_one_bound() -> None:
    frame = pl.DataFrame({"x": ["-1", "0", "5", None]})
    _, report = conform(frame, _schema(x=ColumnSchema(type="float", min=0)))
    failure = _result(report, "range", "x")
    assert failure.failed_count == 1
    assert "[0.0, inf]" in failure.message


def test_allowed_lists_each_unknown_value_once() -> None:
    frame = pl.DataFrame({"c": ["a", "b", "z", "z", "y", None]})
    _, report = conform(frame, _schema(c=ColumnSchema(type="category", allowed=["a", "b"])))
    failure = _result(report, "allowed", "c")
    assert failure.failed_count == 3
    assert failure.examples == ("'z'", "'y'")


def test_unique_reports_every_row_that_shares_a_value() -> None:
    frame = pl.DataFrame({"id": ["1", "2", "2", "3", "3", "3", None, None]})
    _, report = conform(frame, _schema(id=ColumnSchema(type="int", unique=True)))
    failure = _result(report, "unique", "id")
    assert failure.failed_count == 5  # nulls are not duplicates
    assert failure.examples == ("2", "3")


@pytest.mark.parametrize(
    ("height", "min_rows", "max_rows", "ok"),
    [(3, 1, None, True), (3, 4, None, False), (3, None, 2, False), (3, 3, 3, True), (3, None, None, True)],
)
def test_row_count_is_checked(height: int, min_rows: int | None, max_rows: int | None, ok: bool) -> None:
    frame = pl.DataFrame({"x": ["1"] * height})
    _, report = conform(frame, _schema(min_rows, max_rows, x=ColumnSchema(type="int")))
    result = _result(report, "row_count")
    assert result.passed is ok
    assert report.passed is ok
    assert result.message.startswith(f"{height} rows; expected")


def test_missing_column_is_an_error() -> None:
    frame = pl.DataFrame({"a": ["1"]})
    out, report = conform(frame, _schema(a=ColumnSchema(type="int"), b=ColumnSchema(type="float")))
    failure = _result(report, "present", "b")
    assert not failure.passed and failure.severity == "error"
    assert "'b'" in failure.message
    assert out.columns == ["a"]
    assert not report.passed


def test_extra_column_is_kept_and_warned_about() -> None:
    frame = pl.DataFrame({"extra": ["q"], "a": ["1"]})
    out, report = conform(frame, _schema(a=ColumnSchema(type="int")))
    assert report.passed
    (warning,) = report.warnings
    assert (warning.check, warning.column, warning.severity) == ("unexpected", "extra", "warning")
    assert "never used as a feature" in warning.message
    assert out.columns == ["extra", "a"]  # data order kept
    assert out.get_column("extra").to_list() == ["q"]


def test_errors_sort_before_warnings_and_passes() -> None:
    frame = pl.DataFrame({"a": ["x"], "extra": ["1"]})
    _, report = conform(frame, _schema(a=ColumnSchema(type="int")))
    kinds = [(r.passed, r.severity) for r in report.results]
    assert kinds.index((False, "error")) < kinds.index((False, "warning")) < kinds.index((True, "error"))
    summary = report.summary()
    assert summary["passed"] is False
    assert [e["check"] for e in summary["errors"]] == ["type"]
    assert [w["check"] for w in summary["warnings"]] == ["unexpected"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("Y", True),
        ("t", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("n", False),
        ("F", False),
        ("0", False),
        ("", None),
    ],
)
def test_bool_parsing(text: str, value: bool | None) -> None:
    out, report = conform(pl.DataFrame({"b": [text]}), _schema(b=ColumnSchema(type="bool")))
    assert out.get_column("b").to_list() == [value]
    assert report.passed


@pytest.mark.parametrize("text", ["maybe", "2", "on", "-1"])
def test_bool_parsing_refuses_other_words(text: str) -> None:
    _, report = conform(pl.DataFrame({"b": [text]}), _schema(b=ColumnSchema(type="bool")))
    assert _result(report, "type", "b").examples == (repr(text),)


@pytest.mark.parametrize(
    ("text", "ok"), [("2024-02-29", True), ("2023-02-29", False), ("2024-13-01", False), ("yesterday", False)]
)
def test_date_parsing(text: str, ok: bool) -> None:
    _, report = conform(pl.DataFrame({"d": [text]}), _schema(d=ColumnSchema(type="date")))
    assert _result(report, "type", "d").passed is ok


@pytest.mark.parametrize("values", [["2024-01-01", "01.02.2024"], ["01.02.2024", "2024-01-01"]])
def test_mixed_date_formats_are_flagged_whatever_the_row_order(values: list[str]) -> None:
    _, report = conform(pl.DataFrame({"d": values}), _schema(d=ColumnSchema(type="date")))
    assert _result(report, "type", "d").failed_count == 1


def test_date_column_from_a_datetime_column_keeps_the_day() -> None:
    frame = pl.DataFrame({"d": [datetime(2024, 5, 6, 23, 59)]})
    out, report = conform(frame, _schema(d=ColumnSchema(type="date")))
    assert report.passed
    assert out.get_column("d").to_list() == [date(2024, 5, 6)]


def test_int_column_with_a_fraction_is_flagged() -> None:
    out, report = conform(pl.DataFrame({"n": ["1", "1.5", "2.0", "1e3"]}), _schema(n=ColumnSchema(type="int")))
    failure = _result(report, "type", "n")
    assert failure.failed_count == 1
    assert failure.examples == ("'1.5'",)
    assert out.get_column("n").to_list() == [1, None, 2, 1000]


def test_int_column_from_typed_floats_with_a_fraction_is_flagged() -> None:
    out, report = conform(pl.DataFrame({"n": [1.0, 1.5, 2.0]}), _schema(n=ColumnSchema(type="int")))
    assert _result(report, "type", "n").failed_count == 1
    assert out.get_column("n").to_list() == [1, None, 2]


def test_large_int_ids_keep_their_exact_value() -> None:
    big = 2**53 + 1
    out, report = conform(pl.DataFrame({"id": [str(big), "1"]}), _schema(id=ColumnSchema(type="int", unique=True)))
    assert report.passed
    assert out.get_column("id").to_list() == [big, 1]


def test_bool_column_from_typed_ints_refuses_other_values() -> None:
    _, report = conform(pl.DataFrame({"b": [0, 1, 2]}), _schema(b=ColumnSchema(type="bool")))
    assert _result(report, "type", "b").failed_count == 1


def test_typed_values_that_fit_are_accepted() -> None:
    frame = pl.DataFrame({"n": [1, 2], "x": [1, 2], "s": [1, 2], "b": [True, False]})
    schema = _schema(
        n=ColumnSchema(type="int"),
        x=ColumnSchema(type="float"),
        s=ColumnSchema(type="string"),
        b=ColumnSchema(type="bool"),
    )
    out, report = conform(frame, schema)
    assert report.passed
    assert out.schema == pl.Schema({"n": pl.Int64, "x": pl.Float64, "s": pl.String, "b": pl.Boolean})


# --- inference --------------------------------------------------------------


def _inference_frame(n: int = 100) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "row_id": list(range(n)),
            "x": [float(i) - 3 for i in range(n)],
            "count": [i % 7 for i in range(n)],
            "color": ["red", "blue"] * (n // 2),
            "name": [f"n{i % 60}" for i in range(n)],
            "flag": [True, False] * (n // 2),
            "day": [date(2024, 1, 1 + i % 28) for i in range(n)],
            "at": [datetime(2024, 1, 1, i % 24) for i in range(n)],
            "income": [None] + [1.0] * (n - 1),
        }
    )


def test_infer_schema_types_nullability_and_bounds() -> None:
    columns = infer_schema(_inference_frame()).columns
    assert {name: c.type for name, c in columns.items()} == {
        "user_id": "string",
        "row_id": "int",
        "x": "float",
        "count": "int",
        "color": "category",
        "name": "string",
        "flag": "bool",
        "day": "date",
        "at": "datetime",
        "income": "float",
    }
    assert [name for name, c in columns.items() if c.nullable] == ["income"]
    assert columns["x"].min is None  # has negatives
    assert columns["count"].min == 0.0 and columns["income"].min == 0.0
    assert all(c.max is None for c in columns.values())


def test_infer_schema_detects_low_cardinality_text_as_category() -> None:
    columns = infer_schema(_inference_frame()).columns
    assert columns["color"].allowed == ["blue", "red"]
    assert columns["name"].allowed is None  # 60 distinct values: free text


def test_infer_schema_marks_distinct_id_columns_unique() -> None:
    columns = infer_schema(_inference_frame()).columns
    assert columns["user_id"].unique and columns["row_id"].unique
    assert not columns["x"].unique  # distinct, but not named like an id
    assert not columns["count"].unique


def test_infer_schema_honours_declared_unique_columns() -> None:
    frame = pl.DataFrame({"key": ["a", "b", "c"], "x": [1, 2, 3]})
    assert infer_schema(frame, unique=["key"]).columns["key"].unique
    assert not infer_schema(frame).columns["key"].unique


def test_infer_schema_does_not_treat_words_ending_in_id_as_ids() -> None:
    frame = pl.DataFrame({"amount_paid": list(range(100)), "valid": [f"v{i}" for i in range(100)]})
    columns = infer_schema(frame).columns
    assert not columns["amount_paid"].unique
    assert not columns["valid"].unique


def test_inferred_schema_accepts_the_frame_it_came_from() -> None:
    frame = _inference_frame()
    out, report = conform(frame, infer_schema(frame))
    assert report.passed, report.summary()
    assert out.equals(frame)


def test_schema_dict_round_trips() -> None:
    schema = infer_schema(_inference_frame())
    assert schema_from_mapping(schema_to_dict(schema)) == schema
