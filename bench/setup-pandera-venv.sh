#!/usr/bin/env bash
# Create the separate virtualenv with pandera that the validate benchmark's baselines run in.
# pandera never enters the project's environment. Prints the interpreter to pass as
# --pandera-python (or ASSAY_BENCH_PANDERA_PYTHON).
#
#   bash bench/setup-pandera-venv.sh [VENV_DIR]      (default /tmp/pandera-venv)
#   PANDERA_SPEC='pandera[polars,pandas]==0.35.*' bash bench/setup-pandera-venv.sh
set -euo pipefail
VENV="${1:-/tmp/pandera-venv}"
PANDERA_SPEC="${PANDERA_SPEC:-pandera[polars,pandas]}"
PYTHON="${PYTHON:-python}"
# The floor and Assay run on the project's polars: the same version here, so the polars
# backend's speed is not a polars-version difference.
POLARS="$("$PYTHON" -c 'import polars; print(polars.__version__)')"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "$PANDERA_SPEC" "polars==$POLARS" pandas pyarrow numpy
"$VENV/bin/python" -c 'import pandera, polars, pandas; print("pandera", pandera.__version__, "polars", polars.__version__, "pandas", pandas.__version__)' >&2
echo "$VENV/bin/python"
