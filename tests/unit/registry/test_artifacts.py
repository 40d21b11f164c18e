from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import assay.registry.artifacts as artifacts_module
from assay.errors import ArtifactError, ArtifactIntegrityError, ArtifactNotFoundError
from assay.registry.artifacts import FsspecArtifactStore
from assay.registry.store import ArtifactInfo, ArtifactStore

MiB = 1 << 20


@pytest.fixture(params=["local", "memory"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[FsspecArtifactStore]:
    if request.param == "local":
        yield FsspecArtifactStore(str(tmp_path / "artifacts"))
        return
    root = f"memory://assay-test-{uuid.uuid4().hex}"
    yield FsspecArtifactStore(root)
    fs, path = fsspec.core.url_to_fs(root)
    if fs.exists(path):
        fs.rm(path, recursive=True)


@pytest.fixture
def local_store(tmp_path: Path) -> FsspecArtifactStore:
    return FsspecArtifactStore(str(tmp_path / "artifacts"))


def _is_local(store: FsspecArtifactStore) -> bool:
    return "://" not in store.root


def _tamper(store: FsspecArtifactStore, sha: str) -> None:
    """Flip the first byte of a stored artifact in place."""
    fs, path = fsspec.core.url_to_fs(store.path_of(sha))
    data = bytearray(fs.cat_file(path))
    data[0] ^= 0xFF
    if _is_local(store):
        os.chmod(path, 0o644)
    fs.pipe_file(path, bytes(data))


def _plant(store: FsspecArtifactStore, relative: str, data: bytes) -> None:
    """Write a file straight into the store's tree, bypassing the store."""
    fs, root = fsspec.core.url_to_fs(store.root)
    fs.makedirs(f"{root}/{relative}".rsplit("/", 1)[0], exist_ok=True)
    fs.pipe_file(f"{root}/{relative}", data)


def _files_under(store: FsspecArtifactStore, sub: str) -> list[str]:
    fs, root = fsspec.core.url_to_fs(store.root)
    return sorted(fs.find(f"{root}/{sub}"))


class _FailingStream:
    """A binary stream that yields `good_chunks` chunks, then fails as a broken source would."""

    def __init__(self, good_chunks: int) -> None:
        self._left = good_chunks

    def read(self, size: int = -1) -> bytes:
        if self._left == 0:
            raise RuntimeError("source went away mid-stream")
        self._left -= 1
        return b"x" * (size if size > 0 else MiB)


def _write_big_file(path: Path, size_mib: int) -> str:
    """Write `size_mib` MiB of a repeated random block; return its sha256 without re-reading it."""
    block = os.urandom(MiB)
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(size_mib):
            out.write(block)
            digest.update(block)
    return digest.hexdigest()


def _has_partial_write(tmp_dir: Path) -> bool:
    try:
        return any(p.stat().st_size > 0 for p in tmp_dir.glob("*.part"))
    except FileNotFoundError:
        return False


# --- contract and round trips ---------------------------------------------------------


def test_store_satisfies_the_artifact_store_protocol(
    store: FsspecArtifactStore,
) -> None:
    port: ArtifactStore = store
    assert port.root == store.root


def test_constructor_does_no_io(tmp_path: Path) -> None:
    FsspecArtifactStore(str(tmp_path / "not-yet"))
    assert not (tmp_path / "not-yet").exists()


def test_put_and_get_round_trip(store: FsspecArtifactStore) -> None:
    info = store.put_bytes(b"hello assay")
    assert info == ArtifactInfo(hashlib.sha256(b"hello assay").hexdigest(), 11)
    assert store.get_bytes(info.sha256) == b"hello assay"
    assert store.exists(info.sha256)
    assert list(store.iter_artifacts()) == [info]
    assert store.path_of(info.sha256).endswith(
        f"/sha256/{info.sha256[:2]}/{info.sha256}"
    )


def test_put_file_round_trip_and_fetch_to(
    store: FsspecArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"\x00\x01" * 3000)
    info = store.put_file(source)
    assert info.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    target = store.fetch_to(info.sha256, tmp_path / "out" / "copy.bin")
    assert target.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.bin"]


def test_same_content_twice_is_stored_once_and_not_rewritten(
    store: FsspecArtifactStore,
) -> None:
    first = store.put_bytes(b"same bytes")
    path = store.path_of(first.sha256)
    mtime_before = os.stat(path).st_mtime_ns if _is_local(store) else None
    second = store.put_bytes(b"same bytes")
    assert second == first
    assert len(_files_under(store, "sha256")) == 1
    assert _files_under(store, "tmp") == []
    if _is_local(store):
        assert os.stat(path).st_mtime_ns == mtime_before


def test_written_artifacts_are_read_only_locally(
    local_store: FsspecArtifactStore,
) -> None:
    info = local_store.put_bytes(b"guarded")
    assert os.stat(local_store.path_of(info.sha256)).st_mode & 0o777 == 0o444


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.binary(max_size=4096))
def test_address_is_the_sha256_and_get_returns_the_bytes(
    store: FsspecArtifactStore, data: bytes
) -> None:
    info = store.put_bytes(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size_bytes == len(data)
    assert store.get_bytes(info.sha256) == data


# --- integrity ------------------------------------------------------------------------


def test_tampered_artifact_is_refused_everywhere(
    store: FsspecArtifactStore, tmp_path: Path
) -> None:
    good = store.put_bytes(b"untouched")
    bad = store.put_bytes(b"will be tampered with")
    _tamper(store, bad.sha256)

    with pytest.raises(ArtifactIntegrityError) as on_get:
        store.get_bytes(bad.sha256)
    assert bad.sha256 in str(on_get.value)
    assert store.path_of(bad.sha256) in str(on_get.value)
    assert "assay artifacts verify" in on_get.value.hint

    target = tmp_path / "fetched" / "artifact.bin"
    with pytest.raises(ArtifactIntegrityError, match=bad.sha256):
        store.fetch_to(bad.sha256, target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []

    problems = store.verify()
    assert [(p.sha256, p.problem) for p in problems] == [(bad.sha256, "tampered")]
    assert store.get_bytes(good.sha256) == b"untouched"


def test_open_verified_local_returns_the_path_or_refuses_tampering(
    local_store: FsspecArtifactStore,
) -> None:
    info = local_store.put_bytes(b"parquet bytes, say")
    path = local_store.open_verified_local(info.sha256)
    assert path.read_bytes() == b"parquet bytes, say"
    _tamper(local_store, info.sha256)
    with pytest.raises(ArtifactIntegrityError, match=info.sha256):
        local_store.open_verified_local(info.sha256)


def test_open_verified_local_refuses_a_remote_store() -> None:
    remote = FsspecArtifactStore(f"memory://assay-test-{uuid.uuid4().hex}")
    with pytest.raises(ArtifactError) as excinfo:
        remote.open_verified_local("a" * 64)
    assert "fetch_to" in excinfo.value.hint


def test_putting_the_content_again_repairs_a_tampered_artifact(
    store: FsspecArtifactStore,
) -> None:
    info = store.put_bytes(b"restorable")
    _tamper(store, info.sha256)
    assert store.put_bytes(b"restorable") == info
    assert store.get_bytes(info.sha256) == b"restorable"
    assert store.verify() == []


def test_verify_reports_missing_and_misnamed_files(store: FsspecArtifactStore) -> None:
    info = store.put_bytes(b"present")
    absent = hashlib.sha256(b"never stored").hexdigest()
    _plant(store, "sha256/ab/not-a-sha", b"junk")
    misfiled = hashlib.sha256(b"misfiled").hexdigest()
    wrong_prefix = "00" if not misfiled.startswith("00") else "11"
    _plant(store, f"sha256/{wrong_prefix}/{misfiled}", b"misfiled")
    _plant(store, f"sha256/{misfiled}", b"misfiled")

    assert [(p.sha256, p.problem) for p in store.verify([info.sha256, absent])] == [
        (absent, "missing")
    ]
    problems = store.verify()
    assert sorted((p.sha256, p.problem) for p in problems) == sorted(
        [
            ("ab/not-a-sha", "misnamed"),
            (f"{wrong_prefix}/{misfiled}", "misnamed"),
            (misfiled, "misnamed"),
        ]
    )
    assert problems == sorted(problems, key=lambda p: p.sha256)
    assert list(store.iter_artifacts()) == [info]


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["", "abc", "A" * 64, "g" * 64, "a" * 63, "a" * 65, "../" + "a" * 61]
)
def test_invalid_sha_is_an_artifact_error_with_a_hint(
    store: FsspecArtifactStore, bad: str
) -> None:
    with pytest.raises(ArtifactError) as excinfo:
        store.get_bytes(bad)
    assert not isinstance(excinfo.value, ArtifactNotFoundError)
    assert repr(bad) in str(excinfo.value)
    assert excinfo.value.hint
    with pytest.raises(ArtifactError):
        store.exists(bad)
    with pytest.raises(ArtifactError):
        store.verify([bad])


def test_missing_artifact_is_not_found(
    store: FsspecArtifactStore, tmp_path: Path
) -> None:
    sha = hashlib.sha256(b"absent").hexdigest()
    assert not store.exists(sha)
    with pytest.raises(ArtifactNotFoundError, match=sha):
        store.get_bytes(sha)
    with pytest.raises(ArtifactNotFoundError):
        store.fetch_to(sha, tmp_path / "nothing.bin")
    assert not (tmp_path / "nothing.bin").exists()


def test_put_file_of_a_missing_source_is_an_artifact_error(
    store: FsspecArtifactStore, tmp_path: Path
) -> None:
    with pytest.raises(ArtifactError) as excinfo:
        store.put_file(tmp_path / "no-such-file")
    assert excinfo.value.hint


# --- crash safety ---------------------------------------------------------------------


def test_exception_mid_stream_leaves_nothing_visible(
    store: FsspecArtifactStore,
) -> None:
    with pytest.raises(RuntimeError, match="mid-stream"):
        store.put_stream(_FailingStream(good_chunks=3))  # type: ignore[arg-type]
    assert list(store.iter_artifacts()) == []
    assert not store.exists(hashlib.sha256(b"x" * 3 * MiB).hexdigest())
    assert _files_under(store, "sha256") == []
    assert _files_under(store, "tmp") == []
    assert store.verify() == []


def test_sigkill_during_put_file_leaves_nothing_visible(
    local_store: FsspecArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    expected_sha = _write_big_file(source, size_mib=200)
    package_root = Path(artifacts_module.__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(package_root), os.environ.get("PYTHONPATH", "")]
        ),
    }
    code = (
        "import sys; from pathlib import Path; from assay.registry.artifacts import FsspecArtifactStore; "
        "FsspecArtifactStore(sys.argv[1]).put_file(Path(sys.argv[2]))"
    )
    tmp_dir = Path(local_store.root) / "tmp"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, local_store.root, str(source)], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while not _has_partial_write(tmp_dir):
            assert proc.poll() is None, "the writer finished before it could be killed"
            assert time.monotonic() < deadline, "no .part file appeared in time"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    assert list(tmp_dir.glob("*.part")), (
        "the killed write should have left its temp file"
    )
    assert not local_store.exists(expected_sha)
    assert list(local_store.iter_artifacts()) == []
    assert local_store.verify() == []

    assert local_store.put_file(source) == ArtifactInfo(expected_sha, 200 * MiB)
    assert local_store.verify([expected_sha]) == []
    assert local_store.clean_temp(older_than_s=0) == 1
    assert list(tmp_dir.iterdir()) == []


def test_put_file_streams_instead_of_reading_the_file_whole(
    local_store: FsspecArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "large.bin"
    expected_sha = _write_big_file(source, size_mib=50)
    tracemalloc.start()
    try:
        info = local_store.put_file(source)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.sha256 == expected_sha
    assert peak < 8 * MiB


# --- temp cleaning --------------------------------------------------------------------


def test_clean_temp_removes_only_stale_part_files(
    local_store: FsspecArtifactStore,
) -> None:
    info = local_store.put_bytes(b"keep me")
    tmp_dir = Path(local_store.root) / "tmp"
    stale, fresh, other = (
        tmp_dir / "stale.part",
        tmp_dir / "fresh.part",
        tmp_dir / "notes.txt",
    )
    for path in (stale, fresh, other):
        path.write_bytes(b"partial")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    os.utime(other, (hour_ago, hour_ago))

    assert local_store.clean_temp(older_than_s=600) == 1
    assert sorted(p.name for p in tmp_dir.iterdir()) == ["fresh.part", "notes.txt"]
    assert local_store.get_bytes(info.sha256) == b"keep me"


def test_clean_temp_respects_the_age_threshold(store: FsspecArtifactStore) -> None:
    assert (
        store.clean_temp(older_than_s=0) == 0
    )  # no tmp/ yet: nothing to do, nothing created
    _plant(store, "tmp/leftover.part", b"partial")
    assert store.clean_temp(older_than_s=3600) == 0
    assert store.clean_temp(older_than_s=0) == 1
    assert _files_under(store, "tmp") == []
