"""Assay's side of the tracking-overhead comparison: open the project and run `train_project`.

Two paths: `--dataset-id ID` trains on an already-ingested dataset version (the snapshot is
read from the artifact store); without it, the project is trained from raw data (validate the
CSV, snapshot it, record the dataset version; on a fresh folder this also creates and migrates
the metadata database inside `Project.open`).

Only the work (open + train_project + close) is timed; imports are timed separately. Probes
wrap a few library functions with timers (benchmark instrumentation only; nothing in src/ is
changed) so the report can say where the time inside each stage goes. Prints one JSON line.

Usage: python assay_train.py PROJECT_DIR [--dataset-id ID]
"""

import time

_t_import = time.perf_counter()
import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import assay.project.pipeline as pipeline  # noqa: E402
import assay.training.trainer as trainer  # noqa: E402
from assay.project.settings import Settings  # noqa: E402
from assay.project.workspace import Project  # noqa: E402
from assay.registry.artifacts import FsspecArtifactStore  # noqa: E402
from assay.registry.sql import SqlMetadataStore  # noqa: E402
from assay.training.flavors.sklearn import SklearnFlavor, SklearnModel  # noqa: E402

IMPORT_S = time.perf_counter() - _t_import

PROBES: dict[str, list[float]] = {}  # label -> [total seconds, calls]


MISSING: list[str] = []  # probes whose target no longer exists (the library changed): reported, not fatal


def probe(owner: object, attr: str, label: str) -> None:
    original = getattr(owner, attr, None)
    if original is None:
        MISSING.append(f"{label} ({getattr(owner, '__name__', owner)}.{attr})")
        return

    @functools.wraps(original)
    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            entry = PROBES.setdefault(label, [0.0, 0])
            entry[0] += time.perf_counter() - t0
            entry[1] += 1

    setattr(owner, attr, timed)


def install_probes() -> None:
    # names as the pipeline and trainer modules look them up
    probe(pipeline, "capture_environment", "run record: capture_environment")
    probe(pipeline, "ingest", "ingest: validate+snapshot (or reuse)")
    probe(pipeline, "load_dataset_frame", "split: read snapshot")
    probe(pipeline, "make_split", "split: compute manifest")
    probe(trainer, "encode_labels", "train: encode labels")
    probe(trainer, "build_signature", "train: build signature")
    probe(trainer, "to_model_frame", "train: polars->pandas model frame")
    probe(SklearnFlavor, "fit", "train: fit (estimator + preprocessing)")
    probe(SklearnFlavor, "dumps", "train: serialise (skops, canonical)")
    probe(SklearnFlavor, "loads", "train: reload artifact (skops, trust check)")
    probe(SklearnModel, "predict", "train: predict validation+test")
    probe(Project, "load_spec", "load spec")
    probe(FsspecArtifactStore, "put_bytes", "artifacts: put_bytes")
    probe(FsspecArtifactStore, "get_bytes", "artifacts: get_bytes")
    probe(SqlMetadataStore, "add_run", "metadata: add_run")
    probe(SqlMetadataStore, "finish_run", "metadata: finish_run")
    probe(SqlMetadataStore, "register_model", "metadata: register_model")
    probe(SqlMetadataStore, "get_dataset", "metadata: get_dataset")
    probe(SqlMetadataStore, "is_migrated", "open: is_migrated")
    probe(SqlMetadataStore, "migrate", "open: migrate")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path)
    parser.add_argument("--dataset-id")
    args = parser.parse_args()
    install_probes()
    settings = Settings()

    t0 = time.perf_counter()
    project = Project.open(args.project, settings=settings)
    t1 = time.perf_counter()
    try:
        result = pipeline.train_project(project, dataset_id=args.dataset_id, description="benchmark")
    finally:
        t2 = time.perf_counter()
        project.close()
    t3 = time.perf_counter()

    timings = dict(result.timings_s)
    train_project_s = t2 - t1
    print(json.dumps({
        "import_s": IMPORT_S,
        "work_s": t3 - t0,
        "open_s": t1 - t0,
        "train_project_s": train_project_s,
        "close_s": t3 - t2,
        "timings_s": timings,
        # time inside train_project that no stage timer covers (spec/split puts, environment, add_run)
        "untimed_s": train_project_s - sum(timings.values()),
        "fit_seconds": result.run.metrics.get("fit_seconds"),
        "probes": {label: {"total_s": total, "calls": calls} for label, (total, calls) in sorted(PROBES.items())},
        "missing_probes": MISSING,
        "model": result.model.ref,
        "test_metrics": dict(result.model.metrics),
    }))


if __name__ == "__main__":
    main()
