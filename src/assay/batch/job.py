"""`score`: a registered model over a large input, safe to re-run, on any engine.

The job's identity is a hash of what decides its output: the model version (and its artifact's
hash), the input's content hash, the options that change rows (chunk size, the checks rows must
pass, the row id column) and the output location. The engine is not part of it: a job started on
the local engine may be finished on Ray, and the bytes are the same. Re-running a complete job
reports the output it already has; re-running an interrupted one scores only the chunks without a
valid commit record.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from fsspec.spec import AbstractFileSystem

from assay.batch.dispatch import WorkerPool, dispatch
from assay.batch.errors import ScoringError
from assay.batch.options import ScoreOptions
from assay.batch.outcome import ChunkResult
from assay.batch.output import (
    QUARANTINE_DIR,
    CommittedChunk,
    OutputLocation,
    normalise_url,
)
from assay.batch.plan import (
    ChunkTask,
    ScoringPlan,
    check_schema,
    hash_inputs,
    iter_csv_tasks,
    output_columns,
    parquet_tasks,
    plan_chunks,
    resolve_inputs,
)
from assay.data.schema import schema_to_dict
from assay.errors import BudgetExceededError, DataSourceError
from assay.project.costs import CostMeter, StageCost
from assay.project.package import package_registered
from assay.project.workspace import Project
from assay.registry.records import ModelStatus
from assay.security.identity import Action
from assay.spec.budgets import BudgetsSpec

JOB_FORMAT = 1  # bump when the output's layout or columns change: old jobs then do not match new ones

Status = Literal["scored", "resumed", "complete"]


class Engine(Protocol):
    name: str

    def describe(self) -> str: ...
    def start(self) -> None:
        """Begin starting workers (they may load libraries before the plan is known); idempotent."""

    def open(self, plan: ScoringPlan) -> AbstractContextManager[WorkerPool]:
        """Workers with the plan; may return before every worker is ready."""

    def close(self) -> None:
        """Stop workers started but never opened."""


@dataclass(frozen=True, slots=True)
class ScoreSummary:
    job_id: str
    model: str
    output: str
    status: Status
    engine: str
    rows: int
    scored: int
    quarantined: int
    reasons: dict[str, int]
    chunks: int
    chunks_scored: int  # in this run (the rest were committed by an earlier one)
    retries: tuple[str, ...] = ()
    requeued: tuple[str, ...] = ()
    seconds: float = 0.0
    cpu_s: float = 0.0  # this run's chunks (in the workers) and the coordinator; not the workers' start-up
    budget_breaches: tuple[str, ...] = ()
    costs: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)  # per stage; see `_WorkerCosts.costs`

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def quarantine(self) -> str | None:
        return f"{self.output.rstrip('/')}/{QUARANTINE_DIR}" if self.quarantined else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "model": self.model, "output": self.output, "status": self.status,
            "engine": self.engine, "rows": self.rows, "scored": self.scored, "quarantined": self.quarantined,
            "quarantine": self.quarantine, "reasons": dict(self.reasons), "chunks": self.chunks,
            "chunks_scored": self.chunks_scored, "retries": list(self.retries), "requeued": list(self.requeued),
            "seconds": round(self.seconds, 3), "rows_per_s": round(self.rows_per_s, 1), "cpu_s": round(self.cpu_s, 3),
            "budget_breaches": list(self.budget_breaches), "costs": {k: dict(v) for k, v in self.costs.items()},
        }


Progress = Callable[[int, int | None], None]  # rows done (committed), rows in all (None: not known yet)


def _job_id(identity: Mapping[str, Any]) -> str:
    decisive = {k: identity[k] for k in ("format", "model", "options", "output")}
    decisive["input"] = identity["input"]["sha256"]
    canonical = json.dumps(decisive, sort_keys=True, separators=(",", ":"))
    return "score-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def score(
    project: Project,
    model_ref: str,
    *,
    input_url: str,
    output_url: str,
    engine: Engine,
    options: ScoreOptions | None = None,
    progress: Progress | None = None,
    on_event: Callable[[str], None] | None = None,
    input_fs: AbstractFileSystem | None = None,
    output_fs: AbstractFileSystem | None = None,
) -> ScoreSummary:
    """Score `input_url` with a registered model into `output_url` (see the module docstring)."""
    options = options or ScoreOptions()
    meter = CostMeter(cpu=time.process_time)  # the coordinator's own CPU: the workers report theirs
    try:
        project.require(Action.SCORE, subject=model_ref)
        return _score(project, model_ref, input_url=input_url, output_url=output_url, engine=engine, options=options,
                      progress=progress, note=on_event or (lambda message: None), input_fs=input_fs,
                      output_fs=output_fs, meter=meter)
    finally:
        meter.close()
        engine.close()


def _score(project: Project, model_ref: str, *, input_url: str, output_url: str, engine: Engine,
           options: ScoreOptions, progress: Progress | None, note: Callable[[str], None],
           input_fs: AbstractFileSystem | None, output_fs: AbstractFileSystem | None,
           meter: CostMeter) -> ScoreSummary:
    started, own_cpu = time.perf_counter(), time.process_time()
    with meter.stage("resolve"):
        output_display = normalise_url(output_url)
        output = OutputLocation.from_url(output_display, fs=output_fs)
        existing = output.manifest()
        if existing is None:
            engine.start()  # workers import their libraries while this process hashes the input
        spec, _ = project.load_spec()
        model = project.resolve_model(model_ref)
        if model.status not in (ModelStatus.CANDIDATE, ModelStatus.APPROVED):
            note(f"warning: {model.ref} is {model.status.value}; scoring it anyway (see `assay models show "
                 f"{model.ref}`)")
        fs_in, files = resolve_inputs(input_url, fs=input_fs)

        inputs = [c["name"] for c in model.signature["inputs"]]
        for file in files:
            missing = [name for name in inputs if name not in file.columns]
            if missing:
                raise DataSourceError(
                    f"{file.display} lacks the model input column(s) {', '.join(missing)} that {model.ref} needs",
                    hint="score data with the columns the model was trained on (see `assay models show "
                         f"{model.ref}`)",
                )
        id_column = spec.data.id if spec.data.id and spec.data.id not in spec.data.pii and all(spec.data.id in f.columns for f in files) else None
        checks = check_schema(model.signature, spec.data.data_schema)

    with meter.stage("hash input"):
        note(f"hashing the input ({sum(f.size_bytes for f in files) / 1e6:,.1f} MB in {len(files)} file(s))")
        input_sha256 = hash_inputs(fs_in, files)
    identity: dict[str, Any] = {
        "kind": "assay.score",
        "format": JOB_FORMAT,
        "model": {"ref": model.ref, "name": model.name, "version": model.version,
                  "artifact_sha256": model.artifact_sha256, "run_id": model.run_id},
        "input": {"url": normalise_url(input_url), "format": files[0].format, "sha256": input_sha256,
                  "files": [{"path": f.display, "bytes": f.size_bytes, "rows": f.rows} for f in files]},
        "options": {"chunk_rows": options.chunk_rows, "id_column": id_column, "checks": schema_to_dict(checks)},
        "output": output_display,
    }
    identity["job_id"] = _job_id(identity)
    job_id = identity["job_id"]
    workers = _WorkerCosts()

    if existing is not None and existing.get("job_id") == job_id and existing.get("complete"):
        totals = existing["totals"]
        return ScoreSummary(job_id, model.ref, output_display, "complete", engine.name, totals["rows"], totals["scored"],
                            totals["quarantined"], dict(totals["reasons"]), len(existing["chunks"]), 0,
                            seconds=time.perf_counter() - started, costs=workers.costs(meter))
    with meter.stage("plan"):
        output.claim(identity)
        removed = output.clean_temporary()
        if removed:
            note(f"removed {removed} temporary file(s) an interrupted run left")
        done = output.committed(verify=options.verify)
        if done:
            note(f"resuming job {job_id}: {len(done)} chunk(s) already committed")

        plan = ScoringPlan(
            package=package_registered(project, model), model_name=model.name, model_version=model.version,
            run_id=model.run_id, checks=checks, id_column=id_column, input_fs=fs_in, output=output,
            threads=spec.model.threads, retry=options.retry,
        )
        planned = plan_chunks(files, chunk_rows=options.chunk_rows)
        total_rows = sum(int(f.rows or 0) for f in files) if planned is not None else None
        tasks: Iterable[ChunkTask]
        if planned is not None:
            tasks = [t for t in parquet_tasks(files, planned) if t.chunk.index not in done]
        else:  # read lazily, while the chunks are scored
            tasks = (t for t in iter_csv_tasks(files, chunk_rows=options.chunk_rows) if t.chunk.index not in done)

    results: dict[int, CommittedChunk] = dict(done)
    rows_done = sum(r.rows for r in done.values())
    if progress is not None:
        progress(rows_done, total_rows)

    def committed(result: ChunkResult) -> None:
        nonlocal rows_done
        results[result.record.index] = result.record
        rows_done += result.record.rows
        workers.add(result)
        if progress is not None:
            progress(rows_done, total_rows)

    with meter.stage("score"), engine.open(plan) as pool:
        stats = dispatch(pool, tasks, chunk_timeout_s=options.chunk_timeout_s, max_attempts=options.max_attempts,
                         on_result=committed, on_event=note, committed=len(done),
                         total=len(planned) if planned is not None else None)

    with meter.stage("manifest"):
        records = [results[i] for i in sorted(results)]
        expected = len(planned) if planned is not None else len(records)
        if [r.index for r in records] != list(range(expected)):
            raise ScoringError(f"job {job_id} ended with chunks {[r.index for r in records]} committed, "
                               f"expected 0-{expected - 1}", hint="run the same command again to finish it")
        reasons: dict[str, int] = {}
        for record in records:
            for reason, count in record.reasons.items():
                reasons[reason] = reasons.get(reason, 0) + count
        totals = {"rows": sum(r.rows for r in records), "scored": sum(r.scored for r in records),
                  "quarantined": sum(r.quarantined for r in records), "reasons": dict(sorted(reasons.items()))}
        output.write_manifest({
            **identity, "complete": True, "columns": output_columns(model.signature, id_column),
            "classes": model.signature.get("output", {}).get("classes"), "totals": totals,
            "chunks": [r.to_dict() for r in records],
        })
    seconds = time.perf_counter() - started
    cpu_s = workers.cpu_s + time.process_time() - own_cpu
    costs = workers.costs(meter)
    rows_now = totals["rows"] - sum(r.rows for r in done.values())
    breaches = _scoring_budget(spec.budgets, cpu_s, rows_now, note)
    summary = ScoreSummary(
        job_id, model.ref, output_display, "resumed" if done else "scored", engine.describe(), totals["rows"],
        totals["scored"], totals["quarantined"], totals["reasons"], len(records), len(records) - len(done),
        tuple(stats.retries), tuple(stats.requeued), seconds, cpu_s, tuple(breaches), costs,
    )
    project.metadata.append_audit(
        actor=project.actor, action="score", subject=model.ref, at=project.clock.now(),
        details={"job_id": job_id, "output": output_display, "input_sha256": identity["input"]["sha256"],
                 "engine": engine.describe(), "rows": totals["rows"], "scored": totals["scored"],
                 "quarantined": totals["quarantined"], "chunks_scored": summary.chunks_scored,
                 "seconds": round(seconds, 3), "cpu_s": round(cpu_s, 3), "budget_breaches": breaches,
                 "costs": costs},
    )
    if breaches and spec.budgets.on_breach == "fail":
        raise BudgetExceededError(f"job {job_id}: {breaches[0]}; the output is complete and kept",
                                  hint="raise budgets.scoring_cpu_s_per_million_rows in assay.yaml, or score with a "
                                       "cheaper model")
    return summary


@dataclass(slots=True)
class _WorkerCosts:
    """What this run's chunks cost in the workers: wall and CPU time summed over the chunks, and the
    largest peak resident set size a worker reported."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mib: float | None = None

    def add(self, result: ChunkResult) -> None:
        self.wall_s += result.seconds
        self.cpu_s += result.cpu_s
        if result.peak_rss_mib is not None:
            self.peak_rss_mib = max(self.peak_rss_mib or 0.0, result.peak_rss_mib)

    def costs(self, meter: CostMeter) -> dict[str, dict[str, float | None]]:
        """The coordinator's stages and their total, then "workers"."""
        return {**meter.to_dict(), "workers": StageCost("workers", self.wall_s, self.cpu_s, self.peak_rss_mib).to_dict()}


def _scoring_budget(budgets: BudgetsSpec, cpu_s: float, rows: int, note: Callable[[str], None]) -> list[str]:
    """`budgets.scoring_cpu_s_per_million_rows` against this run's rows (a resumed job counts the rows
    it scored now)."""
    limit = budgets.scoring_cpu_s_per_million_rows
    if limit is None or rows <= 0:
        return []
    used = cpu_s / rows * 1e6
    if used <= limit:
        return []
    message = (f"scoring used {used:,.1f} CPU s per million rows, over budgets.scoring_cpu_s_per_million_rows "
               f"({limit:g})")
    if budgets.on_breach == "warn":
        note(f"warning: {message}")
    return [message]


__all__ = ["JOB_FORMAT", "Engine", "ScoreSummary", "score"]
