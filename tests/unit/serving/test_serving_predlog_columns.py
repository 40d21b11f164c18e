"""Records that carry their values by column are written exactly as the same records by row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from assay.security import Secret, Tokeniser
from assay.serving.predlog import PredictionLog, PredictionRecord, read_prediction_log

COLUMNS = [("amount", "float"), ("term", "int"), ("region", "category"), ("opened", "date"), ("vip", "bool")]
ROWS = [
    {"amount": 1.5, "term": 12.0, "region": "east", "opened": "2024-01-02", "vip": True, "email": "a@x.io"},
    {"amount": None, "term": 3.0, "region": "west", "opened": None, "vip": None, "email": None},
    {"amount": 7.0, "term": 2.5, "region": "north", "opened": "2024-03-04", "vip": False, "email": "b@x.io"},
]


def _write(root: Path, *, by_column: bool) -> pl.DataFrame:
    log = PredictionLog(root, columns=COLUMNS, pii={"email": "tokenise"}, tokeniser=Tokeniser(Secret("k" * 32)),
                        flush_interval_s=3600)
    at = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    for index in range(2):
        common = dict(request_id=f"r{index}", at=at, model_name="m", model_version=1, route="production",
                      outputs=[[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], latency_ms=1.0, entity_ids=["a", "b", "c"])
        if by_column:
            columns = {key: [row[key] for row in ROWS] for key in ROWS[0]}
            log.append(PredictionRecord(rows=[], columns=columns, **common))  # type: ignore[arg-type]
        else:
            log.append(PredictionRecord(rows=[dict(row) for row in ROWS], **common))  # type: ignore[arg-type]
    log.close()
    assert log.coerced_nulls == 2  # term 2.5 is not a whole number, twice
    return read_prediction_log(root)


def test_columns_and_rows_give_the_same_log(tmp_path: Path) -> None:
    by_row = _write(tmp_path / "rows", by_column=False)
    by_column = _write(tmp_path / "columns", by_column=True)
    assert len(by_row) == 6 and "input.email" in by_row.columns
    assert_frame_equal(by_row, by_column)
