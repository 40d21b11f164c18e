"""Seeded, leakage-aware splits, stored as a manifest of row indices with its own hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from assay.errors import DataError
from assay.spec.model import DataSpec, SplitSpec

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True, slots=True)
class SplitManifest:
    """Which rows of a dataset version are in each split. Row indices point into the snapshot."""

    dataset_version_id: str
    strategy: str
    seed: int
    indices: Mapping[str, np.ndarray]
    details: Mapping[str, Any] = field(default_factory=dict)  # cut-offs, gap, group counts
    warnings: tuple[str, ...] = ()

    def sizes(self) -> dict[str, int]:
        return {name: int(len(self.indices[name])) for name in SPLITS}

    def to_json_bytes(self) -> bytes:
        body = {
            "format": "assay.split/1",
            "dataset_version_id": self.dataset_version_id,
            "strategy": self.strategy,
            "seed": self.seed,
            "details": dict(self.details),
            "warnings": list(self.warnings),
            "splits": {name: self.indices[name].tolist() for name in SPLITS},
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_json_bytes()).hexdigest()

    @classmethod
    def from_json_bytes(cls, data: bytes) -> SplitManifest:
        body = json.loads(data)
        return cls(
            dataset_version_id=body["dataset_version_id"],
            strategy=body["strategy"],
            seed=body["seed"],
            indices={name: np.asarray(body["splits"][name], dtype=np.int64) for name in SPLITS},
            details=body.get("details", {}),
            warnings=tuple(body.get("warnings", ())),
        )


PREDEFINED_COLUMN = "_assay_split"  # written by ingest for data.sources (assay.data.dataset.SPLIT_COLUMN)


def _predefined(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    if PREDEFINED_COLUMN not in frame.columns:
        raise DataError(
            "split.strategy is predefined but this dataset version was not ingested from data.sources",
            hint="ingest the pre-split files again (`assay ingest`) after setting data.sources",
        )
    labels = frame.get_column(PREDEFINED_COLUMN).to_numpy()
    return {name: np.flatnonzero(labels == name) for name in SPLITS}


def _counts(n: int, split: SplitSpec) -> tuple[int, int]:
    n_test = max(1, int(round(n * split.test_fraction)))
    n_val = int(round(n * split.validation_fraction))
    if n - n_test - n_val < 1:
        raise DataError(
            f"{n} rows are too few to split into train, validation and test",
            hint="add data or lower split.test_fraction / split.validation_fraction",
        )
    return n_test, n_val


def _random(n: int, split: SplitSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n_test, n_val = _counts(n, split)
    order = rng.permutation(n)
    return {"test": order[:n_test], "validation": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}


def _stratified(y: np.ndarray, split: SplitSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    for value in np.unique(y):
        members = np.flatnonzero(y == value)
        chosen = members[rng.permutation(len(members))]
        n_test = int(round(len(members) * split.test_fraction))
        n_val = int(round(len(members) * split.validation_fraction))
        parts["test"].append(chosen[:n_test])
        parts["validation"].append(chosen[n_test : n_test + n_val])
        parts["train"].append(chosen[n_test + n_val :])
    return {name: np.concatenate(chunks) if chunks else np.array([], dtype=np.int64) for name, chunks in parts.items()}


def _group(entities: pl.Series, split: SplitSpec, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Whole entities go to one split each. Entities are visited largest first (ties in seeded
    random order) and each goes to the split with the most rows still missing from its target, so
    one big entity lands where it fits and cannot starve a split the way a cumulative cut can."""
    codes = entities.cast(pl.String).fill_null("<null>")
    sizes = pl.DataFrame({"g": codes}).group_by("g").len().sort("g")
    tiebreak = rng.permutation(sizes.height)
    ordered = sizes.with_columns(pl.Series("tie", tiebreak)).sort(["len", "tie"], descending=[True, False])
    n = len(codes)
    names = ("test", "validation", "train")
    targets = np.array([split.test_fraction, split.validation_fraction, 1 - split.test_fraction - split.validation_fraction]) * n
    filled = np.zeros(3)
    assignment: dict[str, int] = {}
    for group, size in zip(ordered.get_column("g").to_list(), ordered.get_column("len").to_list(), strict=True):
        deficit = np.where(targets > 0, targets - filled, -np.inf)
        choice = int(np.argmax(deficit))
        assignment[group] = choice
        filled[choice] += size
    per_row = codes.replace_strict(assignment, return_dtype=pl.Int8).to_numpy()
    result = {name: np.flatnonzero(per_row == i) for i, name in enumerate(names)}
    counts = np.bincount(np.fromiter(assignment.values(), dtype=np.int64), minlength=3)
    details = {"groups": {name: int(counts[i]) for i, name in enumerate(names)}}
    return result, details


def _time(times: pl.Series, split: SplitSpec) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if times.null_count():
        raise DataError(
            f"time column {times.name!r} has {times.null_count()} missing value(s); a time split needs every row dated",
            hint="fill or drop those rows, or choose another split strategy",
        )
    n = times.len()
    if split.gap_days and not times.dtype.is_temporal():
        raise DataError(
            f"split.gap_days needs a date or datetime time column; {times.name!r} is {times.dtype}",
            hint="declare the column as type date or datetime in data.schema, or set gap_days: 0",
        )
    n_test, n_val = _counts(n, split)
    ordered = times.sort()
    test_start = ordered[n - n_test]
    val_start = ordered[n - n_test - n_val] if n_val else test_start
    gap = timedelta(days=split.gap_days)
    is_test = times >= test_start
    is_val = (times >= val_start) & ~is_test
    if gap:
        is_val = is_val & (times < test_start - gap)
        train = times < val_start - gap if n_val else times < test_start - gap
    else:
        train = times < val_start
    result = {
        "train": np.flatnonzero(train.to_numpy()),
        "validation": np.flatnonzero(is_val.to_numpy()),
        "test": np.flatnonzero(is_test.to_numpy()),
    }
    if len(result["train"]) == 0:
        raise DataError("the time split left no training rows", hint="lower split.gap_days or the split fractions")
    if n_val and len(result["validation"]) == 0:
        raise DataError(
            f"split.gap_days ({split.gap_days}) is as long as the validation window, which left it empty",
            hint="lower split.gap_days, raise split.validation_fraction, or set validation_fraction: 0",
        )
    details = {
        "validation_start": str(val_start),
        "test_start": str(test_start),
        "gap_days": split.gap_days,
        "dropped_for_gap": int(n - sum(len(v) for v in result.values())),
    }
    return result, details


def split_dataset(
    frame: pl.DataFrame, *, dataset_version_id: str, data: DataSpec, split: SplitSpec, seed: int
) -> SplitManifest:
    """Split `frame` (a dataset version's snapshot) by the spec's strategy. Same inputs, same manifest."""
    rng = np.random.default_rng(seed)
    warnings: list[str] = []
    details: dict[str, Any] = {}
    if split.strategy == "predefined":
        indices = _predefined(frame)
    elif split.strategy == "random":
        indices = _random(frame.height, split, rng)
        if data.time is not None:
            warnings.append(
                f"data.time is {data.time!r} but split.strategy is random: the model is tested on rows "
                "older than some it trained on, so test metrics overstate how it will do on future data; "
                "use strategy: time"
            )
        if data.entity is not None:
            warnings.append(
                f"data.entity is {data.entity!r} but split.strategy is random: the same {data.entity} can "
                "appear in train and test; use strategy: group (or time) to keep entities apart"
            )
    elif split.strategy == "stratified":
        indices = _stratified(frame.get_column(data.target).to_numpy(), split, rng)
    elif split.strategy == "group":
        assert data.entity is not None  # guaranteed by the spec validator
        indices, details = _group(frame.get_column(data.entity), split, rng)
    else:
        assert data.time is not None  # guaranteed by the spec validator
        indices, details = _time(frame.get_column(data.time), split)
    indices = {name: np.sort(indices[name]).astype(np.int64) for name in SPLITS}
    for name in ("train", "test"):
        if len(indices[name]) == 0:
            raise DataError(f"the {name} split is empty", hint="add data or change the split fractions")
    return SplitManifest(dataset_version_id, split.strategy, seed, indices, details, tuple(warnings))


__all__ = ["SPLITS", "SplitManifest", "split_dataset"]
