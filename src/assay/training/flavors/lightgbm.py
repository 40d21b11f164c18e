"""LightGBM flavor: native model text plus the category vocabularies, in one JSON document."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import FlavorError
from assay.training.flavors.base import FitRequest, FittedModel, as_probabilities, task_of

FORMAT = "assay.lightgbm/1"


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ImportError as exc:  # optional extra
        raise FlavorError("model.flavor is lightgbm but LightGBM is not installed", hint="pip install 'assay[lightgbm]'") from exc
    return lightgbm


def as_categoricals(X: pd.DataFrame, categories: Mapping[str, list[str]]) -> pd.DataFrame:
    """Categorical columns with the training vocabulary, so codes mean the same at predict time."""
    out = X.copy()
    for name, values in categories.items():
        out[name] = pd.Categorical(out[name], categories=values)
    return out


def training_categories(X: pd.DataFrame, categorical: tuple[str, ...]) -> dict[str, list[str]]:
    return {name: sorted(str(v) for v in pd.unique(X[name].dropna())) for name in categorical}


@dataclass(slots=True)
class LightgbmModel:
    booster: Any
    task: str
    categories: Mapping[str, list[str]]
    flavor: str = "lightgbm"

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        raw = self.booster.predict(as_categoricals(X, self.categories), num_threads=1)
        return as_probabilities(raw) if self.task == "classification" else np.asarray(raw, dtype=np.float64)


class LightgbmFlavor:
    name = "lightgbm"

    def fit(self, request: FitRequest) -> FittedModel:
        lgb = _lightgbm()
        params = {
            "random_state": request.seed,
            "deterministic": True,
            "force_row_wise": True,
            "n_jobs": request.model.threads,
            "verbose": -1,
            **request.model.params,
        }
        categories = training_categories(request.X, request.categorical)
        cls = lgb.LGBMClassifier if request.task == "classification" else lgb.LGBMRegressor
        try:
            model = cls(**params)
            model.fit(as_categoricals(request.X, categories), request.y)
        except (ValueError, TypeError, lgb.basic.LightGBMError) as exc:
            raise FlavorError(f"LightGBM could not fit: {exc}", hint="check model.params in assay.yaml") from exc
        resolved = {"estimator": f"lightgbm.{cls.__name__}", "params": params, "categories": categories}
        return FittedModel(self.name, model, resolved)

    def dumps(self, fitted: FittedModel, *, signature: Mapping[str, Any]) -> bytes:
        body = {
            "format": FORMAT,
            "categories": fitted.resolved["categories"],
            "model": fitted.model.booster_.model_to_string(),
        }
        return json.dumps(body, sort_keys=True).encode()

    def loads(self, data: bytes, *, signature: Mapping[str, Any], trusted_modules: tuple[str, ...]) -> LightgbmModel:
        lgb = _lightgbm()
        body = json.loads(data)
        if body.get("format") != FORMAT:
            raise FlavorError(f"not a LightGBM artifact written by Assay (format {body.get('format')!r})")
        return LightgbmModel(lgb.Booster(model_str=body["model"]), task_of(signature), body["categories"])

    def as_loaded(self, fitted: FittedModel, *, signature: Mapping[str, Any]) -> LightgbmModel:
        return LightgbmModel(fitted.model.booster_, task_of(signature), fitted.resolved["categories"])


__all__ = ["LightgbmFlavor", "LightgbmModel", "as_categoricals", "training_categories"]
