"""Baseline: scikit-learn computing the same six metrics once on the test rows, plus a naive
bootstrap of ROC AUC (`roc_auc_score` on resampled row indices), capped at 20 resamples.

    python sklearn_naive.py N

The naive bootstrap runs NAIVE_RESAMPLES resamples and its time is extrapolated linearly to 1000
(x 50): "sklearn naive bootstrap, extrapolated from 20 resamples". Only the ROC AUC interval is
bootstrapped here (assay's total also bootstraps pr_auc, log_loss and brier and runs a paired
comparison), so the baseline is a lower bound on what the same work costs the naive way.
"""

from __future__ import annotations

import sys
import time

t_import = time.perf_counter()
import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from common import emit, fail, make_data, proba  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

import_s = time.perf_counter() - t_import

SEED = 42
NAIVE_RESAMPLES = 20
EXTRAPOLATE_TO = 1000


def six_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    predicted = p.argmax(axis=1)
    return {
        "roc_auc": float(skm.roc_auc_score(y, p[:, 1])),
        "pr_auc": float(skm.average_precision_score(y, p[:, 1])),
        "log_loss": float(skm.log_loss(y, p, labels=[0, 1])),
        "brier": float(skm.brier_score_loss(y, p[:, 1])),
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "f1": float(skm.f1_score(y, predicted, zero_division=0)),
    }


def naive_bootstrap(y: np.ndarray, scores: np.ndarray, n_resamples: int) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    n = len(y)
    values = []
    for _ in range(n_resamples):
        rows = rng.integers(0, n, size=n)
        values.append(skm.roc_auc_score(y[rows], scores[rows]))
    return np.array(values)


def main() -> None:
    rows = int(sys.argv[1])
    test = make_data(rows)["test"]
    y, scores = test["labels"], test["candidate"]
    p = proba(scores)
    t0 = time.perf_counter()
    metrics = six_metrics(y, p)
    metrics_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    values = naive_bootstrap(y, scores, NAIVE_RESAMPLES)
    naive_s = time.perf_counter() - t0
    low, high = np.percentile(values, [2.5, 97.5])
    if not low <= metrics["roc_auc"] <= high:
        fail(f"naive roc_auc interval [{low}, {high}] (20 resamples) does not bracket {metrics['roc_auc']}")
    naive_1000_s = naive_s * EXTRAPOLATE_TO / NAIVE_RESAMPLES
    emit({"rows": rows, "import_s": import_s, "metrics_s": metrics_s, "naive_bootstrap_measured_s": naive_s,
          "naive_resamples": NAIVE_RESAMPLES, "naive_bootstrap_extrapolated_s": naive_1000_s,
          "work_s": metrics_s + naive_1000_s, "metrics": metrics, "sklearn_version": sklearn.__version__})


if __name__ == "__main__":
    main()
