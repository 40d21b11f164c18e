"""The `demo` benchmark: `assay demo` as a user sees it, Assay's tracking overhead over a bare
fit, and the time to register one trained model (against MLflow, measured in the same run).

Every measurement runs in a fresh subprocess with numeric thread pools pinned to 1 (see
harness.PINNED_THREADS); repetitions interleave the things compared, so machine noise hits
both sides alike. Medians with min/max over `repeat` runs. See bench/README.md and
docs/decisions/0005-benchmark-method.md for the method.

Run through the runner (`python bench/run.py demo`) or alone:
    python bench/demo/bench.py [--repeat N] [--quick] [--mlflow-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import (  # noqa: E402
    child_env,
    load_average,
    log,
    measure_command,
    run_json,
    summarise,
    verdict,
)

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "workers"

DEFAULT_REPEAT = 5
QUICK_REPEAT = 2
QUICK_ROWS = 15_000  # the full run uses the demo's own default (60,000 rows)

DEMO_WALL_TARGET_S = 90.0
OVERHEAD_TARGET_PCT = 10.0
REGISTER_TARGET_S = 0.3
QUOTED_MLFLOW_LOG_MODEL_S = 2.6
QUOTE = "MLflow 3.17's log_model of a sklearn model with a SQLite backend takes a median 2.6 s (quoted in the issue)"
ISSUE = "issue"

# labels assay_train.py gives its probes
FIT_PROBE = "train: fit (estimator + preprocessing)"
SERIALISE_PROBE = "train: serialise (skops, canonical)"
RELOAD_PROBE = "train: reload artifact (skops, trust check)"
MLFLOW_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
IMPORT_GROUPS = ("sklearn", "scipy", "skops", "alembic", "sqlalchemy", "pandas", "polars", "pydantic",
                 "pyarrow", "typer", "rich", "fsspec", "numpy")


def assay_command() -> list[str]:
    """The `assay` console script of this interpreter's environment (what a user runs)."""
    beside = Path(sys.executable).with_name("assay")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("assay")
    if found:
        return [found]
    return [sys.executable, "-c", "from assay.cli.main import main; main()"]


def run(repeat: int, quick: bool, *, mlflow_python: str | None = None) -> dict[str, Any]:
    mlflow_python = mlflow_python or os.environ.get("ASSAY_BENCH_MLFLOW_PYTHON") or None
    if mlflow_python and not Path(mlflow_python).exists():
        raise SystemExit(f"--mlflow-python {mlflow_python!r} does not exist; see bench/README.md to create it")
    rows = QUICK_ROWS if quick else None
    env = child_env()
    py = sys.executable
    raw: dict[str, list[Any]] = {k: [] for k in (
        "demo", "bare", "ingested", "from_raw", "assay_register", "mlflow_register", "cli_import", "load")}

    with tempfile.TemporaryDirectory(prefix="assay-bench-demo-") as tmp_name:
        tmp = Path(tmp_name)
        log(f"demo: set-up (generate data, train once) in {tmp}")
        prepare = [py, str(WORKERS / "prepare.py"), "--dir", str(tmp / "project"), "--out", str(tmp / "config.json")]
        run_json(prepare + (["--rows", str(rows)] if rows else []), env=env)
        config = json.loads((tmp / "config.json").read_text())
        import_profile = _import_profile(env)

        for i in range(repeat):
            raw["load"].append(load_average())
            log(f"demo: repetition {i + 1}/{repeat}: assay demo")
            demo_dir = tmp / f"demo-{i}"
            demo = measure_command(
                [*assay_command(), "demo", "--dir", str(demo_dir), "--json", *(["--rows", str(rows)] if rows else [])],
                env=env,
            )
            demo["summary"] = json.loads(demo.pop("stdout"))
            raw["demo"].append(demo)
            shutil.rmtree(demo_dir, ignore_errors=True)

            raw["cli_import"].append(run_json([py, "-c", _TIME_IMPORT, "assay.cli.main"], env=env)["import_s"])

            raw_dir = tmp / f"raw-{i}"
            (raw_dir / "data").mkdir(parents=True)
            shutil.copyfile(Path(config["project_dir"]) / "assay.yaml", raw_dir / "assay.yaml")
            shutil.copyfile(config["csv"], raw_dir / "data" / "applications.csv")
            fits = [
                ("bare", [py, str(WORKERS / "bare_fit.py"), str(tmp / "config.json")]),
                ("ingested", [py, str(WORKERS / "assay_train.py"), config["project_dir"],
                              "--dataset-id", config["dataset_id"]]),
                ("from_raw", [py, str(WORKERS / "assay_train.py"), str(raw_dir)]),
            ]
            for key, argv in fits if i % 2 == 0 else reversed(fits):
                log(f"demo: repetition {i + 1}/{repeat}: fit ({key})")
                raw[key].append(run_json(argv, env=env))
            shutil.rmtree(raw_dir, ignore_errors=True)

            registers = [
                ("assay_register", [py, str(WORKERS / "assay_register.py"), str(tmp / "config.json"),
                                    str(tmp / f"reg-{i}"), "--warm", "1"], env),
            ]
            if mlflow_python:
                registers.append(("mlflow_register", [mlflow_python, str(WORKERS / "mlflow_register.py"),
                                                      config["model_pickle"], str(tmp / f"mlflow-{i}"),
                                                      "--warm", "1", "--model-name", config["model_name"]],
                                  child_env(MLFLOW_ENV)))
            for key, argv, worker_env in registers if i % 2 == 0 else reversed(registers):
                log(f"demo: repetition {i + 1}/{repeat}: register ({key})")
                raw[key].append(run_json(argv, env=worker_env))
        raw["load"].append(load_average())

    return _report(raw, config, import_profile, repeat=repeat, quick=quick, mlflow_python=mlflow_python)


_TIME_IMPORT = (
    "import importlib, json, sys, time; t = time.perf_counter(); importlib.import_module(sys.argv[1]); "
    "print(json.dumps({'import_s': time.perf_counter() - t}))"
)


def _import_profile(env: dict[str, str]) -> dict[str, Any]:
    """Where `import assay.cli.main` spends its time, by top-level package, from -X importtime
    (which inflates times a little; use it for proportions, the timed imports for totals)."""
    import subprocess

    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import assay.cli.main"],
                          env=env, capture_output=True, text=True, check=True)
    self_us: dict[str, int] = {}
    total_us = 0
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if not match:
            continue
        own, cumulative, indent, module = int(match[1]), int(match[2]), match[3], match[4]
        top = module.split(".", 1)[0]
        self_us[top] = self_us.get(top, 0) + own
        if len(indent) == 1:  # a top-level import of the statement
            total_us += cumulative
    groups = {name: self_us.get(name, 0) for name in IMPORT_GROUPS}
    groups["assay"] = self_us.get("assay", 0)
    groups["other"] = sum(self_us.values()) - sum(groups.values())
    return {
        "statement": "import assay.cli.main",
        "total_s": round(total_us / 1e6, 3),
        "self_time_by_package_s": {k: round(v / 1e6, 3) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
    }


def _pct(assay_s: float, bare_s: float) -> float:
    return (assay_s - bare_s) / bare_s * 100.0


def _stage_rows(runs: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    names = list(dict.fromkeys(name for r in runs for name in r[key]))
    return {name: summarise([r[key].get(name, 0.0) for r in runs], "s") for name in names}


def _report(raw: dict[str, list[Any]], config: dict[str, Any], import_profile: dict[str, Any], *, repeat: int,
            quick: bool, mlflow_python: str | None) -> dict[str, Any]:
    metrics: dict[str, dict[str, Any]] = {}
    baselines: dict[str, dict[str, Any]] = {}
    breakdowns: dict[str, dict[str, Any]] = {}
    notes: list[str] = []

    # a. assay demo as a user sees it
    demo = raw["demo"]
    metrics["demo.wall_s"] = summarise([d["wall_s"] for d in demo], "s", description=(
        "`assay demo --dir D --json` in a fresh process and folder: interpreter start, imports, data "
        "generation, ingest, split, train, evaluate, register, exit"))
    metrics["demo.peak_rss_mib"] = summarise([d["max_rss_kib"] / 1024 for d in demo], "MiB", digits=1,
                                             description="peak RSS of the assay process (ru_maxrss of children)")
    metrics["demo.cpu_s"] = summarise([d["user_s"] + d["sys_s"] for d in demo], "s", description="user + sys CPU")
    metrics["import.assay_cli_s"] = summarise(raw["cli_import"], "s", description=(
        "`import assay.cli.main` in a fresh interpreter (paid by every assay command)"))
    demo_stages = [dict(d["summary"]["timings_s"]) for d in demo]
    for stages, d in zip(demo_stages, demo, strict=True):
        stages["rest: interpreter, imports, data generation, project open, exit"] = d["wall_s"] - sum(stages.values())
    breakdowns["demo: where the wall time goes (timings_s from --json)"] = _stage_rows(
        [{"s": s} for s in demo_stages], "s")

    # b. tracking overhead over a bare fit
    bare, ingested, from_raw = raw["bare"], raw["ingested"], raw["from_raw"]
    baselines["fit.bare_s"] = summarise([r["work_s"] for r in bare], "s", measured=True, description=(
        "bare script: polars read_csv, same split rows, same sklearn Pipeline + HistGradientBoosting "
        "(1 thread), fit, predict_proba validation+test, same metrics; imports not timed"))
    metrics["fit.assay_ingested_s"] = summarise([r["work_s"] for r in ingested], "s", description=(
        "Project.open + train_project(dataset_id=...) + close: dataset already ingested"))
    metrics["fit.assay_from_raw_s"] = summarise([r["work_s"] for r in from_raw], "s", description=(
        "Project.open (creates + migrates the DB) + train_project() from the CSV in a fresh project folder"))
    metrics["overhead.ingested_pct"] = summarise(
        [_pct(a["work_s"], b["work_s"]) for a, b in zip(ingested, bare, strict=True)], "%", digits=1,
        description="(assay - bare) / bare, paired by repetition", baseline="fit.bare_s")
    metrics["overhead.from_raw_pct"] = summarise(
        [_pct(a["work_s"], b["work_s"]) for a, b in zip(from_raw, bare, strict=True)], "%", digits=1,
        description="(assay - bare) / bare, paired by repetition", baseline="fit.bare_s")
    missing = sorted({m for r in ingested + from_raw for m in r.get("missing_probes", [])})
    if missing:
        notes.append(f"probes whose target is gone from src/ (update workers/assay_train.py): {', '.join(missing)}")
    probes_ok = all(p in r["probes"] for r in ingested + from_raw for p in (FIT_PROBE, SERIALISE_PROBE, RELOAD_PROBE))
    if probes_ok:
        # The estimator fit is the same work on both sides (same data, same model: checked below), so
        # fit-time differences between two processes are machine noise; these variants compare only the
        # time outside the fit, as a share of the bare run.
        for key, runs in (("ingested", ingested), ("from_raw", from_raw)):
            metrics[f"overhead.{key}_outside_fit_pct"] = summarise(
                [((a["work_s"] - a["probes"][FIT_PROBE]["total_s"]) - (b["work_s"] - b["stages_s"]["fit"])) / b["work_s"] * 100
                 for a, b in zip(runs, bare, strict=True)], "%", digits=1, baseline="fit.bare_s",
                description="(assay time outside fit - bare time outside fit) / bare total, paired by repetition")
        metrics["overhead.ingested_excl_fit_s"] = summarise(
            [a["work_s"] - a["probes"][FIT_PROBE]["total_s"] for a in ingested], "s",
            description="Assay's ingested-path time outside the estimator fit (the fit itself is the same work)")
    baselines["import.bare_s"] = summarise([r["import_s"] for r in bare], "s", measured=True,
                                           description="numpy, polars, sklearn (Pipeline, HGB, metrics) imports")
    metrics["import.assay_s"] = summarise([r["import_s"] for r in ingested + from_raw], "s",
                                          description="imports of the assay pipeline, workspace and stores")
    notes.append(
        "overhead from medians: ingested "
        f"{_pct(metrics['fit.assay_ingested_s']['median'], baselines['fit.bare_s']['median']):.1f}%, from raw "
        f"{_pct(metrics['fit.assay_from_raw_s']['median'], baselines['fit.bare_s']['median']):.1f}%")
    if probes_ok:
        # Where the overhead goes: the skops round trip inside train() (dumps, then reload to predict).
        roundtrip = [a["probes"][SERIALISE_PROBE]["total_s"] + a["probes"][RELOAD_PROBE]["total_s"] for a in ingested]
        outside_fit = [a["work_s"] - a["probes"][FIT_PROBE]["total_s"] for a in ingested]
        without = [_pct(a["work_s"] - rt, b["work_s"]) for a, rt, b in zip(ingested, roundtrip, bare, strict=True)]
        share = statistics.median([r / o for r, o in zip(roundtrip, outside_fit, strict=True)])
        notes.append(
            f"ingested path: the skops round trip in train() (serialise + reload) takes a median "
            f"{statistics.median(roundtrip):.3f} s, {share:.0%} "
            f"of Assay's time outside the fit; without it the overhead would be a median {statistics.median(without):.1f}% "
            f"(pairs {min(without):.1f}% to {max(without):.1f}%)")
    breakdowns["bare fit: stages"] = _stage_rows(bare, "stages_s")
    for title, runs in (("train_project, dataset ingested", ingested), ("train_project, from raw", from_raw)):
        rows = [{"s": {"open (Project.open)": r["open_s"], **r["timings_s"],
                       "untimed inside train_project": r["untimed_s"], "close": r["close_s"]}} for r in runs]
        breakdowns[f"{title}: stages (TrainResult.timings_s)"] = _stage_rows(rows, "s")
        probes = [{"s": {label: p["total_s"] for label, p in r["probes"].items()}} for r in runs]
        breakdowns[f"{title}: probes inside the stages"] = _stage_rows(probes, "s")

    # c. registering one trained model
    reg = raw["assay_register"]
    metrics["register.assay_s"] = summarise([r["cold"]["total_s"] for r in reg], "s", description=(
        "first registration in a fresh process: sklearn flavor dumps (skops, canonical) + put artifact + "
        "finish_run + register_model in SQLite"))
    metrics["register.assay_warm_s"] = summarise([w["total_s"] for r in reg for w in r["warm"]], "s",
                                                 description="later registrations in the same process")
    breakdowns["registration, Assay (first in process): steps"] = _stage_rows([r["cold"] for r in reg], "steps_s")
    ml = raw["mlflow_register"]
    mlflow_version = None
    if ml:
        mlflow_version = ml[0]["mlflow_version"]
        baselines["mlflow.log_model_s"] = summarise([r["cold"]["log_model_s"] for r in ml], "s", measured=True,
                                                    description=f"mlflow {mlflow_version} sklearn.log_model, first "
                                                    "in process, SQLite tracking + local artifacts")
        baselines["mlflow.log_model_register_s"] = summarise(
            [r["cold"]["total_s"] for r in ml], "s", measured=True,
            description="log_model + register_model + end_run (first in process); compare with register.assay_s")
        baselines["mlflow.log_model_register_warm_s"] = summarise(
            [w["total_s"] for r in ml for w in r["warm"]], "s", measured=True,
            description="the same, later in the same process; compare with register.assay_warm_s")
        baselines["mlflow.cloudpickle_log_model_register_s"] = summarise(
            [r["warm_cloudpickle"]["total_s"] for r in ml], "s", measured=True,
            description="reference: serialization_format='cloudpickle' (not in process first)")
        baselines["import.mlflow_s"] = summarise([r["import_s"] for r in ml], "s", measured=True,
                                                 description="import mlflow, mlflow.sklearn")
        metrics["register.speedup_vs_mlflow_x"] = summarise(
            [m["cold"]["total_s"] / a["cold"]["total_s"] for m, a in zip(ml, reg, strict=True)], "x", digits=2,
            description="MLflow log_model+register / Assay registration, paired by repetition",
            baseline="mlflow.log_model_register_s")
        breakdowns["registration, MLflow (first in process): steps"] = _stage_rows([r["cold"] for r in ml],
                                                                                   "steps_s")
        notes.append(
            f"MLflow {mlflow_version}'s default sklearn serialization here is {ml[0]['default_serialization_format']!r}; "
            f"it refuses this model unless skops_trusted_types lists {ml[0]['skops_trusted_types']}, so the "
            "baseline passes that list (nothing else changed from the defaults)")
    else:
        baselines["mlflow.log_model_s"] = {
            "median": QUOTED_MLFLOW_LOG_MODEL_S, "min": None, "max": None, "unit": "s", "n": 0, "runs": [],
            "measured": False, "description": QUOTE,
        }
        metrics["register.speedup_vs_mlflow_x"] = summarise(
            [QUOTED_MLFLOW_LOG_MODEL_S / r["cold"]["total_s"] for r in reg], "x", digits=2,
            description="quoted MLflow log_model (not measured) / Assay registration", baseline="mlflow.log_model_s")
        notes.append("MLflow was not measured (no --mlflow-python / ASSAY_BENCH_MLFLOW_PYTHON): its figure is the "
                     "issue's quote")

    targets = {
        "demo.wall_s": {"below": DEMO_WALL_TARGET_S, "unit": "s", "source": ISSUE},
        "overhead.ingested_pct": {"below": OVERHEAD_TARGET_PCT, "unit": "%", "source": ISSUE},
        "overhead.from_raw_pct": {"below": OVERHEAD_TARGET_PCT, "unit": "%", "source": ISSUE},
        "register.assay_s": {"below": REGISTER_TARGET_S, "unit": "s", "source": ISSUE},
    }
    verdicts = [verdict(metrics, name, **target) for name, target in targets.items()]
    if quick:
        notes.append(f"--quick: {QUICK_ROWS} rows and {repeat} repetitions; verdicts are indicative only "
                     "(targets are for the full demo data)")

    diffs = [r["max_abs_diff_vs_assay_test_predictions"] for r in bare]
    same_metrics = all(r["metrics"]["test"] == config["assay_test_metrics"] for r in bare)
    checks = {
        "bare_and_assay_same_test_predictions": max(diffs) == 0.0,
        "max_abs_diff_test_predictions": max(diffs),
        "bare_and_assay_same_test_metrics": same_metrics,
        "csv_order_matches_snapshot": config["csv_order_matches_snapshot"],
    }
    if not checks["bare_and_assay_same_test_predictions"]:
        notes.append(f"WARNING: the bare baseline's test predictions differ from Assay's (max {max(diffs):.3g}): "
                     "the two fits are not the same model, so the overhead figure is not comparable")

    return {
        "name": "demo",
        "description": "assay demo wall time and memory; tracking overhead over a bare fit; registering one model",
        "params": {
            "repeat": repeat,
            "quick": quick,
            "rows": config["rows"],
            "split_sizes": config["split_sizes"],
            "model": f"{config['estimator']} {config['params']}",
            "model_artifact_bytes": config["model_artifact_bytes"],
            "mlflow_python": mlflow_python,
            "mlflow_version": mlflow_version,
            "child_env": {k: v for k, v in child_env().items() if k.endswith("_THREADS")},
            "load_average_per_repetition": raw["load"],
        },
        "metrics": metrics,
        "baselines": baselines,
        "targets": targets,
        "verdicts": verdicts,
        "breakdowns": breakdowns,
        "import_profile": import_profile,
        "checks": checks,
        "notes": notes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--mlflow-python", default=None, help="python of a venv with MLflow (env ASSAY_BENCH_MLFLOW_PYTHON)")
    args = parser.parse_args()
    repeat = args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    print(json.dumps(run(repeat, args.quick, mlflow_python=args.mlflow_python), indent=2))


if __name__ == "__main__":
    main()
