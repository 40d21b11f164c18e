"""Chunk plans are deterministic and cover every row once; a row range reads exactly those rows;
the input hash follows content, not location."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.batch.plan import (
    hash_inputs,
    iter_csv_tasks,
    parquet_tasks,
    plan_chunks,
    read_parquet_rows,
    resolve_inputs,
)
from assay.errors import DataSourceError


def _write(path: Path, rows: int, *, start: int = 0, row_group: int = 7) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"x": list(range(start, start + rows)), "y": [f"v{i}" for i in range(start, start + rows)]}) \
        .write_parquet(path, row_group_size=row_group)
    return path


def test_chunks_cover_every_row_once_in_order_and_never_span_files(tmp_path: Path) -> None:
    _write(tmp_path / "in" / "b.parquet", 25, start=100)
    _write(tmp_path / "in" / "a.parquet", 12)
    (tmp_path / "in" / "_notes.parquet").write_bytes(b"not data")  # hidden files are not input
    fs, files = resolve_inputs(str(tmp_path / "in"))
    assert [Path(f.path).name for f in files] == ["a.parquet", "b.parquet"]
    chunks = plan_chunks(files, chunk_rows=10)
    assert chunks is not None
    assert [(c.index, c.file, c.start, c.rows) for c in chunks] == [
        (0, 0, 0, 10), (1, 0, 10, 2), (2, 1, 0, 10), (3, 1, 10, 10), (4, 1, 20, 5)]
    tasks = parquet_tasks(files, chunks)
    assert [t.row_index for t in tasks] == [0, 10, 12, 22, 32]
    values = [read_parquet_rows(fs, t.input, t.chunk.start, t.chunk.rows, ["x"]).column("x").to_pylist() for t in tasks]
    assert sum(values, []) == list(range(12)) + list(range(100, 125))
    assert plan_chunks(files, chunk_rows=10) == chunks  # deterministic


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, 99), rows=st.integers(1, 100), group=st.integers(1, 40))
def test_a_row_range_reads_exactly_its_rows_whatever_the_row_groups(tmp_path_factory: pytest.TempPathFactory,
                                                                      start: int, rows: int, group: int) -> None:
    path = _write(tmp_path_factory.mktemp("p") / "x.parquet", 100, row_group=group)
    fs, files = resolve_inputs(str(path))
    got = read_parquet_rows(fs, files[0], start, rows, ["x", "y"])
    assert got.column("x").to_pylist() == list(range(start, min(100, start + rows)))


def test_csv_chunks_match_the_parquet_plan(tmp_path: Path) -> None:
    frame = pl.DataFrame({"x": list(range(23)), "y": [f"v{i}" for i in range(23)]})
    frame.write_csv(tmp_path / "in.csv")
    _, files = resolve_inputs(str(tmp_path / "in.csv"))
    assert plan_chunks(files, chunk_rows=5) is None  # rows unknown until read
    tasks = list(iter_csv_tasks(files, chunk_rows=5))
    assert [(t.chunk.index, t.chunk.start, t.chunk.rows, t.row_index) for t in tasks] == [
        (0, 0, 5, 0), (1, 5, 5, 5), (2, 10, 5, 10), (3, 15, 5, 15), (4, 20, 3, 20)]
    assert sum((t.table.column("x").to_pylist() for t in tasks), []) == [str(i) for i in range(23)]  # type: ignore[union-attr]


def test_the_input_hash_follows_content_not_location(tmp_path: Path) -> None:
    one = _write(tmp_path / "one" / "in.parquet", 10)
    two = _write(tmp_path / "two" / "in.parquet", 10)
    other = _write(tmp_path / "three" / "in.parquet", 10, start=1)
    digest = {name: hash_inputs(*resolve_inputs(str(path))) for name, path in
              {"one": one, "two": two, "other": other}.items()}
    assert digest["one"] == digest["two"] != digest["other"]


def test_inputs_that_cannot_be_scored_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="has no Parquet or CSV file"):
        resolve_inputs(str(tmp_path / "missing"))
    (tmp_path / "mixed").mkdir()
    _write(tmp_path / "mixed" / "a.parquet", 3)
    pl.DataFrame({"x": [1]}).write_csv(tmp_path / "mixed" / "b.csv")
    with pytest.raises(DataSourceError, match="mixes Parquet and CSV"):
        resolve_inputs(str(tmp_path / "mixed"))
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(DataSourceError, match="cannot tell the format"):
        resolve_inputs(str(tmp_path / "data.json"))
