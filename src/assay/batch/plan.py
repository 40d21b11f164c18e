"""The plan of a scoring job: what it reads, how it is cut into chunks, and what each worker gets.

An input is one file, a folder (every Parquet or CSV file under it), or a glob, on any fsspec URL.
Files are taken in sorted order and each is cut into chunks of `chunk_rows` consecutive rows (a
chunk never spans two files), so the same input and options always give the same chunks, with the
same numbers. A Parquet chunk is a row range a worker reads itself; a CSV file cannot be entered in
the middle, so its chunks are read in order by the coordinator and shipped to the workers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.spec import AbstractFileSystem

from assay.batch.options import RetryPolicy
from assay.batch.output import OutputLocation
from assay.data.source import SourceRef, data_file_format, iter_batches, list_data_files, source_columns
from assay.errors import DataSourceError
from assay.project.package import ModelPackage
from assay.spec.model import ColumnSchema, DataSchema

Format = Literal["parquet", "csv"]
_HASH_BLOCK = 8 << 20
ROW_INDEX = "row_index"


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input file: where it is (a path on `fs`), its format, its size, its columns and, for
    Parquet, its rows (both read once, from the footer or the CSV header, when the input is resolved)."""

    path: str
    display: str  # the URL as the user would write it, for messages
    format: Format
    size_bytes: int
    rows: int | None  # None for CSV: unknown until read
    columns: tuple[str, ...] = ()

    def source(self) -> SourceRef:
        return SourceRef(uri=self.display, format=self.format)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Rows [start, start + rows) of input file `file`; `index` names it in the output."""

    index: int
    file: int
    start: int
    rows: int

    @property
    def name(self) -> str:
        return f"{self.index:05d}"


@dataclass(frozen=True, slots=True)
class ChunkTask:
    """What a worker needs to score one chunk: where its rows are (or the rows themselves, for CSV),
    and the position of its first row in the whole input (the stable row index)."""

    chunk: Chunk
    input: InputFile
    row_index: int
    table: pa.Table | None = None  # CSV: the chunk's rows, every column as text


def resolve_inputs(url: str, *, fs: AbstractFileSystem | None = None) -> tuple[AbstractFileSystem, list[InputFile]]:
    """The input's files in sorted order, with sizes and Parquet row counts (from the footers)."""
    listed = list_data_files(url, fs=fs, what="the input", hint="point --input at a .parquet or .csv file, a "
                             "folder holding them, or a glob such as 'data/*.parquet'")
    fs, paths = listed.fs, list(listed.paths)
    formats = {data_file_format(p) for p in paths}
    if len(formats) > 1:
        raise DataSourceError(f"the input {url} mixes Parquet and CSV files",
                              hint="score one format per job: point --input at one kind of file")
    fmt: Format = formats.pop() or "parquet"
    files = []
    for path in paths:
        display = listed.display(path)
        try:
            size = int(fs.size(path))
            if fmt == "parquet":
                rows, columns = _parquet_footer(fs, path)
            else:
                rows, columns = None, tuple(source_columns(SourceRef(uri=display, format="csv")))
        except (OSError, pa.ArrowException) as exc:
            raise DataSourceError(f"cannot read {display}: {exc}",
                                  hint="the file is truncated or not Parquet: export it again") from exc
        files.append(InputFile(path, display, fmt, size, rows, columns))
    return fs, files


def _parquet_footer(fs: AbstractFileSystem, path: str) -> tuple[int, tuple[str, ...]]:
    with fs.open(path, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        return int(parquet.metadata.num_rows), tuple(parquet.schema_arrow.names)


def hash_inputs(fs: AbstractFileSystem, files: Sequence[InputFile]) -> str:
    """sha256 over every file's bytes, in order, each prefixed by its name and size: the same data
    under the same names gives the same hash wherever it lives."""
    digest = hashlib.sha256()
    root = _common_root([f.path for f in files])
    for file in files:
        digest.update(f"{file.path[len(root):]}\0{file.size_bytes}\0".encode())
        with fs.open(file.path, "rb") as handle:
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
    return digest.hexdigest()


def _common_root(paths: Sequence[str]) -> str:
    if len(paths) == 1:
        return paths[0].rsplit("/", 1)[0] + "/" if "/" in paths[0] else ""
    prefix = paths[0]
    for path in paths[1:]:
        while not path.startswith(prefix):
            prefix = prefix[:-1]
    return prefix[: prefix.rfind("/") + 1]


def plan_chunks(files: Sequence[InputFile], *, chunk_rows: int) -> list[Chunk] | None:
    """Every chunk of a Parquet input, in order; None for CSV (chunks appear as the file is read)."""
    if any(f.rows is None for f in files):
        return None
    chunks: list[Chunk] = []
    for number, file in enumerate(files):
        assert file.rows is not None
        for start in range(0, file.rows, chunk_rows):
            chunks.append(Chunk(len(chunks), number, start, min(chunk_rows, file.rows - start)))
    return chunks


def iter_csv_tasks(files: Sequence[InputFile], *, chunk_rows: int) -> Iterator[ChunkTask]:
    """A CSV input's chunks in order, each with its rows (every column as text, as ingest reads CSV)."""
    index = 0
    row_index = 0
    for number, file in enumerate(files):
        start = 0
        pending: list[pl.DataFrame] = []
        held = 0
        for batch in iter_batches(file.source(), batch_rows=chunk_rows):
            pending.append(batch)
            held += batch.height
            while held >= chunk_rows:
                frame = pl.concat(pending, how="vertical") if len(pending) > 1 else pending[0]
                head, rest = frame.head(chunk_rows), frame.slice(chunk_rows)
                yield ChunkTask(Chunk(index, number, start, chunk_rows), file, row_index, head.to_arrow())
                index, start, row_index = index + 1, start + chunk_rows, row_index + chunk_rows
                pending, held = ([rest] if rest.height else []), rest.height
        if held:
            frame = pl.concat(pending, how="vertical") if len(pending) > 1 else pending[0]
            yield ChunkTask(Chunk(index, number, start, held), file, row_index, frame.to_arrow())
            index, row_index = index + 1, row_index + held


def parquet_tasks(files: Sequence[InputFile], chunks: Sequence[Chunk]) -> list[ChunkTask]:
    """Tasks for planned Parquet chunks, each with the stable index of its first row."""
    offsets = [0]
    for file in files:
        offsets.append(offsets[-1] + int(file.rows or 0))
    return [ChunkTask(c, files[c.file], offsets[c.file] + c.start) for c in chunks]


def read_parquet_rows(fs: AbstractFileSystem, file: InputFile, start: int, rows: int,
                      columns: Sequence[str]) -> pa.Table:
    """Rows [start, start + rows) of a Parquet file, only `columns`: the row groups that hold them are
    read, then sliced, so memory follows the chunk (and its row groups), not the file."""
    with fs.open(file.path, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        meta = parquet.metadata
        groups: list[int] = []
        first = position = 0
        for group in range(meta.num_row_groups):
            size = meta.row_group(group).num_rows
            if position + size > start and position < start + rows:
                if not groups:
                    first = position
                groups.append(group)
            position += size
        table = parquet.read_row_groups(groups, columns=list(columns))
    return table.slice(start - first, rows)


@dataclass(frozen=True, slots=True)
class ScoringPlan:
    """Everything a worker needs besides the chunk. Picklable: it travels to every worker once."""

    package: ModelPackage
    model_name: str
    model_version: int
    run_id: str
    checks: DataSchema  # the schema checks rows must pass: the model's inputs, as the spec declares them
    id_column: str | None  # the input's row id, carried to the output
    input_fs: AbstractFileSystem
    output: OutputLocation
    threads: int = 1
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def read_columns(self) -> tuple[str, ...]:
        names = [c["name"] for c in self.package.signature["inputs"]]
        if self.id_column is not None and self.id_column not in names:
            names.append(self.id_column)
        return tuple(names)


def check_schema(signature: Mapping[str, Any], declared: DataSchema | None) -> DataSchema:
    """The checks every input row must pass: each model input as the spec's schema declares it
    (type, nullability, range, allowed values), else as the signature recorded it. Uniqueness is a
    dataset property, not a row's, and is not checked here."""
    columns: dict[str, ColumnSchema] = {}
    for column in signature["inputs"]:
        name = column["name"]
        found = declared.columns.get(name) if declared is not None else None
        if found is not None:
            columns[name] = found.model_copy(update={"unique": False})
        else:
            columns[name] = ColumnSchema(type=column["type"], nullable=bool(column.get("nullable", True)))
    return DataSchema(columns=columns, min_rows=None)


def output_columns(signature: Mapping[str, Any], id_column: str | None) -> list[str]:
    """The scored output's columns, in order."""
    names = [ROW_INDEX] + ([id_column] if id_column else [])
    output = signature.get("output", {})
    if output.get("kind") == "probability" and len(output.get("classes") or []) > 2:
        names += ["probabilities", "prediction"]
    else:
        names.append("score")
    return names + ["model", "model_version", "run_id"]


def describe_chunk(task: ChunkTask | Any) -> str:
    chunk = task.chunk
    end = chunk.start + chunk.rows - 1
    return f"chunk {chunk.index} (rows {chunk.start}-{end} of {task.input.display})"


__all__ = [
    "ROW_INDEX",
    "Chunk",
    "ChunkTask",
    "InputFile",
    "ScoringPlan",
    "check_schema",
    "describe_chunk",
    "hash_inputs",
    "iter_csv_tasks",
    "output_columns",
    "parquet_tasks",
    "plan_chunks",
    "read_parquet_rows",
    "resolve_inputs",
]
