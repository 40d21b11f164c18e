"""Content-addressed, immutable artifact blobs on any fsspec filesystem.

Layout under the root (a local path or any fsspec URL)::

    <root>/sha256/<first 2 hex>/<64 hex>    committed artifacts, read-only locally
    <root>/tmp/<random>.part                in-flight writes, never read

A write streams into ``tmp/`` while hashing, then renames into place, so a crash at
any point leaves nothing at a final address (at worst a ``.part`` that ``clean_temp``
removes). Every read re-hashes and refuses bytes that do not match their address.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import fsspec
from fsspec.implementations.local import LocalFileSystem

from assay.errors import ArtifactError, ArtifactIntegrityError, ArtifactNotFoundError
from assay.registry.store import ArtifactInfo, ArtifactProblem

CHUNK_BYTES = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TAMPERED_HINT = (
    "the artifact was modified or corrupted after it was written; restore it from a backup "
    "or re-run the step that produced it; `assay artifacts verify` lists every affected artifact"
)
_WRITE_HINT = "check that the artifact root exists or can be created, is writable and has free space"


class FsspecArtifactStore:
    """An `ArtifactStore` on a local directory or any fsspec URL (``memory://``, ``s3://``, ...).

    The constructor does no I/O; directories are created on the first write.
    """

    def __init__(
        self, root: str, *, fs: fsspec.AbstractFileSystem | None = None
    ) -> None:
        if fs is None:
            fs, path = fsspec.core.url_to_fs(root)
        else:
            path = fs._strip_protocol(root)
        self._fs: fsspec.AbstractFileSystem = fs
        self._root: str = str(path).rstrip("/") or "/"
        self._is_local = isinstance(fs, LocalFileSystem)

    @property
    def root(self) -> str:
        return self._root if self._is_local else self._fs.unstrip_protocol(self._root)

    def path_of(self, sha256: str) -> str:
        """The path (local store) or URL (remote store) where the artifact lives."""
        return self._display(self._address(sha256))

    # --- writes -----------------------------------------------------------------

    def put_bytes(self, data: bytes) -> ArtifactInfo:
        return self.put_stream(io.BytesIO(data))

    def put_file(self, path: Path) -> ArtifactInfo:
        """Store a local file, streamed in 1 MiB chunks (never read whole)."""
        try:
            source = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise ArtifactError(
                f"cannot read {str(path)!r} to store it as an artifact: {exc.strerror or exc}",
                hint="check that the file exists and is readable",
            ) from exc
        with source:
            return self.put_stream(source)

    def put_stream(self, stream: BinaryIO) -> ArtifactInfo:
        """Store everything read from a binary stream; the address is its sha256.

        If the address already holds these bytes nothing is rewritten. If it holds other bytes
        (corrupted since written), the verified new copy replaces them.
        """
        tmp = f"{self._root}/tmp/{secrets.token_hex(16)}.part"
        committed = False
        try:
            sha256, size = self._write_temp(stream, tmp)
            final = self._address(sha256)
            if self._fs.exists(final) and self._hash(final) == sha256:
                # Immutable: never rewrite a good artifact.
                return ArtifactInfo(sha256, size)
            # Absent, or present but corrupted: the temp holds the right bytes, so (re)place it.
            self._commit(tmp, final)
            committed = True
            return ArtifactInfo(sha256, size)
        except OSError as exc:
            raise ArtifactError(
                f"could not write an artifact under {self.root!r}: {exc}",
                hint=_WRITE_HINT,
            ) from exc
        finally:
            if not committed:
                with contextlib.suppress(OSError):
                    self._fs.rm_file(tmp)

    def clean_temp(self, older_than_s: float) -> int:
        """Remove ``tmp/*.part`` files last modified at least `older_than_s` ago; return how many."""
        tmp_dir = f"{self._root}/tmp"
        if not self._fs.isdir(tmp_dir):
            return 0
        # Modification times are stamped by the filesystem's wall clock, so compare against it.
        now = datetime.now(UTC)
        removed = 0
        for path in sorted(self._fs.ls(tmp_dir, detail=False)):
            if not path.endswith(".part"):
                continue
            try:
                age_s = (now - self._fs.modified(path)).total_seconds()
                if age_s >= older_than_s:
                    self._fs.rm_file(path)
                    removed += 1
            except FileNotFoundError:
                continue  # a writer finished (and removed it) while we looked
        return removed

    # --- reads ------------------------------------------------------------------

    def get_bytes(self, sha256: str) -> bytes:
        path = self._address(sha256)
        try:
            data: bytes = self._fs.cat_file(path)
        except FileNotFoundError as exc:
            raise self._not_found(sha256) from exc
        except OSError as exc:
            raise self._unreadable(sha256, exc) from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise self._tampered(sha256, actual)
        return data

    def fetch_to(self, sha256: str, path: Path) -> Path:
        """Copy a verified artifact to a local `path` (temp + rename); no file is left on failure."""
        source = self._address(sha256)
        path = Path(path)
        tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.part"
        done = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with self._fs.open(source, "rb") as src, open(tmp, "xb") as out:
                while chunk := src.read(CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise self._tampered(sha256, digest.hexdigest())
            os.replace(tmp, path)
            done = True
            return path
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and not self._fs.exists(source):
                raise self._not_found(sha256) from exc
            raise ArtifactError(
                f"could not copy artifact {sha256} to {str(path)!r}: {exc}",
                hint=_WRITE_HINT,
            ) from exc
        finally:
            if not done:
                with contextlib.suppress(OSError):
                    tmp.unlink()

    def open_verified_local(self, sha256: str) -> Path:
        """The local path of a verified artifact, to read in place (memory-map, Parquet)."""
        path = self._address(sha256)
        if not self._is_local:
            raise ArtifactError(
                f"artifact store {self.root!r} is not on the local filesystem",
                hint="use fetch_to(sha256, path) to copy the artifact to a local file first",
            )
        actual = self._checked_hash(sha256, path)
        if actual != sha256:
            raise self._tampered(sha256, actual)
        return Path(path)

    def exists(self, sha256: str) -> bool:
        return bool(self._fs.isfile(self._address(sha256)))

    def size_of(self, sha256: str) -> int | None:
        """The artifact's size in bytes, or None when it is absent."""
        path = self._address(sha256)
        return int(self._fs.size(path)) if self._fs.isfile(path) else None

    def delete(self, sha256: str) -> bool:
        """Remove an artifact (retention or erasure: the only reasons one is ever removed); False
        when it was already absent. An address is never reused for other bytes, so nothing can
        read a half-deleted artifact: a reader finds it whole or not at all."""
        path = self._address(sha256)
        try:
            self._fs.rm_file(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise ArtifactError(f"could not delete artifact {sha256} under {self.root!r}: {exc}",
                                hint="check that the artifact folder is writable") from exc
        return True

    def iter_artifacts(self) -> Iterator[ArtifactInfo]:
        """Every committed artifact, sorted by sha; misnamed files and temp writes are skipped."""
        for name, size, well_filed in self._scan():
            if well_filed:
                yield ArtifactInfo(name, size)

    def verify(self, sha256s: Sequence[str] | None = None) -> list[ArtifactProblem]:
        """Re-hash every (or the named) artifacts; return the problems found, sorted by sha."""
        problems: list[ArtifactProblem] = []
        if sha256s is None:
            names = []
            for name, _size, well_filed in self._scan():
                if well_filed:
                    names.append(name)
                else:
                    problems.append(
                        ArtifactProblem(name, "misnamed", self._misnamed_detail(name))
                    )
        else:
            names = sorted(set(sha256s))
            for sha256 in names:
                self._address(sha256)  # reject any bad name before doing I/O
        for sha256 in names:
            path = self._address(sha256)
            try:
                actual = self._hash(path)
            except FileNotFoundError:
                problems.append(
                    ArtifactProblem(
                        sha256, "missing", f"{self._display(path)} does not exist"
                    )
                )
                continue
            except OSError as exc:
                problems.append(
                    ArtifactProblem(
                        sha256, "unreadable", f"{self._display(path)}: {exc}"
                    )
                )
                continue
            if actual != sha256:
                problems.append(
                    ArtifactProblem(
                        sha256, "tampered", f"{self._display(path)} hashes to {actual}"
                    )
                )
        return sorted(problems, key=lambda p: (p.sha256, p.problem, p.detail))

    # --- internals --------------------------------------------------------------

    def _address(self, sha256: str) -> str:
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise ArtifactError(
                f"invalid artifact address {sha256!r}: expected a sha256 as 64 lowercase hex characters",
                hint="pass the full sha256 recorded for the run, model or dataset (not abbreviated, not upper-case)",
            )
        return f"{self._root}/sha256/{sha256[:2]}/{sha256}"

    def _write_temp(self, stream: BinaryIO, tmp: str) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        self._fs.makedirs(f"{self._root}/tmp", exist_ok=True)
        with self._fs.open(tmp, "wb") as out:
            while chunk := stream.read(CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            if self._is_local:
                out.flush()
                os.fsync(out.fileno())
        return digest.hexdigest(), size

    def _commit(self, tmp: str, final: str) -> None:
        parent = final.rsplit("/", 1)[0]
        self._fs.makedirs(parent, exist_ok=True)
        if self._is_local:
            os.chmod(
                tmp, 0o444
            )  # a guard against in-place edits, not a security boundary
            os.replace(tmp, final)
            _fsync_dir(parent)
        else:
            self._fs.mv(tmp, final)

    def _hash(self, path: str) -> str:
        digest = hashlib.sha256()
        with self._fs.open(path, "rb") as src:
            while chunk := src.read(CHUNK_BYTES):
                digest.update(chunk)
        return digest.hexdigest()

    def _checked_hash(self, sha256: str, path: str) -> str:
        try:
            return self._hash(path)
        except FileNotFoundError as exc:
            raise self._not_found(sha256) from exc
        except OSError as exc:
            raise self._unreadable(sha256, exc) from exc

    def _scan(self) -> list[tuple[str, int, bool]]:
        """(name, size, well filed) for every file in the sha256 tree, sorted by name.

        A well-filed name is its sha; anything else comes back as its path inside the tree.
        """
        tree = f"{self._root}/sha256"
        found: list[tuple[str, int, bool]] = []
        for path, info in self._fs.find(tree, detail=True).items():
            relative = path[len(tree) + 1 :]
            prefix, _, name = relative.rpartition("/")
            well_filed = bool(_SHA256.fullmatch(name)) and prefix == name[:2]
            found.append(
                (
                    name if well_filed else relative,
                    int(info.get("size") or 0),
                    well_filed,
                )
            )
        return sorted(found)

    def _misnamed_detail(self, relative: str) -> str:
        name = relative.rpartition("/")[2]
        path = self._display(f"{self._root}/sha256/{relative}")
        if _SHA256.fullmatch(name):
            return f"{path} is filed in the wrong place (expected sha256/{name[:2]}/)"
        return f"{path} is not named by a sha256"

    def _not_found(self, sha256: str) -> ArtifactNotFoundError:
        return ArtifactNotFoundError(
            f"artifact {sha256} not found in {self.root!r}",
            hint="check that the artifact root points at the right store, or re-run the step that produced it",
        )

    def _unreadable(self, sha256: str, exc: OSError) -> ArtifactError:
        return ArtifactError(
            f"artifact {sha256} at {self.path_of(sha256)} cannot be read: {exc}",
            hint="check the file's permissions and the storage",
        )

    def _tampered(self, sha256: str, actual: str) -> ArtifactIntegrityError:
        return ArtifactIntegrityError(
            f"artifact {sha256} at {self.path_of(sha256)} does not match its address (its bytes hash to {actual})",
            hint=_TAMPERED_HINT,
        )

    def _display(self, path: str) -> str:
        return path if self._is_local else self._fs.unstrip_protocol(path)


def _fsync_dir(path: str) -> None:
    """Make a rename durable: fsync the directory that holds the new entry (POSIX only)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = ["FsspecArtifactStore"]
