"""Reading CSV and Parquet sources: errors name the file and, for CSV, the line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest

import assay.data
from assay.data.source import SourceRef, hash_source, read_source, uri_for_display
from assay.errors import DataSourceError


def _ref(tmp_path: Path, name: str, content: bytes | str | None = None, *, declared: str = "auto") -> SourceRef:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif content is not None:
        path.write_bytes(content)
    return SourceRef.resolve(name, base_dir=tmp_path, declared=declared)


def _read_error(ref: SourceRef, *, as_text: bool = False) -> DataSourceError:
    with pytest.raises(DataSourceError) as info:
        read_source(ref, as_text=as_text)
    return info.value


def test_public_surface_is_pinned() -> None:
    assert sorted(assay.data.__all__) == sorted(
        [
            "CheckResult",
            "DatasetProfile",
            "DriftThresholds",
            "check_drift",
            "merge",
            "profile_frame",
            "profile_with_edges",
            "psi",
            "PreparedDataset",
            "ScanResult",
            "SourceRef",
            "ValidationReport",
            "conform",
            "dataset_version_id",
            "hash_source",
            "infer_schema",
            "iter_batches",
            "prepare_dataset",
            "read_snapshot",
            "read_source",
            "scan_source",
            "write_snapshot",
        ]
    )


def test_resolve_is_relative_to_the_spec_folder(tmp_path: Path) -> None:
    ref = SourceRef.resolve("data/x.csv", base_dir=tmp_path)
    assert ref == SourceRef(str((tmp_path / "data" / "x.csv").resolve()), "csv")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.csv", "csv"), ("a.CSV", "csv"), ("a.csv.gz", "csv"), ("a.parquet", "parquet"), ("a.pq", "parquet")],
)
def test_format_comes_from_the_extension(tmp_path: Path, name: str, fmt: str) -> None:
    assert SourceRef.resolve(name, base_dir=tmp_path).format == fmt


def test_urls_are_kept_as_given() -> None:
    ref = SourceRef.resolve("s3://bucket/x.parquet?version=2", base_dir=Path("/nowhere"))
    assert ref == SourceRef("s3://bucket/x.parquet?version=2", "parquet")


def test_unknown_extension_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError) as info:
        SourceRef.resolve("data.json", base_dir=tmp_path)
    assert "cannot tell the format" in info.value.message
    assert "data.json" in info.value.message
    assert "data.format" in info.value.hint


def test_declared_format_overrides_the_extension(tmp_path: Path) -> None:
    ref = _ref(tmp_path, "export.dat", "a,b\n1,2\n", declared="csv")
    assert read_source(ref).to_dicts() == [{"a": 1, "b": 2}]


def test_csv_row_with_an_extra_field_names_file_and_line(tmp_path: Path) -> None:
    ref = _ref(tmp_path, "bad.csv", "a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n11,12,13\n")
    for as_text in (False, True):
        error = _read_error(ref, as_text=as_text)
        assert ref.uri in error.message
        assert "line 4 has 4 fields but the header has 3" in error.message
        assert "quote fields" in error.hint


def test_csv_extra_field_far_into_the_file_is_located(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i}\n" for i in range(20_000))
    ref = _ref(tmp_path, "long.csv", f"a,b\n{rows}1,2,3\n")
    assert "line 20002 has 3 fields but the header has 2" in _read_error(ref).message


def test_csv_not_utf8_is_a_source_error(tmp_path: Path) -> None:
    ref = _ref(tmp_path, "latin.csv", b"a,b\n1,\xe9t\xe9\n")
    error = _read_error(ref)
    assert ref.uri in error.message


def test_empty_file_is_refused(tmp_path: Path) -> None:
    ref = _ref(tmp_path, "empty.csv", b"")
    for as_text in (False, True):
        error = _read_error(ref, as_text=as_text)
        assert error.message == f"data source {ref.uri} is empty"
        assert error.hint


def test_whitespace_only_file_is_refused_as_empty(tmp_path: Path) -> None:
    ref = _ref(tmp_path, "blank.csv", "\n\n  \n")
    assert "is empty" in _read_error(ref).message


def test_header_only_file_is_refused(tmp_path: Path) -> None:
    ref = _ref(tmp_path, "header.csv", "a,b,c\n")
    for as_text in (False, True):
        error = _read_error(ref, as_text=as_text)
        assert error.message == f"data source {ref.uri} has a header but no rows"


def test_missing_file_is_refused_with_a_hint(tmp_path: Path) -> None:
    ref = _ref(tmp_path, "absent.csv")
    error = _read_error(ref)
    assert error.message == f"data source {ref.uri} does not exist"
    assert "data.source" in error.hint
    with pytest.raises(DataSourceError, match="does not exist"):
        hash_source(ref)


def test_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    ref = SourceRef.resolve("dir.csv", base_dir=tmp_path)
    with pytest.raises(DataSourceError, match="is a folder"):
        hash_source(ref)


def test_column_without_a_name_is_refused(tmp_path: Path) -> None:
    ref = _ref(tmp_path, "noname.csv", "a, \n1,2\n")
    assert "empty name" in _read_error(ref).message


def test_csv_is_typed_unless_read_as_text(tmp_path: Path) -> None:
    ref = _ref(tmp_path, "t.csv", "n,x,d,s\n1,1.5,2024-01-02,a\n2,,2024-01-03,b\n")
    typed = read_source(ref)
    assert typed.schema == pl.Schema({"n": pl.Int64, "x": pl.Float64, "d": pl.Date, "s": pl.String})
    text = read_source(ref, as_text=True)
    assert set(text.schema.values()) == {pl.String}
    assert text.get_column("n").to_list() == ["1", "2"]


def test_gzipped_csv_is_read(tmp_path: Path) -> None:
    import gzip

    ref = _ref(tmp_path, "z.csv.gz", gzip.compress(b"a,b\n1,2\n3,4\n"))
    assert read_source(ref).to_dicts() == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]


def test_parquet_source_is_read(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1, 2, None], "b": ["x", None, "z"], "c": [0.5, 1.5, 2.5]})
    frame.write_parquet(tmp_path / "d.parquet")
    ref = SourceRef.resolve("d.parquet", base_dir=tmp_path)
    assert ref.format == "parquet"
    assert read_source(ref).equals(frame)
    assert read_source(ref, as_text=True).equals(frame)  # as_text applies to CSV only


def test_parquet_without_rows_is_refused(tmp_path: Path) -> None:
    pl.DataFrame({"a": pl.Series([], dtype=pl.Int64)}).write_parquet(tmp_path / "e.parquet")
    ref = SourceRef.resolve("e.parquet", base_dir=tmp_path)
    assert "has a header but no rows" in _read_error(ref).message


def test_corrupt_parquet_names_the_file(tmp_path: Path) -> None:
    ref = _ref(tmp_path, "bad.parquet", b"this is not parquet")
    error = _read_error(ref)
    assert error.message.startswith(f"cannot read {ref.uri} as parquet")


def test_hash_source_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    content = b"a,b\n1,2\n"
    ref = _ref(tmp_path, "h.csv", content)
    assert hash_source(ref) == (hashlib.sha256(content).hexdigest(), len(content))


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("s3://user:secret@bucket/x.csv", "s3://***@bucket/x.csv"),
        ("s3://bucket/x.csv", "s3://bucket/x.csv"),
        ("/data/x@y.csv", "/data/x@y.csv"),
    ],
)
def test_uri_for_display_hides_credentials(uri: str, shown: str) -> None:
    assert uri_for_display(uri) == shown


def test_short_row_is_an_error_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("a,b,y\n1,2,0\n3,4\n5,6,1\n")
    with pytest.raises(DataSourceError, match=r"line 3 has 2 fields but the header has 3"):
        read_source(SourceRef(str(path), "csv"), as_text=True)


def test_na_is_a_value_not_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "regions.csv"
    path.write_text('region,note,y\nNA,"has, comma",1\nEU,,0\n')
    frame = read_source(SourceRef(str(path), "csv"), as_text=True)
    assert frame.get_column("region").to_list() == ["NA", "EU"]
    assert frame.get_column("note").to_list() == ["has, comma", None]


def test_duplicated_header_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,a,y\n1,2,0\n")
    with pytest.raises(DataSourceError, match="duplicated column name"):
        read_source(SourceRef(str(path), "csv"), as_text=True)


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"a,b,y\n1,ok,0\n2,caf\xe9,1\n")
    with pytest.raises(DataSourceError, match=r"line 3 has the byte 0xe9") as info:
        read_source(SourceRef(str(path), "csv"), as_text=True)
    assert "iconv" in info.value.hint


def test_a_truncated_parquet_file_says_so(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    pl.DataFrame({"a": [1, 2], "y": [0, 1]}).write_parquet(good)
    data = good.read_bytes()
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataSourceError, match="bad.parquet") as info:
        read_source(SourceRef(str(bad), "parquet"))
    assert "truncated or not Parquet" in info.value.hint
