"""Dataset profiles: one query, edge cases, comparable edges, exact JSON round trip, exact merges."""

from __future__ import annotations

import json
import math
import time
from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.data.drift import ks_against_sample
from assay.data.profile import (
    QUANTILE_POINTS,
    TOP_CATEGORIES,
    CategoricalProfile,
    DatasetProfile,
    NumericProfile,
    histogram_bins,
    merge,
    merge_quantiles,
    profile_frame,
    profile_with_edges,
)
from assay.errors import DataError
from assay.spec.model import ColumnSchema, DataSchema


def _schema(**types: str) -> DataSchema:
    return DataSchema(columns={name: ColumnSchema(type=kind) for name, kind in types.items()})  # type: ignore[arg-type]


def _numeric(profile: DatasetProfile, name: str) -> NumericProfile:
    column = profile.columns[name]
    assert isinstance(column, NumericProfile)
    return column


def _categorical(profile: DatasetProfile, name: str) -> CategoricalProfile:
    column = profile.columns[name]
    assert isinstance(column, CategoricalProfile)
    return column


def _mixed_frame(rows: int, *, seed: int, numeric: int = 15, categorical: int = 10) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for i in range(numeric):
        columns[f"x{i}"] = rng.normal(loc=i, scale=1 + i, size=rows)
    labels = np.array([f"level-{j}" for j in range(40)])
    weights = 1 / np.arange(1, 41)
    for i in range(categorical):
        columns[f"c{i}"] = labels[rng.choice(40, size=rows, p=weights / weights.sum())]
    return pl.DataFrame(columns)


def _mixed_schema(numeric: int = 15, categorical: int = 10) -> DataSchema:
    return _schema(**{f"x{i}": "float" for i in range(numeric)}, **{f"c{i}": "category" for i in range(categorical)})


# --- numeric columns -----------------------------------------------------------------------


def test_numeric_profile_matches_numpy() -> None:
    values = np.random.default_rng(0).normal(3.0, 2.0, size=5_000)
    profile = _numeric(profile_frame(pl.DataFrame({"x": values}), _schema(x="float")), "x")
    assert profile.count == profile.valid_count == 5_000
    assert profile.min == values.min() and profile.max == values.max()
    assert profile.mean == pytest.approx(values.mean(), rel=1e-12)
    assert profile.variance == pytest.approx(values.var(), rel=1e-9)
    assert len(profile.quantiles) == QUANTILE_POINTS
    assert profile.quantiles[0] == values.min() and profile.quantiles[-1] == values.max()
    assert profile.quantiles[50] == pytest.approx(np.quantile(values, 0.5), rel=1e-12)
    assert list(profile.edges) == sorted(set(profile.edges)) and len(profile.edges) == 21
    assert len(profile.histogram) == histogram_bins(profile.edges) == 22
    assert profile.histogram[0] == profile.histogram[-1] == 0  # reference values never fall outside
    assert sum(profile.histogram) == 5_000
    assert max(profile.histogram) - min(profile.histogram[1:-1]) <= 2  # quantile bins are balanced


def test_nulls_and_non_finite_values_are_counted_apart_from_the_moments() -> None:
    frame = pl.DataFrame({"x": [1.0, None, float("nan"), 3.0, float("inf"), None, -float("inf")]})
    profile = _numeric(profile_frame(frame, _schema(x="float")), "x")
    assert (profile.count, profile.null_count, profile.nan_count, profile.valid_count) == (7, 2, 3, 2)
    assert (profile.min, profile.max, profile.mean, profile.variance) == (1.0, 3.0, 2.0, 1.0)
    assert sum(profile.histogram) == 2


def test_constant_column_has_one_edge_and_three_bins() -> None:
    profile = _numeric(profile_frame(pl.DataFrame({"k": [7] * 10}), _schema(k="int")), "k")
    assert profile.edges == (7.0,)
    assert profile.histogram == (0, 10, 0)
    assert profile.variance == 0.0
    current = _numeric(profile_with_edges(pl.DataFrame({"k": [6, 7, 8, 8]}), DatasetProfile(10, {"k": profile})), "k")
    assert current.histogram == (1, 1, 2)


@pytest.mark.parametrize("rows", [0, 4])
def test_empty_frames_and_all_null_columns_profile_without_values(rows: int) -> None:
    frame = pl.DataFrame(
        {"x": pl.Series([None] * rows, dtype=pl.Float64), "c": pl.Series([None] * rows, dtype=pl.String)}
    )
    profile = profile_frame(frame, _schema(x="float", c="category"))
    x, c = _numeric(profile, "x"), _categorical(profile, "c")
    assert profile.row_count == rows
    assert (x.count, x.null_count, x.min, x.max, x.mean, x.variance) == (rows, rows, None, None, None, None)
    assert (x.edges, x.histogram, x.quantiles) == ((), (0,), ())
    assert (c.count, c.null_count, c.categories, c.other_count) == (rows, rows, (), 0)


def test_dates_profile_as_days_and_ints_as_numbers() -> None:
    frame = pl.DataFrame({"day": [date(1970, 1, 1), date(1970, 1, 11)], "n": [1, 3]})
    profile = profile_frame(frame, _schema(day="date", n="int"))
    assert (_numeric(profile, "day").min, _numeric(profile, "day").max) == (0.0, 10.0)
    assert _numeric(profile, "n").mean == 2.0


def test_out_of_range_values_land_in_the_open_outer_bins() -> None:
    reference = profile_frame(pl.DataFrame({"x": np.arange(100.0)}), _schema(x="float"), bins=4)
    current = _numeric(profile_with_edges(pl.DataFrame({"x": [-5.0, 0.0, 99.0, 150.0, 200.0]}), reference), "x")
    assert current.histogram[0] == 1 and current.histogram[-1] == 2
    assert sum(current.histogram) == 5


# --- categorical columns -------------------------------------------------------------------


def test_categorical_profile_keeps_the_top_categories_and_counts_the_rest() -> None:
    values = [f"v{i:03d}" for i in range(150) for _ in range(1 + (i < 10))] + [None]
    profile = _categorical(profile_frame(pl.DataFrame({"c": values}), _schema(c="category")), "c")
    assert len(profile.categories) == TOP_CATEGORIES
    assert profile.categories[:10] == tuple(f"v{i:03d}" for i in range(10))  # the doubled ones first
    assert profile.categories[10:12] == ("v010", "v011")  # ties broken by value, so deterministic
    assert profile.null_count == 1
    assert sum(profile.counts) + profile.other_count == profile.valid_count == 160


def test_bools_profile_as_categories() -> None:
    profile = _categorical(profile_frame(pl.DataFrame({"b": [True, True, False, None]}), _schema(b="bool")), "b")
    assert (profile.categories, profile.counts, profile.null_count) == (("true", "false"), (2, 1), 1)


def test_profile_with_edges_counts_unseen_categories_in_the_other_bucket() -> None:
    reference = profile_frame(pl.DataFrame({"c": ["a", "b", "b"]}), _schema(c="category"))
    current = _categorical(profile_with_edges(pl.DataFrame({"c": ["b", "z", "z", None]}), reference), "c")
    assert (current.categories, current.counts, current.other_count, current.null_count) == (("b", "a"), (1, 0), 2, 1)


# --- the frame as a whole ------------------------------------------------------------------


def test_unique_id_columns_are_not_profiled() -> None:
    schema = DataSchema(columns={"id": ColumnSchema(type="string", unique=True), "x": ColumnSchema(type="float")})
    profile = profile_frame(pl.DataFrame({"id": ["a", "b"], "x": [1.0, 2.0]}), schema)
    assert list(profile.columns) == ["x"]


def test_a_schema_column_missing_from_the_data_is_an_error() -> None:
    with pytest.raises(DataError, match="'y'"):
        profile_frame(pl.DataFrame({"x": [1.0]}), _schema(x="float", y="float"))


def test_a_column_missing_from_a_new_batch_profiles_as_all_null() -> None:
    reference = profile_frame(pl.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]}), _schema(x="float", c="category"))
    current = profile_with_edges(pl.DataFrame({"x": [1.0]}), reference)
    assert _categorical(current, "c").null_count == 1


def test_lazy_frames_and_the_streaming_engine_give_the_same_profile() -> None:
    frame = _mixed_frame(2_000, seed=3, numeric=3, categorical=2)
    schema = _mixed_schema(3, 2)
    eager = profile_frame(frame, schema)
    assert profile_frame(frame.lazy(), schema) == eager
    streamed = profile_frame(frame.lazy(), schema, engine="streaming")
    assert streamed.to_dict()["columns"]["c0"] == eager.to_dict()["columns"]["c0"]
    assert _numeric(streamed, "x0").histogram == _numeric(eager, "x0").histogram
    assert _numeric(streamed, "x0").quantiles == _numeric(eager, "x0").quantiles


def test_bins_below_one_are_refused() -> None:
    with pytest.raises(DataError, match="bins"):
        profile_frame(pl.DataFrame({"x": [1.0]}), _schema(x="float"), bins=0)


# --- serialisation -------------------------------------------------------------------------


def test_json_round_trip_is_exact_and_a_25_column_profile_is_small() -> None:
    frame = _mixed_frame(20_000, seed=1).with_columns(
        pl.when(pl.col("x0") > 2).then(None).otherwise(pl.col("x0")).alias("x0")
    )
    profile = profile_frame(frame, _mixed_schema())
    text = json.dumps(profile.to_dict(), separators=(",", ":"))
    assert DatasetProfile.from_dict(json.loads(text)) == profile
    print(f"\n25-column profile: {len(text.encode()) / 1024:.1f} KiB of JSON")
    assert len(text.encode()) < 100_000


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.floats(-1e12, 1e12, allow_nan=False)), max_size=50),
    labels=st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=50, max_size=50),
)
def test_any_profile_survives_json(values: list[float | None], labels: list[str | None]) -> None:
    frame = pl.DataFrame(
        {"x": pl.Series(values, dtype=pl.Float64), "c": pl.Series(labels[: len(values)], dtype=pl.String)}
    )
    profile = profile_frame(frame, _schema(x="float", c="category"))
    assert DatasetProfile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile


def test_from_dict_refuses_an_unknown_format() -> None:
    with pytest.raises(DataError, match="format"):
        DatasetProfile.from_dict({"format": 99, "row_count": 0, "columns": {}})


# --- merging -------------------------------------------------------------------------------

_VALUES = st.lists(
    st.one_of(st.none(), st.just(float("nan")), st.integers(-1_000, 1_000).map(float)), max_size=60
)


@settings(max_examples=60, deadline=None)
@given(reference=_VALUES, first=_VALUES, second=_VALUES, bins=st.integers(1, 8))
def test_merged_profiles_equal_the_profile_of_the_union(
    reference: list[float | None], first: list[float | None], second: list[float | None], bins: int
) -> None:
    schema = _schema(x="float", c="category")

    def frame(values: list[float | None]) -> pl.DataFrame:
        labels = [None if v is None else "nan" if math.isnan(v) else f"k{int(v) % 7}" for v in values]
        return pl.DataFrame({"x": pl.Series(values, dtype=pl.Float64), "c": pl.Series(labels, dtype=pl.String)})

    ref = profile_frame(frame(reference), schema, bins=bins)
    merged = merge(profile_with_edges(frame(first), ref), profile_with_edges(frame(second), ref))
    union = profile_with_edges(frame(first + second), ref)
    assert merged.row_count == union.row_count
    assert merged.columns["c"] == union.columns["c"]
    mx, ux = _numeric(merged, "x"), _numeric(union, "x")
    assert (mx.count, mx.null_count, mx.nan_count, mx.min, mx.max) == (ux.count, ux.null_count, ux.nan_count, ux.min, ux.max)
    assert (mx.histogram, mx.total, mx.mean) == (ux.histogram, ux.total, ux.mean)
    if ux.variance is not None:
        assert mx.variance == pytest.approx(ux.variance, rel=1e-9, abs=1e-9)
    assert len(mx.quantiles) == len(ux.quantiles)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), split=st.floats(0.05, 0.95))
def test_merged_moments_of_real_valued_data_agree_to_1e9(seed: int, split: float) -> None:
    values = np.random.default_rng(seed).lognormal(size=400) * 1e3
    cut = int(split * len(values))
    ref = profile_frame(pl.DataFrame({"x": values}), _schema(x="float"))
    merged = _numeric(
        merge(profile_with_edges(pl.DataFrame({"x": values[:cut]}), ref), profile_with_edges(pl.DataFrame({"x": values[cut:]}), ref)),
        "x",
    )
    assert merged.histogram == _numeric(ref, "x").histogram
    assert merged.mean == pytest.approx(values.mean(), rel=1e-12)
    assert merged.variance == pytest.approx(values.var(), rel=1e-9)


def test_merged_quantiles_stay_within_the_documented_rank_error() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 30_000), rng.normal(2, 0.5, 10_000)
    schema = _schema(x="float")
    ref = profile_frame(pl.DataFrame({"x": a}), schema)
    merged = merge(ref, profile_with_edges(pl.DataFrame({"x": b}), ref))
    union = np.concatenate([a, b])
    assert ks_against_sample(_numeric(merged, "x").quantiles, union) <= 0.02
    assert merge_quantiles((), 0, (1.0, 2.0), 5) == (1.0, 2.0)


def test_profiles_on_different_edges_do_not_merge() -> None:
    schema = _schema(x="float")
    a = profile_frame(pl.DataFrame({"x": [1.0, 2.0]}), schema)
    b = profile_frame(pl.DataFrame({"x": [5.0, 9.0]}), schema)
    with pytest.raises(DataError, match="bin edges"):
        merge(a, b)


# --- performance ---------------------------------------------------------------------------


def test_profiling_a_million_rows_by_25_columns_finishes() -> None:
    frame = _mixed_frame(1_000_000, seed=0)
    schema = _mixed_schema()
    started = time.perf_counter()
    profile = profile_frame(frame, schema)
    profiled = time.perf_counter() - started
    started = time.perf_counter()
    profile_with_edges(frame, profile)
    on_edges = time.perf_counter() - started
    size = len(json.dumps(profile.to_dict(), separators=(",", ":")).encode())
    print(f"\nprofile_frame 1M x 25: {profiled:.2f} s; profile_with_edges: {on_edges:.2f} s; {size / 1024:.1f} KiB")
    assert profile.row_count == 1_000_000 and len(profile.columns) == 25
    assert not math.isnan(_numeric(profile, "x0").m2)
