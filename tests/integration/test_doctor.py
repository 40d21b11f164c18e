"""`assay doctor` on real project folders: planted secrets and an undeclared PII column are found
(file:line, masked, exit 1); the clean demo project has no finding (exit 0)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from assay.project.demo import create_demo_project
from tests.integration.cli_runner import cli

AWS_ID = "AKIA" + "Q4MZ8TRW2LX7NB5P"
PEM = "-----BEGIN OPENSSH " + "PRIVATE KEY-----"
DB_PASSWORD = "Pr0d-db-" + "pw-7781"  # assay: allow-secret (test fixture)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    create_demo_project(folder, rows=1000)
    return folder


def test_the_clean_demo_project_has_no_finding(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "-C", str(demo), "doctor")
    assert code == 0, out + err
    assert "clean" in out and "data/applications.csv" in out
    code, out, _ = cli(capsys, "-C", str(demo), "doctor", "--json")
    report = json.loads(out)
    assert code == 0 and report["clean"] is True and report["findings"] == []
    assert report["data_checked"] == ["data/applications.csv"] and report["files_scanned"] == 2


def test_planted_secrets_and_pii_are_found_with_location_and_masked(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (demo / "deploy").mkdir()
    (demo / "deploy" / "env.sh").write_text(f"#!/bin/sh\nexport AWS_ACCESS_KEY_ID={AWS_ID}\n")
    (demo / "deploy" / "id_ed25519").write_text(f"{PEM}\nb3BlbnNzaC1rZXktdjEAAAAA\n")
    (demo / "settings.yaml").write_text(f"database:\n  host: db\n  password: {DB_PASSWORD}\n")
    spec = demo / "assay.yaml"
    spec.write_text(spec.read_text().replace("pii: [name, email]", "pii: [name]"))
    subprocess.run(["git", "init", "-q", str(demo)], check=True, timeout=60)

    code, out, err = cli(capsys, "-C", str(demo), "doctor", "--json")
    assert code == 1, err
    report = json.loads(out)
    found = {(f["location"], f["kind"]) for f in report["findings"]}
    assert found == {
        ("deploy/env.sh:2", "aws-access-key-id"),
        ("deploy/id_ed25519:1", "private-key"),
        ("settings.yaml:3", "password-assignment"),
        ("data/applications.csv:email", "undeclared-pii"),
    }
    assert AWS_ID not in out and DB_PASSWORD not in out
    assert all(f["advice"] for f in report["findings"])

    code, out, _ = cli(capsys, "-C", str(demo), "doctor")
    assert code == 1 and "4 finding(s)" in out
    assert "deploy/env.sh:2" in out and AWS_ID not in out and DB_PASSWORD not in out


def test_a_folder_without_a_spec_is_scanned_for_files_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("nothing to see\n")
    code, out, _ = cli(capsys, "-C", str(tmp_path), "doctor", "--json")
    report = json.loads(out)
    assert code == 0 and report["files_scanned"] == 1 and "no assay.yaml" in report["notes"][0]
