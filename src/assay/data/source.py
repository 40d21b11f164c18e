"""Read a CSV or Parquet source into a polars frame, with errors that name the file and row."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from assay.errors import DataSourceError

Format = Literal["csv", "parquet"]
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class SourceRef:
    """A resolved data source: where it is and how to read it."""

    uri: str
    format: Format

    @classmethod
    def resolve(cls, source: str, *, base_dir: Path, declared: str = "auto") -> SourceRef:
        """Resolve a spec's `data.source` (relative to the spec's folder unless it is a URL)."""
        uri = source if "://" in source else str((base_dir / source).resolve())
        fmt = declared if declared != "auto" else _format_from_name(uri)
        return cls(uri=uri, format=fmt)  # type: ignore[arg-type]


def _format_from_name(uri: str) -> Format:
    name = uri.lower().split("?", 1)[0]
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".txt")):
        return "csv"
    raise DataSourceError(
        f"cannot tell the format of {uri}",
        hint="name the file *.csv or *.parquet, or set data.format to csv or parquet in assay.yaml",
    )


def _open(uri: str, mode: str = "rb") -> fsspec.core.OpenFile:
    return fsspec.open(uri, mode, compression="infer")


def hash_source(ref: SourceRef) -> tuple[str, int]:
    """sha256 of the source's bytes (streamed) and its size."""
    digest = hashlib.sha256()
    size = 0
    try:
        with fsspec.open(ref.uri, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError as exc:
        raise DataSourceError(
            f"data source {ref.uri} does not exist", hint="check data.source in assay.yaml (paths are relative to it)"
        ) from exc
    except IsADirectoryError as exc:
        raise DataSourceError(f"data source {ref.uri} is a folder, not a file", hint="point data.source at one file") from exc
    return digest.hexdigest(), size


def _locate_csv_problem(uri: str) -> str:
    """Find the first CSV line whose field count differs from the header's (polars does not say)."""
    try:
        with _open(uri, "rt") as handle:
            reader = csv.reader(handle)  # type: ignore[arg-type]
            header = next(reader, None)
            if header is None:
                return ""
            for row in reader:
                if row and len(row) != len(header):
                    return (
                        f"line {reader.line_num} has {len(row)} fields but the header has {len(header)}"
                    )
    except (csv.Error, UnicodeDecodeError) as exc:
        return f"{exc}"
    return ""


def _check_utf8(raw: bytes, uri: str) -> None:
    """CSV must be UTF-8: name the line of the first byte that is not, instead of a codec error."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataSourceError(
            f"{uri} is not UTF-8 text: line {line} has the byte 0x{raw[exc.start]:02x}, which UTF-8 does not allow there",
            hint="save the file as UTF-8 (for example `iconv -f latin1 -t utf-8 in.csv > out.csv`), then run again",
        ) from exc


def _read_csv_text(raw: bytes, uri: str) -> pl.DataFrame:
    """Every column as text, and any row whose field count differs from the header's (too many
    or too few) is an error naming its line: a short row must not quietly become nulls."""
    header_line = raw.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
    names = next(csv.reader([header_line]), [])
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise DataSourceError(
            f"{uri} has duplicated column name(s) in its header: {', '.join(map(repr, duplicated))}",
            hint="give every column a distinct name",
        )
    malformed: list[pacsv.InvalidRow] = []

    def on_malformed(row: pacsv.InvalidRow) -> str:
        malformed.append(row)
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(raw),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_malformed, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            null_values=[""],  # "NA" is a value (North America), not a missing one
            strings_can_be_null=True,
        ),
    )
    if malformed:
        first = malformed[0]
        where = _locate_csv_problem(uri) or (
            f"a row has {first.actual_columns} fields but the header has {first.expected_columns}: {first.text[:80]!r}"
        )
        raise DataSourceError(
            f"cannot read {uri} as csv: {where} ({len(malformed)} malformed row(s) in all)",
            hint="fix or re-export those rows (quote fields that contain commas), then run the command again",
        )
    return pl.from_arrow(table)  # type: ignore[return-value]


def read_source(ref: SourceRef, *, as_text: bool = False) -> pl.DataFrame:
    """Read the whole source. With `as_text`, CSV columns stay strings (types are checked by the schema)."""
    hash_source(ref)  # existence and readability, with a clear error
    try:
        if ref.format == "parquet":
            with _open(ref.uri) as handle:
                frame = pl.read_parquet(io.BytesIO(handle.read()))
        else:
            with _open(ref.uri) as handle:
                raw = handle.read()
            if not raw.strip():
                raise DataSourceError(
                    f"data source {ref.uri} is empty", hint="export the data again; the file has no header and no rows"
                )
            _check_utf8(raw, ref.uri)
            if as_text:
                frame = _read_csv_text(raw, ref.uri)
            else:
                frame = pl.read_csv(
                    io.BytesIO(raw), infer_schema_length=10_000, try_parse_dates=True, raise_if_empty=True
                )
    except DataSourceError:
        raise
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, pl.exceptions.ShapeError, pa.ArrowInvalid) as exc:
        where = _locate_csv_problem(ref.uri) if ref.format == "csv" else ""
        detail = where or str(exc).splitlines()[0]
        hint = (
            "fix or re-export that row (quote fields that contain commas), then run the command again"
            if ref.format == "csv"
            else "the file is truncated or not Parquet: export it again, or set data.format if it is CSV"
        )
        raise DataSourceError(f"cannot read {ref.uri} as {ref.format}: {detail}", hint=hint) from exc
    except OSError as exc:
        raise DataSourceError(f"cannot read {ref.uri}: {exc}", hint="check the file and its permissions") from exc
    if frame.height == 0:
        raise DataSourceError(f"data source {ref.uri} has a header but no rows", hint="point data.source at a file with data")
    blank = [name for name in frame.columns if not name.strip()]
    if blank:
        raise DataSourceError(f"{ref.uri} has a column with an empty name", hint="give every column a header")
    return frame


def uri_for_display(uri: str) -> str:
    """A local path as given; a URL with any password removed."""
    if "://" in uri and "@" in uri.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = uri.split("://", 1)
        host = rest.split("@", 1)[1]
        return f"{scheme}://***@{host}"
    return uri


__all__ = ["SourceRef", "hash_source", "read_source", "uri_for_display"]
