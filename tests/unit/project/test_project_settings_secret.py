"""The metadata store URL can come from a secret file instead of the environment."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assay.project.demo import example_dir
from assay.project.settings import Settings
from assay.project.workspace import Project
from assay.security.secrets import SecretFileModeError


def _project(tmp_path: Path) -> Path:
    folder = tmp_path / "p"
    folder.mkdir()
    shutil.copyfile(example_dir("credit") / "assay.yaml", folder / "assay.yaml")
    return folder


def test_the_db_url_is_read_from_a_private_secret_file(tmp_path: Path) -> None:
    folder = _project(tmp_path)
    database = tmp_path / "elsewhere.db"
    secret = tmp_path / "db-url"
    secret.write_text(f"sqlite:///{database}\n")
    secret.chmod(0o600)
    with Project.open(folder, settings=Settings(db_url_secret=f"file:{secret}")) as project:
        assert project.metadata.get_deployment("credit-default").production is None
    assert database.is_file() and not (folder / ".assay" / "assay.db").exists()


def test_a_world_readable_secret_file_is_refused(tmp_path: Path) -> None:
    folder = _project(tmp_path)
    secret = tmp_path / "db-url"
    secret.write_text("sqlite:///x.db")
    secret.chmod(0o644)
    with pytest.raises(SecretFileModeError):
        Project.open(folder, settings=Settings(db_url_secret=f"file:{secret}"))
