"""Splits: seeded, disjoint, complete, and leakage-aware for time and entity."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import assay.leakage
from assay.errors import DataError
from assay.leakage.split import SPLITS, SplitManifest, split_dataset
from assay.spec.model import DataSpec, SplitSpec

N = 1000


def _frame(n: int = N, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "when": [date(2023, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 365, n)],
            "who": [f"c{int(e)}" for e in rng.integers(0, 150, n)],
            "label": (rng.uniform(size=n) < 0.15).astype(np.int64),
            "x": rng.normal(size=n),
        }
    )


DATA = DataSpec(source="d.csv", target="label", time="when", entity="who")
PLAIN = DataSpec(source="d.csv", target="label")


def _split(frame: pl.DataFrame, strategy: str, seed: int = 7, data: DataSpec = DATA, **split: Any) -> SplitManifest:
    return split_dataset(
        frame, dataset_version_id="ds-1", data=data, split=SplitSpec(strategy=strategy, **split), seed=seed
    )


def _assert_partition(manifest: SplitManifest, n: int, dropped: int = 0) -> None:
    parts = [set(manifest.indices[name].tolist()) for name in SPLITS]
    assert sum(len(p) for p in parts) == sum(manifest.sizes().values())  # no index twice in a split
    for i, a in enumerate(parts):
        for b in parts[i + 1 :]:
            assert not a & b
    union = set().union(*parts)
    assert len(union) == n - dropped
    assert union <= set(range(n))
    for name in SPLITS:
        indices = manifest.indices[name]
        assert indices.dtype == np.int64
        assert np.all(np.diff(indices) > 0)  # sorted


def test_public_surface_is_pinned() -> None:
    assert sorted(assay.leakage.__all__) == [
        "Declarations", "Finding", "LeakageReport", "SPLITS", "SplitManifest", "check_leakage", "split_dataset",
    ]


@pytest.mark.parametrize("strategy", ["random", "stratified", "group", "time"])
def test_every_strategy_is_deterministic_for_a_seed(strategy: str) -> None:
    frame = _frame()
    first, again = _split(frame, strategy), _split(frame, strategy)
    assert first.sha256 == again.sha256
    assert first.to_json_bytes() == again.to_json_bytes()


@pytest.mark.parametrize("strategy", ["random", "stratified", "group"])
def test_different_seeds_give_different_splits(strategy: str) -> None:
    frame = _frame()
    shas = {_split(frame, strategy, seed=seed).sha256 for seed in (1, 2, 3)}
    assert len(shas) == 3
    tests = [_split(frame, strategy, seed=seed).indices["test"].tolist() for seed in (1, 2)]
    assert tests[0] != tests[1]


def test_time_split_does_not_depend_on_the_seed() -> None:
    frame = _frame()
    a, b = _split(frame, "time", seed=1), _split(frame, "time", seed=2)
    assert {k: v.tolist() for k, v in a.indices.items()} == {k: v.tolist() for k, v in b.indices.items()}


@pytest.mark.parametrize("strategy", ["random", "stratified", "group", "time"])
def test_splits_are_disjoint_and_cover_every_row(strategy: str) -> None:
    manifest = _split(_frame(), strategy)
    _assert_partition(manifest, N)
    assert manifest.strategy == strategy
    assert manifest.dataset_version_id == "ds-1"


def test_random_split_sizes_follow_the_fractions() -> None:
    manifest = _split(_frame(), "random", data=PLAIN, test_fraction=0.25, validation_fraction=0.15)
    assert manifest.sizes() == {"train": 600, "validation": 150, "test": 250}
    assert manifest.warnings == ()


def test_time_split_tests_on_the_future() -> None:
    frame = _frame()
    manifest = _split(frame, "time")
    times = frame.get_column("when")
    train = times.gather(manifest.indices["train"])
    validation = times.gather(manifest.indices["validation"])
    test = times.gather(manifest.indices["test"])
    assert train.max() < validation.min()  # type: ignore[operator]
    assert validation.max() < test.min()  # type: ignore[operator]
    assert manifest.details["test_start"] == str(test.min())
    assert manifest.details["validation_start"] == str(validation.min())
    assert manifest.details["dropped_for_gap"] == 0


def test_time_split_sizes_with_one_row_per_day() -> None:
    frame = pl.DataFrame({"when": [date(2024, 1, 1) + timedelta(days=i) for i in range(100)], "label": [0, 1] * 50})
    frame = frame.sample(fraction=1.0, shuffle=True, seed=3)  # row order must not matter
    manifest = _split(frame, "time")
    assert manifest.sizes() == {"train": 70, "validation": 10, "test": 20}
    assert manifest.details["test_start"] == "2024-03-21"
    assert manifest.details["validation_start"] == "2024-03-11"


@pytest.mark.parametrize("gap_days", [1, 3, 9])
def test_time_gap_drops_the_rows_inside_the_gap_and_records_how_many(gap_days: int) -> None:
    start = date(2024, 1, 1)
    frame = pl.DataFrame({"when": [start + timedelta(days=i) for i in range(100)], "label": [0, 1] * 50})
    manifest = _split(frame, "time", gap_days=gap_days)
    test_start, val_start = start + timedelta(days=80), start + timedelta(days=70)
    gap = timedelta(days=gap_days)
    days = frame.get_column("when").to_list()
    expected = {
        "test": [i for i, d in enumerate(days) if d >= test_start],
        "validation": [i for i, d in enumerate(days) if val_start <= d < test_start - gap],
        "train": [i for i, d in enumerate(days) if d < val_start - gap],
    }
    assert {name: manifest.indices[name].tolist() for name in SPLITS} == expected
    dropped = 100 - sum(len(v) for v in expected.values())
    assert dropped == 2 * gap_days
    assert manifest.details["dropped_for_gap"] == dropped
    assert manifest.details["gap_days"] == gap_days
    _assert_partition(manifest, 100, dropped=dropped)


def test_time_gap_as_long_as_the_validation_window_is_refused() -> None:
    start = date(2024, 1, 1)
    frame = pl.DataFrame({"when": [start + timedelta(days=i) for i in range(100)], "label": [0, 1] * 50})
    with pytest.raises(DataError, match="validation window"):
        _split(frame, "time", gap_days=12)


def test_time_gap_without_validation_separates_train_and_test() -> None:
    start = datetime(2024, 1, 1)
    frame = pl.DataFrame({"when": [start + timedelta(hours=12 * i) for i in range(100)], "label": [0, 1] * 50})
    manifest = _split(frame, "time", validation_fraction=0.0, gap_days=2)
    times = frame.get_column("when")
    assert manifest.sizes()["validation"] == 0
    last_train = times.gather(manifest.indices["train"]).max()
    first_test = times.gather(manifest.indices["test"]).min()
    assert first_test - last_train > timedelta(days=2)  # type: ignore[operator]
    assert manifest.details["dropped_for_gap"] == 4


def test_time_gap_that_swallows_training_raises() -> None:
    frame = pl.DataFrame({"when": [date(2024, 1, 1) + timedelta(days=i) for i in range(10)], "label": [0, 1] * 5})
    with pytest.raises(DataError) as info:
        _split(frame, "time", gap_days=30)
    assert "no training rows" in info.value.message
    assert "gap_days" in info.value.hint


def test_time_column_with_nulls_raises() -> None:
    frame = _frame().with_columns(pl.when(pl.col("x") > 2).then(None).otherwise(pl.col("when")).alias("when"))
    nulls = frame.get_column("when").null_count()
    assert nulls > 0
    with pytest.raises(DataError) as info:
        _split(frame, "time")
    assert f"'when' has {nulls} missing value(s)" in info.value.message
    assert info.value.hint


def test_time_gap_with_a_numeric_time_column_is_a_data_error() -> None:
    frame = pl.DataFrame({"when": list(range(100)), "label": [0, 1] * 50})
    with pytest.raises(DataError):
        _split(frame, "time", gap_days=1)


def test_group_split_keeps_each_entity_in_one_split() -> None:
    frame = _frame()
    manifest = _split(frame, "group")
    who = frame.get_column("who")
    seen = [set(who.gather(manifest.indices[name]).to_list()) for name in SPLITS]
    assert not seen[0] & seen[1] and not seen[0] & seen[2] and not seen[1] & seen[2]
    groups = manifest.details["groups"]
    assert groups == {name: len(s) for name, s in zip(SPLITS, seen, strict=True)}
    assert sum(groups.values()) == who.n_unique()


@settings(max_examples=40, deadline=None)
@given(
    entities=st.lists(st.integers(0, 30), min_size=20, max_size=200),
    seed=st.integers(0, 2**32 - 1),
)
def test_group_split_never_puts_an_entity_in_two_splits(entities: list[int], seed: int) -> None:
    frame = pl.DataFrame({"who": [f"e{e}" for e in entities], "label": [i % 2 for i in range(len(entities))]})
    try:
        manifest = _split(frame, "group", seed=seed)
    except DataError as exc:  # a few large entities can leave the test split empty
        assert "split is empty" in exc.message
        return
    _assert_partition(manifest, len(entities))
    owner: dict[str, str] = {}
    for name in SPLITS:
        for entity in frame.get_column("who").gather(manifest.indices[name]).to_list():
            assert owner.setdefault(entity, name) == name


def test_group_split_treats_missing_entity_as_one_group() -> None:
    frame = _frame().with_columns(pl.when(pl.col("x") > 1).then(None).otherwise(pl.col("who")).alias("who"))
    manifest = _split(frame, "group")
    null_rows = set(np.flatnonzero(frame.get_column("who").is_null().to_numpy()).tolist())
    homes = [name for name in SPLITS if null_rows & set(manifest.indices[name].tolist())]
    assert len(homes) == 1


def test_stratified_split_keeps_the_class_rate() -> None:
    frame = _frame(2000)
    y = frame.get_column("label").to_numpy()
    overall = y.mean()
    for seed in (1, 2, 3):
        manifest = _split(frame, "stratified", seed=seed)
        for name in SPLITS:
            rate = y[manifest.indices[name]].mean()
            assert abs(rate - overall) < 0.005, (seed, name, rate, overall)


def test_stratified_split_handles_string_and_multiclass_labels() -> None:
    labels = ["a"] * 500 + ["b"] * 300 + ["c"] * 200
    frame = pl.DataFrame({"label": labels, "x": list(range(1000))})
    manifest = _split(frame, "stratified", data=PLAIN)
    _assert_partition(manifest, 1000)
    test_labels = frame.get_column("label").gather(manifest.indices["test"]).value_counts().sort("label")
    assert test_labels.get_column("count").to_list() == [100, 60, 40]


def test_random_split_with_a_time_column_warns_to_use_a_time_split() -> None:
    manifest = _split(_frame(), "random", data=DataSpec(source="d.csv", target="label", time="when"))
    (warning,) = manifest.warnings
    assert "'when'" in warning
    assert "strategy: time" in warning


def test_random_split_with_an_entity_column_warns_to_use_a_group_split() -> None:
    manifest = _split(_frame(), "random", data=DataSpec(source="d.csv", target="label", entity="who"))
    (warning,) = manifest.warnings
    assert "strategy: group" in warning


@pytest.mark.parametrize("strategy", ["random", "stratified", "group", "time"])
def test_manifest_json_round_trips(strategy: str) -> None:
    manifest = _split(_frame(), strategy, gap_days=2 if strategy == "time" else 0)
    data = manifest.to_json_bytes()
    again = SplitManifest.from_json_bytes(data)
    assert again.to_json_bytes() == data
    assert again.sha256 == manifest.sha256
    assert (again.strategy, again.seed, again.dataset_version_id) == (strategy, 7, "ds-1")
    assert dict(again.details) == dict(manifest.details)
    assert again.warnings == manifest.warnings
    for name in SPLITS:
        assert again.indices[name].dtype == np.int64
        assert np.array_equal(again.indices[name], manifest.indices[name])


def test_manifest_sha_changes_with_the_dataset_version() -> None:
    frame = _frame()
    a = split_dataset(frame, dataset_version_id="ds-1", data=PLAIN, split=SplitSpec(), seed=1)
    b = split_dataset(frame, dataset_version_id="ds-2", data=PLAIN, split=SplitSpec(), seed=1)
    assert a.sha256 != b.sha256


@pytest.mark.parametrize(("strategy", "n"), [("random", 1), ("time", 1), ("stratified", 3), ("group", 4)])
def test_too_few_rows_raise_a_data_error_with_a_hint(strategy: str, n: int) -> None:
    frame = pl.DataFrame(
        {
            "when": [date(2024, 1, 1)] * n,
            "who": ["same"] * n,
            "label": [i % 2 for i in range(n)],
        }
    )
    with pytest.raises(DataError) as info:
        _split(frame, strategy)
    assert info.value.hint
    assert "fraction" in info.value.hint or "data" in info.value.hint


@pytest.mark.parametrize("seed", range(6))
def test_group_split_fills_every_split_even_with_one_dominant_entity(seed: int) -> None:
    # One customer holds half the rows; a cumulative cut in shuffled order could starve a split.
    entities = ["big"] * 500 + [f"c{i}" for i in range(500)]
    frame = pl.DataFrame({"who": entities, "when": [0] * 1000, "label": [0, 1] * 500})
    manifest = _split(frame, "group", seed=seed)
    sizes = manifest.sizes()
    assert all(sizes[name] > 0 for name in SPLITS)
    assert abs(sizes["test"] - 200) <= 5 and abs(sizes["validation"] - 100) <= 5
    _assert_partition(manifest, 1000)
