"""The output location's commit protocol: atomic files, one job per location, and only intact
commit records count."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.batch.errors import OutputConflictError
from assay.batch.output import CommittedChunk, OutputLocation, part_name

IDENTITY = {"job_id": "score-1", "model": {"ref": "m:1", "artifact_sha256": "a"}, "input": {"sha256": "i" * 64},
            "options": {"chunk_rows": 10}, "format": 1}


def _commit(location: OutputLocation, index: int, data: bytes) -> CommittedChunk:
    import hashlib

    location.write_bytes(part_name(index), data)
    record = CommittedChunk(index, 10, 10, 0, hashlib.sha256(data).hexdigest(), len(data))
    location.commit_chunk(record)
    return record


def test_a_location_belongs_to_one_job(tmp_path: Path) -> None:
    location = OutputLocation.from_url(str(tmp_path / "out"))
    location.claim(IDENTITY)
    location.claim(IDENTITY)  # the same job again: fine
    other = {**IDENTITY, "job_id": "score-2", "options": {"chunk_rows": 20}}
    with pytest.raises(OutputConflictError, match=r"differs in chunk rows \(10 there, 20 now\)"):
        location.claim(other)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "report.csv").write_text("x")
    with pytest.raises(OutputConflictError, match="not a scoring job's output"):
        OutputLocation.from_url(str(foreign)).claim(IDENTITY)


def test_only_records_whose_files_are_intact_count_as_committed(tmp_path: Path) -> None:
    location = OutputLocation.from_url(str(tmp_path))
    kept = _commit(location, 0, b"zero")
    _commit(location, 1, b"one")
    _commit(location, 2, b"two")
    (tmp_path / part_name(1)).write_bytes(b"tampered")
    (tmp_path / part_name(2)).unlink()
    (tmp_path / "_assay_chunks" / "00003.json").write_text("{not json")  # a hand-edited record
    assert location.committed() == {0: kept}


def test_writes_are_atomic_and_leftover_temporary_files_are_cleaned(tmp_path: Path) -> None:
    location = OutputLocation.from_url(str(tmp_path))
    location.write_bytes("part-00000.parquet", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-00000.parquet"]
    (tmp_path / ".part-00001.parquet.tmp-dead").write_bytes(b"half")  # a crash mid-write
    assert location.clean_temporary() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-00000.parquet"]
