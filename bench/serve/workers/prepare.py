"""Write the request bodies for the serve benchmark and the model's predictions for them.

    python workers/prepare.py PROJECT_DIR OUT_DIR ROWS [ROWS ...]

For each ROWS, OUT_DIR/body-ROWS.json is `{"rows": [...]}` with the first ROWS rows of the project's
CSV restricted to the model's input columns (JSON-native values; dates as ISO text). Prints one
JSON line: the input columns, the body files and their sizes, and the in-process predictions for
each body (the reference the servers' answers are checked against).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model import data_path, open_model  # noqa: E402


def main() -> None:
    project_dir, out_dir, sizes = Path(sys.argv[1]), Path(sys.argv[2]), [int(x) for x in sys.argv[3:]]
    model = open_model(project_dir)
    names = [c["name"] for c in model.inputs]
    frame = pl.read_csv(data_path(project_dir), n_rows=max(sizes), try_parse_dates=True)
    text = [pl.col(c["name"]).cast(pl.String) for c in model.inputs if c["type"] in ("date", "datetime")]
    frame = frame.select(names).with_columns(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    bodies, predictions = {}, {}
    for size in sizes:
        rows = frame.head(size).to_dicts()
        path = out_dir / f"body-{size}.json"
        path.write_text(json.dumps({"rows": rows}, separators=(",", ":")))
        bodies[str(size)] = {"path": str(path), "bytes": path.stat().st_size}
        predictions[str(size)] = model.predict_rows(rows)
    print(json.dumps({"inputs": model.inputs, "bodies": bodies, "predictions": predictions}))


if __name__ == "__main__":
    main()
