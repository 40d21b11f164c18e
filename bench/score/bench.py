"""The `score` benchmark: `assay score` over 5M rows x 25 columns of Parquet with the demo model, on
the local engine and on Ray, side by side with the model's raw in-process predict rate (the ceiling)
over the same data, all in the same run.

Set-up (cached under WORK_DIR, /tmp/assay-bench-score, so reruns skip it):
- a demo project with its registered model (`assay demo --dir WORK_DIR/demo-60000`; `credit-default:1`);
- the input: ROWS rows x 25 columns as ONE Parquet file with 100k-row row groups, made by
  workers/prepare.py from the demo's generator in 500k-row pieces (target dropped, Enums as strings,
  ids made unique, 8 seeded float columns added); plus its first ROWS/5 rows as their own file (the
  memory-boundedness check). Files are keyed by rows and seed.

Measured, each `repeat` times, the order rotating per repetition:
- `ceiling`: workers/raw.py, a fresh subprocess, one thread: `loaded.predict` only (conversion
  untimed), over every input row in 1,000-row batches and again in 100,000-row batches; the higher
  of the two is the ceiling per thread, scaled by the workers used (= cores available).
- `local`: `python -m assay score credit-default:1 --input IN --output FRESH --engine local --json`
  from the project folder; wall time around the whole command, rows/s = rows / wall, the job's own
  `rows_per_s`, and the peak of the summed RSS of the command's whole process tree (treemem.py,
  /proc every 50 ms).
- `ray`: the same with `--engine ray` (a local Ray instance the command starts: its start-up is in
  the wall time, its raylet/GCS/actors in the tree). If the checkout has no Ray engine yet, or the
  command fails, Ray is reported as not available with the reason.
- `local_prefix`: the local engine on the ROWS/5-row prefix: peak memory there vs on ROWS rows
  (bounded: peak(ROWS) <= 1.25 x peak(ROWS/5)).
- `local_chunk25k` (full run only, once): the local engine on the prefix with `--chunk-rows 25000`:
  its peak memory next to the default 100,000-row chunks' on the same rows.

Every `assay` command is `python -m assay` with this checkout's src/ first on PYTHONPATH and the
pinned thread pools of harness.child_env(). Output folders are fresh per run and deleted after.

Run through the runner (`python bench/run.py score [--quick] [--repeat N]`) or alone:
    python bench/score/bench.py [--repeat N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import REPO_DIR, WorkerError, child_env, load_average, log, run_json, summarise  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from treemem import TreeSampler  # noqa: E402

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "workers"

DEFAULT_REPEAT = 3
QUICK_REPEAT = 1
ROWS = 5_000_000
QUICK_ROWS = 500_000
PREFIX_FRACTION = 5  # the boundedness check scores the first ROWS / 5 rows
SEED = 20_261_128
DEMO_ROWS = 60_000  # the demo's default
MODEL = "credit-default:1"
SMALL_CHUNK_ROWS = 25_000
DEFAULT_WORK_DIR = Path(os.environ.get("ASSAY_BENCH_SCORE_DIR", "/tmp/assay-bench-score"))
COMMAND_TIMEOUT_S = 1800
TARGET_SHARE = 0.85
BOUND_FACTOR = 1.25
ISSUE = ("issue: bench/score, 5M rows x 25 columns; the local engine reaches at least 85% of the raw "
         "predict ceiling scaled to the cores used, and peak memory is bounded by chunk size, not input size")
RAY_MISSING = "No module named 'assay.batch.ray_engine'"


# --- set-up -------------------------------------------------------------------------------


def bench_env() -> dict[str, str]:
    """child_env() with this checkout's src/ first on PYTHONPATH."""
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_DIR / "src"), *filter(None, [env.get("PYTHONPATH")])])
    return env


ASSAY = [sys.executable, "-m", "assay"]


def demo_project(work_dir: Path, env: Mapping[str, str]) -> Path:
    """The demo project, made once by the assay under test (a marker file says it finished)."""
    project = work_dir / f"demo-{DEMO_ROWS}"
    marker = project / ".bench-ready"
    if marker.exists():
        log(f"score: using the cached demo project {project}")
        return project
    shutil.rmtree(project, ignore_errors=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    log(f"score: creating the demo project in {project}")
    done = subprocess.run([*ASSAY, "demo", "--dir", str(project), "--rows", str(DEMO_ROWS), "--json"], env=dict(env),
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise WorkerError(f"assay demo exited {done.returncode}:\n{(done.stderr or done.stdout)[-3000:]}")
    marker.write_text(json.dumps({"rows": DEMO_ROWS, "model": MODEL}) + "\n")
    return project


def prepare_inputs(work_dir: Path, rows: int, env: Mapping[str, str]) -> dict[str, Any]:
    prefix_rows = rows // PREFIX_FRACTION
    main = work_dir / f"input-{rows}-seed{SEED}.parquet"
    prefix = work_dir / f"input-{rows}-seed{SEED}-first{prefix_rows}.parquet"
    if not (main.exists() and prefix.exists()):
        log(f"score: writing the input ({rows:,} rows x 25 columns) to {main}")
    argv = [sys.executable, str(WORKERS / "prepare.py"), str(main), str(rows), str(SEED), "--prefix", str(prefix),
            "--prefix-rows", str(prefix_rows)]
    # stderr passes through: the worker logs its progress piece by piece
    done = subprocess.run(argv, env=dict(env), stdout=subprocess.PIPE, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise WorkerError(f"{' '.join(argv)} exited {done.returncode} (its stderr is above)")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- measurements ----------------------------------------------------------------------------


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def score_command(project: Path, input_path: Path, out_dir: Path, engine: str, env: Mapping[str, str],
                  extra: Sequence[str] = ()) -> dict[str, Any]:
    """One `assay score` run as a user runs it: wall time around the command, the peak summed RSS of
    its process tree, its JSON summary. Raises WorkerError if it fails."""
    shutil.rmtree(out_dir, ignore_errors=True)
    argv = [*ASSAY, "score", MODEL, "--input", str(input_path), "--output", str(out_dir), "--engine", engine,
            "--json", *extra]
    stdout_path = out_dir.parent / f".{out_dir.name}.stdout"
    stderr_path = out_dir.parent / f".{out_dir.name}.stderr"
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(stdout_path, "w+") as out, open(stderr_path, "w+") as err:
            t0 = time.perf_counter()
            process = subprocess.Popen(argv, cwd=project, env=dict(env), stdout=out, stderr=err,
                                       stdin=subprocess.DEVNULL)
            load_before = load_average()
            with TreeSampler(process.pid) as sampler:
                code, usage = _wait(process, t0 + COMMAND_TIMEOUT_S)
                wall = time.perf_counter() - t0
                if code is None:
                    raise WorkerError(f"assay score --engine {engine} took over {COMMAND_TIMEOUT_S} s")
            out.seek(0)
            stdout = out.read()
            err.seek(0)
            stderr = err.read()
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
        stdout_path.unlink(missing_ok=True)
        stderr_path.unlink(missing_ok=True)
    if code != 0:
        raise WorkerError(f"assay score --engine {engine} exited {code}:\n{_tail(stderr or stdout)}")
    summary = _summary(stdout)
    if summary is None:
        raise WorkerError(f"assay score --engine {engine} printed no JSON summary: {stdout[-500:]!r}")
    rows = int(summary["rows"])
    # CPU seconds of the command and the children it waited for (its workers; not Ray's daemons,
    # which are not the driver's waited-for children once they outlive it)
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall, "cpu_s": cpu, "load_average_before": load_before, "rows": rows, "rows_s": rows / wall, "job_rows_s": float(summary["rows_per_s"]),
            "job_s": float(summary["seconds"]), "engine": summary.get("engine"), "scored": summary.get("scored"),
            "quarantined": summary.get("quarantined"), "chunks": summary.get("chunks"), **sampler.result()}


def _summary(stdout: str) -> dict[str, Any] | None:
    """The command's JSON summary: all of stdout, or else the last JSON object starting a line (a
    library may print a line of its own on stdout)."""
    decoder = json.JSONDecoder()
    found = None
    for i, char in enumerate(stdout):
        if char == "{" and (i == 0 or stdout[i - 1] == "\n"):
            try:
                value, _ = decoder.raw_decode(stdout[i:])
            except ValueError:
                continue
            if isinstance(value, dict) and "rows" in value:
                found = value
    return found


def _wait(process: subprocess.Popen[Any], deadline: float) -> tuple[int | None, Any]:
    """Wait for `process` (os.wait4, for its rusage: its own CPU time and its waited-for children's);
    (None, None) after killing it at `deadline`."""
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, usage
        if time.perf_counter() > deadline:
            process.kill()
            process.wait()
            return None, None
        time.sleep(0.05)


def ceiling(project: Path, input_path: Path, rows: int, env: Mapping[str, str]) -> dict[str, Any]:
    return run_json([sys.executable, str(WORKERS / "raw.py"), str(project), str(input_path), MODEL,
                     "--rows", str(rows)], env=env, cwd=project, timeout_s=COMMAND_TIMEOUT_S)


# --- the benchmark ---------------------------------------------------------------------------


def workers_used() -> int:
    """What `assay score` uses by default: one worker per available core (CPU affinity)."""
    return max(1, len(os.sched_getaffinity(0)))


def run(repeat: int, quick: bool, *, work_dir: Path | None = None) -> dict[str, Any]:
    work_dir = work_dir or DEFAULT_WORK_DIR
    rows = QUICK_ROWS if quick else ROWS
    env = bench_env()
    t0 = time.perf_counter()
    project = demo_project(work_dir, env)
    prepared = prepare_inputs(work_dir, rows, env)
    setup_s = time.perf_counter() - t0
    input_path = Path(prepared["input"]["path"])
    prefix_path = Path(prepared["prefix"]["path"])
    workers = workers_used()
    out_root = work_dir / "out"

    raw: dict[str, list[Any]] = {k: [] for k in ("ceiling", "local", "ray", "local_prefix", "local_chunk25k")}
    unavailable: dict[str, str] = {}
    loads: list[Any] = []
    contenders = ["ceiling", "local", "ray", "local_prefix"]
    for i in range(repeat):
        loads.append(load_average())
        shift = i % len(contenders)
        for name in contenders[shift:] + contenders[:shift]:
            if name in unavailable:
                continue
            log(f"score: repetition {i + 1}/{repeat}: {name}")
            if name == "ceiling":
                result = ceiling(project, input_path, rows, env)
                result["per_thread"] = max(result["rows_per_s"].values())
                raw["ceiling"].append(result)
                log(f"score: ceiling per thread: " + ", ".join(f"{k} {v:,.0f} rows/s" for k, v in result["rows_per_s"].items()))
                continue
            engine = "ray" if name == "ray" else "local"
            source = prefix_path if name == "local_prefix" else input_path
            try:
                result = score_command(project, source, out_root / f"{name}-{i + 1}", engine, env)
            except WorkerError as exc:
                if name != "ray":
                    raise
                reason = str(exc)
                unavailable["ray"] = (f"the checkout has no Ray engine ({RAY_MISSING})" if RAY_MISSING in reason
                                      else _brief(reason))
                log(f"score: ray not available: {unavailable['ray']}")
                continue
            raw[name].append(result)
            log(f"score: {name}: {result['rows']:,} rows in {result['wall_s']:.1f} s ({result['rows_s']:,.0f} rows/s; "
                f"job's own {result['job_rows_s']:,.0f} rows/s), peak {result['peak_rss_mib']:,.0f} MiB over "
                f"{result['peak_processes']} process(es)")
    if not quick:
        log(f"score: local on the prefix with --chunk-rows {SMALL_CHUNK_ROWS} (once, peak memory)")
        raw["local_chunk25k"].append(score_command(project, prefix_path, out_root / "local_chunk25k", "local", env,
                                                   ["--chunk-rows", str(SMALL_CHUNK_ROWS)]))
    loads.append(load_average())
    shutil.rmtree(out_root, ignore_errors=True)
    return report(raw, unavailable, repeat=repeat, quick=quick, rows=rows, workers=workers, project=project,
                  prepared=prepared, setup_s=setup_s, loads=loads)


def _brief(reason: str) -> str:
    lines = [line.strip() for line in reason.strip().splitlines() if line.strip()]
    return lines[0] if len(lines) < 2 else f"{lines[0]} ... {lines[-1]}"


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def report(raw: Mapping[str, list[Any]], unavailable: Mapping[str, str], *, repeat: int, quick: bool, rows: int,
           workers: int, project: Path, prepared: Mapping[str, Any], setup_s: float, loads: list[Any]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    baselines: dict[str, Any] = {}
    notes: list[str] = []
    prefix_rows = prepared["prefix"]["rows"]

    ceil_runs = raw["ceiling"]
    for mode, size in (("batch1000", "1,000"), ("batch100000", "100,000")):
        baselines[f"ceiling.{mode}.rows_s_per_thread"] = summarise(
            [r["rows_per_s"][mode] for r in ceil_runs], "rows/s", digits=1, measured=True,
            description=f"raw loaded.predict on one thread over all {rows:,} input rows in {size}-row batches "
                        "(workers/raw.py; to_model_frame untimed)")
    per_thread = [r["per_thread"] for r in ceil_runs]
    baselines["ceiling.rows_s_per_thread"] = summarise(per_thread, "rows/s", digits=1, measured=True,
                                                       description="the higher of the two batch sizes, per repetition")
    scaled = [p * workers for p in per_thread]
    baselines["ceiling.scaled.rows_s"] = summarise(scaled, "rows/s", digits=1, measured=True,
                                                   description=f"ceiling per thread x {workers} worker(s) (cores available)")
    scaled_median = statistics.median(scaled)

    descriptions = {
        "local": f"assay score --engine local (default workers = {workers}), {rows:,} rows",
        "ray": f"assay score --engine ray (a local Ray the command starts), {rows:,} rows",
        "local_prefix": f"assay score --engine local on the first {prefix_rows:,} rows",
        "local_chunk25k": f"assay score --engine local --chunk-rows {SMALL_CHUNK_ROWS} on the first {prefix_rows:,} "
                          "rows (one run)",
    }
    for name in ("local", "ray", "local_prefix", "local_chunk25k"):
        runs = raw[name]
        if not runs:
            if name == "ray":
                reason = unavailable.get("ray", "not run")
                metrics["ray.rows_s"] = {"median": None, "min": None, "max": None, "unit": "rows/s", "n": 0, "runs": [],
                                         "measured": False, "description": f"not available: {reason}"}
                notes.append(f"ray: not available: {reason}")
            continue
        if name in ("local", "ray"):
            metrics[f"{name}.rows_s"] = summarise([r["rows_s"] for r in runs], "rows/s", digits=1,
                                                  description=descriptions[name] + "; rows / wall time of the command")
            metrics[f"{name}.job_rows_s"] = summarise([r["job_rows_s"] for r in runs], "rows/s", digits=1,
                                                      description="the job's own rows_per_s (its --json summary)")
            metrics[f"{name}.wall_s"] = summarise([r["wall_s"] for r in runs], "s", digits=2,
                                                  description="wall time of the whole command (what a user waits)")
            metrics[f"{name}.pct_of_scaled_ceiling"] = summarise(
                [100 * r["rows_s"] / s for r, s in zip(runs, scaled, strict=False)], "%", digits=1,
                description="rows/s over the scaled ceiling of the same repetition")
        metrics[f"{name}.peak_rss_mib"] = summarise([r["peak_rss_mib"] for r in runs], "MiB", digits=1,
                                                    description=descriptions[name] + "; peak summed RSS of the process tree")
        metrics[f"{name}.peak_rss_anon_mib"] = summarise(
            [r["peak_rss_anon_mib"] for r in runs], "MiB", digits=1,
            description="the same for anonymous memory only (RssAnon: no shared files or shared memory)")
    breakdowns: dict[str, Any] = {}
    for name in ("local", "ray"):
        runs = raw[name]
        if not runs:
            continue
        breakdowns[f"{name}: where the wall time goes ({rows:,} rows)"] = {
            "command wall time": summarise([r["wall_s"] for r in runs], "s", digits=2),
            "the job (its own `seconds`: plan, workers' start-up, chunks, manifest)": summarise(
                [r["job_s"] for r in runs], "s", digits=2),
            "outside the job (interpreter, imports, opening the project)": summarise(
                [r["wall_s"] - r["job_s"] for r in runs], "s", digits=2),
            "CPU time, command + waited-for children": summarise([r["cpu_s"] for r in runs], "s", digits=2),
            "CPU time raw predict needs for these rows (rows / ceiling per thread)": summarise(
                [r["rows"] / p for r, p in zip(runs, per_thread, strict=False)], "s", digits=2),
            "CPU busy share (CPU time / (wall x workers))": summarise(
                [100 * r["cpu_s"] / (r["wall_s"] * workers) for r in runs], "%", digits=1),
        }
    ratios = [a["peak_rss_mib"] / b["peak_rss_mib"] for a, b in zip(raw["local"], raw["local_prefix"], strict=False)]
    if ratios:
        metrics["local.peak_ratio_full_to_prefix"] = summarise(ratios, "x", digits=3, description=(
            f"peak RSS on {rows:,} rows / on {prefix_rows:,} rows, per repetition"))

    targets: dict[str, Any] = {}
    verdicts: list[dict[str, Any]] = []
    threshold = round(TARGET_SHARE * scaled_median, 1)
    observed = metrics.get("local.rows_s", {}).get("median")
    targets["local.rows_s"] = {"op": ">=", "threshold": threshold, "unit": "rows/s", "source": ISSUE,
                               "derived": f"{TARGET_SHARE} x ceiling per thread (median, this run) x {workers} workers"}
    verdicts.append({"metric": "local.rows_s", "op": ">=", "threshold": threshold, "unit": "rows/s",
                     "observed": observed, "met": observed is not None and observed >= threshold, "source": ISSUE})
    ratio = metrics.get("local.peak_ratio_full_to_prefix", {}).get("median")
    targets["local.peak_ratio_full_to_prefix"] = {"op": "<=", "threshold": BOUND_FACTOR, "unit": "x", "source": ISSUE}
    verdicts.append({"metric": "local.peak_ratio_full_to_prefix", "op": "<=", "threshold": BOUND_FACTOR, "unit": "x",
                     "observed": ratio, "met": ratio is not None and ratio <= BOUND_FACTOR, "source": ISSUE,
                     "name": "bounded"})

    def range_(values: Sequence[float]) -> str:
        return f"{min(values):,.0f}-{max(values):,.0f}"

    table_rows: list[list[Any]] = []
    for name, label in (("local", "local"), ("ray", "ray"), ("local_prefix", f"local, first {prefix_rows:,} rows"),
                        ("local_chunk25k", f"local, first {prefix_rows:,} rows, --chunk-rows {SMALL_CHUNK_ROWS}")):
        runs = raw[name]
        if not runs:
            if name == "ray":
                table_rows.append(["ray", "not available", "", "", "", "", "", ""])
            continue
        rates = [r["rows_s"] for r in runs]
        job = [r["job_rows_s"] for r in runs]
        table_rows.append([label, f"{statistics.median(rates):,.0f}", range_(rates),
                           f"{statistics.median(job):,.0f}", f"{100 * statistics.median(rates) / scaled_median:.1f}%",
                           f"{statistics.median([r['wall_s'] for r in runs]):.1f}",
                           f"{statistics.median([r['peak_rss_mib'] for r in runs]):,.0f}",
                           f"{statistics.median([r['peak_rss_anon_mib'] for r in runs]):,.0f}"])
    for key, label in (("batch1000", "ceiling per thread, 1,000-row batches"),
                       ("batch100000", "ceiling per thread, 100,000-row batches")):
        values = [r["rows_per_s"][key] for r in ceil_runs]
        table_rows.append([label, f"{statistics.median(values):,.0f}", range_(values), "", "", "", "", ""])
    table_rows.append([f"ceiling scaled (x {workers} workers)", f"{scaled_median:,.0f}", range_(scaled), "", "100.0%",
                       "", "", ""])

    local = raw["local"]
    if local:
        wall = statistics.median([r["wall_s"] for r in local])
        job = statistics.median([r["job_s"] for r in local])
        steady = statistics.median([r["rows"] / r["job_s"] for r in local])
        outside = statistics.median([r["wall_s"] - r["job_s"] for r in local])
        notes.append(f"local (medians): the command took {wall:.1f} s of wall time, the job itself (as it reports) "
                     f"{job:.1f} s ({steady:,.0f} rows/s); {outside:.1f} s per run were outside the job (interpreter "
                     "start-up, imports, opening the project)")
    notes.append(f"workers = cores available to this process ({workers}); the ceiling is measured on one thread in "
                 "its own process, and scaled linearly (an upper bound: 2 shared cores also run the coordinator, "
                 "the I/O and the sampler)")
    notes.append("peak memory = the peak of the SUM of VmRSS over the command's process tree (the CLI, its workers, "
                 "and for Ray its raylet/GCS/actors), sampled from /proc every 50 ms: shared pages count once per "
                 "process, so it is an upper bound")
    if quick:
        notes.append(f"--quick: {rows:,} input rows (boundedness vs the first {prefix_rows:,}), {repeat} "
                     "repetition(s), no --chunk-rows 25000 run; verdicts are indicative only")
    return {
        "name": "score",
        "description": f"assay score, {rows:,} rows x 25 columns of Parquet, demo model: local and Ray engines "
                       "vs the raw single-thread predict ceiling scaled to the cores used",
        "params": {
            "repeat": repeat, "quick": quick, "rows": rows, "prefix_rows": prefix_rows, "workers": workers,
            "model": MODEL, "project": str(project), "input": prepared["input"], "prefix": prepared["prefix"],
            "chunk_rows": 100_000, "small_chunk_rows": SMALL_CHUNK_ROWS, "setup_s": round(setup_s, 1),
            "sampler_interval_s": 0.05,
            "child_env": {k: v for k, v in child_env().items() if k.endswith("_THREADS")},
            "load_average_per_repetition": loads,
        },
        "metrics": metrics,
        "baselines": baselines,
        "targets": targets,
        "verdicts": verdicts,
        "breakdowns": breakdowns,
        "tables": {"engines side by side (medians over repetitions)": {
            "header": ["engine", "rows/s (wall)", "rows/s range", "job's rows/s", "% of scaled ceiling", "wall s",
                       "peak MiB", "peak anon MiB"],
            "rows": table_rows}},
        "runs": {k: v for k, v in raw.items() if v},
        "checks": {f"{name}_rows_scored": [r["scored"] for r in raw[name]] for name in ("local", "ray") if raw[name]},
        "unavailable": dict(unavailable),
        "notes": notes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeat = args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    print(json.dumps(run(repeat, args.quick), indent=2, default=str))


if __name__ == "__main__":
    main()
