"""Bootstrap intervals: seeded, cover the truth at the nominal rate, equal direct recomputation per resample."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn import metrics as skm

from assay.errors import DataError
from assay.evaluation import Metric, bootstrap_ci, compare_models
from assay.evaluation._kernel import build


def _binary(n: int, seed: int, separation: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Binormal scores pushed through a sigmoid: true ROC AUC = Phi(separation / sqrt(2))."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    latent = rng.normal(separation * labels, 1.0)
    return labels, 1 / (1 + np.exp(-latent))


def test_same_seed_same_interval_and_another_seed_another() -> None:
    labels, scores = _binary(400, 1)
    first = bootstrap_ci("roc_auc", labels, scores, seed=5)
    assert bootstrap_ci("roc_auc", labels, scores, seed=5) == first
    assert bootstrap_ci("roc_auc", labels, scores, seed=6) != first
    assert first.low < first.estimate < first.high
    assert first.estimate == pytest.approx(skm.roc_auc_score(labels, scores))
    assert json.loads(json.dumps(first.to_dict()))["seed"] == 5


@pytest.mark.parametrize("name", ["roc_auc", "pr_auc", "log_loss", "brier", "lift", "f1", "precision", "accuracy"])
def test_kernel_on_a_resample_equals_recomputing_on_the_resampled_rows(name: str) -> None:
    labels, scores = _binary(300, 2)
    scores = np.round(scores, 2)  # ties, so the tie handling is exercised
    metric = Metric(name, threshold=0.5, fraction=0.1)
    direct = {
        "roc_auc": skm.roc_auc_score,
        "pr_auc": skm.average_precision_score,
        "log_loss": skm.log_loss,
        "brier": skm.brier_score_loss,
        "f1": lambda y, s: skm.f1_score(y, s >= 0.5),
        "precision": lambda y, s: skm.precision_score(y, s >= 0.5, zero_division=0),
        "accuracy": lambda y, s: skm.accuracy_score(y, s >= 0.5),
        "lift": lambda y, s: build(metric, y, s).full(),  # lift is checked by hand in the metric tests
    }[name]
    indices = np.random.default_rng(3).integers(0, 300, size=(4, 300))
    got = build(metric, labels.astype(np.int8), scores).evaluate(indices)
    expected = [direct(labels[rows], scores[rows]) for rows in indices]
    assert got == pytest.approx(expected, abs=1e-12)


def test_intervals_cover_the_true_value_about_95_percent_of_the_time() -> None:
    # 200 seeded trials. Coverage is Binomial(200, ~0.95): sd 1.5 points; the percentile bootstrap
    # under-covers slightly at these sizes, so accept 90%..99% (about 3 sd either side of 94.5%).
    true_auc = norm.cdf(1 / math.sqrt(2))
    true_mae = math.sqrt(2 / math.pi)  # E|Z| for a standard normal target predicted as 0
    auc_hits = mae_hits = 0
    for trial in range(200):
        labels, scores = _binary(300, 1000 + trial)
        auc = bootstrap_ci("roc_auc", labels, scores, seed=trial, n_resamples=500)
        auc_hits += auc.low <= true_auc <= auc.high
        target = np.random.default_rng(5000 + trial).normal(size=200)
        error = bootstrap_ci("mae", target, np.zeros(200), seed=trial, n_resamples=500)
        mae_hits += error.low <= true_mae <= error.high
    assert 0.90 <= auc_hits / 200 <= 0.99
    assert 0.90 <= mae_hits / 200 <= 0.99


def test_a_custom_metric_gives_the_named_metrics_interval() -> None:
    target = np.random.default_rng(4).normal(size=150)
    predicted = target + np.random.default_rng(5).normal(size=150)
    named = bootstrap_ci("mae", target, predicted, seed=9, n_resamples=200)
    custom = bootstrap_ci(
        Metric.custom("my_mae", lambda y, f: float(np.mean(np.abs(y - f))), higher_is_better=False),
        target,
        predicted,
        seed=9,
        n_resamples=200,
    )
    assert (custom.low, custom.high) == pytest.approx((named.low, named.high), abs=1e-12)


def test_resamples_where_the_metric_is_undefined_are_counted() -> None:
    labels = np.array([1] + [0] * 19)
    scores = np.linspace(0.05, 0.95, 20)
    interval = bootstrap_ci("roc_auc", labels, scores, seed=0, n_resamples=300)
    # The single positive is missed in about (19/20)^20 = 36% of resamples.
    assert 60 < interval.n_undefined < 160


def test_paired_bootstrap_says_worse_for_a_clearly_worse_challenger() -> None:
    labels, champion = _binary(2000, 3, separation=1.5)
    rng = np.random.default_rng(4)
    challenger = 1 / (1 + np.exp(-(np.log(champion / (1 - champion)) + rng.normal(0, 2.0, 2000))))
    worse = compare_models("roc_auc", labels, champion, challenger, seed=1)
    assert worse.verdict == "worse" and worse.high < 0 and worse.difference < 0
    assert compare_models("roc_auc", labels, challenger, champion, seed=1).verdict == "better"
    assert compare_models("log_loss", labels, champion, challenger, seed=1).verdict == "worse"  # lower is better
    json.dumps(worse.to_dict())


def test_paired_bootstrap_finds_no_difference_between_equally_good_models() -> None:
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 2, 2000)
    latent = rng.normal(labels, 1.0)
    one = 1 / (1 + np.exp(-(latent + rng.normal(0, 0.5, 2000))))
    two = 1 / (1 + np.exp(-(latent + rng.normal(0, 0.5, 2000))))
    same = compare_models("roc_auc", labels, one, two, seed=2)
    assert same.verdict == "no_significant_difference"
    assert same.low < 0 < same.high
    identical = compare_models("brier", labels, one, one, seed=2)
    assert (identical.verdict, identical.low, identical.high) == ("no_significant_difference", 0.0, 0.0)


def test_bad_arguments_are_refused() -> None:
    labels, scores = _binary(50, 1)
    with pytest.raises(DataError, match="n_resamples"):
        bootstrap_ci("roc_auc", labels, scores, seed=0, n_resamples=0)
    with pytest.raises(DataError, match="level"):
        bootstrap_ci("roc_auc", labels, scores, seed=0, level=95)
    with pytest.raises(DataError, match="row counts differ"):
        compare_models("roc_auc", labels, scores, scores[:-1], seed=0)
