"""A fast predict for Assay's own HistGradientBoosting models: the fitted pipeline's numbers without its
per-call Python machinery, checked bit for bit against the pipeline before use (see SklearnModel).

Recognised: ``Pipeline([ColumnTransformer(OrdinalEncoder categories, passthrough numbers), HGB])`` as
``wrap_with_preprocessing`` builds it (either part may be absent), and a bare HGB fitted on numbers.
Category codes come from the fitted encoders' own ``transform`` on their ``categories_``, so grouping of
infrequent, unknown and missing values is theirs; the trees run through the compiled routine
``_raw_predict`` uses, with the same order of float additions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import structlog
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

try:  # scikit-learn internals, stable from 1.0 to 1.9; without them every model keeps the plain path
    from sklearn.ensemble._hist_gradient_boosting._predictor import _predict_from_raw_data
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
except ImportError:  # pragma: no cover - depends on the installed scikit-learn
    _predict_from_raw_data = None

_log = structlog.get_logger("assay.flavor")

_HGB = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)
_UNSEEN = "\x00assay-unseen-category\x00"
_SINGLE_THREAD_ROWS = 512  # below this, waking OpenMP threads per tree costs more than it saves
_CHUNK_VALUES = 1 << 21  # bound the (trees x rows) buffer of partial sums to 16 MiB per chunk
_NUMERIC_PROBES = (np.nan, 0.0, -0.0, 1.0, -1.0, 0.5, 1e300, -1e300, np.inf, -np.inf, 5e-324, 2.0**53 + 1)
_THRESHOLD_PROBES = 32  # split thresholds per numeric feature tried (and the next float above each)
_BUILD_ERRORS = (AttributeError, TypeError, ValueError, KeyError, IndexError)


@dataclass(frozen=True, slots=True)
class _Column:
    """One input column of the tree ensemble: where it comes from and, for a category, its codes."""

    position: int  # in the caller's frame
    codes: dict[Any, float] | None  # category -> code the trees see; None for a number
    missing: float = np.nan
    unknown: float = np.nan


@dataclass(frozen=True, slots=True)
class FastPredictor:
    """Predicts what the fitted pipeline predicts, for frames shaped like its training frame."""

    columns: tuple[str, ...]
    layout: tuple[_Column, ...]
    trees: tuple[tuple[np.ndarray, np.ndarray], ...]  # (nodes, raw_left_cat_bitsets), iteration-major
    known_cat_bitsets: np.ndarray
    f_idx_map: np.ndarray
    baseline: np.ndarray  # shape (n_trees_per_iteration,)
    estimator: Any

    def predict(self, X: Any) -> np.ndarray | None:
        """The estimator's predict_proba (classifier) or predict (regressor); None when this frame
        needs the pipeline (unexpected columns or dtypes, a value that is neither a string nor missing)."""
        matrix = self._matrix(X)
        if matrix is None:
            return None
        return self.predict_matrix(matrix)

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """The estimator's output for an encoded matrix (rows x layout, float64)."""
        n_rows, per_iteration = len(matrix), len(self.baseline)
        step = max(1, _CHUNK_VALUES // (len(self.trees) + per_iteration))
        raw = np.empty((per_iteration, n_rows))
        for start in range(0, n_rows, step):
            raw[:, start : start + step] = self._raw(matrix[start : start + step])
        raw = raw.T  # (n_rows, per_iteration), Fortran order like _raw_predict's buffer
        if isinstance(self.estimator, HistGradientBoostingClassifier):
            return self.estimator._loss.predict_proba(raw)
        return self.estimator._loss.link.inverse(raw.ravel())

    def _matrix(self, X: Any) -> np.ndarray | None:
        if not isinstance(X, pd.DataFrame) or len(X) == 0 or tuple(X.columns) != self.columns:
            return None
        dtypes = X.dtypes.tolist()
        if all(column.codes is None for column in self.layout):  # numbers only: no boxing
            if not all(isinstance(d, np.dtype) and d.kind in "fiub" for d in dtypes):
                return None
            return np.ascontiguousarray(X.to_numpy(dtype=np.float64)[:, [c.position for c in self.layout]])
        values = X.to_numpy(dtype=object)
        matrix = np.empty((len(X), len(self.layout)))
        for j, column in enumerate(self.layout):
            dtype = dtypes[column.position]
            if column.codes is None:
                if not (isinstance(dtype, np.dtype) and dtype.kind in "fiub"):
                    return None
                matrix[:, j] = values[:, column.position].astype(np.float64)
                continue
            if not (dtype == object or (isinstance(dtype, pd.StringDtype) and dtype.na_value is np.nan)):
                return None
            if not _encode(values[:, column.position], column, out=matrix[:, j]):
                return None
        return matrix

    def polars_matrix(self, frame: pl.DataFrame) -> np.ndarray | None:
        """The matrix `_matrix` builds from the pandas frame `to_model_frame` makes of `frame`, built
        by polars without boxing a value: numbers as float64 (null as NaN), categories as their codes
        (null: the missing code; any other unknown string: the unknown code). None when a column is
        absent or not a number or a string (dates: the pandas path converts them)."""
        exprs = []
        for j, column in enumerate(self.layout):
            name = self.columns[column.position]
            dtype = frame.schema.get(name)
            if dtype is None:
                return None
            if column.codes is None:
                if not (dtype.is_numeric() or dtype == pl.Boolean):
                    return None
                exprs.append(pl.col(name).cast(pl.Float64).fill_null(np.nan).alias(f"_{j}"))
                continue
            if dtype != pl.String:
                return None
            keys = list(column.codes)
            coded = pl.col(name).replace_strict(keys, [column.codes[k] for k in keys], default=column.unknown,
                                                return_dtype=pl.Float64)
            exprs.append(pl.when(pl.col(name).is_null()).then(pl.lit(column.missing, pl.Float64)).otherwise(coded)
                         .alias(f"_{j}"))
        if frame.height == 0:
            return None
        return np.ascontiguousarray(frame.select(exprs).to_numpy(), dtype=np.float64)

    def _raw(self, matrix: np.ndarray) -> np.ndarray:
        """Sum of leaf values, added in _raw_predict's order: 0 + baseline, then tree by tree."""
        n_rows, per_iteration = len(matrix), len(self.baseline)
        n_threads = 1 if n_rows < _SINGLE_THREAD_ROWS else _openmp_effective_n_threads()
        partial = np.empty((len(self.trees) // per_iteration + 1, per_iteration, n_rows))
        partial[0] = 0.0 + self.baseline[:, None]  # _raw_predict: zeros, then += baseline
        outputs, known, f_idx_map = partial.reshape(-1, n_rows)[per_iteration:], self.known_cat_bitsets, self.f_idx_map
        for (nodes, left_cat_bitsets), out in zip(self.trees, outputs):
            _predict_from_raw_data(nodes, matrix, left_cat_bitsets, known, f_idx_map, n_threads, out)
        return np.cumsum(partial, axis=0)[-1]  # accumulate adds strictly in sequence, tree by tree


def _encode(values: np.ndarray, column: _Column, *, out: np.ndarray) -> bool:
    codes = column.codes or {}
    try:
        for i, value in enumerate(values):
            code = codes.get(value)
            if code is None and (value is None or (isinstance(value, float) and value != value)):
                code = column.missing
            elif code is None:
                if not isinstance(value, str):
                    return False
                code = column.unknown
            out[i] = code
    except TypeError:  # an unhashable value: let the pipeline say what it makes of it
        return False
    return True


def build_fast_predictor(model: Any, *, classifier: bool) -> FastPredictor | None:
    """A FastPredictor for a recognised model, else None. Not yet verified: see verification_frames."""
    if _predict_from_raw_data is None:
        return None
    if type(model) in _HGB:
        preprocess, estimator = None, model
    elif type(model) is Pipeline and len(model.steps) == 2 and type(model.steps[1][1]) in _HGB:
        preprocess, estimator = model.steps[0][1], model.steps[1][1]
        if type(preprocess) is not ColumnTransformer:
            return None
    else:
        return None
    if classifier != isinstance(estimator, HistGradientBoostingClassifier):
        return None
    try:
        return _build(preprocess, estimator)
    except _BUILD_ERRORS as exc:
        _log.warning("fast_predict_unavailable_using_pipeline", estimator=type(estimator).__name__, error=repr(exc))
        return None


def _build(preprocess: ColumnTransformer | None, estimator: Any) -> FastPredictor | None:
    if preprocess is None:
        columns = [str(c) for c in estimator.feature_names_in_]
        encoders: list[tuple[OrdinalEncoder, int] | None] = [None] * len(columns)
        outer = columns
    else:
        columns = [str(c) for c in preprocess.feature_names_in_]
        outer, encoders = [], []
        for _, transformer, selected in preprocess.transformers_:
            if isinstance(transformer, str) and transformer == "drop" or len(selected) == 0:
                continue
            if not all(isinstance(c, str) for c in selected):
                return None
            if _is_passthrough(transformer):
                encoders += [None] * len(selected)
            elif type(transformer) is OrdinalEncoder and transformer.handle_unknown == "use_encoded_value":
                encoders += [(transformer, i) for i in range(len(selected))]
            else:
                return None
            outer += list(selected)
    inner = getattr(estimator, "_preprocessor", None)
    mask = getattr(estimator, "is_categorical_", None)
    if inner is not None and mask is not None and len(mask) == len(outer):
        order = [*np.flatnonzero(mask), *np.flatnonzero(~np.asarray(mask))]  # HGB puts categories first
    elif inner is None and (mask is None or preprocess is not None):
        order = list(range(len(outer)))
    else:
        return None  # a bare HGB encoding pandas categories itself
    categories = {}
    for name, encoder in zip(outer, encoders):
        if encoder is not None:
            known = encoder[0].categories_[encoder[1]]
            if not all(isinstance(v, str) for v in known if not pd.isna(v)):
                return None
            categories[name] = [v for v in known if not pd.isna(v)]
    probe = _probe_frame(columns, categories)
    encoded = preprocess.transform(probe) if preprocess is not None else probe.to_numpy(np.float64)
    encoded = np.asarray(inner.transform(encoded) if inner is not None else encoded, dtype=np.float64)
    layout = []
    for j, o in enumerate(order):
        name = outer[o]
        if name not in categories:
            layout.append(_Column(columns.index(name), None))
            continue
        known = categories[name]
        codes = {value: float(encoded[r, j]) for r, value in enumerate(known)}
        layout.append(_Column(columns.index(name), codes, float(encoded[-2, j]), float(encoded[-1, j])))
    known_cat_bitsets, f_idx_map = estimator._bin_mapper.make_known_categories_bitsets()
    trees = tuple((p.nodes, p.raw_left_cat_bitsets) for iteration in estimator._predictors for p in iteration)
    baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1)
    if len(baseline) != estimator.n_trees_per_iteration_:
        return None
    return FastPredictor(tuple(columns), tuple(layout), trees, known_cat_bitsets, f_idx_map, baseline, estimator)


def _is_passthrough(transformer: Any) -> bool:
    """ "passthrough", which a fitted ColumnTransformer holds as an identity FunctionTransformer."""
    if isinstance(transformer, str):
        return transformer == "passthrough"
    return type(transformer) is FunctionTransformer and transformer.func is None and not transformer.validate


def _probe_frame(columns: list[str], categories: dict[str, list[str]]) -> pd.DataFrame:
    """Every known category of each column, then a missing row, then an unseen row."""
    length = max((len(c) for c in categories.values()), default=0) + 2
    data: dict[str, Any] = {}
    for name in columns:
        if name in categories:
            known = categories[name] or [_UNSEEN]
            padded = [*known, *[known[0]] * (length - 2 - len(known))]
            data[name] = pd.Series([*padded, np.nan, _UNSEEN], dtype=object)
        else:
            data[name] = np.zeros(length)
    return pd.DataFrame(data, columns=columns)


def verification_frames(fast: FastPredictor, *, seed: int = 0) -> list[pd.DataFrame]:
    """Frames that exercise every category, None and NaN, an unseen value and extreme numbers
    (plus the trees' own split thresholds), in str-dtype and object-dtype form."""
    rng = np.random.default_rng(seed)
    thresholds = getattr(fast.estimator._bin_mapper, "bin_thresholds_", None)
    pools: dict[int, list[Any]] = {}
    for j, column in enumerate(fast.layout):
        if column.codes is None:
            cuts = np.asarray(thresholds[j] if thresholds is not None and j < len(thresholds) else [], dtype=float)
            cuts = rng.choice(cuts, size=min(len(cuts), _THRESHOLD_PROBES), replace=False) if len(cuts) else cuts
            pools[column.position] = [*_NUMERIC_PROBES, *cuts, *np.nextafter(cuts, np.inf)]
        else:
            pools[column.position] = [*column.codes, None, np.nan, _UNSEEN, "", "unseen"]
    length = max([64, *(len(p) for p in pools.values())])
    data = {}
    for position, pool in pools.items():
        tiled = np.empty(length, dtype=object)
        tiled[:] = [pool[i % len(pool)] for i in range(length)]
        data[fast.columns[position]] = tiled[rng.permutation(length)]
    categorical = [fast.columns[c.position] for c in fast.layout if c.codes is not None]
    objects = pd.DataFrame({c: pd.Series(data[c], dtype=object if c in categorical else float) for c in fast.columns})
    return [objects, objects.astype({c: pd.StringDtype(na_value=np.nan) for c in categorical})]


__all__ = ["FastPredictor", "build_fast_predictor", "verification_frames"]
