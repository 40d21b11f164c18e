"""The `validate` benchmark: validating 1M and 10M rows × 25 columns against a schema (dtype,
nullability, range and category-set checks) with Assay's streaming scan, which also computes the
reference profile, side by side with a hand-written single-pass polars query (the floor) and with
pandera's polars and pandas backends doing the same checks, all in the same run.

Every contender runs as a fresh subprocess (`harness.measure_command`: process wall time and peak
RSS) with thread pools pinned; each worker imports first, runs an untimed self-test on a small
corrupted frame (every planted fault must be flagged), then times only the work, reading the file
included (`work_s`). Repetitions interleave the contenders, the order rotating each repetition;
ratios are computed per repetition. pandera runs from its own virtualenv
(`bench/setup-pandera-venv.sh`); without one its baselines are reported as not measured.

Run through the runner (`python bench/run.py validate [--pandera-python PATH]`) or alone:
    python bench/validate/bench.py [--repeat N] [--quick] [--pandera-python PATH] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import WorkerError, child_env, load_average, log, measure_command, run_json, summarise, venv_python, verdict  # noqa: E402

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "workers"

DEFAULT_REPEAT = 3
QUICK_REPEAT = 1
SIZES = (1_000_000, 10_000_000)
QUICK_SIZES = (1_000_000,)
DEFAULT_DATA_DIR = Path("/tmp/assay-bench-validate")
DEFAULT_PANDERA_PYTHON = Path("/tmp/pandera-venv/bin/python")
TIMEOUT_S = 300  # per contender process; a repetition that runs longer is reported as timed out

FLOOR_TARGET_X = 1.5  # assay / floor
PANDAS_SPEEDUP_X = 5.0  # pandera-pandas / assay
ISSUE = ("issue: within 1.5x of the floor while also computing the profile, at least even with "
         "pandera-polars and 5x ahead of pandera-pandas; peak memory below the data's size in memory")

CONTENDERS = ("assay", "floor", "pandera_polars", "pandera_pandas")
WORKER_ARGS = {"assay": ["assay_scan.py"], "floor": ["floor.py"], "pandera_polars": ["pandera_run.py", "polars"],
               "pandera_pandas": ["pandera_run.py", "pandas"]}
PANDERA_ENV = {"PANDERA_VALIDATION_DEPTH": "SCHEMA_AND_DATA"}
DESCRIPTIONS = {
    "assay": "scan_source(SourceRef, schema, profile=True): one streaming pass in batches, every schema "
             "check + the reference profile (moments, histograms, quantiles, category counts)",
    "floor": "hand-written polars: one select over scan_parquet (null, below-min, above-max, outside-set "
             "counts, n_unique of id; dtypes from collect_schema), collect(engine='streaming')",
    "pandera_polars": "pandera.polars DataFrameSchema (dtype, nullable, unique id, ge/le, isin) "
                      "validate(pl.read_parquet(path), lazy=True)",
    "pandera_pandas": "pandera.pandas DataFrameSchema (the same checks) validate(pd.read_parquet(path), lazy=True)",
}


def tag(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows // 1000}k"


def resolve_pandera_python(explicit: str | None) -> str | None:
    return venv_python(explicit, env_var="ASSAY_BENCH_PANDERA_PYTHON", default=DEFAULT_PANDERA_PYTHON,
                       option="--pandera-python", setup="bench/setup-pandera-venv.sh")


SAMPLE_ROWS = 1000  # the self-test's file


def ensure_data(data_dir: Path, rows: int) -> Path:
    path = data_dir / f"rows-{rows}.parquet"
    if not path.exists():
        log(f"validate: generating {rows:,} rows into {path} (cached for later runs)")
        subprocess.run([sys.executable, str(HERE / "generate.py"), str(rows), str(path)], env=child_env(), check=True)
    return path


def _measure(argv: list[str], env: dict[str, str]) -> dict[str, Any] | None:
    """One contender process; None if it ran past TIMEOUT_S. Any other failure raises."""
    wrapped = ["timeout", "-k", "10", str(TIMEOUT_S), *argv] if shutil.which("timeout") else argv
    try:
        result = measure_command(wrapped, env=env)
    except WorkerError as exc:
        if any(f" exited {code}:" in str(exc) for code in (124, 137)):  # timeout's TERM, then KILL
            return None
        raise
    lines = [line for line in result.pop("stdout").strip().splitlines() if line.strip()]
    result["worker"] = json.loads(lines[-1])
    return result


def run(repeat: int, quick: bool, *, pandera_python: str | None = None, data_dir: Path | None = None) -> dict[str, Any]:
    pandera_python = resolve_pandera_python(pandera_python)
    data_dir = data_dir or Path(os.environ.get("ASSAY_BENCH_VALIDATE_DATA_DIR") or DEFAULT_DATA_DIR)
    sizes = QUICK_SIZES if quick else SIZES
    env = child_env()
    pandera_env = child_env(PANDERA_ENV)
    contenders: list[tuple[str, list[str], dict[str, str]]] = []
    for key in CONTENDERS:
        if key.startswith("pandera"):
            if pandera_python:
                contenders.append((key, [pandera_python, str(WORKERS / WORKER_ARGS[key][0]), *WORKER_ARGS[key][1:]], pandera_env))
        else:
            contenders.append((key, [sys.executable, str(WORKERS / WORKER_ARGS[key][0]), *WORKER_ARGS[key][1:]], env))

    raw: dict[int, dict[str, list[Any]]] = {}
    data: dict[int, dict[str, Any]] = {}
    loads: list[Any] = []
    sample = ensure_data(data_dir, SAMPLE_ROWS)
    for rows in sizes:
        path = ensure_data(data_dir, rows)
        data[rows] = run_json([sys.executable, str(WORKERS / "data_size.py"), str(path)], env=env)
        raw[rows] = {key: [] for key, _, _ in contenders}
        for i in range(repeat):
            loads.append(load_average())
            shift = i % len(contenders)
            for key, argv, worker_env in contenders[shift:] + contenders[:shift]:
                log(f"validate: {tag(rows)} rows, repetition {i + 1}/{repeat}: {key}")
                measured = _measure([*argv, str(path), str(sample)], worker_env)
                if measured is None:
                    log(f"validate: {key} timed out after {TIMEOUT_S} s")
                raw[rows][key].append(measured)
    loads.append(load_average())
    pandera_version = _version(raw, "pandera_version")
    return _report(raw, data, sizes, repeat=repeat, quick=quick, pandera_python=pandera_python,
                   pandera_version=pandera_version, data_dir=data_dir, loads=loads)


def _version(raw: dict[int, dict[str, list[Any]]], field: str) -> str | None:
    for by_key in raw.values():
        for runs in by_key.values():
            for r in runs:
                if r is not None and field in r["worker"]:
                    return r["worker"][field]
    return None


def _report(raw: dict[int, dict[str, list[Any]]], data: dict[int, dict[str, Any]], sizes: tuple[int, ...], *,
            repeat: int, quick: bool, pandera_python: str | None, pandera_version: str | None, data_dir: Path,
            loads: list[Any]) -> dict[str, Any]:
    metrics: dict[str, dict[str, Any]] = {}
    baselines: dict[str, dict[str, Any]] = {}
    breakdowns: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    checks: dict[str, Any] = {}
    for rows in sizes:
        t = tag(rows)
        by_key = raw[rows]
        size_mib = data[rows]["estimated_size_bytes"] / 2**20
        baselines[f"data.{t}.in_memory_mib"] = summarise([size_mib], "MiB", digits=1, measured=True, description=(
            f"pl.read_parquet(path).estimated_size(); the Parquet file is {data[rows]['file_bytes'] / 2**20:.0f} MiB"))
        for key in CONTENDERS:
            section = metrics if key == "assay" else baselines
            extra = {} if key == "assay" else {"measured": True}
            runs = by_key.get(key)
            if runs is None:
                section[f"{key}.{t}.work_s"] = {"median": None, "min": None, "max": None, "unit": "s", "n": 0,
                                                "runs": [], "measured": False,
                                                "description": "not measured: no pandera interpreter "
                                                "(--pandera-python / ASSAY_BENCH_PANDERA_PYTHON)"}
                continue
            done = [r for r in runs if r is not None]
            timed_out = len(runs) - len(done)
            if timed_out:
                notes.append(f"{key} at {t} rows: {timed_out} of {len(runs)} repetitions ran past {TIMEOUT_S} s "
                             "and were stopped (left out of its figures)")
            if not done:
                section[f"{key}.{t}.work_s"] = {"median": None, "min": None, "max": None, "unit": "s", "n": 0,
                                                "runs": [], "measured": False,
                                                "description": f"every repetition timed out (> {TIMEOUT_S} s)"}
                continue
            section[f"{key}.{t}.work_s"] = summarise([r["worker"]["work_s"] for r in done], "s", **extra,
                                                     description=f"timed work, reading the file included: {DESCRIPTIONS[key]}")
            section[f"{key}.{t}.peak_rss_mib"] = summarise([r["max_rss_kib"] / 1024 for r in done], "MiB", digits=1,
                                                           **extra, description="peak RSS of the process")
            section[f"{key}.{t}.process_wall_s"] = summarise([r["wall_s"] for r in done], "s", **extra, description=(
                "the whole process: interpreter start, imports, self-test on a 1000-row file, work, exit"))
            stages = {"imports (not timed)": [r["worker"]["import_s"] for r in done]}
            if "read_s" in done[0]["worker"]:
                stages["read"] = [r["worker"]["read_s"] for r in done]
                stages["validate"] = [r["worker"]["validate_s"] for r in done]
            breakdowns.setdefault(f"{t} rows: stages per contender", {}).update(
                {f"{key}: {stage}": summarise(values, "s") for stage, values in stages.items()})
        assay_runs = by_key["assay"]
        checks[f"assay_{t}_batches"] = assay_runs[0]["worker"]["batches"]
        checks[f"assay_{t}_sample_stride"] = assay_runs[0]["worker"]["sample_stride"]
        checks[f"every_contender_passed_clean_data_and_its_self_test_{t}"] = all(
            r["worker"]["passed"] for runs in by_key.values() for r in runs if r is not None)

        def paired(num: str, den: str) -> list[float]:
            pairs = zip(by_key.get(num, []), by_key.get(den, []), strict=False)
            return [a["worker"]["work_s"] / b["worker"]["work_s"] for a, b in pairs if a is not None and b is not None]

        for num, den, name in (("assay", "floor", "assay_over_floor"),
                               ("assay", "pandera_polars", "assay_over_pandera_polars"),
                               ("assay", "pandera_pandas", "assay_over_pandera_pandas"),
                               ("pandera_pandas", "assay", "pandera_pandas_over_assay")):
            values = paired(num, den)
            if values:
                metrics[f"ratio.{t}.{name}_x"] = summarise(values, "x", digits=3, baseline=f"{den}.{t}.work_s",
                                                           description=f"{num} work_s / {den} work_s, per repetition")
        metrics[f"assay.{t}.peak_rss_over_data_size_x"] = summarise(
            [r["max_rss_kib"] / 1024 / size_mib for r in assay_runs], "x", digits=3,
            description="assay's peak RSS / the data's size in memory (pl.read_parquet(...).estimated_size())")

    headline = tag(sizes[-1])
    targets: dict[str, dict[str, Any]] = {f"ratio.{headline}.assay_over_floor_x": {"below": FLOOR_TARGET_X, "unit": "x", "source": ISSUE}}
    if f"ratio.{headline}.assay_over_pandera_polars_x" in metrics:
        targets[f"ratio.{headline}.assay_over_pandera_polars_x"] = {"below": 1.0, "unit": "x", "source": ISSUE}
    if f"ratio.{headline}.assay_over_pandera_pandas_x" in metrics:
        targets[f"ratio.{headline}.assay_over_pandera_pandas_x"] = {"below": round(1 / PANDAS_SPEEDUP_X, 3), "unit": "x", "source": ISSUE}
    data_mib = baselines[f"data.{headline}.in_memory_mib"]["median"]
    targets[f"assay.{headline}.peak_rss_mib"] = {"below": data_mib, "unit": "MiB", "source": ISSUE}
    verdicts = [verdict(metrics, name, **target) for name, target in targets.items()]
    notes.append("targets as medians of per-repetition ratios: assay/floor < 1.5; assay/pandera-polars < 1 "
                 "('at least even'); assay/pandera-pandas < 0.2 (pandera-pandas >= 5x slower); assay peak RSS "
                 "< the data's size in memory")
    if not pandera_python:
        notes.append("pandera was not measured (no --pandera-python / ASSAY_BENCH_PANDERA_PYTHON, and no "
                     f"{DEFAULT_PANDERA_PYTHON}): its rows say not measured; run bash bench/setup-pandera-venv.sh")
    if quick:
        notes.append(f"--quick: {tag(sizes[-1])} rows and {repeat} repetition(s); verdicts are indicative only "
                     "(the targets are for 10M rows)")
    return {
        "name": "validate",
        "description": "schema checks (+ Assay's profile) on 25-column Parquet: Assay vs a polars floor and pandera",
        "params": {
            "repeat": repeat,
            "quick": quick,
            "sizes": list(sizes),
            "columns": data[sizes[-1]]["columns"],
            "data_dir": str(data_dir),
            "data": {tag(r): d for r, d in data.items()},
            "pandera_python": pandera_python,
            "pandera_version": pandera_version,
            "pandas_version": _version(raw, "pandas_version"),
            "polars_version": _version(raw, "polars_version"),
            "timeout_s": TIMEOUT_S,
            "child_env": {k: v for k, v in child_env().items() if k.endswith("_THREADS")},
            "load_average_per_repetition": loads,
        },
        "metrics": metrics,
        "baselines": baselines,
        "targets": targets,
        "verdicts": verdicts,
        "breakdowns": breakdowns,
        "checks": checks,
        "notes": notes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pandera-python", default=None,
                        help=f"python of a venv with pandera (env ASSAY_BENCH_PANDERA_PYTHON; default {DEFAULT_PANDERA_PYTHON} if it exists)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"where generated data is cached (env ASSAY_BENCH_VALIDATE_DATA_DIR; default {DEFAULT_DATA_DIR})")
    args = parser.parse_args()
    repeat = args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    print(json.dumps(run(repeat, args.quick, pandera_python=args.pandera_python, data_dir=args.data_dir), indent=2))


if __name__ == "__main__":
    main()
