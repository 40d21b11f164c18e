"""The baseline for tracking overhead: the script a data scientist would write, with no Assay.

Read the CSV with polars, take the same time split (the row indices Assay recorded, so the rows
are identical), build the same scikit-learn Pipeline (ordinal-encoded categories declared
categorical + HistGradientBoostingClassifier with the spec's params, seed and 1 thread), fit,
predict_proba on the validation and test splits, compute the same metrics. Nothing is saved.

Only the work is timed; imports are timed separately. Prints one JSON line.
Usage: python bare_fit.py CONFIG_JSON
"""

import time

_t_import = time.perf_counter()
import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from sklearn import metrics as skm  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OrdinalEncoder  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

IMPORT_S = time.perf_counter() - _t_import


def score(y, proba):
    p1 = proba[:, 1]
    predicted = proba.argmax(axis=1)
    return {
        "roc_auc": float(skm.roc_auc_score(y, p1)),
        "pr_auc": float(skm.average_precision_score(y, p1)),
        "log_loss": float(skm.log_loss(y, proba, labels=[0, 1])),
        "brier": float(skm.brier_score_loss(y, p1)),
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "f1": float(skm.f1_score(y, predicted, zero_division=0)),
    }


def main() -> None:
    config = json.loads(open(sys.argv[1]).read())
    categorical, numeric = config["categorical"], config["numeric"]
    stages = {}

    t0 = time.perf_counter()
    frame = pl.read_csv(config["csv"], try_parse_dates=True)
    split = np.load(config["split_npz"])
    t1 = time.perf_counter()
    stages["read"] = t1 - t0

    X = frame.select(config["features"]).to_pandas()
    y = frame.get_column(config["target"]).to_numpy()
    parts = {name: (X.iloc[split[name]], y[split[name]]) for name in ("train", "validation", "test")}
    model = Pipeline([
        ("preprocess", ColumnTransformer(
            [
                ("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                               encoded_missing_value=np.nan), categorical),
                ("numeric", "passthrough", numeric),
            ],
            verbose_feature_names_out=False,
        )),
        ("model", HistGradientBoostingClassifier(
            **config["params"], random_state=config["seed"], categorical_features=list(range(len(categorical))),
        )),
    ])
    t2 = time.perf_counter()
    stages["prepare"] = t2 - t1

    with threadpool_limits(limits=config["threads"]):
        model.fit(*parts["train"])
        t3 = time.perf_counter()
        stages["fit"] = t3 - t2
        proba = {name: model.predict_proba(parts[name][0]) for name in ("validation", "test")}
    t4 = time.perf_counter()
    stages["predict"] = t4 - t3

    metrics = {name: score(parts[name][1], proba[name]) for name in ("validation", "test")}
    t5 = time.perf_counter()
    stages["metrics"] = t5 - t4
    work_s = t5 - t0

    # Not timed: is this the same model as Assay's? Compare with the predictions Assay recorded.
    assay_test = np.load(config["assay_test_predictions"])
    max_abs_diff = float(np.max(np.abs(assay_test - proba["test"])))
    print(json.dumps({
        "import_s": IMPORT_S,
        "work_s": work_s,
        "stages_s": stages,
        "metrics": metrics,
        "max_abs_diff_vs_assay_test_predictions": max_abs_diff,
    }))


if __name__ == "__main__":
    main()
