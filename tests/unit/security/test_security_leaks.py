"""The committed-secret scanner: each planted kind is found with its value masked, and the look-alikes
Assay's own files are full of (digests, references, placeholders, identifiers) are not.

Planted values are built by concatenation so that this file itself scans clean."""

from __future__ import annotations

import secrets as random_secrets
import subprocess
from pathlib import Path

import pytest

from assay.security.leaks import ALLOW_MARK, mask, project_files, scan_files, scan_text, shannon_entropy

AWS_ID = "AKIA" + "Z7QW3PL5ND2RX8TY"
GITHUB = "ghp" + "_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"  # assay: allow-secret (test fixture)
SLACK = "xoxb" + "-" + "2210458812-4410958123-Qm8vTtR2xWcL"
PEM = "-----BEGIN RSA " + "PRIVATE KEY-----"
RANDOM = "Zt7Qp2Lx9Wm4Rk8Vn3Hs6Jd1Fb5Gc0Ya"  # 32 chars, mixed case and digits — assay: allow-secret


@pytest.mark.parametrize(
    ("path", "line", "kind"),
    [
        ("deploy.sh", f"export AWS_ACCESS_KEY_ID={AWS_ID}", "aws-access-key-id"),
        ("id_rsa", PEM, "private-key"),
        ("ci.yml", f"token: {GITHUB}", "github-token"),
        ("notify.py", f'client = Slack("{SLACK}")', "slack-token"),
        ("settings.yaml", "db_password: hunter2-prod-99", "password-assignment"),
        (".env", "API_KEY=s3cr3t-value-abc", "password-assignment"),
        ("app.py", 'password = "correct-horse-battery"', "password-assignment"),  # assay: allow-secret (test fixture)
        ("config.json", f'"signing": "{RANDOM}"', "high-entropy-string"),
        ("keys.py", "HMAC_KEY = '" + "9f2c" * 10 + "'", "hex-key"),
        ("keys.txt", "signing key " + "9f2c" * 10, "hex-key"),
    ],
)
def test_each_planted_kind_is_found_and_masked(path: str, line: str, kind: str) -> None:
    found = scan_text(path, f"first line\n{line}\n")
    assert [(f.path, f.line, f.kind) for f in found] == [(path, 2, kind)]
    assert found[0].advice
    if kind != "private-key":
        assert all(part not in found[0].masked for part in (AWS_ID, GITHUB, SLACK, RANDOM, "hunter2-prod-99"))


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("assay.yaml", "  pii_key: env:ASSAY_PII_KEY"),
        ("assay.yaml", "  redis: vault://secret/assay#redis_url"),
        ("assay.yaml", "  token: aws-sm://prod/assay#token"),
        ("compose.yaml", "  POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}"),
        ("settings.toml", 'password = "changeme"'),
        ("config.ini", "secret = <your secret here>"),
        ("lineage.json", '"sha256": "' + "a3f1" * 16 + '"'),
        ("card.json", '"artifact_sha256": "' + "0b9e" * 16 + '", "commit": "' + "7c1d" * 10 + '"'),
        ("app.py", "password = os.environ['DB_PASSWORD']"),
        ("app.py", "token = resolve_secret(spec.serving.pii_key, provider).reveal()"),
        ("test_x.py", "def test_an_unreachable_aws_endpoint_is_unavailable_after_three_attempts():"),
        ("docs.md", "see src/assay/security/redaction/install_logging_redaction for details"),
        ("data.csv", "APP-0000001,CUST-000001,2023-01-01,4175.0,36,Zoe Rogers,zoe.rogers58@example.com"),
        ("notes.md", f"an example we publish: {AWS_ID}  # {ALLOW_MARK}"),
        ("README.md", "see https://github.com/lightgbm-org/LightGBM/issues/4481 and https://x.org/Papers/KDD-96x2Z"),
        ("features.py", "columns = ['Mean_Acc1298_Std_Mem40_Centroid', '_V1ValidatorWithValuesKwOnlyClsMethod']"),
    ],
)
def test_look_alikes_are_not_reported(path: str, line: str) -> None:
    assert scan_text(path, line + "\n") == []


def test_entropy_separates_random_keys_from_words() -> None:
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy(RANDOM) > 4.2 > shannon_entropy("ThisIsAnOrdinaryCamelCaseName2024")
    # Random tokens of the kind people paste are caught almost always at the length floor.
    caught = sum(bool(scan_text("x.yaml", f"k: {random_secrets.token_urlsafe(24)}\n")) for _ in range(200))
    assert caught >= 180


def test_mask_keeps_a_prefix_only() -> None:
    assert mask("short") == "***** (5 chars)" and mask("hunter2-prod-99") == "*" * 15 + " (15 chars)"
    assert mask(GITHUB).startswith("ghp_") and GITHUB[8:] not in mask(GITHUB)


def test_files_come_from_git_when_the_folder_is_a_work_tree(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("ignored.env\n")
    (tmp_path / "tracked.yaml").write_text(f"key: {AWS_ID}\n")
    (tmp_path / "ignored.env").write_text(f"key: {AWS_ID}\n")
    (tmp_path / ".assay").mkdir()
    (tmp_path / ".assay" / "state.json").write_text(f"{AWS_ID}\n")
    (tmp_path / "big.csv").write_text("x" * (1 << 20) + f"\n{AWS_ID}\n")
    (tmp_path / "blob.bin").write_bytes(b"\0\1" + AWS_ID.encode())
    plain = sorted(p.relative_to(tmp_path).as_posix() for p in project_files(tmp_path))
    assert plain == [".gitignore", "blob.bin", "ignored.env", "tracked.yaml"]  # not .assay/, not over 1 MiB
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    in_git = sorted(p.relative_to(tmp_path).as_posix() for p in project_files(tmp_path))
    assert in_git == [".gitignore", "blob.bin", "tracked.yaml"]  # git's ignore rules apply
    found = scan_files(tmp_path, project_files(tmp_path))
    assert [(f.path, f.kind) for f in found] == [("tracked.yaml", "aws-access-key-id")]  # binary skipped
