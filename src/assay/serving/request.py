"""A prediction request's body, checked against the model signature, and the model frame of a batch.

`RowSchema.parse` turns the raw JSON body into a `RowBlock` (the request's values, column by
column) or raises `RequestValidationError` naming every row and field at fault (HTTP 422). The
batcher joins the blocks of concurrent requests and `model_frame` builds one pandas frame for the
batch, with exactly the conversions `assay.training.signature.to_model_frame` makes in training.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd

from assay.errors import AssayError

MAX_PROBLEMS = 50  # problems listed in one 422 answer; the count says how many there were
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_NUMERIC = frozenset({"float", "int"})
_TEXT = frozenset({"category", "string"})
_TIME = frozenset({"date", "datetime"})
_MISSING = object()
_LOGGED_AS_SENT = _TIME | {"bool"}  # the model takes these as numbers; the log keeps what was sent


class RequestValidationError(AssayError, ValueError):
    """The body is not a valid prediction request (HTTP 422): `problems` name the row and field."""

    code = "invalid-request"

    def __init__(self, problems: Sequence[Mapping[str, Any]], *, total: int | None = None,
                 hint: str = 'send {"rows": [{column: value, ...}, ...]} with the columns of GET /v1/models') -> None:
        total = len(problems) if total is None else total
        first = problems[0]
        if first.get("row") is not None:
            where = f"row {first['row']}, field {first['field']!r}: "
        elif first.get("field"):  # a header of a prediction request, or a field "in" a management request
            where = f"{first.get('in', 'header')} {first['field']}: "
        else:
            where = ""
        super().__init__(
            f"{total} problem(s) in the request; first: {where}{first['problem']}", hint=hint,
        )
        self.problems = list(problems)[:MAX_PROBLEMS]
        self.total = total


class TooManyRowsError(AssayError, ValueError):
    """More rows than one request may carry (HTTP 413)."""

    code = "request-too-large"

    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(f"the request has {rows} rows; one request may carry at most {limit}",
                         hint=f"split it into requests of at most {limit} rows (serving.max_rows_per_request)")


@dataclass(frozen=True, slots=True)
class InputColumn:
    name: str
    kind: str
    nullable: bool


@dataclass(slots=True)
class RowBlock:
    """One request's rows: model inputs column by column, plus what the prediction log keeps."""

    columns: dict[str, list[Any]]
    rows: list[dict[str, Any]]  # per row: model inputs and the declared PII columns the client sent
    entity_ids: list[str] | None = None
    n_rows: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_rows = len(self.rows)

    def __len__(self) -> int:
        return self.n_rows


class RowSchema:
    """The model signature's inputs, and how a JSON row is checked against them."""

    def __init__(self, signature: Mapping[str, Any], *, pii: Sequence[str] = (), entity: str | None = None,
                 max_rows: int = 1_000) -> None:
        self.columns = tuple(InputColumn(c["name"], _kind(c["type"]), bool(c.get("nullable", True)))
                             for c in signature["inputs"])
        self._categories = {c["name"]: c.get("categories") for c in signature["inputs"]}
        self._names = frozenset(c.name for c in self.columns)
        self.pii = tuple(p for p in pii if p not in self._names)
        self.entity = entity
        self.max_rows = max_rows
        self._getter = operator.itemgetter(*(c.name for c in self.columns))

    def check_rows(self, rows: list[Any]) -> RowBlock:
        """The rows as a `RowBlock`, or `RequestValidationError` naming every row and field at fault."""
        return self._check_fast(rows) or self._check_each(rows)

    def _check_fast(self, rows: list[Any]) -> RowBlock | None:
        """Column at a time with C-level passes (type sets, map), for rows that are all valid and
        have no date columns; None sends them to `_check_each`, which also names the problems.
        Both give the same block (tested)."""
        if not all(type(row) is dict for row in rows):
            return None
        names = [c.name for c in self.columns]
        try:  # one C call per row; a row without some key takes the per-column route below
            by_column: list[Any] = list(zip(*map(self._getter, rows), strict=True)) if len(names) > 1 else [
                [row[names[0]] for row in rows]]
        except KeyError:
            by_column = [[row.get(name) for row in rows] for name in names]
        columns: dict[str, list[Any]] = {}
        for column, values in zip(self.columns, by_column, strict=True):
            converted = _fast_column(column, list(values))
            if converted is None:
                return None
            columns[column.name] = converted
        entity_ids = None
        if self.entity is not None:
            entity_ids = ["" if (e := row.get(self.entity)) is None else str(e) for row in rows]
        # The client's own row dicts go to the prediction log: it keeps the signature's columns (as
        # sent, every value now known valid) and the declared PII columns (dropped or tokenised), and
        # ignores any other key, so no per-row copy is needed.
        return RowBlock(columns, rows, entity_ids)

    def _check_each(self, rows: list[Any]) -> RowBlock:
        problems: list[dict[str, Any]] = []
        total = 0
        columns: dict[str, list[Any]] = {c.name: [] for c in self.columns}
        kept: list[dict[str, Any]] = []
        entity_ids: list[str] | None = [] if self.entity is not None else None
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                total += 1
                if len(problems) < MAX_PROBLEMS:
                    problems.append({"row": index, "field": None, "problem": "each row must be a JSON object"})
                continue
            record: dict[str, Any] = {}
            for column in self.columns:
                value, problem = _check_value(column, row.get(column.name, _MISSING))
                if problem is not None:
                    total += 1
                    if len(problems) < MAX_PROBLEMS:
                        problems.append({"row": index, "field": column.name, "problem": problem})
                    continue
                columns[column.name].append(value)
                record[column.name] = row.get(column.name) if column.kind in _LOGGED_AS_SENT else value
            for name in self.pii:
                if name in row:
                    record[name] = _text_or_none(row[name])
            if entity_ids is not None:
                entity = row.get(self.entity) if self.entity is not None else None
                entity_ids.append("" if entity is None else str(entity))
            kept.append(record)
        if total:
            raise RequestValidationError(problems, total=total)
        return RowBlock(columns, kept, entity_ids)

    def openapi_schema(self) -> dict[str, Any]:
        """The JSON Schema of a request body, published in the OpenAPI document."""
        properties: dict[str, Any] = {}
        for column in self.columns:
            schema: dict[str, Any] = dict(_JSON_TYPES[column.kind])
            categories = self._categories.get(column.name)
            if column.kind == "category" and categories:
                schema["examples"] = list(categories)[:5]
            if column.nullable:
                schema = {"anyOf": [schema, {"type": "null"}]}
            properties[column.name] = schema
        required = [c.name for c in self.columns if not c.nullable]
        row = {"type": "object", "properties": properties, "required": required, "additionalProperties": True}
        return {"type": "object", "required": ["rows"], "additionalProperties": False,
                "properties": {"rows": {"type": "array", "minItems": 1, "maxItems": self.max_rows, "items": row}}}


def parse_body(body: bytes, *, max_rows: int) -> list[Any]:
    """The request's rows (not yet checked against a signature), or a 422/413 error."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestValidationError([{"row": None, "field": None, "problem": f"the body is not JSON: {exc}"}]) from None
    if not isinstance(document, dict) or "rows" not in document:
        raise RequestValidationError([{"row": None, "field": None, "problem": 'the body must be an object with a "rows" list'}])
    extra = sorted(set(document) - {"rows"})
    rows = document["rows"]
    if extra or not isinstance(rows, list) or not rows:
        problem = (f"unknown top-level field(s): {', '.join(map(str, extra))}" if extra
                   else '"rows" must be a non-empty list of objects')
        raise RequestValidationError([{"row": None, "field": None, "problem": problem}])
    if len(rows) > max_rows:
        raise TooManyRowsError(len(rows), max_rows)
    return rows


def model_frame(blocks: Sequence[RowBlock], columns: Sequence[InputColumn]) -> pd.DataFrame:
    """One pandas frame for a batch of requests: the signature's column order, floats for numbers,
    dates as days and datetimes as seconds since the epoch, object strings with NaN for missing."""
    names = [c.name for c in columns]
    if not any(column.kind in _TEXT for column in columns):  # all numbers: one 2-D block, no per-column arrays
        matrix = np.array([[v for block in blocks for v in block.columns[name]] for name in names], dtype=np.float64)
        return pd.DataFrame(matrix.T, columns=names)
    data: dict[str, Any] = {}
    for column in columns:
        if len(blocks) == 1:
            values = blocks[0].columns[column.name]
        else:
            values = [v for block in blocks for v in block.columns[column.name]]
        if column.kind in _TEXT:
            array = np.array(values, dtype=object)
            array[array == None] = np.nan  # noqa: E711 - elementwise comparison
            data[column.name] = array
        else:
            data[column.name] = np.array(values, dtype=np.float64)  # None becomes NaN
    return pd.DataFrame(data, columns=names)


# --- values -----------------------------------------------------------------


_JSON_TYPES: dict[str, dict[str, Any]] = {
    "float": {"type": "number"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "category": {"type": "string"},
    "string": {"type": "string"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}


def _kind(declared: str) -> str:
    text = str(declared).lower()
    if text.startswith(("int", "uint")):
        return "int"
    if text.startswith("float") or text in {"double", "number"}:
        return "float"
    if text in {"bool", "boolean"}:
        return "bool"
    if text in {"date", "datetime"}:
        return text
    return "category" if text == "category" else "string"


def _check_value(column: InputColumn, value: Any) -> tuple[Any, str | None]:
    """The value as the model takes it, or a problem. Numbers become float, dates days/seconds."""
    if value is None or value is _MISSING:
        if column.nullable:
            return None, None
        return None, "is required" if value is _MISSING else "may not be null"
    kind = column.kind
    if kind in _NUMERIC:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, f"must be a number, got {_json_type(value)}"
        if kind == "int" and isinstance(value, float) and not value.is_integer():
            return None, f"must be a whole number, got {value!r}"
        number = float(value)
        if not math.isfinite(number):
            return None, "must be a finite number"
        return number, None
    if kind == "bool":
        if not isinstance(value, bool):
            return None, f"must be true or false, got {_json_type(value)}"
        return float(value), None
    if not isinstance(value, str):
        return None, f"must be a string, got {_json_type(value)}"
    if kind == "date":
        try:
            return float(date.fromisoformat(value).toordinal() - _EPOCH_ORDINAL), None
        except ValueError:
            return None, "must be a date as YYYY-MM-DD"
    if kind == "datetime":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None, "must be an ISO 8601 date-time"
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp(), None
    return value, None


_NONE = type(None)


def _fast_column(column: InputColumn, values: list[Any]) -> list[Any] | None:
    """The column's values as the model takes them if every one is valid, else None."""
    types = set(map(type, values))
    has_none = _NONE in types
    if has_none:
        if not column.nullable:
            return None
        types.discard(_NONE)
    kind = column.kind
    if kind in _NUMERIC:
        if not types <= {float, int}:
            return None
        present = [v for v in values if v is not None] if has_none else values
        if kind == "int" and float in types and not all(map(float.is_integer, (v for v in present if type(v) is float))):
            return None
        if not all(map(math.isfinite, present)):
            return None
        if has_none:
            return [None if v is None else float(v) for v in values]
        return values if types == {float} else list(map(float, values))
    if kind == "bool":
        if not types <= {bool}:
            return None
        return [None if v is None else float(v) for v in values]
    if kind in _TEXT:
        return values if types <= {str} else None
    return None  # dates and datetimes: parsed one by one


def _text_or_none(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else orjson.dumps(value).decode()


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


__all__ = ["InputColumn", "MAX_PROBLEMS", "RequestValidationError", "RowBlock", "RowSchema", "TooManyRowsError",
           "model_frame", "parse_body"]
