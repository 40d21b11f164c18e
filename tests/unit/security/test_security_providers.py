"""Secrets resolve from each provider (env, file, Vault over HTTP, AWS Secrets Manager through moto's
local server), errors name the reference and never the value, and the registry caches."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from assay.security.aws_secrets import AwsSecretsProvider
from assay.security.providers import SecretProviders
from assay.security.secrets import (
    SecretError,
    SecretNotFoundError,
    SecretRef,
    SecretUnavailableError,
    known_secrets,
    resolve_secret,
)
from assay.security.vault import VaultProvider, VaultSettings
from tests.unit.security.vault_server import FakeVault, serve_vault

TOKEN = "hvs.test-token-0123456789"  # assay: allow-secret (test fixture)
PII_KEY = "vault-pii-key-8f3a1c9e2b7d4f60"
AWS_URL = "redis://:aws-redis-pw-71c2e9d04a@cache:6379/0"
AWS_WHOLE = "aws-whole-string-secret-5b8e0d"


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    fake = FakeVault(token=TOKEN, secrets={("secret", "assay/prod"): {"pii_key": PII_KEY, "n": 3}})
    with serve_vault(fake) as served:
        yield served


def _vault_env(vault: FakeVault, token: str = TOKEN) -> dict[str, str]:
    return {"VAULT_ADDR": vault.address, "VAULT_TOKEN": token}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_vault_reference_resolves_through_hvac(vault: FakeVault, tmp_path: Path) -> None:
    providers = SecretProviders(_vault_env(vault), base_dir=tmp_path)
    secret = resolve_secret("vault://secret/assay/prod#pii_key", providers)
    assert secret.reveal() == PII_KEY
    assert PII_KEY in {s.reveal() for s in known_secrets()}  # registered for masking


def test_resolved_values_are_cached_for_the_providers_lifetime(vault: FakeVault, tmp_path: Path) -> None:
    providers = SecretProviders(_vault_env(vault), base_dir=tmp_path)
    for _ in range(3):
        resolve_secret("vault://secret/assay/prod#pii_key", providers)
    assert vault.requests == 1


@pytest.mark.parametrize(
    ("reference", "error", "words"),
    [
        ("vault://secret/assay/missing#pii_key", SecretNotFoundError, "has no secret secret/assay/missing"),
        ("vault://secret/assay/prod#nope", SecretNotFoundError, "has no key 'nope'"),
        ("vault://secret/assay/prod#n", SecretError, "is not a string"),
        ("vault://secret#pii_key", SecretError, "needs a mount, a path and a key"),
        ("vault://secret/assay/prod", SecretError, "needs a mount, a path and a key"),
    ],
)
def test_vault_errors_name_the_reference_not_the_value(
    vault: FakeVault, tmp_path: Path, reference: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words) as info:
        resolve_secret(reference, SecretProviders(_vault_env(vault), base_dir=tmp_path))
    assert PII_KEY not in str(info.value) and TOKEN not in str(info.value)
    assert info.value.hint  # type: ignore[attr-defined]


def test_a_wrong_vault_token_is_refused_with_what_to_do(vault: FakeVault, tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="lacks permission or has expired") as info:
        resolve_secret("vault://secret/assay/prod#pii_key",
                       SecretProviders(_vault_env(vault, "hvs.wrong-token-xx"), base_dir=tmp_path))
    assert "hvs.wrong-token-xx" not in str(info.value)


def test_a_sealed_vault_is_retried_a_bounded_number_of_times(vault: FakeVault) -> None:
    settings = VaultSettings.from_environment(_vault_env(vault))
    vault.fail_next = 1
    pauses: list[float] = []
    provider = VaultProvider(settings, sleep=pauses.append)
    assert provider.resolve(SecretRef.parse("vault://secret/assay/prod#pii_key")).reveal() == PII_KEY
    assert vault.requests == 2 and len(pauses) == 1

    vault.requests, vault.fail_next, pauses[:] = 0, 10, []
    with pytest.raises(SecretUnavailableError, match="did not answer .* after 3 attempts"):
        VaultProvider(settings, sleep=pauses.append).resolve(SecretRef.parse("vault://secret/assay/prod#pii_key"))
    assert vault.requests == 3 and len(pauses) == 2


def test_an_unreachable_vault_is_unavailable_not_a_hang() -> None:
    settings = VaultSettings.from_environment({"VAULT_ADDR": f"http://127.0.0.1:{_closed_port()}",
                                               "VAULT_TOKEN": TOKEN})
    with pytest.raises(SecretUnavailableError, match="ConnectionError"):
        VaultProvider(settings, sleep=lambda _: None).resolve(SecretRef.parse("vault://secret/a/b#k"))


def test_vault_address_and_token_come_from_the_environment_or_token_file(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="VAULT_ADDR is not set"):
        VaultSettings.from_environment({}, home=tmp_path)
    with pytest.raises(SecretError, match="no Vault token"):
        VaultSettings.from_environment({"VAULT_ADDR": "http://127.0.0.1:1"}, home=tmp_path)
    token_file = tmp_path / ".vault-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    settings = VaultSettings.from_environment({"VAULT_ADDR": "http://127.0.0.1:1/"}, home=tmp_path)
    assert settings.token.reveal() == TOKEN and settings.address == "http://127.0.0.1:1"
    assert TOKEN not in repr(settings)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = _closed_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",  # assay: allow-secret (test fixture)
                        "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("secretsmanager")
    for name, text in {"prod/assay": json.dumps({"redis_url": AWS_URL, "port": 6379}),
                       "prod/whole": AWS_WHOLE, "prod/not-json": "plain-text-value-1234"}.items():
        try:
            client.create_secret(Name=name, SecretString=text)
        except client.exceptions.ResourceExistsException:
            pass
    return moto_url


def test_aws_references_resolve_a_json_key_or_the_whole_string(aws: str, tmp_path: Path) -> None:
    providers = SecretProviders(base_dir=tmp_path)
    assert resolve_secret("aws-sm://prod/assay#redis_url", providers).reveal() == AWS_URL
    assert resolve_secret("aws-sm://prod/whole", providers).reveal() == AWS_WHOLE


@pytest.mark.parametrize(
    ("reference", "error", "words"),
    [
        ("aws-sm://prod/absent#k", SecretNotFoundError, "has no secret 'prod/absent'"),
        ("aws-sm://prod/assay#nope", SecretNotFoundError, "has no key 'nope'"),
        ("aws-sm://prod/assay#port", SecretError, "is not a string"),
        ("aws-sm://prod/not-json#k", SecretError, "is not a JSON object"),
    ],
)
def test_aws_errors_name_the_reference_not_the_value(
    aws: str, reference: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words) as info:
        AwsSecretsProvider().resolve(SecretRef.parse(reference))
    assert AWS_URL not in str(info.value) and "plain-text-value-1234" not in str(info.value)


def test_an_unreachable_aws_endpoint_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",  # assay: allow-secret (test fixture)
                        "AWS_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SecretUnavailableError, match="did not answer"):
        AwsSecretsProvider().resolve(SecretRef.parse("aws-sm://prod/assay#redis_url"))


def test_env_file_and_the_secret_alias_resolve_through_the_registry(tmp_path: Path) -> None:
    secret_file = tmp_path / "key"
    secret_file.write_text("file-secret-value-42\n")
    secret_file.chmod(0o600)
    providers = SecretProviders({"ASSAY_K": "env-secret-value-42"}, base_dir=tmp_path)
    assert resolve_secret("env:ASSAY_K", providers).reveal() == "env-secret-value-42"
    assert resolve_secret("secret://env/ASSAY_K", providers).reveal() == "env-secret-value-42"
    assert resolve_secret("file:key", providers).reveal() == "file-secret-value-42"
    assert resolve_secret("secret://file/key", providers).reveal() == "file-secret-value-42"


@pytest.mark.parametrize("reference", ["secret://vault/x", "secret://env", "secret:env/X", "vault:kv/x#k",
                                       "aws-sm://#k"])
def test_malformed_url_references_are_refused(reference: str) -> None:
    with pytest.raises(SecretError):
        SecretRef.parse(reference)


def test_an_unknown_scheme_lists_the_ones_served(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="no secret provider serves scheme 'gcp-sm'") as info:
        resolve_secret("gcp-sm:projects/p/secrets/s", SecretProviders({}, base_dir=tmp_path))
    assert "vault://" in info.value.hint  # type: ignore[attr-defined]


def test_the_spec_accepts_every_reference_form_and_still_refuses_values() -> None:
    from assay.project.demo import example_dir
    from assay.spec import parse_spec
    from assay.errors import SpecError

    base = (example_dir("credit") / "assay.yaml").read_text()
    for reference in ("vault://secret/assay/prod#pii_key", "aws-sm://prod/assay#pii_key", "secret://env/ASSAY_PII_KEY"):
        spec = parse_spec(base + f"\nserving:\n  pii_key: {reference}\n")
        assert spec.serving.pii_key == reference
        SecretRef.parse(reference)  # and the providers parse what the spec let through
    with pytest.raises(SpecError, match="never the secret itself"):
        parse_spec(base + "\nserving:\n  pii_key: hunter2 is my key\n")
