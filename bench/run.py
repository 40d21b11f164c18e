"""Run Assay's benchmarks and report medians, ranges, baselines and target verdicts.

    python bench/run.py [NAME ...] [--repeat N] [--quick] [--json-out PATH] [--check]
                        [--json] [--plain] [--list] [--mlflow-python PATH] [--pandera-python PATH]
                        [--bentoml-python PATH] [--evidently-python PATH] [--duration S]
                        [--model reference|demo|both]

A benchmark is a module `bench/<name>/bench.py` with `run(repeat: int, quick: bool) -> dict`
returning `metrics`, `baselines`, `targets` and `verdicts` (see bench/README.md). Each run is
written as JSON (default `bench/results/<names>-<UTC timestamp>.json`, git-ignored) and shown as
a table (plus any extra `tables` a benchmark returns, and one PASS/MISS line per verdict): on stdout, or on stderr with `--json` (which puts the JSON document on stdout).
Exit status is 0, unless `--check` is given and a target is missed (1).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from harness import REPO_DIR, load_average, log, machine_info  # noqa: E402

RESULTS_DIR = BENCH_DIR / "results"


def discover() -> dict[str, Path]:
    return {path.parent.name: path for path in sorted(BENCH_DIR.glob("*/bench.py"))}


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"assay_bench_{name}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load benchmark {name!r} from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses defined in the benchmark look their module up here
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise SystemExit(f"{path} has no run(repeat, quick) function")
    return module


def git_state() -> dict[str, Any]:
    import subprocess

    def git(*args: str) -> str | None:
        done = subprocess.run(["git", *args], cwd=REPO_DIR, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


# --- rendering ----------------------------------------------------------------------------


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        v = float(value)
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3f}"
    return str(value)


def summary_rows(result: Mapping[str, Any]) -> list[list[str]]:
    verdicts = {v["metric"]: v for v in result.get("verdicts", [])}
    rows = []
    for role, section in (("assay", result.get("metrics", {})), ("baseline", result.get("baselines", {}))):
        for name, m in section.items():
            label = role if role == "assay" or m.get("measured", True) else "baseline (quoted)"
            v = verdicts.get(name)
            target = f"{v.get('op', '<')} {fmt(v['threshold'])} {v['unit']}" if v else ""
            outcome = ("met" if v["met"] else "MISSED") if v else ""
            rows.append([name, label, fmt(m.get("median")), fmt(m.get("min")), fmt(m.get("max")),
                         str(m.get("n", "")), m.get("unit", ""), target, outcome])
    return rows


def breakdown_rows(rows: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    return [[name, fmt(m["median"]), fmt(m["min"]), fmt(m["max"]), m.get("unit", "")] for name, m in rows.items()]


SUMMARY_HEADER = ["metric", "role", "median", "min", "max", "n", "unit", "target", "verdict"]
BREAKDOWN_HEADER = ["stage", "median", "min", "max", "unit"]


def render(document: Mapping[str, Any], stream: TextIO, *, plain: bool) -> None:
    sections = []
    for name, result in document["benchmarks"].items():
        sections.append((f"benchmark {name}: {result.get('description', '')}", SUMMARY_HEADER, summary_rows(result)))
        for title, rows in result.get("breakdowns", {}).items():
            sections.append((f"{name}: {title}", BREAKDOWN_HEADER, breakdown_rows(rows)))
        for title, table in result.get("tables", {}).items():
            rows = [[x if isinstance(x, str) else str(x) if isinstance(x, int) and not isinstance(x, bool) else fmt(x)
                     for x in row] for row in table["rows"]]
            sections.append((f"{name}: {title}", table["header"], rows))
        profile = result.get("import_profile")
        if profile:
            rows = [[pkg, fmt(s), "", "", "s"] for pkg, s in profile["self_time_by_package_s"].items() if s >= 0.01]
            sections.append((f"{name}: `{profile['statement']}` self time by package (-X importtime, one run, "
                             f"total {fmt(profile['total_s'])} s)", BREAKDOWN_HEADER, rows))
    console = None
    if not plain:
        try:
            from rich.console import Console
            from rich.table import Table

            console = Console(file=stream, width=max(120, Console(file=stream).width))
        except ImportError:
            console = None
    for title, header, rows in sections:
        if console is not None:
            console.print(f"\n{title}", style="bold", markup=False, highlight=False)
            table = Table()
            for i, column in enumerate(header):
                table.add_column(column, justify="left" if i in (0, 1) or column in ("unit", "target") else "right")
            for row in rows:
                style = "bold red" if row[-1] == "MISSED" else None
                table.add_row(*row, style=style)
            console.print(table)
        else:
            widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=False)]
            print(f"\n{title}", file=stream)
            for row in [header, ["-" * w for w in widths], *rows]:
                print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)).rstrip(), file=stream)
    for name, result in document["benchmarks"].items():
        for check, value in result.get("checks", {}).items():
            print(f"{name}: check {check}: {fmt(value) if not isinstance(value, float) else value}", file=stream)
        for note in result.get("notes", []):
            print(f"{name}: note: {note}", file=stream)
        for v in result.get("verdicts", []):
            outcome = "PASS" if v["met"] else "MISS"
            observed = "not measured" if v["observed"] is None else f"{fmt(v['observed'])} {v['unit']}"
            print(f"{name}: {outcome} {v['metric']}: {observed} (target {v.get('op', '<')} {fmt(v['threshold'])} "
                  f"{v['unit']})", file=stream)
        for v in result.get("informational_verdicts", []):
            outcome = "would pass" if v["met"] else "would miss"
            observed = "not measured" if v["observed"] is None else f"{fmt(v['observed'])} {v['unit']}"
            ceiling = v.get("raw_batch1000_rows_s")
            print(f"{name}: INFO ({outcome}; {v.get('informational', 'informational')}) {v['metric']}: {observed} "
                  f"(target {v.get('op', '<')} {fmt(v['threshold'])} {v['unit']}; this model's raw ceiling "
                  f"{fmt(ceiling)} rows/s in 1,000-row batches)", file=stream)
    print(f"JSON: {document['run']['json_path']}", file=stream)


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    available = discover()
    parser = argparse.ArgumentParser(description="Run Assay's benchmarks (see bench/README.md).")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default all: {', '.join(available)})")
    parser.add_argument("--repeat", type=int, help="runs per measurement (default: the benchmark's, 5; 2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer runs and a smaller dataset (a smoke run)")
    parser.add_argument("--json-out", type=Path, help="where to write the JSON (default bench/results/<names>-<UTC>.json)")
    parser.add_argument("--check", action="store_true", help="exit 1 if any target is missed")
    parser.add_argument("--json", action="store_true", help="print the JSON document on stdout (tables go to stderr)")
    parser.add_argument("--plain", action="store_true", help="plain-text tables instead of rich")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--mlflow-python", help="python of a separate venv with MLflow, for baselines that need it "
                        "(sets ASSAY_BENCH_MLFLOW_PYTHON for the benchmarks)")
    parser.add_argument("--pandera-python", help="python of a separate venv with pandera, for baselines that need it "
                        "(sets ASSAY_BENCH_PANDERA_PYTHON for the benchmarks)")
    parser.add_argument("--bentoml-python", help="python of a separate venv with BentoML, for the serve benchmark "
                        "(sets ASSAY_BENCH_BENTOML_PYTHON; see bench/setup-bentoml-venv.sh)")
    parser.add_argument("--evidently-python", help="python of a separate venv with Evidently, for the drift "
                        "benchmark (sets ASSAY_BENCH_EVIDENTLY_PYTHON; see bench/setup-evidently-venv.sh)")
    parser.add_argument("--model", choices=("reference", "demo", "both"), help="the serve benchmark's model "
                        "(sets ASSAY_BENCH_SERVE_MODEL; default both: the issue's reference model, then the demo)")
    parser.add_argument("--duration", type=float, help="seconds of measured load per scenario, for the serve "
                        "benchmark (sets ASSAY_BENCH_SERVE_DURATION_S; default 5, 2 with --quick)")
    args = parser.parse_args(argv)

    if args.list:
        for name, path in available.items():
            print(f"{name}\t{path.relative_to(REPO_DIR)}")
        return 0
    names = args.names or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}")
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.mlflow_python:
        os.environ["ASSAY_BENCH_MLFLOW_PYTHON"] = args.mlflow_python
    if args.pandera_python:
        os.environ["ASSAY_BENCH_PANDERA_PYTHON"] = args.pandera_python
    if args.bentoml_python:
        os.environ["ASSAY_BENCH_BENTOML_PYTHON"] = args.bentoml_python
    if args.evidently_python:
        os.environ["ASSAY_BENCH_EVIDENTLY_PYTHON"] = args.evidently_python
    if args.model:
        os.environ["ASSAY_BENCH_SERVE_MODEL"] = args.model
    if args.duration is not None:
        if args.duration <= 0:
            parser.error("--duration must be positive")
        os.environ["ASSAY_BENCH_SERVE_DURATION_S"] = str(args.duration)

    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    json_path = args.json_out or RESULTS_DIR / f"{'+'.join(names)}-{stamp}.json"
    document: dict[str, Any] = {
        "run": {
            "started_at": started.isoformat(timespec="seconds"),
            "command": " ".join(["python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
            "machine": machine_info(),
            "git": git_state(),
            "load_average_at_start": load_average(),
            "json_path": str(json_path),
        },
        "benchmarks": {},
    }
    for name in names:
        module = load(name, available[name])
        repeat = args.repeat or (getattr(module, "QUICK_REPEAT", 2) if args.quick else getattr(module, "DEFAULT_REPEAT", 5))
        log(f"running {name} (repeat={repeat}{', quick' if args.quick else ''})")
        t0 = time.perf_counter()
        result = module.run(repeat, args.quick)
        result.setdefault("elapsed_s", round(time.perf_counter() - t0, 1))
        document["benchmarks"][name] = result
    document["run"]["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    document["run"]["load_average_at_end"] = load_average()

    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    if args.json:
        render(document, sys.stderr, plain=args.plain)
        print(json.dumps(document, indent=2))
    else:
        render(document, sys.stdout, plain=args.plain)

    missed = [f"{name}:{v['metric']}" for name, r in document["benchmarks"].items()
              for v in r.get("verdicts", []) if not v["met"]]
    if missed:
        log(f"targets missed: {', '.join(missed)}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
