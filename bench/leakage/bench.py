"""The `leakage` benchmark: precision and recall of the leakage detectors on a suite of synthetic
datasets with planted leaks (and clean look-alikes), and check_leakage's runtime on 100k rows.

A case counts as detected for a kind when check_leakage reports that kind at warning or critical.
Per kind: recall = planted cases of that kind detected / planted cases of that kind; precision =
those detections / every case where the kind was reported (clean look-alikes and cases planted
with other kinds included). The datasets come from tests/unit/leakage/detect/leakage_planting.py,
the same generator the tests use. Timing runs in fresh subprocesses with thread pools pinned.

Run through the runner (`python bench/run.py leakage`) or alone:
    python bench/leakage/bench.py [--repeat N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PLANTING = REPO / "tests" / "unit" / "leakage" / "detect"
for _path in (str(HERE.parent), str(REPO / "src"), str(PLANTING)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from harness import child_env, log, run_json, summarise, verdict
from leakage_planting import CLEAN, LEVELS, PLANTED

from assay.leakage.detect import KINDS, check_leakage

DEFAULT_REPEAT = 5
QUICK_REPEAT = 2
SEEDS, QUICK_SEEDS = 20, 5
CASE_ROWS, QUICK_CASE_ROWS = 2000, 1000
TIMING_ROWS, QUICK_TIMING_ROWS = 100_000, 20_000
TIMING_FEATURES = 30
RUNTIME_TARGET_S = 2.0
ISSUE = "issue: detectors must run on 100k rows × 30 columns in a couple of seconds"
REPORTED = ("warning", "critical")


def case_is_clean(make: Any) -> bool:
    return make in CLEAN


def _suite(seeds: int, rows: int) -> dict[str, Any]:
    """Run every case; per kind count true positives, false negatives and false positives."""
    planted_kinds = sorted({make(0, 200).kind for make in PLANTED})
    tally = {kind: {"tp": 0, "fn": 0, "fp": 0, "clear_tp": 0, "clear_n": 0} for kind in KINDS}
    clean_alarms = {"cases": 0, "with_warning": 0, "with_critical": 0}
    missed: list[str] = []  # case names, one entry per missed case
    for seed in range(seeds):
        for make in (*PLANTED, *CLEAN):
            level = seed % LEVELS
            case = make(seed, rows) if case_is_clean(make) else make(seed, rows, level=level)
            report = check_leakage(case.train, case.test, case.declarations, validation=case.validation, seed=seed)
            reported = {f.kind for f in report.findings if f.severity in REPORTED}
            if case.kind is not None:
                hit = case.kind in reported
                tally[case.kind]["tp" if hit else "fn"] += 1
                if level < 2:
                    tally[case.kind]["clear_n"] += 1
                    tally[case.kind]["clear_tp"] += hit
                if not hit:
                    missed.append(f"{case.name}[level={level}]")
            else:
                clean_alarms["cases"] += 1
                clean_alarms["with_warning"] += any(f.severity == "warning" for f in report.findings)
                clean_alarms["with_critical"] += bool(report.critical)
            for kind in reported - {case.kind}:
                tally[kind]["fp"] += 1
    scores = {}
    for kind in planted_kinds:
        t = tally[kind]
        scores[kind] = {
            "precision": t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else None,
            "recall": t["tp"] / (t["tp"] + t["fn"]),
            "recall_clear": t["clear_tp"] / t["clear_n"] if t["clear_n"] else None,
            **t,
        }
    unplanted = {kind: t["fp"] for kind, t in tally.items() if kind not in planted_kinds and t["fp"]}
    return {"scores": scores, "clean": clean_alarms, "missed": missed, "unplanted_reports": unplanted}


def _timing(repeat: int, rows: int) -> list[dict[str, Any]]:
    env = child_env({"PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(PLANTING)])})
    worker = HERE / "workers" / "time_check.py"
    return [run_json([sys.executable, str(worker), str(rows), str(TIMING_FEATURES), str(i)], env=env) for i in range(repeat)]


def run(repeat: int, quick: bool) -> dict[str, Any]:
    seeds = QUICK_SEEDS if quick else SEEDS
    case_rows = QUICK_CASE_ROWS if quick else CASE_ROWS
    timing_rows = QUICK_TIMING_ROWS if quick else TIMING_ROWS
    log(f"leakage: suite of {seeds} seeds × {len(PLANTED)} planted + {len(CLEAN)} clean cases, {case_rows} rows each")
    suite = _suite(seeds, case_rows)
    log(f"leakage: timing check_leakage on {timing_rows} rows × {TIMING_FEATURES} features, {repeat} runs")
    timings = _timing(repeat, timing_rows)
    runtime_metric = f"check_leakage {timing_rows // 1000}k rows × {TIMING_FEATURES} features"
    metrics = {runtime_metric: summarise([t["total_s"] for t in timings], "s", description="all detectors, one call, in a fresh process after a small warm-up")}
    scores = suite["scores"]
    recalls = [s["recall"] for s in scores.values()]
    precisions = [s["precision"] for s in scores.values() if s["precision"] is not None]
    metrics["recall (mean over kinds)"] = summarise([sum(recalls) / len(recalls)], "ratio", description="all strengths")
    clear = [s["recall_clear"] for s in scores.values()]
    metrics["recall, clear leaks (mean over kinds)"] = summarise([sum(clear) / len(clear)], "ratio", description="strength levels 0-1")
    metrics["precision (mean over kinds)"] = summarise([sum(precisions) / len(precisions)], "ratio")
    metrics["clean cases with a critical finding"] = summarise([suite["clean"]["with_critical"]], "cases", description=f"of {suite['clean']['cases']} clean look-alikes")
    detectors = sorted(timings[0]["detectors_s"])
    breakdowns = {
        "precision by planted kind (warning or critical)": {k: summarise([s["precision"] if s["precision"] is not None else float("nan")], "ratio") for k, s in scores.items()},
        "recall by planted kind, all strengths (warning or critical)": {k: summarise([s["recall"]], "ratio") for k, s in scores.items()},
        "recall by planted kind, clear strengths only (levels 0-1)": {k: summarise([s["recall_clear"]], "ratio") for k, s in scores.items()},
        f"runtime by detector ({timing_rows} rows)": {d: summarise([t["detectors_s"][d] for t in timings], "s") for d in detectors},
    }
    targets = {runtime_metric: {"below": RUNTIME_TARGET_S, "unit": "s", "source": ISSUE}}
    verdicts = [verdict(metrics, runtime_metric, below=RUNTIME_TARGET_S, unit="s", source=ISSUE)]
    missed_counts: dict[str, int] = {}
    for name in suite["missed"]:
        missed_counts[name] = missed_counts.get(name, 0) + 1
    notes = [f"cases missed (name[strength level]: count): {', '.join(f'{k}: {v}' for k, v in sorted(missed_counts.items())) or 'none'}",
             f"planted strengths cycle through levels 0 (blatant) to {LEVELS - 1} (faint) by seed; 'clear' = levels 0 and 1"]
    if suite["unplanted_reports"]:
        notes.append(f"kinds reported where none was planted: {suite['unplanted_reports']}")
    if quick:
        notes.append(f"quick run: {timing_rows} timing rows, so the runtime verdict is indicative only")
    return {
        "name": "leakage",
        "description": "leakage detectors: precision/recall on planted leaks, runtime on wide data",
        "params": {"seeds": seeds, "case_rows": case_rows, "planted_cases": seeds * len(PLANTED), "clean_cases": seeds * len(CLEAN), "timing_rows": timing_rows, "timing_features": TIMING_FEATURES, "repeat": repeat},
        "metrics": metrics,
        "baselines": {},
        "targets": targets,
        "verdicts": verdicts,
        "breakdowns": breakdowns,
        "checks": {"scores": json.dumps({k: {m: (round(v, 4) if isinstance(v, float) else v) for m, v in s.items()} for k, s in scores.items()}), "clean": json.dumps(suite["clean"])},
        "notes": notes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeat = args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    print(json.dumps(run(repeat, args.quick), indent=2))


if __name__ == "__main__":
    main()
