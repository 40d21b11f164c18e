"""The streaming scan: the same verdicts and profile as the in-memory path, batch by batch.

Files are small, batches tiny (`batch_rows`, `block_bytes`), so batch boundaries fall inside the
data and every per-batch merge (counts, moments, positions, examples, duplicates across batches,
sample thinning) is exercised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.data.drift import check_drift
from assay.data.profile import CategoricalProfile, DatasetProfile, NumericProfile, profile_frame, profile_with_edges
from assay.data.scan import scan_source
from assay.data.schema import conform
from assay.data.source import SourceRef, iter_batches
from assay.errors import DataSourceError
from assay.spec.model import ColumnSchema, DataSchema

SCHEMA = DataSchema(
    columns={
        "id": ColumnSchema(type="int", unique=True, nullable=False),
        "amount": ColumnSchema(type="float", min=0, max=1000),
        "count": ColumnSchema(type="int", nullable=False, min=0),
        "plan": ColumnSchema(type="category", allowed=["basic", "plus", "pro"], nullable=False),
        "active": ColumnSchema(type="bool"),
        "at": ColumnSchema(type="datetime"),
        "email": ColumnSchema(type="string"),
    },
    min_rows=1,
)


def _frame(rows: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 50.0, rows)
    amount[rng.random(rows) < 0.05] = np.nan  # NaN is a value, not a range failure
    return pl.DataFrame(
        {
            "id": np.arange(rows),
            "amount": amount,
            "count": rng.integers(0, 20, rows),
            "plan": rng.choice(["basic", "plus", "pro"], rows, p=[0.6, 0.3, 0.1]),
            "active": rng.random(rows) < 0.4,
            "at": pl.datetime_range(
                pl.datetime(2025, 1, 1), pl.datetime(2025, 1, 1) + pl.duration(minutes=rows - 1), "1m", eager=True
            ),
            "email": [f"user{i}@example.com" for i in range(rows)],
        }
    ).with_columns(pl.when(pl.col("id") % 7 == 3).then(None).otherwise(pl.col("active")).alias("active"))


def _write(frame: pl.DataFrame, path: Path) -> SourceRef:
    if path.suffix == ".csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path, row_group_size=1000)
    return SourceRef(str(path), "csv" if path.suffix == ".csv" else "parquet")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_clean_file_matches_the_in_memory_checks_and_profile(tmp_path: Path, suffix: str) -> None:
    frame = _frame(5000)
    ref = _write(frame, tmp_path / f"clean{suffix}")
    scanned = scan_source(ref, SCHEMA, batch_rows=700)
    typed, report = conform(frame, SCHEMA)
    assert scanned.report.passed and report.passed
    assert [(r.check, r.column, r.failed_count) for r in scanned.report.results] == [
        (r.check, r.column, r.failed_count) for r in report.results
    ]
    assert scanned.sample_stride == 1  # 5,000 rows: the sample is every row, so all is exact
    assert scanned.profile is not None and scanned.profile.row_count == 5000
    _assert_same_profile(scanned.profile, profile_frame(typed, SCHEMA))


def _assert_same_profile(profile: DatasetProfile, expected: DatasetProfile) -> None:
    """Equal, up to the rounding of sums accumulated batch by batch."""
    assert profile.row_count == expected.row_count and list(profile.columns) == list(expected.columns)
    for name, column in expected.columns.items():
        got = profile.columns[name]
        if isinstance(column, NumericProfile):
            assert isinstance(got, NumericProfile)
            assert (got.count, got.null_count, got.nan_count, got.min, got.max) == (
                column.count, column.null_count, column.nan_count, column.min, column.max
            ), name
            assert got.edges == column.edges and got.histogram == column.histogram, name
            assert got.quantiles == pytest.approx(column.quantiles), name
            assert got.total == pytest.approx(column.total) and got.m2 == pytest.approx(column.m2, rel=1e-9), name
        else:
            assert got == column, name


def test_failures_in_several_batches_keep_global_rows_counts_and_examples(tmp_path: Path) -> None:
    frame = _frame(3000).with_columns(
        pl.when(pl.col("id").is_in([5, 1500, 2999])).then(-1.0).otherwise(pl.col("amount")).alias("amount"),
        pl.when(pl.col("id").is_in([10, 2010])).then(pl.lit("gold")).otherwise(pl.col("plan")).alias("plan"),
        pl.when(pl.col("id") == 2500).then(None).otherwise(pl.col("count")).alias("count"),
        pl.when(pl.col("id") == 2600).then(7).otherwise(pl.col("id")).alias("id"),  # 7 twice, batches apart
    )
    ref = _write(frame, tmp_path / "bad.parquet")
    report = scan_source(ref, SCHEMA, batch_rows=400).report
    failing = {(r.check, r.column): r for r in report.errors}
    assert set(failing) == {("range", "amount"), ("allowed", "plan"), ("not_null", "count"), ("unique", "id")}
    assert failing["range", "amount"].failed_count == 3 and failing["range", "amount"].rows == (5, 1500, 2999)
    assert failing["allowed", "plan"].failed_count == 2 and failing["allowed", "plan"].examples == ("'gold'",)
    assert failing["not_null", "count"].rows == (2500,)
    assert failing["unique", "id"].failed_count == 2 and failing["unique", "id"].rows == (7, 2600)
    assert list(report.failing_rows["range", "amount"]) == [5, 1500, 2999]
    # the in-memory path agrees on every count
    in_memory = {(r.check, r.column): r.failed_count for r in conform(frame, SCHEMA)[1].errors}
    assert in_memory == {key: r.failed_count for key, r in failing.items()}


def test_text_that_is_not_of_the_type_is_reported_by_line_with_pii_masked(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    lines = ["id,count,email"] + [f"{i},{i % 5},u{i}@x.org" for i in range(1200)]
    lines[901] = "900,many,secret@x.org"
    lines[1001] = "1000,3,"
    path.write_text("\n".join(lines) + "\n")
    schema = DataSchema(
        columns={
            "id": ColumnSchema(type="int", unique=True),
            "count": ColumnSchema(type="int"),
            "email": ColumnSchema(type="string", nullable=False),
        }
    )
    report = scan_source(SourceRef(str(path), "csv"), schema, masked=["email"], block_bytes=4096).report
    failing = {(r.check, r.column): r for r in report.errors}
    assert failing["type", "count"].examples == ("'many'",) and failing["type", "count"].rows == (900,)
    assert failing["not_null", "email"].rows == (1000,)
    assert "secret" not in str(report.summary())


def test_ragged_csv_row_deep_in_the_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    lines = ["a,b,c"] + [f"{i},{i},{i}" for i in range(5000)]
    lines[4001] = "4000,4000"  # a short row: must not quietly become a null
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataSourceError, match=r"line 4002 has 2 fields but the header has 3"):
        scan_source(SourceRef(str(path), "csv"), DataSchema(columns={}), block_bytes=2048)


def test_non_utf8_byte_in_a_later_block_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    body = "".join(f"{i},ok\n" for i in range(3000)).encode()
    path.write_bytes(b"a,b\n" + body + b"3000,caf\xe9\n")
    with pytest.raises(DataSourceError, match=r"line 3002 has the byte 0xe9") as info:
        scan_source(SourceRef(str(path), "csv"), DataSchema(columns={}), block_bytes=4096)
    assert "iconv" in info.value.hint


def test_truncated_parquet_is_a_source_error(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    _frame(2000).write_parquet(good)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(DataSourceError, match="bad.parquet") as info:
        scan_source(SourceRef(str(bad), "parquet"), SCHEMA)
    assert "truncated or not Parquet" in info.value.hint


def test_header_only_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("a,b\n")
    with pytest.raises(DataSourceError, match="header but no rows"):
        scan_source(SourceRef(str(path), "csv"), DataSchema(columns={}))


def test_large_source_samples_for_quantiles_but_counts_exactly(tmp_path: Path) -> None:
    frame = _frame(20_000, seed=3)
    for suffix in (".parquet", ".csv"):  # Parquet knows its row count up front; CSV thins as it goes
        ref = _write(frame, tmp_path / f"big{suffix}")
        scanned = scan_source(ref, SCHEMA, batch_rows=1500, block_bytes=64 << 10, sample_rows=1000)
        assert scanned.sample_stride > 1
        assert scanned.profile is not None
        amount = scanned.profile.columns["amount"]
        exact = profile_frame(conform(frame, SCHEMA)[0], SCHEMA).columns["amount"]
        assert isinstance(amount, NumericProfile) and isinstance(exact, NumericProfile)
        assert (amount.count, amount.null_count, amount.nan_count, amount.min, amount.max) == (
            exact.count, exact.null_count, exact.nan_count, exact.min, exact.max
        )
        assert amount.total == pytest.approx(exact.total) and amount.m2 == pytest.approx(exact.m2, rel=1e-9)
        assert sum(amount.histogram) == amount.valid_count
        # each sampled quantile sits at about its probability in the exact distribution: within
        # four standard errors of a sample of this size (plus the summary's 1% grid)
        values = np.sort(frame.get_column("amount").drop_nans().drop_nulls().to_numpy())
        sampled = values.size // scanned.sample_stride
        for k in range(5, 96):
            p = k / 100
            rank = np.searchsorted(values, amount.quantiles[k], side="right") / values.size
            assert abs(rank - p) < 4 * np.sqrt(p * (1 - p) / sampled) + 0.01, (k, rank)
        plan = scanned.profile.columns["plan"]
        assert isinstance(plan, CategoricalProfile) and sum(plan.counts) + plan.other_count + plan.null_count == 20_000


def test_against_a_reference_the_histograms_are_exact_and_drift_is_seen(tmp_path: Path) -> None:
    reference_frame = _frame(4000, seed=1)
    reference = profile_frame(conform(reference_frame, SCHEMA)[0], SCHEMA)
    shifted = _frame(4000, seed=2).with_columns(pl.col("amount") * 1.8, pl.lit("pro").alias("plan"))
    ref = _write(shifted, tmp_path / "new.parquet")
    scanned = scan_source(ref, SCHEMA, compare_with=reference, batch_rows=900)
    in_memory = profile_with_edges(conform(shifted, SCHEMA)[0], reference)
    assert scanned.compared is not None and scanned.profile is not None
    _assert_same_profile(scanned.profile, profile_frame(conform(shifted, SCHEMA)[0], SCHEMA))  # same pass
    for name in ("amount", "count", "plan", "active"):
        got, want = scanned.compared.columns[name], in_memory.columns[name]
        if isinstance(want, NumericProfile):
            assert isinstance(got, NumericProfile) and got.histogram == want.histogram, name
        else:
            assert got == want, name
    failed = {(r.check, r.column) for r in check_drift(reference, scanned.compared) if not r.passed}
    assert ("drift.psi", "amount") in failed and ("drift.psi", "plan") in failed
    assert not any(column == "count" for _, column in failed)


def test_batches_are_bounded(tmp_path: Path) -> None:
    ref = _write(_frame(5000), tmp_path / "rows.parquet")
    heights = [batch.height for batch in iter_batches(ref, batch_rows=1000)]
    assert sum(heights) == 5000 and max(heights) <= 1000
