"""scikit-learn flavor: a named estimator (with Assay's preprocessing) or the user's own factory."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import structlog

from assay.errors import FlavorError, TrainingError
from assay.training.flavors._sklearn_fast import FastPredictor, build_fast_predictor, verification_frames
from assay.training.flavors.base import FitRequest, FittedModel, as_probabilities, task_of
from assay.training.flavors.skops_format import dumps_canonical, loads_trusted
from assay.training.preprocessing import wrap_with_preprocessing

_log = structlog.get_logger("assay.flavor")
_CHECK_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)


@contextmanager
def project_on_path(project_dir: Path) -> Iterator[None]:
    """Let `module:function` factories import modules that live beside assay.yaml."""
    entry = str(project_dir)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def _import_attr(dotted: str, *, what: str) -> Any:
    separator = ":" if ":" in dotted else "."
    module_name, _, attr = dotted.rpartition(separator)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise FlavorError(
            f"cannot import module {module_name!r} for {what} {dotted!r}: {exc}",
            hint="check the spelling; your own modules must sit beside assay.yaml or be installed",
        ) from exc
    except Exception as exc:  # user code boundary: any error while importing their module
        raise FlavorError(
            f"importing {module_name!r} for {what} {dotted!r} failed: {type(exc).__name__}: {exc}",
            hint=f"fix the error in {module_name}; run `python -c 'import {module_name}'` beside assay.yaml to see it",
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise FlavorError(f"module {module_name!r} has no {attr!r} (from {what} {dotted!r})") from exc


def _build_estimator(request: FitRequest) -> tuple[Any, dict[str, Any]]:
    spec = request.model
    params = dict(spec.params)
    if spec.factory is not None:
        factory = _import_attr(spec.factory, what="model.factory")
        accepted = inspect.signature(factory).parameters
        if "seed" in accepted:
            params["seed"] = request.seed
        try:
            estimator = factory(**params)
        except TypeError as exc:
            raise FlavorError(f"model.factory {spec.factory!r} rejected the params: {exc}") from exc
        except Exception as exc:  # user code boundary
            raise FlavorError(
                f"model.factory {spec.factory!r} failed: {type(exc).__name__}: {exc}", hint="fix the factory function"
            ) from exc
        resolved = {"factory": spec.factory, "params": params, "preprocessing": {"strategy": "user"}}
        return estimator, resolved
    assert spec.estimator is not None
    cls = _import_attr(spec.estimator, what="model.estimator")
    if not (isinstance(cls, type) and hasattr(cls, "fit")):
        raise FlavorError(f"model.estimator {spec.estimator!r} is not an estimator class")
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise FlavorError(f"{spec.estimator} rejected the params: {exc}", hint="check model.params in assay.yaml") from exc
    defaults = estimator.get_params(deep=False)
    if "random_state" in defaults and "random_state" not in params:
        estimator.set_params(random_state=request.seed)
    if "n_jobs" in defaults and "n_jobs" not in params and request.model.threads > 1:
        estimator.set_params(n_jobs=request.model.threads)
    resolved: dict[str, Any] = {"estimator": spec.estimator, "params": estimator.get_params(deep=False)}
    if spec.preprocessing == "auto":
        numeric = [c for c in request.X.columns if c not in request.categorical]
        estimator, description = wrap_with_preprocessing(estimator, numeric=numeric, categorical=request.categorical)
        resolved["preprocessing"] = description
    else:
        resolved["preprocessing"] = {"strategy": "none"}
    resolved["params"] = {k: _jsonable(v) for k, v in resolved["params"].items()}
    return estimator, resolved


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


@dataclass(slots=True)
class SklearnModel:
    model: Any
    task: str
    flavor: str = "sklearn"
    fast: FastPredictor | None = field(default=None, compare=False, repr=False)  # set by with_fast_path()

    @property
    def fast_path(self) -> bool:
        """Whether predict skips the pipeline's Python machinery (see `_sklearn_fast`)."""
        return self.fast is not None

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.fast is not None:
            raw = self.fast.predict(X)
            if raw is not None:
                return self._finish(raw)
        return self.predict_with_pipeline(X)

    def predict_polars(self, frame: pl.DataFrame) -> np.ndarray | None:
        """What `predict(to_model_frame(frame, signature))` answers, without the pandas frame, when the
        fast path can encode `frame` itself; None otherwise (the caller takes the pandas path).
        Callers verify the two agree on their own rows before relying on it (batch scoring does)."""
        if self.fast is None:
            return None
        matrix = self.fast.polars_matrix(frame)
        if matrix is None:
            return None
        return self._finish(self.fast.predict_matrix(matrix))

    def predict_with_pipeline(self, X: pd.DataFrame) -> np.ndarray:
        """Predict through the fitted estimator itself, never the fast path."""
        if self.task == "classification":
            return self._finish(self.model.predict_proba(X))
        return self._finish(self.model.predict(X))

    def _finish(self, raw: np.ndarray) -> np.ndarray:
        if self.task == "classification":
            return as_probabilities(raw)
        return np.asarray(raw, dtype=np.float64)

    def with_fast_path(self, sample: pd.DataFrame | None = None) -> SklearnModel:
        """This model with the fast path on, if the estimator has a recognised shape and the fast path
        answers bit for bit as the estimator on probe rows (every category, missing and unseen values,
        extreme numbers, split thresholds) and on the caller's `sample`; otherwise with it off."""
        fast = build_fast_predictor(self.model, classifier=self.task == "classification")
        if fast is None:
            return replace(self, fast=None)
        checks = [(frame, True) for frame in verification_frames(fast)]
        if sample is not None:
            checks.append((sample, False))
        for frame, required in checks:
            problem = self._disagreement(fast, frame, required=required)
            if problem is not None:
                _log.warning("fast_predict_disabled", estimator=type(fast.estimator).__name__, reason=problem)
                return replace(self, fast=None)
        return replace(self, fast=fast)

    def _disagreement(self, fast: FastPredictor, frame: pd.DataFrame, *, required: bool) -> str | None:
        """Why `fast` cannot stand in for the estimator on `frame`, or None. Rows that are not
        `required` (the caller's) may be rows the pipeline rejects or the fast path leaves to it."""
        try:
            expected = self.predict_with_pipeline(frame)
        except _CHECK_ERRORS as exc:
            return f"the pipeline failed on the verification rows: {exc!r}" if required else None
        try:
            got = fast.predict(frame)
        except _CHECK_ERRORS as exc:
            return f"the fast path failed on {len(frame)} rows: {exc!r}"
        if got is None:
            return "the fast path declined the verification rows" if required else None
        got = self._finish(got)
        if got.shape != expected.shape or got.tobytes() != expected.tobytes():
            return f"outputs differ on {len(frame)} rows (max abs difference {_max_abs_difference(got, expected)})"
        return None


def _max_abs_difference(got: np.ndarray, expected: np.ndarray) -> float | None:
    if got.shape != expected.shape:
        return None
    return float(np.max(np.abs(got - expected), initial=0.0))


class SklearnFlavor:
    name = "sklearn"

    def fit(self, request: FitRequest) -> FittedModel:
        with project_on_path(request.project_dir):
            estimator, resolved = _build_estimator(request)
            if request.task == "classification" and not hasattr(estimator, "predict_proba"):
                raise FlavorError(
                    f"{type(estimator).__name__} has no predict_proba, which classification needs",
                    hint="choose a probabilistic classifier or wrap it in sklearn.calibration.CalibratedClassifierCV",
                )
            try:
                estimator.fit(request.X, request.y)
            except (ValueError, TypeError) as exc:
                raise TrainingError(f"fitting {type(estimator).__name__} failed: {exc}") from exc
        named = request.model.factory or request.model.estimator or ""
        package = named.split(":", 1)[0].split(".", 1)[0]
        if package and package != "sklearn":
            # The user named this package in the spec: its types may appear in the artifact.
            resolved["trusted_modules"] = [package]
        return FittedModel(self.name, estimator, resolved)

    def dumps(self, fitted: FittedModel, *, signature: Mapping[str, Any]) -> bytes:
        return dumps_canonical(fitted.model)

    def loads(self, data: bytes, *, signature: Mapping[str, Any], trusted_modules: tuple[str, ...]) -> SklearnModel:
        model = SklearnModel(loads_trusted(data, trusted_modules=trusted_modules), task_of(signature))
        return model.with_fast_path()

    def as_loaded(self, fitted: FittedModel, *, signature: Mapping[str, Any]) -> SklearnModel:
        return SklearnModel(fitted.model, task_of(signature))


__all__ = ["SklearnFlavor", "SklearnModel", "project_on_path"]
