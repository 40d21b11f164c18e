#!/usr/bin/env bash
# Create the separate virtualenv with BentoML that the serve benchmark's `bentoml` target runs in.
# BentoML never enters the project's environment. The venv also gets Assay (editable, from this
# checkout) for its dependencies, with the project's numeric stack pinned to the exact versions the
# project's environment has (numpy, scipy, pandas, polars, pyarrow, scikit-learn, skops,
# threadpoolctl). The benchmark then puts the Assay source tree that the project's environment
# imports first on PYTHONPATH, so the service loads the registered model through the very same
# `assay.project.calibrated.load_registered` and predicts with the same library versions as every
# other target. Prints the interpreter to pass as --bentoml-python (or ASSAY_BENCH_BENTOML_PYTHON).
#
#   bash bench/setup-bentoml-venv.sh [VENV_DIR]      (default /tmp/bentoml-venv)
#   BENTOML_SPEC='bentoml==1.4.*' bash bench/setup-bentoml-venv.sh
set -euo pipefail
VENV="${1:-/tmp/bentoml-venv}"
BENTOML_SPEC="${BENTOML_SPEC:-bentoml>=1.4,<1.5}"
PYTHON="${PYTHON:-python}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PINS="$("$PYTHON" - <<'PY'
from importlib.metadata import version
print(" ".join(f"{name}=={version(name)}" for name in
               ("numpy", "scipy", "pandas", "polars", "pyarrow", "scikit-learn", "skops", "threadpoolctl")))
PY
)"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# shellcheck disable=SC2086
"$VENV/bin/pip" install -q "$BENTOML_SPEC" $PINS
# shellcheck disable=SC2086
"$VENV/bin/pip" install -q -e "$REPO" $PINS
"$VENV/bin/python" -c 'import bentoml, sklearn, numpy, assay; print("bentoml", bentoml.__version__, "scikit-learn", sklearn.__version__, "numpy", numpy.__version__)' >&2
echo "$VENV/bin/python"
