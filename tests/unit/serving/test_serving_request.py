"""Request bodies checked against a signature, and the batch frame the model receives."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.serving.request import (
    RequestValidationError,
    RowSchema,
    TooManyRowsError,
    model_frame,
    parse_body,
)
from assay.training.signature import to_model_frame

SIGNATURE = {
    "inputs": [
        {"name": "amount", "type": "float", "nullable": False},
        {"name": "term", "type": "int", "nullable": False},
        {"name": "income", "type": "float", "nullable": True},
        {"name": "region", "type": "category", "nullable": False, "categories": ["east", "west"]},
        {"name": "note", "type": "string", "nullable": True},
        {"name": "opened", "type": "date", "nullable": True},
        {"name": "vip", "type": "bool", "nullable": True},
    ],
    "output": {"kind": "probability", "target": "y", "classes": [0, 1]},
}
ROW = {"amount": 10.5, "term": 12, "income": None, "region": "east", "note": "x", "opened": "2024-03-01", "vip": True}


def test_a_valid_body_becomes_columns_and_keeps_declared_pii_only() -> None:
    schema = RowSchema(SIGNATURE, pii=["email"], entity="customer")
    rows = parse_body(b'{"rows": [%s]}' % pl.DataFrame([ROW]).write_json()[1:-1].encode(), max_rows=10)
    sent = [{**rows[0], "email": "a@b.c", "customer": 7, "other": "ignored by the log"}]
    block = schema.check_rows(sent)
    assert len(block) == 1 and block.columns["term"] == [12.0] and block.columns["income"] == [None]
    assert block.rows[0]["vip"] is True and block.columns["vip"] == [1.0]  # the log keeps what was sent
    assert block.columns["opened"] == [float(date(2024, 3, 1).toordinal() - date(1970, 1, 1).toordinal())]
    # A date column takes the careful path, which keeps the inputs and the declared PII columns only.
    assert block.rows[0]["email"] == "a@b.c" and "other" not in block.rows[0] and block.rows[0]["opened"] == "2024-03-01"
    assert block.entity_ids == ["7"]


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"amount": "ten"}, "amount", "must be a number, got a string"),
        ({"amount": True}, "amount", "must be a number, got a boolean"),
        ({"term": 1.5}, "term", "must be a whole number, got 1.5"),
        ({"region": None}, "region", "may not be null"),
        ({"region": 3}, "region", "must be a string, got a number"),
        ({"opened": "yesterday"}, "opened", "must be a date as YYYY-MM-DD"),
        ({"vip": "yes"}, "vip", "must be true or false, got a string"),
    ],
)
def test_each_bad_value_is_named_by_row_and_field(change: dict, field: str, problem: str) -> None:
    schema = RowSchema(SIGNATURE)
    with pytest.raises(RequestValidationError) as caught:
        schema.check_rows([ROW, {**ROW, **change}])
    assert caught.value.problems == [{"row": 1, "field": field, "problem": problem}]


def test_a_missing_required_field_is_required_and_problems_are_capped() -> None:
    schema = RowSchema(SIGNATURE)
    rows = [{k: v for k, v in ROW.items() if k != "amount"}] * 80
    with pytest.raises(RequestValidationError) as caught:
        schema.check_rows(rows)
    assert caught.value.total == 80 and len(caught.value.problems) == 50
    assert caught.value.problems[0] == {"row": 0, "field": "amount", "problem": "is required"}


@pytest.mark.parametrize("body", [b"", b"nope", b"[]", b'{"rows": {}}', b'{"rows": []}', b'{"rows": [1], "x": 2}', b"{}"])
def test_a_body_that_is_not_a_rows_object_is_a_422(body: bytes) -> None:
    with pytest.raises(RequestValidationError):
        parse_body(body, max_rows=5)


def test_too_many_rows_is_a_413_with_the_limit() -> None:
    with pytest.raises(TooManyRowsError, match="at most 2"):
        parse_body(b'{"rows": [{}, {}, {}]}', max_rows=2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "amount": st.floats(-1e9, 1e9, allow_nan=False), "term": st.integers(0, 600),
    "income": st.none() | st.floats(0, 1e7), "region": st.sampled_from(["east", "west", "north"]),
    "note": st.none() | st.text(max_size=5), "opened": st.none() | st.dates().map(date.isoformat),
    "vip": st.none() | st.booleans()}), min_size=1, max_size=6), st.integers(1, 3))
def test_the_batch_frame_equals_the_training_conversion(rows: list[dict], splits: int) -> None:
    """Serving must hand the model exactly what training's to_model_frame would."""
    schema = RowSchema(SIGNATURE)
    size = max(1, len(rows) // splits)
    blocks = [schema.check_rows(rows[i : i + size]) for i in range(0, len(rows), size)]
    served = model_frame(blocks, schema.columns)
    typed = pl.DataFrame(rows, schema={"amount": pl.Float64, "term": pl.Int64, "income": pl.Float64,
                                       "region": pl.String, "note": pl.String, "opened": pl.String, "vip": pl.Boolean})
    typed = typed.with_columns(pl.col("opened").str.to_date())
    trained = to_model_frame(typed, SIGNATURE)
    assert list(served.columns) == list(trained.columns)
    for column in served.columns:
        left, right = served[column].to_numpy(), trained[column].to_numpy()
        if left.dtype == object or right.dtype == object:
            assert [None if v != v else v for v in left] == [None if v != v else v for v in right]
        else:
            np.testing.assert_array_equal(left.astype(float), right.astype(float))


def test_the_openapi_schema_requires_non_nullable_columns() -> None:
    schema = RowSchema(SIGNATURE, max_rows=7).openapi_schema()
    rows = schema["properties"]["rows"]
    assert rows["maxItems"] == 7
    assert set(rows["items"]["required"]) == {"amount", "term", "region"}
    assert rows["items"]["properties"]["opened"] == {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "amount": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**6, 10**6), st.none(),
                        st.text(max_size=2), st.booleans()),
    "term": st.one_of(st.integers(0, 600), st.floats(0, 600), st.none()),
    "income": st.none() | st.floats(0, 1e7) | st.integers(0, 10),
    "region": st.sampled_from(["east", "west", "north"]) | st.none() | st.integers(0, 2),
    "note": st.none() | st.text(max_size=5),
    "vip": st.none() | st.booleans() | st.integers(0, 1)},
    optional={"email": st.none() | st.text(max_size=3) | st.integers(0, 3), "customer": st.integers(0, 9)}),
    min_size=1, max_size=6))
def test_the_fast_check_gives_the_same_block_or_the_same_problems_as_the_careful_one(rows: list[dict]) -> None:
    signature = {"inputs": [c for c in SIGNATURE["inputs"] if c["type"] != "date"], "output": SIGNATURE["output"]}
    schema = RowSchema(signature, pii=["email"], entity="customer")
    try:
        careful = schema._check_each(rows)
    except RequestValidationError as exc:
        with pytest.raises(RequestValidationError) as caught:
            schema.check_rows(rows)
        assert caught.value.problems == exc.problems
        return
    fast = schema._check_fast(rows)
    assert fast is not None
    assert (fast.columns, fast.entity_ids) == (careful.columns, careful.entity_ids) and fast.rows is rows


@settings(max_examples=40, deadline=None)
@given(st.lists(st.fixed_dictionaries({"amount": st.floats(-1e9, 1e9, allow_nan=False), "term": st.integers(0, 600),
                                       "income": st.none() | st.floats(0, 1e7)}), min_size=1, max_size=6),
       st.integers(1, 3))
def test_an_all_numeric_batch_frame_equals_the_training_conversion(rows: list[dict], splits: int) -> None:
    signature = {"inputs": SIGNATURE["inputs"][:3], "output": SIGNATURE["output"]}
    schema = RowSchema(signature)
    size = max(1, len(rows) // splits)
    served = model_frame([schema.check_rows(rows[i : i + size]) for i in range(0, len(rows), size)], schema.columns)
    typed = pl.DataFrame(rows, schema={"amount": pl.Float64, "term": pl.Int64, "income": pl.Float64})
    trained = to_model_frame(typed, signature)
    assert list(served.columns) == list(trained.columns) and list(served.dtypes) == list(trained.dtypes)
    np.testing.assert_array_equal(served.to_numpy(), trained.to_numpy())
