"""Preparing a dataset version: target checks, declared vs inferred schema, stable version ids."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from assay.data.dataset import dataset_version_id, prepare_dataset, read_snapshot, write_snapshot
from assay.errors import DataSourceError
from assay.spec.model import ColumnSchema, DataSchema, DataSpec

CSV = "id,amount,kind,label\n1,10.5,a,0\n2,3.0,b,1\n3,7.25,a,0\n4,1.0,b,1\n"


def _write(tmp_path: Path, name: str = "d.csv", text: str = CSV) -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return name


SCHEMA = DataSchema(
    columns={
        "id": ColumnSchema(type="int", unique=True, nullable=False),
        "amount": ColumnSchema(type="float", min=0),
        "kind": ColumnSchema(type="category", allowed=["a", "b"]),
        "label": ColumnSchema(type="int", min=0, max=1),
    }
)


def test_missing_target_names_the_column_and_lists_the_available_ones(tmp_path: Path) -> None:
    data = DataSpec(source=_write(tmp_path), target="defaulted")
    with pytest.raises(DataSourceError) as info:
        prepare_dataset(data, name="d", base_dir=tmp_path)
    assert "'defaulted'" in info.value.message
    assert str(tmp_path / "d.csv") in info.value.message
    assert "id, amount, kind, label" in info.value.hint


def test_prepare_with_inferred_schema(tmp_path: Path) -> None:
    data = DataSpec(source=_write(tmp_path), target="label", id="id")
    prepared = prepare_dataset(data, name="d", base_dir=tmp_path)
    assert prepared.schema_inferred
    assert prepared.report.passed
    assert prepared.schema.columns["id"].unique
    assert prepared.schema.columns["kind"].allowed == ["a", "b"]
    assert prepared.frame.height == 4
    assert prepared.size_bytes == len(CSV.encode())
    assert prepared.version_id.startswith("ds-") and len(prepared.version_id) == 19
    assert prepared.schema_dict()["columns"]["amount"]["type"] == "float"


def test_prepare_with_declared_schema_reads_csv_as_text_and_types_it(tmp_path: Path) -> None:
    data = DataSpec(source=_write(tmp_path), target="label", schema=SCHEMA)
    prepared = prepare_dataset(data, name="d", base_dir=tmp_path)
    assert not prepared.schema_inferred
    assert prepared.schema == SCHEMA
    assert prepared.report.passed, prepared.report.summary()
    assert prepared.frame.schema == pl.Schema(
        {"id": pl.Int64, "amount": pl.Float64, "kind": pl.String, "label": pl.Int64}
    )


def test_prepare_reports_failures_instead_of_raising(tmp_path: Path) -> None:
    text = CSV.replace("2,3.0,b,1", "2,-3.0,c,1").replace("4,1.0", "4,oops")
    data = DataSpec(source=_write(tmp_path, text=text), target="label", pii=["amount"], schema=SCHEMA)
    prepared = prepare_dataset(data, name="d", base_dir=tmp_path)
    failed = {(r.check, r.column) for r in prepared.report.errors}
    assert failed == {("type", "amount"), ("range", "amount"), ("allowed", "kind")}
    masked = [r for r in prepared.report.errors if r.column == "amount"]
    assert all(set(r.examples) == {"***"} for r in masked)


def test_prepare_reads_parquet(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2, 3], "amount": [10.5, 3.0, 7.25], "kind": ["a", "b", "a"], "label": [0, 1, 0]})
    frame.write_parquet(tmp_path / "d.parquet")
    data = DataSpec(source="d.parquet", target="label", schema=SCHEMA)
    prepared = prepare_dataset(data, name="d", base_dir=tmp_path)
    assert prepared.source.format == "parquet"
    assert prepared.report.passed
    assert prepared.frame.equals(frame)


def test_version_id_is_stable_for_the_same_inputs(tmp_path: Path) -> None:
    data = DataSpec(source=_write(tmp_path), target="label", schema=SCHEMA)
    first = prepare_dataset(data, name="d", base_dir=tmp_path)
    again = prepare_dataset(data, name="d", base_dir=tmp_path)
    assert first.version_id == again.version_id
    assert first.content_hash == again.content_hash
    copy = tmp_path / "copy"
    copy.mkdir()
    elsewhere = prepare_dataset(DataSpec(source=_write(copy), target="label", schema=SCHEMA), name="d", base_dir=copy)
    assert elsewhere.version_id == first.version_id  # identity is content, not location


def test_version_id_changes_with_content_schema_or_name(tmp_path: Path) -> None:
    data = DataSpec(source=_write(tmp_path), target="label", schema=SCHEMA)
    base = prepare_dataset(data, name="d", base_dir=tmp_path).version_id
    assert prepare_dataset(data, name="other", base_dir=tmp_path).version_id != base
    changed_schema = SCHEMA.model_copy(update={"max_rows": 1000})
    schema_id = prepare_dataset(
        DataSpec(source="d.csv", target="label", schema=changed_schema), name="d", base_dir=tmp_path
    ).version_id
    assert schema_id != base
    _write(tmp_path, text=CSV + "5,2.0,a,0\n")
    assert prepare_dataset(data, name="d", base_dir=tmp_path).version_id != base


def test_dataset_version_id_is_a_pure_function() -> None:
    a = dataset_version_id("n", "0" * 64, SCHEMA)
    assert a == dataset_version_id("n", "0" * 64, DataSchema.model_validate(SCHEMA.model_dump()))
    assert a != dataset_version_id("n", "1" * 64, SCHEMA)
    tweaked = DataSchema(columns={**SCHEMA.columns, "kind": ColumnSchema(type="category", allowed=["a", "b", "c"])})
    assert a != dataset_version_id("n", "0" * 64, tweaked)


def test_dataset_version_id_ignores_column_declaration_order() -> None:
    reordered = DataSchema(columns=dict(reversed(list(SCHEMA.columns.items()))))
    assert dataset_version_id("n", "0" * 64, reordered) == dataset_version_id("n", "0" * 64, SCHEMA)


def test_snapshot_round_trips(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1, None], "b": ["x", "y"]})
    path = write_snapshot(frame, tmp_path / "snaps")
    assert path.parent == tmp_path / "snaps" and path.suffix == ".parquet"
    assert read_snapshot(path.read_bytes()).equals(frame)
