"""Above `max_rows`, the bootstrap resamples a seeded subset and rescales by sqrt(m/n): the
intervals must keep their width and their coverage (m-out-of-n bootstrap)."""

from __future__ import annotations

import numpy as np
import pytest

from assay.evaluation.bootstrap import bootstrap_cis, compare_models


def _scores(rows: int, rng: np.random.Generator, strength: float = 1.2) -> tuple[np.ndarray, np.ndarray]:
    labels = (rng.random(rows) < 0.3).astype(int)
    scores = 1 / (1 + np.exp(-(strength * (labels - 0.5) + rng.normal(size=rows))))
    return labels, scores


def test_a_subsampled_interval_has_the_width_of_the_full_one() -> None:
    labels, scores = _scores(60_000, np.random.default_rng(1))
    full = bootstrap_cis(["roc_auc", "log_loss", "pr_auc"], labels, scores, seed=5, n_resamples=600, max_rows=None)
    sub = bootstrap_cis(["roc_auc", "log_loss", "pr_auc"], labels, scores, seed=5, n_resamples=600, max_rows=10_000)
    for name in ("roc_auc", "log_loss", "pr_auc"):
        assert sub[name].subsample == 10_000 and full[name].subsample is None
        assert sub[name].estimate == full[name].estimate  # the point estimate is always on every row
        width_full = full[name].high - full[name].low
        width_sub = sub[name].high - sub[name].low
        assert 0.8 < width_sub / width_full < 1.25, (name, width_sub, width_full)
        assert sub[name].low < sub[name].estimate < sub[name].high


def test_subsampled_intervals_cover_the_true_auc_at_their_level() -> None:
    rng = np.random.default_rng(11)
    truth_labels, truth_scores = _scores(2_000_000, rng)
    from assay.evaluation.metrics import roc_auc

    truth = roc_auc(truth_labels, truth_scores)
    trials, covered = 120, 0
    for trial in range(trials):
        labels, scores = _scores(20_000, np.random.default_rng(1000 + trial))
        ci = bootstrap_cis(["roc_auc"], labels, scores, seed=trial, n_resamples=300, max_rows=4_000)["roc_auc"]
        covered += ci.low <= truth <= ci.high
    # 95% intervals over 120 trials: the binomial spread is about 2 points; allow 3 standard deviations
    assert 0.88 <= covered / trials <= 0.995, covered


def test_a_subsampled_paired_comparison_still_sees_a_worse_model() -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random(80_000) < 0.3).astype(int)
    latent = labels - 0.5 + rng.normal(size=80_000)
    good = 1 / (1 + np.exp(-1.5 * latent))
    worse = 1 / (1 + np.exp(-1.5 * (latent + rng.normal(scale=0.8, size=80_000))))
    verdict = compare_models("roc_auc", labels, good, worse, seed=2, n_resamples=400, max_rows=10_000)
    assert verdict.subsample == 10_000 and verdict.verdict == "worse"
    same = compare_models("roc_auc", labels, good, good, seed=2, n_resamples=400, max_rows=10_000)
    assert same.verdict == "no_significant_difference"
    assert same.difference == pytest.approx(0.0)
