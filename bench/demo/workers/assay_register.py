"""Time Assay's registration of one trained model: serialise (the sklearn flavor's `dumps`) +
put the artifact + finish the run record + register the model version row in SQLite.

Set-up (not timed): imports, unpickle the fitted model, a fresh SQLite metadata store in WORKDIR
(migrated), the dataset version row, and for each registration a new RUNNING run (`add_run`, the
counterpart of MLflow's `start_run`). Every registration writes into a fresh artifact folder, so
each one really writes its blob (like MLflow, which writes a new copy per run) instead of finding
identical bytes already stored. The first registration in the process is reported as `cold`,
the rest as `warm`. Prints one JSON line.

Usage: python assay_register.py CONFIG_JSON WORKDIR [--warm N]
"""

import time

_t_import = time.perf_counter()
import argparse  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

from assay.clock import SystemClock  # noqa: E402
from assay.project.settings import Settings  # noqa: E402
from assay.project.workspace import Project, new_run_id  # noqa: E402
from assay.registry.artifacts import FsspecArtifactStore  # noqa: E402
from assay.registry.records import ModelStatus, RunStatus  # noqa: E402
from assay.registry.sql import SqlMetadataStore  # noqa: E402
from assay.training.flavors import FittedModel, get_flavor  # noqa: E402

IMPORT_S = time.perf_counter() - _t_import


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--warm", type=int, default=2)
    args = parser.parse_args()
    config = json.loads(args.config.read_text())
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    clock = SystemClock()

    t_setup = time.perf_counter()
    with open(config["model_pickle"], "rb") as handle:
        model = pickle.load(handle)
    # The records the set-up run made, as templates for this process's runs.
    with Project.open(config["project_dir"], settings=Settings()) as source:
        dataset = source.metadata.get_dataset(config["dataset_id"])
        template = source.metadata.get_run(config["run_id"])
        version = source.metadata.get_model(config["model_name"], config["model_version"])
    metadata = SqlMetadataStore.from_url(f"sqlite:///{workdir / 'assay.db'}")
    metadata.migrate()
    metadata.add_dataset(dataset)
    flavor = get_flavor("sklearn")
    fitted = FittedModel("sklearn", model, template.params.get("resolved", {}))
    setup_s = time.perf_counter() - t_setup

    registrations = []
    try:
        for i in range(1 + args.warm):
            artifacts = FsspecArtifactStore(str(workdir / f"artifacts-{i}"))
            run = replace(template, id=new_run_id(), status=RunStatus.RUNNING, metrics={}, started_at=clock.now(),
                          finished_at=None, artifacts={k: v for k, v in template.artifacts.items() if k != "model"})
            metadata.add_run(run)  # like mlflow.start_run: not part of registering

            t0 = time.perf_counter()
            artifact = flavor.dumps(fitted, signature=version.signature)
            t1 = time.perf_counter()
            info = artifacts.put_bytes(artifact)
            t2 = time.perf_counter()
            metadata.finish_run(
                run.id, status=RunStatus.SUCCEEDED, finished_at=clock.now(), metrics=template.metrics,
                artifacts={**run.artifacts, "model": info.sha256}, params=template.params,
            )
            t3 = time.perf_counter()
            registered = metadata.register_model(
                name=version.name, run_id=run.id, flavor=flavor.name, artifact_sha256=info.sha256,
                signature=version.signature, metrics=version.metrics, status=ModelStatus.CANDIDATE,
                created_at=clock.now(), created_by=version.created_by, description="benchmark",
            )
            t4 = time.perf_counter()
            registrations.append({
                "total_s": t4 - t0,
                "steps_s": {"serialise": t1 - t0, "put_artifact": t2 - t1, "finish_run": t3 - t2,
                            "register_model": t4 - t3},
                "artifact_bytes": info.size_bytes,
                "model": registered.ref,
            })
    finally:
        metadata.close()

    print(json.dumps({"import_s": IMPORT_S, "setup_s": setup_s, "cold": registrations[0],
                      "warm": registrations[1:]}))


if __name__ == "__main__":
    main()
