"""Sensible preprocessing for a bare scikit-learn estimator, chosen by what the estimator can take."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils import get_tags


MAX_NATIVE_CATEGORIES = 255


def _is_tree_model(estimator: BaseEstimator) -> bool:
    module = type(estimator).__module__
    return module.startswith(("sklearn.tree", "sklearn.ensemble"))


def _takes_nan(estimator: BaseEstimator) -> bool:
    try:
        return bool(get_tags(estimator).input_tags.allow_nan)
    except (AttributeError, TypeError):
        return False


def wrap_with_preprocessing(
    estimator: BaseEstimator, *, numeric: Sequence[str], categorical: Sequence[str]
) -> tuple[Pipeline, dict[str, Any]]:
    """A Pipeline of (preprocess, estimator) and a plain description of what was chosen, for the run record.

    - estimators that take missing values natively (HistGradientBoosting*): categories ordinal-encoded
      and declared categorical to the estimator; numbers passed through untouched;
    - other tree ensembles: median imputation with missing-indicators, ordinal categories;
    - everything else (linear models, SVMs, kNN): median imputation with indicators and scaling,
      one-hot categories (unknown categories at predict time are ignored, not errors).
    """
    numeric, categorical = list(numeric), list(categorical)
    if _takes_nan(estimator) and _is_tree_model(estimator):
        strategy = "native-missing+ordinal"
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            max_categories=MAX_NATIVE_CATEGORIES,  # HistGradientBoosting takes at most 255 categories
        )
        transformers = [("categorical", encoder, categorical), ("numeric", "passthrough", numeric)]
        if categorical and "categorical_features" in estimator.get_params():
            if estimator.get_params()["categorical_features"] in ("from_dtype", None):
                estimator.set_params(categorical_features=list(range(len(categorical))))
    elif _is_tree_model(estimator):
        strategy = "impute+ordinal"
        encoder = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                ("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)),
            ]
        )
        transformers = [
            ("categorical", encoder, categorical),
            ("numeric", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), numeric),
        ]
    else:
        strategy = "impute+scale+onehot"
        encoder = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        numeric_steps = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                ("scale", StandardScaler()),
            ]
        )
        transformers = [("categorical", encoder, categorical), ("numeric", numeric_steps, numeric)]
    transformers = [t for t in transformers if t[2]]
    preprocess = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    description = {"strategy": strategy, "numeric": numeric, "categorical": categorical}
    return Pipeline([("preprocess", preprocess), ("model", estimator)]), description


__all__ = ["wrap_with_preprocessing"]
