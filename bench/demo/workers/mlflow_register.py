"""The registration baseline: MLflow's `mlflow.sklearn.log_model` of the same fitted model with a
SQLite tracking backend and a local artifact folder, then `mlflow.register_model`.

Runs under a separate interpreter that has MLflow (never the project's environment); imports
only the stdlib, MLflow and what unpickling the model needs. Set-up (not timed): imports,
unpickle, create the SQLite database (MLflow migrates it on first use) and an experiment, and
`mlflow.start_run` for each registration (the counterpart of Assay's `add_run`). Timed per
registration: `log_model`, `register_model`, and `end_run` (the run's finish record). The first
in the process is `cold`, the rest `warm`.

`log_model` runs with MLflow's defaults except one argument: outside Databricks MLflow 3.x
serialises with skops (Assay's format too) and refuses to log this model (HistGradientBoosting
holds TreePredictor, check_array and functools.partial, which skops does not trust by default)
unless `skops_trusted_types` lists them, so the list skops reports is passed (computed in set-up).
Pip requirements are inferred, as by default. One extra warm registration with
`serialization_format="cloudpickle"` (MLflow's older and Databricks default) is reported for
reference. Prints one JSON line.

Usage: python mlflow_register.py MODEL_PICKLE WORKDIR [--warm N] [--model-name NAME]
"""

import time

_t_import = time.perf_counter()
import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import pickle  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import mlflow  # noqa: E402
import mlflow.sklearn  # noqa: E402

IMPORT_S = time.perf_counter() - _t_import


def register_once(model, experiment_id: str, model_name: str, **log_kwargs) -> dict:
    run = mlflow.start_run(experiment_id=experiment_id)  # not timed (like Assay's add_run)
    t0 = time.perf_counter()
    info = mlflow.sklearn.log_model(model, name="model", **log_kwargs)
    t1 = time.perf_counter()
    version = mlflow.register_model(info.model_uri, model_name)
    t2 = time.perf_counter()
    mlflow.end_run()
    t3 = time.perf_counter()
    return {
        "total_s": t3 - t0,
        "log_model_s": t1 - t0,
        "log_model_register_s": t2 - t0,
        "steps_s": {"log_model": t1 - t0, "register_model": t2 - t1, "end_run": t3 - t2},
        "run_id": run.info.run_id,
        "version": str(version.version),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--warm", type=int, default=2)
    parser.add_argument("--model-name", default="credit-default")
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    t_setup = time.perf_counter()
    with open(args.model, "rb") as handle:
        model = pickle.load(handle)
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment_id = mlflow.create_experiment("assay-bench", artifact_location=(workdir / "mlartifacts").as_uri())
    trusted = sorted(_untrusted_types(model))
    setup_s = time.perf_counter() - t_setup

    runs = [
        register_once(model, experiment_id, args.model_name, skops_trusted_types=trusted)
        for _ in range(1 + args.warm)
    ]
    cloudpickle = register_once(model, experiment_id, args.model_name, serialization_format="cloudpickle")
    print(json.dumps({
        "mlflow_version": mlflow.__version__,
        "import_s": IMPORT_S,
        "setup_s": setup_s,
        "cold": runs[0],
        "warm": runs[1:],
        "default_serialization_format": mlflow.sklearn._get_default_serialization_format(),
        "skops_trusted_types": trusted,
        "warm_cloudpickle": cloudpickle,
    }))


def _untrusted_types(model) -> list[str]:
    import skops.io as sio

    return sio.get_untrusted_types(data=sio.dumps(model))


if __name__ == "__main__":
    main()
