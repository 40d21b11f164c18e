"""Every flavor trains reproducibly: identical bytes twice, and the artifact answers what was recorded."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from assay.errors import ArtifactError, DataError, FlavorError, TrainingError
from assay.leakage.split import SplitManifest, split_dataset
from assay.spec.model import Spec
from assay.training import get_flavor, load_model, to_model_frame, train
from assay.training.trainer import TrainedModel, predictions_from_bytes, predictions_to_bytes

N = 2000


def _frame(n: int = N, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(size=n)
    cat = rng.choice(["a", "b", "c", "d"], size=n).astype(object)
    cat[rng.uniform(size=n) < 0.05] = None
    logit = 1.5 * x1 + (cat == "a") - 0.5
    y = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame(
        {
            "row_id": np.arange(n),
            "x1": np.where(rng.uniform(size=n) < 0.1, np.nan, x1),
            "x2": x2,
            "cat": pl.Series(cat.tolist(), dtype=pl.String),
            "label": ["yes" if v else "no" for v in y],
            "amount": 3 * x1 + x2 + rng.normal(scale=0.1, size=n),
        }
    ).with_columns(pl.col("x1").fill_nan(None))


FRAME = _frame()

CLASSIFIERS: dict[str, dict[str, Any]] = {
    "sklearn-hgb": {
        "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
        "params": {"max_iter": 15, "early_stopping": False},
    },
    "sklearn-rf": {
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "params": {"n_estimators": 8, "max_depth": 5},
    },
    "sklearn-gb": {
        "estimator": "sklearn.ensemble.GradientBoostingClassifier",
        "params": {"n_estimators": 10, "max_depth": 2},
    },
    "sklearn-logistic": {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 200}},
    "lightgbm": {"flavor": "lightgbm", "params": {"n_estimators": 15, "num_leaves": 8}},
    "xgboost": {"flavor": "xgboost", "params": {"n_estimators": 15, "max_depth": 3}},
}
REGRESSORS: dict[str, dict[str, Any]] = {
    "sklearn-hgb": {
        "estimator": "sklearn.ensemble.HistGradientBoostingRegressor",
        "params": {"max_iter": 15, "early_stopping": False},
    },
    "sklearn-ridge": {"estimator": "sklearn.linear_model.Ridge"},
    "lightgbm": {"flavor": "lightgbm", "params": {"n_estimators": 15, "num_leaves": 8}},
    "xgboost": {"flavor": "xgboost", "params": {"n_estimators": 15, "max_depth": 3}},
}

FACTORY_MODULE = textwrap.dedent(
    """
    import numpy as np
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder


    class Clip(BaseEstimator, TransformerMixin):
        def __init__(self, limit=3.0):
            self.limit = limit

        def fit(self, X, y=None):
            self.n_features_in_ = X.shape[1]
            return self

        def transform(self, X):
            return np.clip(np.asarray(X, dtype=float), -self.limit, self.limit)


    def build(seed, C=1.0):
        numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("clip", Clip())])
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value="none")),
                ("onehot", OneHotEncoder(handle_unknown="ignore")),
            ]
        )
        pre = ColumnTransformer([("num", numeric, ["x1", "x2"]), ("cat", categorical, ["cat"])])
        return Pipeline([("pre", pre), ("model", LogisticRegression(C=C, random_state=seed))])
    """
)


def _spec(model: dict[str, Any], *, target: str = "label", task: str = "classification", seed: int = 42) -> Spec:
    return Spec.model_validate(
        {
            "project": "p",
            "seed": seed,
            "data": {"source": "d.csv", "target": target, "id": "row_id"},
            "model": {"name": "m", "task": task, **model},
        }
    )


def _manifest(spec: Spec, frame: pl.DataFrame = FRAME) -> SplitManifest:
    return split_dataset(frame, dataset_version_id="ds-test", data=spec.data, split=spec.split, seed=spec.seed)


def _train(spec: Spec, project_dir: Path, frame: pl.DataFrame = FRAME) -> tuple[TrainedModel, SplitManifest]:
    manifest = _manifest(spec, frame)
    return train(frame, manifest, spec, project_dir=project_dir), manifest


def _assert_reproducible(spec: Spec, project_dir: Path, trusted: tuple[str, ...] = ()) -> TrainedModel:
    first, manifest = _train(spec, project_dir)
    again, _ = _train(spec, project_dir)
    assert first.artifact == again.artifact
    assert first.signature == again.signature
    assert dict(first.resolved) == dict(again.resolved)
    assert set(first.predictions) == {"validation", "test"}
    for name in first.predictions:
        assert np.array_equal(first.predictions[name], again.predictions[name])
        assert np.array_equal(first.labels[name], again.labels[name])
    loaded = load_model(
        first.flavor, first.artifact, signature=first.signature, trusted_modules=trusted, project_dir=project_dir
    )
    for name in ("validation", "test"):
        X = to_model_frame(FRAME[manifest.indices[name]], first.signature)
        assert np.array_equal(loaded.predict(X), first.predictions[name])
    return first


@pytest.fixture
def factory_project(tmp_path: Path) -> Iterator[Path]:
    """A project folder holding `mymodule.py`; the module is forgotten afterwards."""
    (tmp_path / "mymodule.py").write_text(FACTORY_MODULE, encoding="utf-8")
    sys.modules.pop("mymodule", None)
    yield tmp_path
    sys.modules.pop("mymodule", None)


@pytest.mark.filterwarnings("ignore:'n_jobs' has no effect:FutureWarning")
@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_classifier_is_reproducible_and_its_artifact_answers_the_recorded_predictions(
    name: str, tmp_path: Path
) -> None:
    trained = _assert_reproducible(_spec(CLASSIFIERS[name]), tmp_path)
    assert trained.signature["output"] == {"kind": "probability", "target": "label", "classes": ["no", "yes"]}
    test = trained.predictions["test"]
    assert test.shape == (400, 2)
    assert np.allclose(test.sum(axis=1), 1.0)
    assert trained.resolved["features"] == ["x1", "x2", "cat", "amount"]
    assert trained.fit_seconds >= 0


@pytest.mark.parametrize("name", list(REGRESSORS))
def test_regressor_is_reproducible(name: str, tmp_path: Path) -> None:
    trained = _assert_reproducible(_spec(REGRESSORS[name], target="amount", task="regression"), tmp_path)
    assert trained.signature["output"] == {"kind": "value", "target": "amount"}
    test = trained.predictions["test"]
    assert test.shape == (400,) and test.dtype == np.float64
    assert trained.labels["test"].dtype == np.float64
    assert np.corrcoef(test, trained.labels["test"])[0, 1] > 0.9  # it learned something


def test_user_factory_pipeline_is_reproducible_and_trusted(factory_project: Path) -> None:
    spec = _spec({"factory": "mymodule:build", "params": {"C": 0.5}})
    trained = _assert_reproducible(spec, factory_project, trusted=("mymodule",))
    assert trained.resolved["factory"] == "mymodule:build"
    assert trained.resolved["params"] == {"C": 0.5, "seed": 42}
    assert trained.resolved["preprocessing"] == {"strategy": "user"}
    assert trained.resolved["trusted_modules"] == ["mymodule"]


def test_user_factory_artifact_is_refused_unless_its_module_is_trusted(factory_project: Path) -> None:
    trained, _ = _train(_spec({"factory": "mymodule:build"}), factory_project)
    with pytest.raises(ArtifactError, match=r"mymodule\.Clip"):
        load_model(
            "sklearn", trained.artifact, signature=trained.signature, trusted_modules=(), project_dir=factory_project
        )


def test_factory_that_does_not_exist_is_a_flavor_error(factory_project: Path) -> None:
    with pytest.raises(FlavorError, match="has no 'nope'"):
        _train(_spec({"factory": "mymodule:nope"}), factory_project)
    with pytest.raises(FlavorError, match="cannot import module 'missing_module_xyz'"):
        _train(_spec({"factory": "missing_module_xyz:build"}), factory_project)


def test_factory_that_rejects_params_is_a_flavor_error(factory_project: Path) -> None:
    with pytest.raises(FlavorError, match="rejected the params"):
        _train(_spec({"factory": "mymodule:build", "params": {"bogus": 1}}), factory_project)


@pytest.mark.parametrize(
    ("estimator", "strategy"),
    [
        ("sklearn.ensemble.HistGradientBoostingClassifier", "native-missing+ordinal"),
        ("sklearn.ensemble.GradientBoostingClassifier", "impute+ordinal"),
        ("sklearn.linear_model.LogisticRegression", "impute+scale+onehot"),
    ],
)
@pytest.mark.filterwarnings("ignore:'n_jobs' has no effect:FutureWarning")
def test_preprocessing_strategy_is_chosen_and_recorded(estimator: str, strategy: str, tmp_path: Path) -> None:
    name = next(k for k, v in CLASSIFIERS.items() if v.get("estimator") == estimator)
    trained, _ = _train(_spec(CLASSIFIERS[name]), tmp_path)
    assert trained.resolved["preprocessing"] == {
        "strategy": strategy,
        "numeric": ["x1", "x2", "amount"],
        "categorical": ["cat"],
    }
    assert trained.resolved["estimator"] == estimator
    assert trained.resolved["params"]["random_state"] == 42


def test_random_forest_gets_a_tree_strategy(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.utils import get_tags

    trained, _ = _train(_spec(CLASSIFIERS["sklearn-rf"]), tmp_path)
    native = get_tags(RandomForestClassifier()).input_tags.allow_nan  # true since scikit-learn 1.4
    expected = "native-missing+ordinal" if native else "impute+ordinal"
    assert trained.resolved["preprocessing"]["strategy"] == expected
    assert trained.resolved["params"]["n_jobs"] in (None, 1)  # sequential: joblib treats None as 1


def test_preprocessing_none_passes_the_frame_through(tmp_path: Path) -> None:
    frame = FRAME.select("row_id", "x2", "label")
    spec = _spec(
        {
            "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
            "params": {"max_iter": 5},
            "preprocessing": "none",
        }
    )
    trained, _ = _train(spec, tmp_path, frame)
    assert trained.resolved["preprocessing"] == {"strategy": "none"}


def test_hist_gradient_boosting_trains_with_a_high_cardinality_string_column(tmp_path: Path) -> None:
    frame = FRAME.with_columns(pl.Series("city", [f"c{i % 400}" for i in range(N)]))
    spec = _spec(CLASSIFIERS["sklearn-hgb"])
    trained, _ = _train(spec, tmp_path, frame)
    assert "city" in trained.resolved["features"]


def test_integer_labels_keep_their_values_as_classes(tmp_path: Path) -> None:
    frame = FRAME.with_columns((pl.col("label") == "yes").cast(pl.Int64).alias("label"))
    trained, _ = _train(_spec(CLASSIFIERS["lightgbm"]), tmp_path, frame)
    assert trained.signature["output"]["classes"] == [0, 1]


@pytest.mark.filterwarnings("ignore:'n_jobs' has no effect:FutureWarning")
def test_multiclass_string_labels(tmp_path: Path) -> None:
    frame = FRAME.with_columns(pl.col("cat").fill_null("d").alias("label")).drop("cat")
    trained, _ = _train(_spec(CLASSIFIERS["sklearn-logistic"]), tmp_path, frame)
    assert trained.signature["output"]["classes"] == ["a", "b", "c", "d"]
    assert trained.predictions["test"].shape == (400, 4)


def test_target_with_missing_values_is_a_data_error(tmp_path: Path) -> None:
    frame = FRAME.with_columns(pl.when(pl.col("row_id") == 5).then(None).otherwise(pl.col("label")).alias("label"))
    with pytest.raises(DataError, match="1 missing value"):
        _train(_spec(CLASSIFIERS["lightgbm"]), tmp_path, frame)


def test_single_class_target_is_a_data_error(tmp_path: Path) -> None:
    frame = FRAME.with_columns(pl.lit("yes").alias("label"))
    spec = _spec(CLASSIFIERS["lightgbm"])
    manifest = split_dataset(FRAME, dataset_version_id="x", data=spec.data, split=spec.split, seed=1)
    with pytest.raises(DataError, match="single class"):
        train(frame, manifest, spec, project_dir=tmp_path)


def test_non_numeric_regression_target_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not numeric"):
        _train(_spec(REGRESSORS["lightgbm"], target="label", task="regression"), tmp_path)


def test_missing_target_column_is_a_data_error(tmp_path: Path) -> None:
    spec = _spec(CLASSIFIERS["lightgbm"])
    manifest = _manifest(spec)
    with pytest.raises(DataError, match="target column 'label' is not in the data"):
        train(FRAME.drop("label"), manifest, spec, project_dir=tmp_path)


def test_no_features_left_is_a_training_error(tmp_path: Path) -> None:
    spec = _spec({**CLASSIFIERS["lightgbm"], "features": {"exclude": ["x1", "x2", "cat", "amount"]}})
    with pytest.raises(TrainingError, match="no feature columns"):
        _train(spec, tmp_path)


def test_unknown_include_column_is_a_data_error(tmp_path: Path) -> None:
    spec = _spec({**CLASSIFIERS["lightgbm"], "features": {"include": ["x1", "nope"]}})
    with pytest.raises(DataError, match="nope"):
        _train(spec, tmp_path)


def test_estimator_that_is_not_a_class_is_a_flavor_error(tmp_path: Path) -> None:
    with pytest.raises(FlavorError, match="not an estimator class"):
        _train(_spec({"estimator": "sklearn.ensemble.__name__"}), tmp_path)


def test_estimator_without_predict_proba_is_refused_for_classification(tmp_path: Path) -> None:
    with pytest.raises(FlavorError, match="no predict_proba"):
        _train(_spec({"estimator": "sklearn.svm.LinearSVC"}), tmp_path)


def test_bad_params_are_flavor_errors(tmp_path: Path) -> None:
    with pytest.raises(FlavorError, match="rejected the params"):
        _train(_spec({"estimator": "sklearn.linear_model.LogisticRegression", "params": {"bogus": 1}}), tmp_path)
    with pytest.raises(FlavorError, match="XGBoost could not fit"):
        _train(_spec({"flavor": "xgboost", "params": {"n_estimators": 2, "max_depth": -3}}), tmp_path)


def test_unknown_flavor_is_a_flavor_error() -> None:
    with pytest.raises(FlavorError, match="unknown model flavor 'torch'"):
        get_flavor("torch")


@pytest.mark.parametrize("flavor", ["lightgbm", "xgboost"])
def test_native_loader_refuses_another_flavors_artifact(flavor: str) -> None:
    signature = {"inputs": [], "output": {"kind": "value", "target": "y"}}
    with pytest.raises(FlavorError, match=r"not an? .* artifact written by Assay"):
        get_flavor(flavor).loads(b'{"format": "something/1"}', signature=signature, trusted_modules=())


def test_predictions_bytes_round_trip() -> None:
    values = np.random.default_rng(0).uniform(size=(7, 2))
    assert np.array_equal(predictions_from_bytes(predictions_to_bytes(values)), values)
    assert predictions_to_bytes(values) == predictions_to_bytes(values.copy())
