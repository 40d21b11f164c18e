"""The `serve` benchmark: online prediction over HTTP. `assay serve` against a FastAPI per-request
floor and BentoML with adaptive batching, all serving the same registered model with one worker,
loaded by `wrk` from a separate process; plus the model's raw in-process predict rate.

Two models (`--model demo|reference|both`, default both, one after the other):
- `reference`: the model the issue's targets were set for: sklearn HistGradientBoostingClassifier
  with default params (max_iter 100) on 20 numeric features, no calibration. The bench writes the
  project itself (REFERENCE_ROWS seeded synthetic rows, x0..x19 normal, a binary target from a
  seeded logistic function of a few columns, an `id` column; an assay.yaml with a random split and
  no gates), then `assay run`, `assay models approve` (as a second identity), `assay deploy reference:1 --promote`. PASS/MISS verdicts are judged
  on this model.
- `demo`: `assay demo` (credit default: 200 trees, categorical preprocessing, calibrator). Its
  figures are compared with the same targets for information only, next to the model's own raw
  ceiling (rows/s in 1,000-row batches): the targets were not set for it.

Every `assay` command is `python -m assay` with this checkout's src/ first on PYTHONPATH, so the
assay under test is the one in this tree, whatever `assay` console script is on PATH.

Each target is started as a subprocess (own process group, `OMP_NUM_THREADS=1` and the other
pinned thread pools) on 127.0.0.1 with a free port, polled on `GET /readyz` for at most
READY_TIMEOUT_S, checked with one request (its answer must be 200 and, where the answer's shape is
known, equal the in-process predictions), then driven through every scenario: a 1 s warm-up `wrk`
run, then a measured one of `duration` seconds at connections = concurrency. Then it is stopped
(SIGTERM to the group, SIGKILL after 5 s). Repetitions interleave the targets, the order rotating
each repetition; figures are medians over repetitions. Only 2xx answers count towards req/s and
rows/s; non-2xx answers and socket errors are reported next to them.

`assay serve` (and `assay keys create`) may not exist in a checkout yet: the Assay target is then
reported as not available. BentoML runs from its own venv (bench/setup-bentoml-venv.sh); without
one it is reported as not available.

Files: server.py (a target's process group, readiness, wrk), post.lua (the wrk script), model.py
(the model as the baselines load it), fastapi_floor.py, bentoml_service.py, workers/ (prepare the
request bodies; raw predict rates).

Run through the runner (`python bench/run.py serve [--quick] [--repeat N] [--model M]`) or alone:
    python bench/serve/bench.py [--repeat N] [--quick] [--duration S] [--bentoml-python PATH] [--model M]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import REPO_DIR, WorkerError, child_env, load_average, log, run_json, summarise, venv_python  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import WRK, Server, Target, TargetUnavailable, check_answer, run_wrk  # noqa: E402

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "workers"

DEFAULT_REPEAT = 3
QUICK_REPEAT = 1
DEFAULT_DURATION_S = 5.0
QUICK_DURATION_S = 2.0
WARMUP_S = 1.0
DEMO_ROWS = 60_000  # the demo's default
REFERENCE_ROWS = 60_000
REFERENCE_SEED = 20_240_601
MODELS = ("reference", "demo")  # `both` runs them in this order
DEFAULT_MODEL = "both"
DEFAULT_WORK_DIR = Path("/tmp/assay-bench-serve")
DEFAULT_BENTOML_PYTHON = Path("/tmp/bentoml-venv/bin/python")

# (name, rows per request, concurrency); the full run adds 100-row requests at 1 and 64.
SCENARIOS = (("rows1.c1", 1, 1), ("rows1.c16", 1, 16), ("rows1.c64", 1, 64), ("rows100.c16", 100, 16))
EXTRA_SCENARIOS = (("rows100.c1", 100, 1), ("rows100.c64", 100, 64))

ISSUE = "issue: one worker, single-row at concurrency 64 >= 3,000 req/s with p99 < 50 ms; 100-row at concurrency 16 >= 120k rows/s"
TARGETS = (
    ("assay.rows1.c64.req_s", ">=", 3000.0, "req/s"),
    ("assay.rows1.c64.p99_ms", "<", 50.0, "ms"),
    ("assay.rows100.c16.rows_s", ">=", 120_000.0, "rows/s"),
)
DESCRIPTIONS = {
    "assay": "`assay serve --workers 1` with a predict key (Authorization: Bearer), POST /v1/predict",
    "fastapi": "bench/serve/fastapi_floor.py: FastAPI + uvicorn (uvloop, httptools), model loaded once, "
               "predict per request on its rows, no batching, no auth",
    "bentoml": "bench/serve/bentoml_service.py: BentoML 1.4 service, @bentoml.api(batchable=True) over the "
               "request's rows (adaptive batching), one worker, POST /predict",
    "raw": "in-process loaded.predict, one thread (threadpoolctl), no HTTP",
}


# --- set-up -------------------------------------------------------------------------------


def assay_source_root() -> str:
    """The src/ folder of the assay under test: this checkout's, else wherever `assay` imports from."""
    local = REPO_DIR / "src"
    if (local / "assay" / "__init__.py").exists():
        return str(local)
    spec = importlib.util.find_spec("assay")
    if spec is None or spec.origin is None:
        raise TargetUnavailable("assay is not importable in the project's environment")
    return str(Path(spec.origin).resolve().parents[1])


def bench_env() -> dict[str, str]:
    """child_env() with the assay under test first on PYTHONPATH (for `python -m assay` and the workers)."""
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join([assay_source_root(), *filter(None, [env.get("PYTHONPATH")])])
    return env


ASSAY = [sys.executable, "-m", "assay"]


def _assay(args: Sequence[str], env: Mapping[str, str], *, timeout_s: float = 600) -> str:
    done = subprocess.run([*ASSAY, *args], env=dict(env), capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise WorkerError(f"assay {' '.join(args)} exited {done.returncode}:\n{(done.stderr or done.stdout)[-3000:]}")
    return done.stdout


def make_project(work_dir: Path, model: str, env: Mapping[str, str]) -> Path:
    """A fresh project, made by the assay under test: a cached one could hold a schema that a
    newer checkout no longer serves."""
    project = work_dir / (f"demo-{DEMO_ROWS}" if model == "demo" else f"reference-{REFERENCE_ROWS}")
    shutil.rmtree(project, ignore_errors=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    log(f"serve: creating the {model} project in {project}")
    if model == "demo":
        _assay(["demo", "--dir", str(project), "--rows", str(DEMO_ROWS), "--json"], env)
        return project
    write_reference_project(project)
    _assay(["-C", str(project), "run", "--json"], env)
    reviewer = {**env, "ASSAY_ACTOR": "bench-reviewer"}  # production is protected: four-eyes approval first
    _assay(["-C", str(project), "models", "approve", "reference:1", "--comment", "serve benchmark", "--json"], reviewer)
    _assay(["-C", str(project), "deploy", "reference:1", "--promote", "--reason", "serve benchmark", "--json"], env)
    return project


REFERENCE_SPEC = """\
# Written by bench/serve/bench.py: the issue's reference model for the serve targets.
version: 1
project: reference
seed: 42
data:
  source: data/reference.csv
  name: reference
  target: y
  id: id
split:
  strategy: stratified
  validation_fraction: 0.1
  test_fraction: 0.2
model:
  name: reference
  task: classification
  flavor: sklearn
  estimator: sklearn.ensemble.HistGradientBoostingClassifier
  params: {}
  threads: 1
evaluation:
  primary: roc_auc
  confidence: {resamples: 0}
"""


def write_reference_project(project: Path) -> None:
    """REFERENCE_ROWS rows: id, x0..x19 ~ N(0, 1) (seeded), y ~ Bernoulli(sigmoid(a few columns))."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(REFERENCE_SEED)
    x = rng.standard_normal((REFERENCE_ROWS, 20))
    logit = 1.5 * x[:, 0] - 1.0 * x[:, 1] + 0.8 * x[:, 2] * x[:, 3] + 0.5 * np.abs(x[:, 4]) - 0.4
    y = (rng.random(REFERENCE_ROWS) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    frame = pl.DataFrame({"id": [f"r{i:06d}" for i in range(REFERENCE_ROWS)],
                          **{f"x{j}": x[:, j] for j in range(20)}, "y": y})
    (project / "data").mkdir(parents=True, exist_ok=True)
    frame.write_csv(project / "data" / "reference.csv")
    (project / "assay.yaml").write_text(REFERENCE_SPEC)


def assay_target(project: Path, env: dict[str, str]) -> Target:
    """`assay serve` with a predict key, or TargetUnavailable saying why not."""
    probe = subprocess.run([*ASSAY, "serve", "--help"], env=env, capture_output=True, text=True, timeout=60, check=False)
    if probe.returncode != 0:
        raise TargetUnavailable("`assay serve` is not available in this checkout "
                                f"({(probe.stderr or probe.stdout).strip().splitlines()[-1:] or ['no output']})")
    keys = subprocess.run([*ASSAY, "-C", str(project), "keys", "create", "--role", "predict", "--name", "bench", "--json"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    if keys.returncode != 0:
        raise TargetUnavailable(f"`assay keys create` failed ({keys.returncode}): {keys.stderr.strip()[-300:]}")
    try:
        token = json.loads(keys.stdout)["key"]
    except (ValueError, KeyError) as exc:
        raise TargetUnavailable(f"`assay keys create --json` printed no `key`: {keys.stdout[:200]!r}") from exc
    return Target("assay", [*ASSAY, "-C", str(project), "serve", "--host", "127.0.0.1", "--port", "{port}",
                            "--workers", "1"], "/v1/predict", env, token=token)


def fastapi_target(project: Path, env: dict[str, str]) -> Target:
    return Target("fastapi", [sys.executable, str(HERE / "fastapi_floor.py"), "--project", str(project),
                              "--host", "127.0.0.1", "--port", "{port}"], "/v1/predict", env)


def bentoml_target(project: Path, env: dict[str, str], bentoml_python: str | None) -> Target:
    if not bentoml_python:
        raise TargetUnavailable("no BentoML venv (--bentoml-python / ASSAY_BENCH_BENTOML_PYTHON, or "
                                f"{DEFAULT_BENTOML_PYTHON}); run bash bench/setup-bentoml-venv.sh")
    # The venv carries BentoML and Assay's dependencies; Assay's code itself comes from the same
    # source tree the project's environment imports, so every target loads the model identically.
    bento_env = {**env, "BENCH_SERVE_PROJECT": str(project), "BENTOML_DO_NOT_TRACK": "true",
                 "BENTOML_HOME": str(DEFAULT_WORK_DIR / "bentoml-home"), "PYTHONPATH": assay_source_root()}
    return Target("bentoml", [bentoml_python, "-m", "bentoml", "serve", "bentoml_service:CreditModel",
                              "--host", "127.0.0.1", "--port", "{port}"], "/predict", bento_env, cwd=HERE,
                  answer_key=None)


def resolve_bentoml_python(explicit: str | None) -> str | None:
    return venv_python(explicit, env_var="ASSAY_BENCH_BENTOML_PYTHON", default=DEFAULT_BENTOML_PYTHON,
                       option="--bentoml-python", setup="bench/setup-bentoml-venv.sh")


# --- load -------------------------------------------------------------------------------------


def drive(server: Server, scenarios: Sequence[tuple[str, int, int]], bodies: Mapping[int, Path],
          duration_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    url = server.base + server.target.path
    for name, rows, concurrency in scenarios:
        run_wrk(url, bodies[rows], server.target.token, concurrency=concurrency, duration_s=WARMUP_S)
        w = run_wrk(url, bodies[rows], server.target.token, concurrency=concurrency, duration_s=duration_s)
        seconds = w["duration_us"] / 1e6
        ok = w["requests"] - w["non_2xx"]
        errors = w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
        out[name] = {"req_s": ok / seconds, "rows_s": ok * rows / seconds, "p50_ms": w["p50_us"] / 1000,
                     "p95_ms": w["p95_us"] / 1000, "p99_ms": w["p99_us"] / 1000, "non_2xx": w["non_2xx"],
                     "errors": errors, "wrk": w}
        log(f"serve: {server.target.name} {name}: {out[name]['req_s']:.0f} req/s, p99 {out[name]['p99_ms']:.1f} ms, "
            f"non-2xx {w['non_2xx']}, errors {errors}")
    out["rss_mib_after_load"] = server.rss_mib()
    return out


# --- the benchmark ---------------------------------------------------------------------------


def run(repeat: int, quick: bool, *, duration_s: float | None = None, bentoml_python: str | None = None,
        work_dir: Path | None = None, model: str | None = None) -> dict[str, Any]:
    """Each chosen model in turn (MODELS order for `both`), merged into one result: every metric
    prefixed with its model; verdicts for the reference model, informational ones for the demo."""
    model = model or os.environ.get("ASSAY_BENCH_SERVE_MODEL") or DEFAULT_MODEL
    if model not in (*MODELS, "both"):
        raise SystemExit(f"--model must be one of {', '.join((*MODELS, 'both'))}, not {model!r}")
    chosen = MODELS if model == "both" else (model,)
    parts = {m: run_model(m, repeat, quick, duration_s=duration_s, bentoml_python=bentoml_python, work_dir=work_dir)
             for m in chosen}
    return merge(parts, model)


def merge(parts: Mapping[str, Mapping[str, Any]], model: str) -> dict[str, Any]:
    first = next(iter(parts.values()))
    out: dict[str, Any] = {
        "name": "serve", "description": first["description"] + f"; model(s): {', '.join(parts)}",
        "params": {"model": model, **{k: v for k, v in first["params"].items() if k in (
            "repeat", "quick", "duration_s", "warmup_s", "scenarios", "wrk", "bentoml_python", "child_env")},
                   "per_model": {m: r["params"] for m, r in parts.items()}},
        "metrics": {}, "baselines": {}, "targets": {}, "verdicts": [], "informational_verdicts": [],
        "scenarios": {}, "tables": {}, "checks": {}, "unavailable": {}, "notes": []}
    for m, r in parts.items():
        for section in ("metrics", "baselines", "scenarios"):
            out[section].update({f"{m}.{k}": v for k, v in r[section].items()})
        out["checks"].update({f"{m}.{k}": v for k, v in r["checks"].items()})
        out["unavailable"].update({f"{m}.{k}": v for k, v in r["unavailable"].items()})
        for title, table in r["tables"].items():
            out["tables"][f"model {m}: {title}"] = table
        out["notes"].extend(f"[{m}] {n}" for n in r["notes"])
        ceiling = r["baselines"].get("raw.batch1000.rows_s", {}).get("median")
        for v in r["verdicts"]:
            v = {**v, "metric": f"{m}.{v['metric']}", "model": m}
            if m == "reference":
                out["verdicts"].append(v)
                out["targets"][v["metric"]] = r["targets"][v["metric"].split(".", 1)[1]]
            else:
                out["informational_verdicts"].append({**v, "raw_batch1000_rows_s": ceiling, "informational": (
                    "targets set for the reference model (20 numeric features, default HistGradientBoosting), "
                    "not this one")})
    return out


def run_model(model: str, repeat: int, quick: bool, *, duration_s: float | None = None,
              bentoml_python: str | None = None, work_dir: Path | None = None) -> dict[str, Any]:
    duration_s = duration_s or float(os.environ.get("ASSAY_BENCH_SERVE_DURATION_S") or 0) or (
        QUICK_DURATION_S if quick else DEFAULT_DURATION_S)
    work_dir = work_dir or DEFAULT_WORK_DIR
    scenarios = SCENARIOS if quick else SCENARIOS + EXTRA_SCENARIOS
    if not Path(WRK).exists():
        raise SystemExit(f"wrk not found ({WRK}); install it (apt-get install wrk)")
    env = bench_env()
    bentoml_python = resolve_bentoml_python(bentoml_python)
    project = make_project(work_dir, model, env)
    sizes = sorted({rows for _, rows, _ in scenarios})
    prepared = run_json([sys.executable, str(WORKERS / "prepare.py"), str(project), str(work_dir / "bodies"),
                         *map(str, sizes)], env=env, timeout_s=300)
    bodies = {int(k): Path(v["path"]) for k, v in prepared["bodies"].items()}
    expected = {int(k): v for k, v in prepared["predictions"].items()}

    targets: list[Target] = []
    unavailable: dict[str, str] = {}
    for name, make in (("assay", lambda: assay_target(project, env)),
                       ("fastapi", lambda: fastapi_target(project, env)),
                       ("bentoml", lambda: bentoml_target(project, env, bentoml_python))):
        try:
            targets.append(make())
        except TargetUnavailable as exc:
            unavailable[name] = str(exc)
            log(f"serve: {name} not available: {exc}")

    raw: dict[str, list[Any]] = {t.name: [] for t in targets}
    raw["raw"] = []
    checks: dict[str, Any] = {}
    loads: list[Any] = []
    contenders = [t.name for t in targets] + ["raw"]
    by_name = {t.name: t for t in targets}
    logs_dir = work_dir / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    for i in range(repeat):
        loads.append(load_average())
        shift = i % len(contenders)
        for name in contenders[shift:] + contenders[:shift]:
            log(f"serve: {model}: repetition {i + 1}/{repeat}: {name}")
            if name == "raw":
                raw["raw"].append(run_json([sys.executable, str(WORKERS / "raw.py"), str(project), str(duration_s)],
                                           env=env, timeout_s=120 + 8 * duration_s))
                continue
            target = by_name[name]
            try:
                with Server(target, logs_dir / f"{model}-{name}-{i + 1}.log") as server:
                    checks.setdefault(name, check_answer(server, bodies[max(sizes)], expected[max(sizes)]))
                    raw[name].append(drive(server, scenarios, bodies, duration_s))
            except TargetUnavailable as exc:
                log(f"serve: {name} failed in repetition {i + 1}: {exc}")
                raw[name].append(None)
                unavailable.setdefault(name, str(exc))
    loads.append(load_average())
    return _report(raw, unavailable, checks, scenarios=scenarios, repeat=repeat, quick=quick, duration_s=duration_s,
                   project=project, prepared=prepared, bentoml_python=bentoml_python,
                   loads=loads, model=model)


def _brief(reason: str) -> str:
    """The first line of a failure and, when it quotes a log, the log's last line."""
    lines = [line.strip() for line in reason.strip().splitlines() if line.strip()]
    return lines[0] if len(lines) < 2 else f"{lines[0]} ... {lines[-1]}"


def _report(raw: Mapping[str, list[Any]], unavailable: Mapping[str, str], checks: Mapping[str, Any], *,
            scenarios: Sequence[tuple[str, int, int]], repeat: int, quick: bool, duration_s: float, project: Path,
            prepared: Mapping[str, Any], bentoml_python: str | None, loads: list[Any], model: str) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    baselines: dict[str, Any] = {}
    scenario_figures: dict[str, Any] = {}
    table_rows: list[list[Any]] = []
    notes: list[str] = []
    servers = ("assay", "fastapi", "bentoml")
    headline = {"rows1.c64": ("req_s", "p99_ms"), "rows100.c16": ("rows_s", "p99_ms"), "rows1.c1": ("req_s",)}
    units = {"req_s": "req/s", "rows_s": "rows/s", "p50_ms": "ms", "p95_ms": "ms", "p99_ms": "ms"}
    for name in servers:
        runs = [r for r in raw.get(name, []) if r is not None]
        if not runs:
            reason = unavailable.get(name, "not run")
            for scenario, _, _ in scenarios:
                table_rows.append([name, scenario, "not available", "", "", "", "", "", "", ""])
            section = metrics if name == "assay" else baselines
            section[f"{name}.rows1.c64.req_s"] = {"median": None, "min": None, "max": None, "unit": "req/s", "n": 0,
                                                  "runs": [], "measured": False,
                                                  "description": f"not available: {_brief(reason)}"}
            notes.append(f"{name}: not available: {_brief(reason)}")
            continue
        if len(runs) < len(raw[name]):
            notes.append(f"{name}: {len(raw[name]) - len(runs)} of {len(raw[name])} repetitions failed to start "
                         f"({_brief(unavailable.get(name, ''))})")
        for scenario, rows, concurrency in scenarios:
            per = {field_: [r[scenario][field_] for r in runs] for field_ in ("req_s", "rows_s", "p50_ms", "p95_ms", "p99_ms")}
            non_2xx = sum(r[scenario]["non_2xx"] for r in runs)
            errors = sum(r[scenario]["errors"] for r in runs)
            scenario_figures[f"{name}.{scenario}"] = {
                **{f: summarise(v, units[f], digits=3) for f, v in per.items()},
                "non_2xx_total": non_2xx, "errors_total": errors, "rows_per_request": rows, "concurrency": concurrency,
                "wrk": [r[scenario]["wrk"] for r in runs]}
            m = scenario_figures[f"{name}.{scenario}"]
            table_rows.append([name, scenario, m["req_s"]["median"], m["rows_s"]["median"], m["p50_ms"]["median"],
                               m["p95_ms"]["median"], m["p99_ms"]["median"], non_2xx, errors,
                               f"{m['req_s']['min']:.0f}-{m['req_s']['max']:.0f}"])
            for field_ in headline.get(scenario, ()):
                section = metrics if name == "assay" else baselines
                extra = {} if name == "assay" else {"measured": True}
                section[f"{name}.{scenario}.{field_}"] = {**m[field_], **extra, "description": (
                    f"{rows} row(s)/request, {concurrency} connection(s); {DESCRIPTIONS[name]}; "
                    f"non-2xx {non_2xx}, socket errors {errors} (all repetitions)")}
            if non_2xx or errors:
                notes.append(f"{name} {scenario}: {non_2xx} non-2xx answers and {errors} socket errors over "
                             f"{len(runs)} repetition(s): its req/s counts only the 2xx answers")
        rss = [r["rss_mib_after_load"] for r in runs if r.get("rss_mib_after_load")]
        if rss:
            scenario_figures[f"{name}.rss_mib_after_load"] = summarise(rss, "MiB", digits=1)
    raw_runs = raw.get("raw", [])
    for key in ("row1", "batch1000", "row1_from_json", "batch1000_from_json"):
        values = [r["rows_per_s"][key] for r in raw_runs]
        if values:
            baselines[f"raw.{key}.rows_s"] = summarise(values, "rows/s", digits=1, measured=True, description=(
                f"{DESCRIPTIONS['raw']}: " + {
                    "row1": "one row per predict call, on ready pandas frames",
                    "batch1000": "1,000 rows per predict call, on a ready pandas frame",
                    "row1_from_json": "one row per call from a JSON-shaped dict (polars, to_model_frame, predict)",
                    "batch1000_from_json": "1,000 JSON-shaped dicts per call (polars, to_model_frame, predict)",
                }[key]))
            table_rows.append(["raw", key, None, summarise(values, "rows/s")["median"], None, None, None, None, None, ""])

    ceiling = baselines.get("raw.batch1000.rows_s", {}).get("median")
    if ceiling is not None and ceiling < 120_000:
        notes.append(f"the model's raw single-thread predict rate on 1,000-row frames is {ceiling:,.0f} rows/s: the "
                     "100-row target (120k rows/s with one worker) is above what one thread can predict here")
    targets: dict[str, Any] = {}
    verdicts: list[dict[str, Any]] = []
    for metric, op, threshold, unit in TARGETS:
        targets[metric] = {"op": op, "threshold": threshold, "unit": unit, "source": ISSUE}
        observed = metrics.get(metric, {}).get("median")
        met = observed is not None and (observed >= threshold if op == ">=" else observed < threshold)
        verdicts.append({"metric": metric, "op": op, "threshold": threshold, "unit": unit, "observed": observed,
                         "met": met, "source": ISSUE, **({} if observed is not None else {"measured": False})})
    if ceiling is not None and ceiling >= 120_000:
        notes.append(f"raw ceiling of this model: {ceiling:,.0f} rows/s predicting 1,000-row frames on one thread")
    notes.append("req/s and rows/s count 2xx answers only; non-2xx = answers with status >= 400 (wrk's count; none "
                 "of these servers redirect); errors = socket connect/read/write errors and 10 s timeouts")
    notes.append("wrk runs on the same 2 cores as the server (1 thread at concurrency 1, else 2): the load generator "
                 "takes CPU from the target, alike for every target")
    if quick:
        notes.append(f"--quick: {repeat} repetition(s) of {duration_s:g} s; verdicts are indicative only")
    return {
        "name": "serve",
        "description": "online prediction over HTTP, one worker: assay serve vs a FastAPI per-request floor and "
                       "BentoML adaptive batching (wrk), plus the model's raw in-process rate",
        "params": {
            "repeat": repeat, "quick": quick, "duration_s": duration_s, "warmup_s": WARMUP_S,
            "scenarios": [{"name": n, "rows_per_request": r, "concurrency": c} for n, r, c in scenarios],
            "project": str(project), "model": model,
            "rows": DEMO_ROWS if model == "demo" else REFERENCE_ROWS, "model_inputs": [c["name"] for c in prepared["inputs"]],
            "bodies": prepared["bodies"], "wrk": WRK, "bentoml_python": bentoml_python,
            "child_env": {k: v for k, v in child_env().items() if k.endswith("_THREADS")},
            "load_average_per_repetition": loads,
        },
        "metrics": metrics,
        "baselines": baselines,
        "targets": targets,
        "verdicts": verdicts,
        "scenarios": scenario_figures,
        "tables": {"per target and scenario (medians over repetitions; non-2xx and errors summed)": {
            "header": ["target", "scenario", "req/s", "rows/s", "p50 ms", "p95 ms", "p99 ms", "non-2xx", "errors",
                       "req/s range"],
            "rows": table_rows}},
        "checks": {f"{name}_first_answer": check for name, check in checks.items()},
        "unavailable": dict(unavailable),
        "notes": notes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--duration", type=float, default=None, help="seconds of measured load per scenario "
                        f"(default {DEFAULT_DURATION_S:g}; {QUICK_DURATION_S:g} with --quick)")
    parser.add_argument("--model", choices=(*MODELS, "both"), default=None, help="which model to serve "
                        f"(env ASSAY_BENCH_SERVE_MODEL; default {DEFAULT_MODEL}: reference, then demo)")
    parser.add_argument("--bentoml-python", default=None, help="python of a venv with BentoML (env "
                        f"ASSAY_BENCH_BENTOML_PYTHON; default {DEFAULT_BENTOML_PYTHON} if it exists)")
    args = parser.parse_args()
    repeat = args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    result = run(repeat, args.quick, duration_s=args.duration, bentoml_python=args.bentoml_python, model=args.model)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
