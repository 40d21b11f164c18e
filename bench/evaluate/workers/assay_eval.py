"""Assay: `assess(...)` on N test rows and N // 4 validation rows, the headline and its parts.

    python assay_eval.py N

Untimed first: build the synthetic predictions (common.make_data) and a check run of `assess`
(20 resamples) that must give a finite decision threshold, a roc_auc interval bracketing the point
estimate, and roc_auc equal to sklearn's roc_auc_score on the test rows (to 1e-12); exit 3 otherwise.
Then, timed one after the other in this process:

- total:       assess(spec with confidence.resamples=1000, champions=[production]) -- the headline:
               metrics on both splits, the threshold chosen on validation (cost matrix), bootstrap
               intervals on the test metrics, the paired comparison with the champion, the gates;
- core:        assess(the same spec with resamples=0, champions=()) -- metrics, threshold, decision
               metrics, gates (and the evidence assess computes itself, when it does); no bootstrap and
               no comparison (with a champion, assess would still compare at max(resamples, 200));
- bootstrap:   what assess() runs for the intervals: bootstrap_cis(roc_auc, pr_auc, log_loss, brier,
               1000 resamples, seed 42) when it exists, else bootstrap_ci per metric (summed); plus
               bootstrap_ci("roc_auc") alone, for the comparison with the naive sklearn bootstrap;
- comparison:  compare_models("roc_auc", labels, champion, candidate, seed=42, n_resamples=1000);
- calibration: reliability(labels, scores) with uniform and with quantile bins (ECE + diagram data);
- fairness:    assess_fairness on a 3-valued sensitive column (when assay.evaluation.fairness exists);
- slices:      slice_metrics("roc_auc") on a 4-valued column (when assay.evaluation.slices exists).

When assess() takes `sensitive` / `slice_columns`, the total and the core get those columns too,
so the headline includes the fairness and slice evidence as `assay train` would compute it.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import sys
import time

t_import = time.perf_counter()
import numpy as np  # noqa: E402
from common import METRIC_NAMES, emit, fail, make_data, proba  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from assay.evaluation import bootstrap as _bootstrap  # noqa: E402
from assay.evaluation.assessment import Champion, assess  # noqa: E402
from assay.evaluation.bootstrap import bootstrap_ci, compare_models  # noqa: E402
from assay.evaluation.calibration import reliability  # noqa: E402
from assay.spec.evaluation import EvaluationSpec  # noqa: E402

import_s = time.perf_counter() - t_import

SEED = 42
RESAMPLES = 1000
CHECK_RESAMPLES = 20  # the untimed check run (the comparison still uses max(20, 200) = 200)
BOOTSTRAPPED = ("roc_auc", "pr_auc", "log_loss", "brier")  # the metrics assess() bootstraps (of METRIC_NAMES)
HAS_FAIRNESS = importlib.util.find_spec("assay.evaluation.fairness") is not None
HAS_SLICES = importlib.util.find_spec("assay.evaluation.slices") is not None
# Newer assess() takes the test rows' sensitive and slice columns and computes that evidence itself.
ASSESS_PARAMS = inspect.signature(assess).parameters
ASSESS_TAKES_FAIRNESS = HAS_FAIRNESS and "sensitive" in ASSESS_PARAMS
ASSESS_TAKES_SLICES = HAS_SLICES and "slice_columns" in ASSESS_PARAMS
# Newer bootstrap has bootstrap_cis (several metrics on one set of resamples), which assess() then uses.
BOOTSTRAP_CIS = getattr(_bootstrap, "bootstrap_cis", None)


def spec(resamples: int) -> EvaluationSpec:
    return EvaluationSpec.model_validate({
        "metrics": list(METRIC_NAMES),
        "primary": "roc_auc",
        "decision": {"costs": {"false_positive": 1.0, "false_negative": 5.0}},
        "confidence": {"resamples": resamples, "level": 0.95},
        "gates": [
            {"no_regression_vs": "production"},
            {"metric": "roc_auc", "min": 0.75},
            {"metric": "log_loss", "max": 0.6},
        ],
    })


def run_assess(data: dict, resamples: int, with_champion: bool):  # noqa: ANN001, ANN201
    test, validation = data["test"], data["validation"]
    champions = [Champion("production", "m:1", proba(test["champion"]))] if with_champion else []
    extra = {}
    if ASSESS_TAKES_FAIRNESS:
        extra["sensitive"] = {"group": test["sensitive"]}
    if ASSESS_TAKES_SLICES:
        extra["slice_columns"] = {"segment": test["segment"]}
    return assess(
        spec(resamples), task="classification", metric_names=METRIC_NAMES,
        labels={"validation": validation["labels"], "test": test["labels"]},
        predictions={"validation": proba(validation["candidate"]), "test": proba(test["candidate"])},
        seed=SEED, champions=champions, **extra,
    )


def check(result, data: dict, resamples: int) -> dict:  # noqa: ANN001
    """The result's sanity checks (exit 3 when one fails) and what they saw."""
    test = result.metrics["test"]
    ci = result.intervals.get("roc_auc")
    if ci is None or ci.low is None or ci.high is None:
        fail(f"no roc_auc interval: {result.intervals}")
    if not ci.low <= test["roc_auc"] <= ci.high:
        fail(f"roc_auc interval [{ci.low}, {ci.high}] does not bracket the estimate {test['roc_auc']}")
    if ci.n_resamples != resamples:
        fail(f"roc_auc interval used {ci.n_resamples} resamples, expected {resamples}")
    if result.decision is None or not math.isfinite(result.decision.threshold):
        fail(f"decision threshold is not a finite number: {result.decision}")
    reference = float(roc_auc_score(data["test"]["labels"], data["test"]["candidate"]))
    if abs(test["roc_auc"] - reference) > 1e-12:
        fail(f"roc_auc {test['roc_auc']!r} differs from sklearn's roc_auc_score {reference!r}")
    if "production" not in result.comparisons:
        fail("no comparison with the production champion")
    return {"roc_auc": test["roc_auc"], "sklearn_roc_auc": reference, "roc_auc_ci": [ci.low, ci.high],
            "threshold": result.decision.threshold, "comparison": result.comparisons["production"].verdict,
            "difference": result.comparisons["production"].difference,
            "gates": [[g.gate, g.passed] for g in result.gates], "intervals": sorted(result.intervals)}


def timed(function, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    t0 = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - t0


def main() -> None:
    rows = int(sys.argv[1])
    t0 = time.perf_counter()
    data = make_data(rows)
    data_s = time.perf_counter() - t0
    test = data["test"]
    positives = float(test["labels"].mean())

    check(run_assess(data, CHECK_RESAMPLES, with_champion=True), data, CHECK_RESAMPLES)  # untimed, before any timing

    parts: dict[str, float] = {}
    result, parts["total"] = timed(run_assess, data, RESAMPLES, True)
    seen = check(result, data, RESAMPLES)
    core, parts["core"] = timed(run_assess, data, 0, False)
    if core.intervals or core.comparisons:
        fail("resamples=0 without champions still bootstrapped")
    bootstrap_by_metric: dict[str, float] = {}
    if BOOTSTRAP_CIS is not None:  # what assess() calls: the four metrics on one set of resamples
        _, parts["bootstrap"] = timed(BOOTSTRAP_CIS, list(BOOTSTRAPPED), test["labels"], test["candidate"],
                                      seed=SEED, n_resamples=RESAMPLES)
        _, bootstrap_by_metric["roc_auc"] = timed(bootstrap_ci, "roc_auc", test["labels"], test["candidate"],
                                                  seed=SEED, n_resamples=RESAMPLES)  # for the naive baseline
    else:
        for name in BOOTSTRAPPED:
            _, bootstrap_by_metric[name] = timed(bootstrap_ci, name, test["labels"], test["candidate"], seed=SEED,
                                                 n_resamples=RESAMPLES)
        parts["bootstrap"] = sum(bootstrap_by_metric.values())
    _, parts["comparison"] = timed(compare_models, "roc_auc", test["labels"], test["champion"], test["candidate"],
                                   seed=SEED, n_resamples=RESAMPLES)
    t0 = time.perf_counter()
    uniform = reliability(test["labels"], test["candidate"], n_bins=10, binning="uniform")
    reliability(test["labels"], test["candidate"], n_bins=10, binning="quantile")
    parts["calibration"] = time.perf_counter() - t0
    if HAS_FAIRNESS:
        from assay.evaluation.fairness import assess_fairness

        _, parts["fairness"] = timed(assess_fairness, test["labels"], test["candidate"], {"group": test["sensitive"]},
                                     threshold=result.decision.threshold)
    if HAS_SLICES:
        from assay.evaluation.slices import slice_metrics

        _, parts["slices"] = timed(slice_metrics, "roc_auc", test["labels"], test["candidate"],
                                   {"segment": test["segment"]})
    emit({"rows": rows, "validation_rows": len(data["validation"]["labels"]), "positive_rate": positives,
          "import_s": import_s, "data_s": data_s, "work_s": parts["total"], "parts_s": parts,
          "bootstrap_by_metric_s": bootstrap_by_metric, "ece": uniform.expected_calibration_error,
          "has_fairness": HAS_FAIRNESS, "has_slices": HAS_SLICES, "assess_takes_fairness": ASSESS_TAKES_FAIRNESS,
          "assess_takes_slices": ASSESS_TAKES_SLICES, "bootstrap_cis": BOOTSTRAP_CIS is not None, "check": seen, "numpy_version": np.__version__})



if __name__ == "__main__":
    main()
