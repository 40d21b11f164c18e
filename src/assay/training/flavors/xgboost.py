"""XGBoost flavor: the booster's native JSON plus the category vocabularies, in one JSON document."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import FlavorError
from assay.training.flavors.base import FitRequest, FittedModel, as_probabilities, task_of
from assay.training.flavors.lightgbm import as_categoricals, training_categories

FORMAT = "assay.xgboost/1"


def _xgboost() -> Any:
    try:
        import xgboost
    except ImportError as exc:  # optional extra
        raise FlavorError("model.flavor is xgboost but XGBoost is not installed", hint="pip install 'assay[xgboost]'") from exc
    return xgboost


@dataclass(slots=True)
class XgboostModel:
    booster: Any
    task: str
    categories: Mapping[str, list[str]]
    flavor: str = "xgboost"

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        xgb = _xgboost()
        matrix = xgb.DMatrix(as_categoricals(X, self.categories), enable_categorical=True, nthread=1)
        raw = self.booster.predict(matrix)
        return as_probabilities(raw) if self.task == "classification" else np.asarray(raw, dtype=np.float64)


class XgboostFlavor:
    name = "xgboost"

    def fit(self, request: FitRequest) -> FittedModel:
        xgb = _xgboost()
        params = {
            "random_state": request.seed,
            "tree_method": "hist",
            "enable_categorical": True,
            "n_jobs": request.model.threads,
            **request.model.params,
        }
        categories = training_categories(request.X, request.categorical)
        cls = xgb.XGBClassifier if request.task == "classification" else xgb.XGBRegressor
        try:
            model = cls(**params)
            model.fit(as_categoricals(request.X, categories), request.y)
        except (ValueError, TypeError, xgb.core.XGBoostError) as exc:
            raise FlavorError(f"XGBoost could not fit: {exc}", hint="check model.params in assay.yaml") from exc
        resolved = {"estimator": f"xgboost.{cls.__name__}", "params": params, "categories": categories}
        return FittedModel(self.name, model, resolved)

    def dumps(self, fitted: FittedModel, *, signature: Mapping[str, Any]) -> bytes:
        native = bytes(fitted.model.get_booster().save_raw(raw_format="json")).decode()
        body = {"format": FORMAT, "categories": fitted.resolved["categories"], "model": native}
        return json.dumps(body, sort_keys=True).encode()

    def loads(self, data: bytes, *, signature: Mapping[str, Any], trusted_modules: tuple[str, ...]) -> XgboostModel:
        xgb = _xgboost()
        body = json.loads(data)
        if body.get("format") != FORMAT:
            raise FlavorError(f"not an XGBoost artifact written by Assay (format {body.get('format')!r})")
        booster = xgb.Booster()
        booster.load_model(bytearray(body["model"].encode()))
        return XgboostModel(booster, task_of(signature), body["categories"])

    def as_loaded(self, fitted: FittedModel, *, signature: Mapping[str, Any]) -> XgboostModel:
        return XgboostModel(fitted.model.get_booster(), task_of(signature), fitted.resolved["categories"])


__all__ = ["XgboostFlavor", "XgboostModel"]
