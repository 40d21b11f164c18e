"""Where a scoring job writes, and the commit protocol that makes a crash harmless.

Layout of an output location (any fsspec URL):

    _assay_job.json             the job's identity: written first, it claims the location
    part-00000.parquet ...      scored rows, one file per chunk
    quarantine/part-00003.parquet   rows of chunk 3 that failed the checks, with the reason
    _assay_chunks/00000.json    one commit record per chunk: counts and the sha256 of its files
    _assay_manifest.json        written last: the job is complete

Every file is written under a temporary name (a dot file, which readers skip) and renamed into
place, so a reader or a resumed job never sees half a file. A chunk counts as done only when its
commit record exists and the files it names hash as recorded; anything else is scored again, and
because scoring is deterministic the bytes come out the same.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import fsspec
from fsspec.spec import AbstractFileSystem

from assay.batch.errors import OutputConflictError

JOB_FILE = "_assay_job.json"
MANIFEST_FILE = "_assay_manifest.json"
CHUNKS_DIR = "_assay_chunks"
QUARANTINE_DIR = "quarantine"
_TEMP_MARK = ".tmp-"


@dataclass(frozen=True, slots=True)
class CommittedChunk:
    """A chunk's commit record."""

    index: int
    rows: int
    scored: int
    quarantined: int
    part_sha256: str
    part_bytes: int
    quarantine_sha256: str | None = None
    quarantine_bytes: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # failed check -> rows

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CommittedChunk:
        return cls(**{k: data[k] for k in cls.__slots__ if k in data})  # type: ignore[attr-defined]


def normalise_url(url: str) -> str:
    """A location as the job records it: local paths absolute, other URLs without a trailing slash."""
    if "://" in url and not url.startswith("file://"):
        return url.rstrip("/")
    local = url.removeprefix("file://")
    return str(Path(local).expanduser().resolve())


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def quarantine_name(index: int) -> str:
    return f"{QUARANTINE_DIR}/part-{index:05d}.parquet"


def _record_name(index: int) -> str:
    return f"{CHUNKS_DIR}/{index:05d}.json"


def _json_bytes(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, indent=2).encode() + b"\n"


class OutputLocation:
    """One job's output folder on an fsspec filesystem. Picklable: workers write through it."""

    def __init__(self, fs: AbstractFileSystem, root: str, display: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.display = display

    @classmethod
    def from_url(cls, url: str, *, fs: AbstractFileSystem | None = None) -> OutputLocation:
        if fs is None:
            fs, root = fsspec.core.url_to_fs(url)
        else:
            root = fs._strip_protocol(url)
        return cls(fs, root, url)

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    # -- files

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write atomically: a temporary dot file next to the target, then a rename."""
        final = self.path(relative)
        folder, name = final.rsplit("/", 1)
        temp = f"{folder}/.{name}{_TEMP_MARK}{secrets.token_hex(4)}"
        self.fs.makedirs(folder, exist_ok=True)
        try:
            self.fs.pipe_file(temp, data)
            self.fs.mv(temp, final)
        except BaseException:
            try:
                self.fs.rm(temp)
            except OSError:
                pass
            raise

    def read_json(self, relative: str) -> dict[str, Any] | None:
        try:
            data = self.fs.cat_file(self.path(relative))
        except FileNotFoundError:
            return None
        try:
            parsed = json.loads(data)
        except ValueError:
            return None  # a torn write cannot happen (rename), but a hand-edited file can: treat as absent
        return parsed if isinstance(parsed, dict) else None

    def file_sha256(self, relative: str) -> tuple[str, int] | None:
        try:
            data = self.fs.cat_file(self.path(relative))
        except FileNotFoundError:
            return None
        return hashlib.sha256(data).hexdigest(), len(data)

    # -- the job's claim

    def job(self) -> dict[str, Any] | None:
        return self.read_json(JOB_FILE)

    def claim(self, identity: Mapping[str, Any]) -> None:
        """Make this location the job's, or confirm it already is. A location that holds another
        job, or files that are not a job's output, is refused: outputs never mix."""
        existing = self.job()
        if existing is not None:
            if existing.get("job_id") != identity["job_id"]:
                raise OutputConflictError(self.display, existing, dict(identity))
            return
        if self.fs.exists(self.root):
            foreign = [p for p in self.fs.ls(self.root, detail=False) if not p.rsplit("/", 1)[-1].startswith(".")]
            if foreign:
                raise OutputConflictError(self.display, None, dict(identity))
        self.write_bytes(JOB_FILE, _json_bytes(identity))

    # -- chunks

    def commit_chunk(self, record: CommittedChunk) -> None:
        self.write_bytes(_record_name(record.index), _json_bytes(record.to_dict()))

    def committed(self, *, verify: bool = True) -> dict[int, CommittedChunk]:
        """Chunks whose commit record exists and whose files are there (and, with `verify`, hash as
        recorded). A record whose files do not match is ignored: that chunk is scored again."""
        folder = self.path(CHUNKS_DIR)
        if not self.fs.exists(folder):
            return {}
        done: dict[int, CommittedChunk] = {}
        for path in sorted(self.fs.ls(folder, detail=False)):
            name = path.rsplit("/", 1)[-1]
            if name.startswith(".") or not name.endswith(".json"):
                continue
            data = self.read_json(f"{CHUNKS_DIR}/{name}")
            if data is None:
                continue
            try:
                record = CommittedChunk.from_dict(data)
            except TypeError:
                continue
            if self._intact(record, verify=verify):
                done[record.index] = record
        return done

    def _intact(self, record: CommittedChunk, *, verify: bool) -> bool:
        expected = [(part_name(record.index), record.part_sha256, record.part_bytes)]
        if record.quarantine_sha256 is not None:
            expected.append((quarantine_name(record.index), record.quarantine_sha256, record.quarantine_bytes))
        for relative, sha256, size in expected:
            if not verify:
                try:
                    if int(self.fs.size(self.path(relative))) != size:
                        return False
                except FileNotFoundError:
                    return False
                continue
            found = self.file_sha256(relative)
            if found is None or found != (sha256, size):
                return False
        return True

    # -- the end

    def manifest(self) -> dict[str, Any] | None:
        return self.read_json(MANIFEST_FILE)

    def write_manifest(self, document: Mapping[str, Any]) -> None:
        self.write_bytes(MANIFEST_FILE, _json_bytes(document))

    def clean_temporary(self) -> int:
        """Remove temporary files a crash left behind; the number removed."""
        removed = 0
        for folder in (self.root, self.path(QUARANTINE_DIR), self.path(CHUNKS_DIR)):
            if not self.fs.exists(folder):
                continue
            for path in self.fs.ls(folder, detail=False):
                if _TEMP_MARK in path.rsplit("/", 1)[-1]:
                    try:
                        self.fs.rm(path)
                        removed += 1
                    except FileNotFoundError:
                        pass
        return removed


__all__ = ["CHUNKS_DIR", "JOB_FILE", "MANIFEST_FILE", "QUARANTINE_DIR", "CommittedChunk", "OutputLocation",
           "normalise_url", "part_name", "quarantine_name"]
