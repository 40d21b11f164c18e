"""Set up the demo benchmark: a demo project trained once, and the plain files the bare baseline
and the registration workers need (split indices, model pickle, config). Not timed.

Usage: python prepare.py --dir PROJECT_DIR --out CONFIG_JSON [--rows N (default: the demo's)]
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import numpy as np
import polars as pl

from assay.leakage.split import SplitManifest
from assay.project.demo import DEMO_ROWS, create_demo_project
from assay.project.pipeline import load_dataset_frame, train_project
from assay.project.settings import Settings
from assay.project.workspace import Project
from assay.training.trainer import load_model, predictions_from_bytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=DEMO_ROWS)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    project_dir: Path = args.dir.resolve()
    work = args.out.resolve().parent

    csv_path = create_demo_project(project_dir, rows=args.rows)
    with Project.open(project_dir, settings=Settings()) as project:
        spec, _ = project.load_spec()
        result = train_project(project, description="benchmark set-up")
        run, model = result.run, result.model
        manifest = SplitManifest.from_json_bytes(project.artifacts.get_bytes(run.artifacts["split"]))
        snapshot = load_dataset_frame(project, result.dataset)
        test_predictions = predictions_from_bytes(project.artifacts.get_bytes(run.artifacts["predictions.test"]))
        loaded = load_model(
            model.flavor,
            project.artifacts.get_bytes(model.artifact_sha256),
            signature=model.signature,
            trusted_modules=(),
            project_dir=project_dir,
        )
        artifact_bytes = len(project.artifacts.get_bytes(model.artifact_sha256))

    # The bare baseline reads the CSV itself and takes the manifest's row indices; that is only
    # the same data if the snapshot keeps the CSV's row order. Check it rather than assume it.
    id_column = spec.data.id
    raw_ids = pl.read_csv(csv_path, columns=[id_column], infer_schema_length=0).get_column(id_column)
    same_order = raw_ids.equals(snapshot.get_column(id_column).cast(pl.String))
    if not same_order:
        raise SystemExit("the snapshot's row order differs from the CSV's: the bare baseline would see other rows")

    split_path = work / "split.npz"
    np.savez(split_path, **{name: manifest.indices[name] for name in ("train", "validation", "test")})
    np.save(work / "assay_test_predictions.npy", test_predictions)
    model_path = work / "model.pkl"
    with open(model_path, "wb") as handle:
        pickle.dump(loaded.model, handle, protocol=pickle.HIGHEST_PROTOCOL)

    resolved = run.params["resolved"]
    config = {
        "project_dir": str(project_dir),
        "csv": str(csv_path),
        "rows": args.rows,
        "dataset_id": result.dataset.id,
        "run_id": run.id,
        "model_name": model.name,
        "model_version": model.version,
        "target": spec.data.target,
        "seed": spec.seed,
        "threads": spec.model.threads,
        "estimator": spec.model.estimator,
        "params": dict(spec.model.params),
        "features": list(resolved["features"]),
        "categorical": list(resolved["preprocessing"]["categorical"]),
        "numeric": list(resolved["preprocessing"]["numeric"]),
        "metrics": list(spec.metrics),
        "split_npz": str(split_path),
        "split_sizes": manifest.sizes(),
        "assay_test_predictions": str(work / "assay_test_predictions.npy"),
        "assay_test_metrics": dict(model.metrics),
        "model_pickle": str(model_path),
        "model_artifact_bytes": artifact_bytes,
        "signature": model.signature,
        "csv_order_matches_snapshot": same_order,
    }
    args.out.write_text(json.dumps(config, indent=2))
    print(json.dumps({"ok": True, "config": str(args.out)}))


if __name__ == "__main__":
    main()
