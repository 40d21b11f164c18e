"""Undeclared personal-data columns are spotted by name and by sampled values; declared ones and
ordinary columns (ids, amounts, product names) are not."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from assay.data.pii_columns import name_words, pii_by_name, pii_by_values, undeclared_pii
from assay.data.source import SourceRef


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("email", "email address"), ("customerEmail", "email address"), ("phone_number", "phone number"),
        ("SSN", "social security number"), ("name", "person's name"), ("first_name", "person's name"),
        ("home-address", "postal address"), ("date_of_birth", "date of birth"), ("dob", "date of birth"),
        ("product_name", None), ("amount", None), ("customer_id", None), ("region", None), ("term_months", None),
    ],
)
def test_names_that_say_personal_data(column: str, expected: str | None) -> None:
    assert pii_by_name(column) == expected


def test_names_split_into_words() -> None:
    assert name_words("customerEmail_2") == ["customer", "email", "2"]


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["ann@example.com", "bo.li+x@mail.example.org", None, ""], "email address"),
        (["+44 20 7946 0958", "(555) 123-4567", "555.123.4567"], "phone number"),
        (["123-45-6789", "987-65-4321"], "social security number"),
        (["APP-0000001", "CUST-000001", "4175.0"], None),
        (["20231231", "5551234567", "42"], None),  # bare digit runs are ids and amounts
        (["ann@example.com", "x", "y", "z"], None),  # a minority is not the column's nature
    ],
)
def test_values_that_look_like_personal_data(values: list[str | None], kind: str | None) -> None:
    result = pii_by_values(values)
    assert (result[0] if result else None) == kind


def test_undeclared_columns_of_a_source(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    pl.DataFrame({
        "id": ["r1", "r2", "r3"], "contact": ["a@example.com", "b@example.com", "c@example.org"],
        "mobile": ["1", "2", "3"], "email": ["a@example.com", "b@example.com", "c@example.org"],
        "amount": ["1.0", "2.5", "3.0"],
    }).write_csv(path)
    found = undeclared_pii(SourceRef.resolve("rows.csv", base_dir=tmp_path), ["EMAIL"])
    assert [(c.column, c.looks_like, c.evidence) for c in found] == [
        ("contact", "email address", "values: 100% of 3 sampled"),
        ("mobile", "phone number", "name"),
    ]
