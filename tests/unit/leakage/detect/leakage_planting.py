"""Synthetic datasets with planted leaks of every kind, and clean look-alikes that must not be flagged.

Shared by the detector tests and bench/leakage/bench.py. Every case is built from a seed alone.
The base dataset is clean: a real predictor (AUC about 0.8), a naturally [0, 1] column, entities
kept apart, ids unrelated to the target, test rows later than training rows, features observed
before the prediction time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from assay.leakage.detect import Declarations

TARGET = "y"
LEVELS = 4  # planted leaks come in strengths 0 (blatant, the default) to LEVELS - 1 (faint)
START = datetime(2024, 1, 1)


@dataclass(frozen=True)
class Case:
    name: str
    kind: str | None  # the planted kind; None for a clean look-alike
    train: pl.DataFrame
    test: pl.DataFrame
    declarations: Declarations
    severity: str = "critical"
    columns: tuple[str, ...] = ()  # columns the finding must name
    test_rows: frozenset[int] = frozenset()  # planted test-row positions
    entities: frozenset[str] = frozenset()  # planted shared entities
    validation: pl.DataFrame | None = None
    notes: dict[str, float] = field(default_factory=dict)


def _base_frame(rng: np.random.Generator, n: int) -> pl.DataFrame:
    day = rng.uniform(0, 365, n)
    x_strong = rng.normal(size=n)
    x2 = rng.normal(size=n)
    cat = rng.choice(np.array(["a", "b", "c", "d", "e"]), size=n)
    logit = 1.3 * x_strong + 0.4 * x2 + 0.5 * (cat == "a") - 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    applied = [START + timedelta(days=float(d)) for d in day]
    observed = [t - timedelta(days=float(lag)) for t, lag in zip(applied, rng.uniform(0.5, 30, n), strict=True)]
    return pl.DataFrame(
        {
            "row_id": [f"R{i:07d}" for i in rng.permutation(n)],
            "applied_at": applied,
            "x_strong": x_strong,
            "x2": x2,
            "x2_observed_at": observed,
            "share": rng.uniform(0, 1, n),  # naturally in [0, 1]
            "utilisation": np.clip(rng.normal(0.5, 0.4, n), 0, 1),  # point masses at exactly 0 and 1
            "count": rng.poisson(3, n),
            "cat": cat,
            "outcome_notes_len": rng.integers(0, 50, n),  # a leak-like name on a harmless column
            TARGET: y,
        }
    ).sort("applied_at")


def _time_split(frame: pl.DataFrame, rng: np.random.Generator, test_fraction: float = 0.25) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Earlier rows train, later rows test; entities drawn from separate pools for each side."""
    n_test = int(frame.height * test_fraction)
    train, test = frame.head(frame.height - n_test), frame.tail(n_test)
    n_entities = max(frame.height // 4, 4)
    train = train.with_columns(pl.Series("customer_id", [f"C{i:06d}" for i in rng.integers(0, n_entities, train.height)]))
    test = test.with_columns(pl.Series("customer_id", [f"C{i:06d}" for i in rng.integers(n_entities, 2 * n_entities, test.height)]))
    return train, test


def _declarations(**changes: object) -> Declarations:
    base = Declarations(
        target=TARGET,
        time="applied_at",
        entity="customer_id",
        id_columns=("row_id",),
        feature_time={"x2": "x2_observed_at"},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _base(seed: int, n: int) -> tuple[np.random.Generator, pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    train, test = _time_split(_base_frame(rng, n), rng)
    return rng, train, test


def _pick(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    return np.sort(rng.choice(n, size=max(int(n * share), 1), replace=False))


# --- clean look-alikes ----------------------------------------------------------------------


def clean_base(seed: int, n: int = 2000) -> Case:
    _, train, test = _base(seed, n)
    return Case("clean_base", None, train, test, _declarations())


def clean_entities_may_cross(seed: int, n: int = 2000) -> Case:
    rng, train, test = _base(seed, n)
    shared = rng.choice(train.get_column("customer_id").to_numpy(), size=test.height)
    test = test.with_columns(pl.Series("customer_id", shared))
    return Case("clean_entities_may_cross", None, train, test, _declarations(entity_may_cross=True))


def clean_low_cardinality(seed: int, n: int = 2000) -> Case:
    """Three binary features and a binary target: most rows repeat by chance alone."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(n, 3))
    y = (rng.random(n) < 0.2 + 0.5 * bits[:, 0]).astype(np.int64)
    frame = pl.DataFrame({"a": bits[:, 0], "b": bits[:, 1], "c": bits[:, 2], TARGET: y})
    order = rng.permutation(n)
    n_test = n // 4
    return Case("clean_low_cardinality", None, frame[order[n_test:]], frame[order[:n_test]], Declarations(target=TARGET))


def clean_regression(seed: int, n: int = 2000) -> Case:
    """A numeric target with a strong real predictor (Spearman about 0.85)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    frame = pl.DataFrame({"x": x, "noise": rng.normal(size=n), TARGET: 2 * x + rng.normal(size=n)})
    n_test = n // 4
    return Case("clean_regression", None, frame.head(n - n_test), frame.tail(n_test), Declarations(target=TARGET))


def clean_very_strong_predictor(seed: int, n: int = 2000) -> Case:
    """A real predictor with AUC about 0.91 and ids issued in time order while the target rate drifts."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    drift = np.linspace(-0.2, 0.2, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(2.8 * x + drift)))).astype(np.int64)
    frame = pl.DataFrame({"row_id": [f"A{i:06d}" for i in range(n)], "t": np.arange(n, dtype=np.float64), "x": x, "noise": rng.normal(size=n), TARGET: y})
    n_test = n // 4
    return Case("clean_very_strong_predictor", None, frame.head(n - n_test), frame.tail(n_test), Declarations(target=TARGET, time="t", id_columns=("row_id",)))


CLEAN: tuple[Callable[..., Case], ...] = (clean_base, clean_entities_may_cross, clean_low_cardinality, clean_regression, clean_very_strong_predictor)


# --- planted leaks ---------------------------------------------------------------------------

FEATURES = ["x_strong", "x2", "share", "utilisation", "count", "cat", "outcome_notes_len", TARGET]


def planted_duplicates(seed: int, n: int = 2000, level: int = 0) -> Case:
    rng, train, test = _base(seed, n)
    rows = _pick(rng, test.height, (0.1, 0.03, 0.01, 0.004)[level])
    sources = rng.choice(train.height, size=rows.size, replace=False)
    copied = train[sources].select(FEATURES)
    test = test.with_row_index("_i").update(copied.with_columns(pl.Series("_i", rows, dtype=pl.UInt32)), on="_i").drop("_i")
    severity = "critical" if rows.size / test.height >= 0.05 else "warning"
    return Case("planted_duplicates", "duplicate_rows", train, test, _declarations(), severity=severity, columns=("x_strong", TARGET), test_rows=frozenset(rows.tolist()))


def planted_near_duplicates(seed: int, n: int = 2000, level: int = 0) -> Case:
    rng, train, test = _base(seed, n)
    rows = _pick(rng, test.height, (0.1, 0.03, 0.01, 0.004)[level])
    sources = rng.choice(train.height, size=rows.size, replace=False)
    copied = train[sources].select(FEATURES).with_columns(
        pl.col("x_strong", "x2", "share") * (1 + 1e-7), pl.col("cat").str.to_uppercase() + " "
    )
    test = test.with_row_index("_i").update(copied.with_columns(pl.Series("_i", rows, dtype=pl.UInt32)), on="_i").drop("_i")
    severity = "critical" if rows.size / test.height >= 0.05 else "warning"
    return Case("planted_near_duplicates", "near_duplicate_rows", train, test, _declarations(), severity=severity, columns=("x_strong",), test_rows=frozenset(rows.tolist()))


def planted_entity_overlap(seed: int, n: int = 2000, level: int = 0) -> Case:
    rng, train, test = _base(seed, n)
    rows = _pick(rng, test.height, (0.2, 0.05, 0.01, 0.0)[level])
    keys = test.get_column("customer_id").to_numpy().astype(object)
    keys[rows] = rng.choice(train.get_column("customer_id").to_numpy(), size=rows.size)
    test = test.with_columns(pl.Series("customer_id", keys.astype(str)))
    return Case(
        "planted_entity_overlap", "entity_overlap", train, test, _declarations(), columns=("customer_id",),
        test_rows=frozenset(rows.tolist()), entities=frozenset(keys[rows].tolist()),
    )


def planted_test_before_train(seed: int, n: int = 2000, level: int = 0) -> Case:
    """A random split of dated rows (level 0: most test rows are older than the newest training
    row), or a time split that lets a few of the newest rows slip into train (fainter levels)."""
    rng, train, test = _base(seed, n)
    frame = pl.concat([train, test])
    n_test = test.height
    if level == 0:
        order = rng.permutation(frame.height)
    else:
        slipped = max(int(n_test * (0.0, 0.05, 0.01, 0.002)[level]), 1)  # newest rows moved into train
        newest = frame.height - 1 - rng.choice(n_test, size=slipped, replace=False)
        rest = np.setdiff1d(np.arange(frame.height), newest)
        order = np.r_[rest[-n_test:], rest[:-n_test], newest]
    test, train = frame[order[:n_test]], frame[order[n_test:]]
    train = train.with_columns(pl.Series("customer_id", [f"T{i}" for i in range(train.height)]))
    latest = train.get_column("applied_at").max()
    rows = np.flatnonzero((test.get_column("applied_at") < latest).to_numpy())
    severity = "critical" if rows.size / test.height >= 0.05 else "warning"
    return Case("planted_test_before_train", "test_before_train", train, test, _declarations(), severity=severity, columns=("applied_at",), test_rows=frozenset(rows.tolist()))


def planted_feature_from_future(seed: int, n: int = 2000, level: int = 0) -> Case:
    rng, train, test = _base(seed, n)

    def late(frame: pl.DataFrame, rows: np.ndarray) -> pl.DataFrame:
        shift = np.zeros(frame.height)
        shift[rows] = rng.uniform(31, 90, rows.size) if level < 2 else rng.uniform(30.5, 32, rows.size)
        return frame.with_columns(pl.col("x2_observed_at") + pl.duration(days=pl.Series(shift)))

    share = (0.3, 0.05, 0.005, 0.001)[level]
    train = late(train, _pick(rng, train.height, share))
    rows = _pick(rng, test.height, share)
    test = late(test, rows)
    severity = "critical" if share >= 0.01 else "warning"
    return Case("planted_feature_from_future", "feature_after_prediction_time", train, test, _declarations(), severity=severity, columns=("x2", "x2_observed_at"), test_rows=frozenset(rows.tolist()))


def planted_target_proxy(seed: int, n: int = 2000, level: int = 0) -> Case:
    """A score made from the target plus noise: AUC about 1.0, 0.99, 0.96 and 0.92 by level."""
    rng, train, test = _base(seed, n)

    def proxy(frame: pl.DataFrame) -> pl.DataFrame:
        noise = rng.normal(0, (0.25, 0.6, 0.8, 1.0)[level], frame.height)
        return frame.with_columns((pl.col(TARGET) * 2.0 + 10 + pl.Series(noise)).alias("account_score"))

    severity = "critical" if level < 2 else "warning"
    return Case("planted_target_proxy", "target_proxy", proxy(train), proxy(test), _declarations(), severity=severity, columns=("account_score",))


def planted_target_copy(seed: int, n: int = 2000, level: int = 0) -> Case:
    _, train, test = _base(seed, n)

    def copy(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(pl.col(TARGET).replace_strict({0: "closed", 1: "in_arrears"}, return_dtype=pl.String).alias("status"))

    return Case("planted_target_copy", "target_copy", copy(train), copy(test), _declarations(), columns=("status", TARGET))


def planted_missingness(seed: int, n: int = 2000, level: int = 0) -> Case:
    """A value recorded only after a positive outcome; fainter levels also miss it on some positives."""
    rng, train, test = _base(seed, n)

    def fill(frame: pl.DataFrame) -> pl.DataFrame:
        values = pl.Series(rng.normal(100, 20, frame.height))
        recorded = pl.Series(rng.random(frame.height) < (1.0, 0.97, 0.9, 0.8)[level])
        return frame.with_columns(pl.when((pl.col(TARGET) == 1) & recorded).then(values).otherwise(None).alias("aux_amount"))

    severity = "critical" if level < 2 else "warning"
    return Case("planted_missingness", "missingness_proxy", fill(train), fill(test), _declarations(), severity=severity, columns=("aux_amount",))


def planted_identifier(seed: int, n: int = 2000, level: int = 0) -> Case:
    """Ids issued after labelling: positives got the later numbers."""
    rng, train, test = _base(seed, n)
    frame = pl.concat([train, test.with_columns(pl.col("customer_id"))])
    key = frame.get_column(TARGET).to_numpy() + rng.uniform(0, (1.6, 2.5, 4.0, 8.0)[level], frame.height)
    numbers = np.empty(frame.height, dtype=np.int64)
    numbers[np.argsort(key)] = np.arange(frame.height)
    ids = pl.Series("row_id", [f"APP-{i:07d}" for i in numbers])
    frame = frame.with_columns(ids)
    severity = "critical" if level < 2 else "warning"
    return Case("planted_identifier", "identifier_encodes_target", frame.head(train.height), frame.tail(test.height), _declarations(), severity=severity, columns=("row_id",))


def planted_row_order(seed: int, n: int = 2000, level: int = 0) -> Case:
    """The training file is sorted by the target (fainter levels: only a block of it is)."""
    rng, train, test = _base(seed, n)
    block = int(train.height * (1.0, 0.6, 0.4, 0.2)[level])
    start = int(rng.integers(0, train.height - block + 1))
    train = pl.concat([train.head(start), train.slice(start, block).sort(TARGET), train.slice(start + block)])
    severity = "critical" if level == 0 else "warning"
    return Case("planted_row_order", "row_order_encodes_target", train, test, _declarations(time=None, feature_time={}), severity=severity, columns=(TARGET,))


def planted_preprocessing(seed: int, n: int = 2000, level: int = 0) -> Case:
    """x2 and share standardised (even levels) or x2 and x_strong min-max scaled (odd levels) over
    all rows, then split. A min-max scaler is visible only when an extreme left train."""
    _, train, test = _base(seed, n)
    frame = pl.concat([train, test])
    if level % 2 == 0:
        frame = frame.with_columns(((pl.col(c) - pl.col(c).mean()) / pl.col(c).std(ddof=0)).alias(c) for c in ("x2", "share"))
    else:
        frame = frame.with_columns(((pl.col(c) - pl.col(c).min()) / (pl.col(c).max() - pl.col(c).min())).alias(c) for c in ("x2", "x_strong"))
    n_val = train.height // 5
    train, validation, test = frame.head(train.height - n_val), frame.slice(train.height - n_val, n_val), frame.tail(test.height)
    return Case(
        "planted_preprocessing", "preprocessing_before_split", train, test, _declarations(), severity="warning",
        columns=("share", "x2") if level % 2 == 0 else (), validation=validation,
    )


PLANTED: tuple[Callable[..., Case], ...] = (
    planted_duplicates,
    planted_near_duplicates,
    planted_entity_overlap,
    planted_test_before_train,
    planted_feature_from_future,
    planted_target_proxy,
    planted_target_copy,
    planted_missingness,
    planted_identifier,
    planted_row_order,
    planted_preprocessing,
)


def wide_frame(seed: int, n: int, n_features: int = 30) -> tuple[pl.DataFrame, pl.DataFrame, Declarations]:
    """A wide clean dataset for timing: numeric and text features, a binary target, a time and an entity."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for j in range(n_features):
        if j % 5 == 4:
            columns[f"c{j}"] = rng.choice(np.array([f"v{k}" for k in range(12)]), size=n)
        elif j % 5 == 3:
            columns[f"i{j}"] = rng.integers(0, 1000, n)
        else:
            columns[f"f{j}"] = rng.normal(size=n)
    columns["t"] = np.sort(rng.uniform(0, 1000, n))
    columns["customer_id"] = rng.integers(0, n // 3, n)
    columns[TARGET] = (rng.random(n) < 1 / (1 + np.exp(-np.asarray(columns["f0"])))).astype(np.int64)
    frame = pl.DataFrame(columns)
    n_test = n // 5
    return frame.head(n - n_test), frame.tail(n_test), Declarations(target=TARGET, time="t", entity="customer_id")
