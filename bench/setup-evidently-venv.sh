#!/usr/bin/env bash
# Create the separate virtualenv with Evidently that the drift benchmark's baseline runs in.
# Evidently never enters the project's environment. Prints the interpreter to pass as
# --evidently-python (or ASSAY_BENCH_EVIDENTLY_PYTHON).
#
#   bash bench/setup-evidently-venv.sh [VENV_DIR]      (default /tmp/evidently-venv)
#   EVIDENTLY_SPEC='evidently==0.7.*' bash bench/setup-evidently-venv.sh
set -euo pipefail
VENV="${1:-/tmp/evidently-venv}"
EVIDENTLY_SPEC="${EVIDENTLY_SPEC:-evidently==0.7.23}"
PYTHON="${PYTHON:-python}"
# The numpy/scipy pass runs on the project's numpy, scipy, pandas and pyarrow: the same versions
# here, so Evidently's time is not a library-version difference. One exception: Evidently 0.7.23
# does not import under pandas 3 (it imports pandas.core.dtypes.common.infer_dtype_from_object,
# which pandas 3 removed), so with a project on pandas >= 3 this venv gets the newest pandas 2.
PINS="$("$PYTHON" -c '
import numpy, pandas, pyarrow, scipy, sklearn
major = int(pandas.__version__.split(".")[0])
pandas_pin = f"pandas=={pandas.__version__}" if major < 3 else "pandas<3"
print(f"numpy=={numpy.__version__} scipy=={scipy.__version__} {pandas_pin} "
      f"pyarrow=={pyarrow.__version__} scikit-learn=={sklearn.__version__}")')"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# shellcheck disable=SC2086  # PINS is a list of requirement words
"$VENV/bin/pip" install -q "$EVIDENTLY_SPEC" $PINS
"$VENV/bin/python" -c 'import evidently, numpy, pandas, scipy; print("evidently", evidently.__version__, "numpy", numpy.__version__, "pandas", pandas.__version__, "scipy", scipy.__version__)' >&2
echo "$VENV/bin/python"
