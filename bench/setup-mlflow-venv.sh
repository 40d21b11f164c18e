#!/usr/bin/env bash
# Create the separate virtualenv with MLflow that the demo benchmark's registration baseline
# runs in. MLflow never enters the project's environment. Prints the interpreter to pass as
# --mlflow-python (or ASSAY_BENCH_MLFLOW_PYTHON).
#
#   bash bench/setup-mlflow-venv.sh [VENV_DIR]      (default /tmp/mlflow-venv)
#   MLFLOW_SPEC='mlflow==3.18.*' bash bench/setup-mlflow-venv.sh
set -euo pipefail
VENV="${1:-/tmp/mlflow-venv}"
MLFLOW_SPEC="${MLFLOW_SPEC:-mlflow==3.17.*}"
PYTHON="${PYTHON:-python}"
# The fitted model is handed over as a pickle: the same scikit-learn and numpy as the project's.
SKLEARN="$("$PYTHON" -c 'import sklearn; print(sklearn.__version__)')"
NUMPY="$("$PYTHON" -c 'import numpy; print(numpy.__version__)')"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "$MLFLOW_SPEC" "scikit-learn==$SKLEARN" "numpy==$NUMPY" polars
"$VENV/bin/python" -c 'import mlflow, sklearn; print("mlflow", mlflow.__version__, "scikit-learn", sklearn.__version__)' >&2
echo "$VENV/bin/python"
