"""Spotting personal data a spec did not declare: column names that say PII (email, phone, ssn,
first_name, address, dob, ...) and text columns whose sampled values look like emails, phone
numbers or US social security numbers. `assay doctor` reports them so they get listed in data.pii,
which keeps them out of snapshots, features and reports.

Names are split into words (snake_case, kebab-case, camelCase), so `customer_email` and
`homeAddress` match; a bare `name` counts, `product_name` does not. A name is a hint, reported as
such; values are evidence, reported with the share of sampled values that matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice

import polars as pl

from assay.data.source import SourceRef, iter_batches

SAMPLE_ROWS = 1_000
VALUE_SHARE = 0.5  # at least this share of non-empty sampled values must match a value pattern

_NAME_WORDS: dict[str, str] = {
    "email": "email address", "mail": "email address", "phone": "phone number", "mobile": "phone number",
    "telephone": "phone number", "msisdn": "phone number", "ssn": "social security number",
    "dob": "date of birth", "birth": "date of birth", "birthdate": "date of birth", "birthday": "date of birth",
    "address": "postal address", "street": "postal address", "postcode": "postal address",
    "zipcode": "postal address", "passport": "passport number", "iban": "bank account",
    "firstname": "person's name", "lastname": "person's name", "surname": "person's name",
    "fullname": "person's name", "name": "person's name",
}
_NAME_PAIRS: dict[tuple[str, str], str] = {
    ("first", "name"): "person's name", ("last", "name"): "person's name", ("full", "name"): "person's name",
    ("given", "name"): "person's name", ("family", "name"): "person's name", ("customer", "name"): "person's name",
    ("date", "birth"): "date of birth", ("birth", "date"): "date of birth", ("zip", "code"): "postal address",
    ("postal", "code"): "postal address", ("social", "security"): "social security number",
    ("ip", "address"): "IP address", ("card", "number"): "payment card number",
}
_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email address", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    ("social security number", re.compile(r"\d{3}-\d{2}-\d{4}")),
    # A separator or a leading + is required: bare digit runs are ids and amounts, not phone numbers.
    ("phone number", re.compile(r"\+\d[\d ().-]{6,18}\d|\(?\d{2,4}\)?[ .-]\d{3,4}[ .-]\d{3,4}")),
)


@dataclass(frozen=True, slots=True)
class PiiColumn:
    """A column that looks like personal data: which, what it looks like, and the evidence."""

    column: str
    looks_like: str
    evidence: str  # "name" or "values: 97% of 1000 sampled"


def name_words(column: str) -> list[str]:
    """`customerEmail_2` -> ['customer', 'email', '2']."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column)
    return [word for word in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if word]


def pii_by_name(column: str) -> str | None:
    """What a column's name says it holds, if personal data."""
    words = name_words(column)
    for pair in zip(words, words[1:], strict=False):
        if pair in _NAME_PAIRS:
            return _NAME_PAIRS[pair]
    for word in words:
        if word in _NAME_WORDS and not (word == "name" and len(words) > 1):
            return _NAME_WORDS[word]  # a bare "name" is a person's; product_name is not
    return None


def pii_by_values(values: Iterable[str | None]) -> tuple[str, float, int] | None:
    """(what the values look like, share matched, values sampled) when most look like personal data."""
    sample = [value.strip() for value in values if isinstance(value, str) and value.strip()]
    if not sample:
        return None
    for kind, pattern in _VALUE_PATTERNS:
        share = sum(1 for value in sample if pattern.fullmatch(value)) / len(sample)
        if share >= VALUE_SHARE:
            return kind, share, len(sample)
    return None


def undeclared_pii(ref: SourceRef, declared: Iterable[str], *, sample_rows: int = SAMPLE_ROWS) -> list[PiiColumn]:
    """Columns of the source that look like personal data and are not in `declared` (data.pii)."""
    known = {name.casefold() for name in declared}
    frames = list(islice(iter_batches(ref, batch_rows=sample_rows, block_bytes=1 << 20), 1))
    sample = frames[0].head(sample_rows) if frames else pl.DataFrame()
    found = []
    for column in sample.columns:
        if column.casefold() in known:
            continue
        by_values = pii_by_values(sample[column].to_list()) if sample[column].dtype == pl.String else None
        if by_values is not None:
            kind, share, count = by_values
            found.append(PiiColumn(column, kind, f"values: {share:.0%} of {count} sampled"))
        elif (kind_by_name := pii_by_name(column)) is not None:
            found.append(PiiColumn(column, kind_by_name, "name"))
    return found


__all__ = ["SAMPLE_ROWS", "VALUE_SHARE", "PiiColumn", "name_words", "pii_by_name", "pii_by_values", "undeclared_pii"]
