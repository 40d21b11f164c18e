"""The straightforward drift pass a data scientist would write with pandas, numpy and scipy.

    python scipy_pass.py REFERENCE.parquet CURRENT.parquet

Both files are read whole with `pd.read_parquet`. Numeric columns (nulls dropped): PSI over the
reference's deciles, `scipy.stats.ks_2samp`, and `scipy.stats.wasserstein_distance` divided by the
reference's standard deviation. String columns: PSI over the category frequencies and
`scipy.stats.chi2_contingency` on the 2 x k table of counts, with Cramér's V as its effect size.

Verdict per column: drifted if PSI >= 0.2, or (numeric) the normalised Wasserstein distance >= 0.1,
or (categorical) Cramér's V >= 0.1. The p-values are reported but decide nothing: at 1M rows per
side a KS or chi-square test rejects for differences far too small to matter, and on an unshifted
column its p-value is uniform, so a p < 0.05 rule would raise a false alarm on about 1 column in 20.

Timed (`work_s`): from reading the two files to having the verdicts.
"""

from __future__ import annotations

import sys
import time

t_import = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy  # noqa: E402
from common import emit  # noqa: E402
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance  # noqa: E402

import_s = time.perf_counter() - t_import

PSI_DRIFT = 0.2
WASSERSTEIN_DRIFT = 0.1
CRAMERS_V_DRIFT = 0.1
EPS = 1e-4  # floor for an empty bin's share, so PSI stays finite


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    p = np.clip(expected, EPS, None)
    q = np.clip(actual, EPS, None)
    return float(np.sum((q - p) * np.log(q / p)))


def numeric_drift(ref: np.ndarray, cur: np.ndarray) -> dict[str, float | bool]:
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11))[1:-1])
    ref_share = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    cur_share = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / len(cur)
    ks = ks_2samp(ref, cur)
    std = float(np.std(ref))
    wd = float(wasserstein_distance(ref, cur)) / std if std > 0 else 0.0
    value = psi(ref_share, cur_share)
    return {"psi": value, "ks": float(ks.statistic), "ks_p": float(ks.pvalue), "wasserstein_norm": wd,
            "drifted": value >= PSI_DRIFT or wd >= WASSERSTEIN_DRIFT}


def categorical_drift(ref: pd.Series, cur: pd.Series) -> dict[str, float | bool]:
    counts = pd.concat([ref.value_counts(), cur.value_counts()], axis=1, keys=["ref", "cur"]).fillna(0)
    table = counts.to_numpy(dtype=float).T  # 2 x k
    chi2, p_value, _, _ = chi2_contingency(table)
    cramers_v = float(np.sqrt(chi2 / table.sum()))  # 2 rows: min(r, k) - 1 = 1
    value = psi(table[0] / table[0].sum(), table[1] / table[1].sum())
    return {"psi": value, "chi2": float(chi2), "chi2_p": float(p_value), "cramers_v": cramers_v,
            "drifted": value >= PSI_DRIFT or cramers_v >= CRAMERS_V_DRIFT}


def main() -> None:
    reference_path, current_path = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    read_s = time.perf_counter() - t0
    columns: dict[str, dict[str, float | bool]] = {}
    for name in reference.columns:
        ref, cur = reference[name].dropna(), current[name].dropna()
        if pd.api.types.is_numeric_dtype(ref.dtype):
            columns[name] = numeric_drift(ref.to_numpy(dtype=float), cur.to_numpy(dtype=float))
        else:
            columns[name] = categorical_drift(ref, cur)
    drifted = sorted(name for name, stats in columns.items() if stats["drifted"])
    work_s = time.perf_counter() - t0
    emit({"work_s": work_s, "read_s": read_s, "compute_s": work_s - read_s, "import_s": import_s,
          "rows": [len(reference), len(current)], "drifted": drifted, "columns": columns,
          "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "pandas": pd.__version__}})


if __name__ == "__main__":
    main()
