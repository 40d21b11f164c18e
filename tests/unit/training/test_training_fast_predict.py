"""The sklearn flavor's fast predict path answers bit for bit as the fitted pipeline, or stays off."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder, StandardScaler
from structlog.testing import capture_logs

from assay.training.flavors import _sklearn_fast
from assay.training.flavors.sklearn import SklearnFlavor, SklearnModel
from assay.training.flavors.skops_format import dumps_canonical
from assay.training.preprocessing import wrap_with_preprocessing

CATEGORICAL = ["colour", "city", "code"]
NUMERIC = ["x1", "x2", "x3"]
COLOURS = ["red", "green", "blue", "white"]
CITIES = [f"city-{i}" for i in range(40)]
CODES = [f"code-{i}" for i in range(400)]  # more than max_categories=255: rare codes become "infrequent"


def _frame(n: int, seed: int, *, unseen: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    colour = rng.choice(COLOURS + (["purple"] if unseen else []), size=n).astype(object)
    city = rng.choice(CITIES + (["atlantis"] if unseen else []), size=n).astype(object)
    popular = rng.choice(CODES[:50], size=n)
    code = np.where(rng.uniform(size=n) < 0.6, popular, rng.choice(CODES + (["code-x"] if unseen else []), size=n))
    code = code.astype(object)
    colour[rng.uniform(size=n) < 0.05] = None
    city[rng.uniform(size=n) < 0.05] = np.nan
    x1 = rng.normal(size=n)
    x1[rng.uniform(size=n) < 0.1] = np.nan
    data: dict[str, Any] = {
        "x1": x1,
        "x2": rng.uniform(-1e3, 1e3, size=n).round(1),
        "x3": rng.integers(0, 5, size=n).astype(np.float64),
        "colour": colour,
        "city": city,
        "code": code,
    }
    return pd.DataFrame(data)


def _target(frame: pd.DataFrame, *, kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    signal = np.nan_to_num(frame["x1"].to_numpy()) + (frame["colour"] == "red").to_numpy() + frame["x3"].to_numpy() / 4
    signal = signal + frame["code"].str.len().to_numpy() / 10 + rng.normal(scale=0.3, size=len(frame))
    if kind == "regression":
        return signal
    if kind == "binary":
        return np.where(signal > np.median(signal), "yes", "no")
    return np.digitize(signal, np.quantile(signal, [0.25, 0.5, 0.75]))


def _fitted(kind: str, *, seed: int = 0, categorical: list[str] | None = None) -> SklearnModel:
    categorical = CATEGORICAL if categorical is None else categorical
    full = _frame(3000, seed)
    frame = full[NUMERIC + categorical]
    estimator = (
        HistGradientBoostingRegressor(max_iter=30, random_state=seed)
        if kind == "regression"
        else HistGradientBoostingClassifier(max_iter=30, random_state=seed)
    )
    pipeline, _ = wrap_with_preprocessing(estimator, numeric=NUMERIC, categorical=categorical)
    pipeline.fit(frame, _target(full, kind=kind, seed=seed))
    task = "regression" if kind == "regression" else "classification"
    return SklearnModel(pipeline, task).with_fast_path()


def _assert_bitwise_equal(model: SklearnModel, frame: pd.DataFrame) -> None:
    fast, plain = model.predict(frame), model.predict_with_pipeline(frame)
    assert fast.shape == plain.shape and fast.dtype == plain.dtype
    assert fast.tobytes() == plain.tobytes()


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_fast_path_matches_pipeline_bitwise_on_unseen_and_missing_values(kind: str) -> None:
    model = _fitted(kind)
    assert model.fast_path
    for seed in range(3):
        frame = _frame(500, 100 + seed, unseen=True)[NUMERIC + CATEGORICAL]
        _assert_bitwise_equal(model, frame)
        _assert_bitwise_equal(model, frame.astype({c: object for c in CATEGORICAL}))
        _assert_bitwise_equal(model, frame.astype({"x3": np.int64}))
        for n in (1, 2, 10):
            _assert_bitwise_equal(model, frame.iloc[:n])


def test_fast_path_encodes_infrequent_categories_like_the_encoder() -> None:
    model = _fitted("binary")
    encoder = model.model.named_steps["preprocess"].named_transformers_["categorical"]
    assert encoder.infrequent_categories_[CATEGORICAL.index("code")] is not None
    frame = _frame(50, 7)[NUMERIC + CATEGORICAL]
    frame["code"] = CODES[-50:]  # the rarest codes, grouped as infrequent
    _assert_bitwise_equal(model, frame)


def test_fast_path_covers_numeric_only_pipelines_and_bare_estimators() -> None:
    numeric_only = _fitted("regression", categorical=[])
    assert numeric_only.fast_path
    _assert_bitwise_equal(numeric_only, _frame(300, 3)[NUMERIC])

    full = _frame(2000, 4)
    bare = HistGradientBoostingClassifier(max_iter=20, random_state=0)
    bare.fit(full[NUMERIC], _target(full, kind="multiclass", seed=4))
    model = SklearnModel(bare, "classification").with_fast_path()
    assert model.fast_path
    _assert_bitwise_equal(model, _frame(300, 5)[NUMERIC])


def test_fast_path_survives_the_artifact_round_trip() -> None:
    fitted = _fitted("binary")
    loaded = SklearnFlavor().loads(
        dumps_canonical(fitted.model), signature={"output": {"kind": "probability"}}, trusted_modules=()
    )
    assert loaded.fast_path
    _assert_bitwise_equal(loaded, _frame(200, 9, unseen=True)[NUMERIC + CATEGORICAL])


def test_frames_the_fast_path_does_not_know_go_through_the_pipeline() -> None:
    model = _fitted("binary")
    assert model.fast is not None
    frame = _frame(20, 11, unseen=True)[NUMERIC + CATEGORICAL]
    reordered = frame[CATEGORICAL + NUMERIC]
    ints = frame.assign(colour=np.arange(len(frame)).astype(object))
    nullable = frame.astype({"city": "string"})  # pd.NA for missing: left to the pipeline
    for other in (reordered, ints, nullable):
        assert model.fast.predict(other) is None
    for other in (reordered, nullable):
        assert model.predict(other).tobytes() == model.predict_with_pipeline(other).tobytes()


@pytest.mark.parametrize(
    "pipeline",
    [
        Pipeline([("scale", StandardScaler()), ("model", HistGradientBoostingRegressor(max_iter=5))]),
        wrap_with_preprocessing(RandomForestClassifier(n_estimators=3), numeric=NUMERIC, categorical=CATEGORICAL)[0],
        Pipeline(
            [
                ("preprocess", ColumnTransformer([("cat", OrdinalEncoder(), CATEGORICAL)], remainder=StandardScaler())),
                ("model", HistGradientBoostingClassifier(max_iter=5)),
            ]
        ),
    ],
    ids=["scaler", "random-forest", "scaled-remainder"],
)
def test_other_estimators_keep_the_plain_path(pipeline: Pipeline) -> None:
    frame = _frame(400, 1)[NUMERIC + CATEGORICAL]
    target = _target(frame, kind="binary", seed=1)
    if isinstance(pipeline[-1], HistGradientBoostingRegressor):
        frame, target = frame[NUMERIC].fillna(0.0), np.arange(len(frame), dtype=np.float64)
    pipeline.fit(frame, target)
    task = "regression" if isinstance(pipeline[-1], HistGradientBoostingRegressor) else "classification"
    model = SklearnModel(pipeline, task).with_fast_path()
    assert not model.fast_path
    assert model.predict(frame.iloc[:5]).tobytes() == model.predict_with_pipeline(frame.iloc[:5]).tobytes()


def test_a_fast_path_that_disagrees_is_logged_and_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    exact = _sklearn_fast._predict_from_raw_data

    def off_by_a_little(*args: Any) -> None:
        exact(*args)
        args[-1][:] += 1e-12

    monkeypatch.setattr(_sklearn_fast, "_predict_from_raw_data", off_by_a_little)
    with capture_logs() as logs:
        model = _fitted("regression")
    assert not model.fast_path
    assert [entry["event"] for entry in logs] == ["fast_predict_disabled"]
    assert "outputs differ" in logs[0]["reason"]


def test_caller_rows_take_part_in_verification() -> None:
    model = _fitted("multiclass")
    sample = _frame(300, 21, unseen=True)[NUMERIC + CATEGORICAL]
    assert model.with_fast_path(sample).fast_path
    assert model.with_fast_path(sample[CATEGORICAL + NUMERIC]).fast_path  # rows the fast path leaves alone
    assert model.with_fast_path(sample.assign(extra=1.0)[["extra", *CATEGORICAL]]).fast_path  # rejected rows


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_polars_frames_predict_bitwise_as_their_pandas_model_frame(kind: str) -> None:
    """Batch scoring's direct path: a polars frame (strings, nulls, unseen and infrequent categories)
    answers bit for bit what the pandas frame built from it answers."""
    import polars as pl

    model = _fitted(kind, seed=3)
    frame = _frame(3_000, seed=4, unseen=True)
    frame.loc[::7, "colour"] = ""  # an empty string is a value, not a missing one
    polars = pl.from_pandas(frame).with_columns(pl.col(CATEGORICAL).cast(pl.String))
    assert polars["colour"].null_count() > 0 and polars["city"].null_count() > 0
    pandas = polars.to_pandas()
    for name in CATEGORICAL:  # the pandas frame `to_model_frame` builds: object strings, NaN for missing
        pandas[name] = pandas[name].astype(object).where(pandas[name].notna(), np.nan)
    direct = model.predict_polars(polars.select(model.fast.columns))  # type: ignore[union-attr]
    assert direct is not None
    assert np.array_equal(direct, model.predict(pandas[list(model.fast.columns)]))  # type: ignore[union-attr]
    assert np.array_equal(direct, model.predict_with_pipeline(pandas[list(model.fast.columns)]))  # type: ignore[union-attr]


def test_frames_the_direct_path_cannot_encode_are_declined() -> None:
    import polars as pl

    model = _fitted("binary", seed=3)
    frame = pl.from_pandas(_frame(50, seed=5)).with_columns(pl.col(CATEGORICAL).cast(pl.String))
    assert model.predict_polars(frame.drop("x2")) is None  # a column is missing
    assert model.predict_polars(frame.with_columns(pl.col("colour").cast(pl.Categorical))) is None  # not plain strings
    assert SklearnModel(model.model, model.task).predict_polars(frame) is None  # no fast path at all
