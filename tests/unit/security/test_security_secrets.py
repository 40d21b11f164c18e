"""Secrets come from env or files, refuse unsafe or empty sources, and never show their value."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest

from assay.errors import AssayError
from assay.security.secrets import (
    EnvFileProvider,
    Secret,
    SecretEmptyError,
    SecretError,
    SecretFileModeError,
    SecretNotFoundError,
    SecretProvider,
    SecretRef,
    resolve_secret,
)

VALUE = "s3cr3t-postgres://u:pw@db/x"


def _secret_file(tmp_path: Path, text: str, mode: int = 0o600, name: str = "secret") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_secret_never_shows_its_value_in_repr_str_or_format() -> None:
    secret = Secret(VALUE)
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>40}", "%s" % secret,
             repr([secret]), repr({"k": secret})]
    assert all(VALUE not in text for text in shown)
    assert str(secret) == "Secret('***')"
    assert secret.reveal() == VALUE


def test_secret_refuses_pickling_but_copies() -> None:
    secret = Secret(VALUE)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret)
    assert copy.deepcopy(secret).reveal() == VALUE


@pytest.mark.parametrize(
    ("text", "scheme", "name"),
    [("env:ASSAY_KEY", "env", "ASSAY_KEY"), ("file:/run/secrets/db", "file", "/run/secrets/db"),
     ("file:rel/key.txt", "file", "rel/key.txt"), ("vault://kv/assay#token", "vault", "kv/assay#token"),
     ("aws-sm://prod/assay#url", "aws-sm", "prod/assay#url"), ("aws-sm://prod/whole", "aws-sm", "prod/whole")],
)
def test_ref_parses_scheme_and_name(text: str, scheme: str, name: str) -> None:
    ref = SecretRef.parse(text)
    assert (ref.scheme, ref.name) == (scheme, name)
    assert str(ref) == text


@pytest.mark.parametrize("text", ["hunter2-is-my-password", "", "env:", ":x", "ENV:X", "env:1BAD", "env:has-dash"])
def test_malformed_ref_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(SecretError) as info:
        SecretRef.parse(text)
    assert info.value.hint
    if len(text) > 6:
        assert text not in str(info.value)


def test_env_secret_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_TEST_SECRET", VALUE)
    assert resolve_secret("env:ASSAY_TEST_SECRET").reveal() == VALUE
    assert resolve_secret(SecretRef("env", "ASSAY_TEST_SECRET")).reveal() == VALUE


def test_missing_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_TEST_ABSENT", raising=False)
    with pytest.raises(SecretNotFoundError) as info:
        resolve_secret("env:ASSAY_TEST_ABSENT")
    assert "'ASSAY_TEST_ABSENT'" in info.value.message
    assert "export ASSAY_TEST_ABSENT" in info.value.hint
    assert info.value.code == "secret-not-found"
    assert isinstance(info.value, (AssayError, LookupError))


def test_empty_env_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_TEST_EMPTY", "")
    with pytest.raises(SecretEmptyError, match="env:ASSAY_TEST_EMPTY"):
        resolve_secret("env:ASSAY_TEST_EMPTY")


def test_provider_reads_an_injected_environment() -> None:
    provider = EnvFileProvider({"K": VALUE})
    assert resolve_secret("env:K", provider).reveal() == VALUE


@pytest.mark.parametrize(("text", "value"), [(VALUE + "\n", VALUE), (VALUE + "\r\n", VALUE),
                                             (VALUE + "\n\n", VALUE + "\n"), (VALUE, VALUE), (" a b ", " a b ")])
def test_file_secret_strips_one_trailing_newline(tmp_path: Path, text: str, value: str) -> None:
    path = _secret_file(tmp_path, text)
    assert resolve_secret(f"file:{path}").reveal() == value


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o606])
def test_file_readable_by_others_is_refused_with_a_chmod_hint(tmp_path: Path, mode: int) -> None:
    path = _secret_file(tmp_path, VALUE, mode)
    with pytest.raises(SecretFileModeError) as info:
        resolve_secret(f"file:{path}")
    assert f"{mode:03o}" in info.value.message
    assert f"chmod 600 {path}" in info.value.hint
    assert VALUE not in str(info.value)


def test_owner_only_modes_are_accepted(tmp_path: Path) -> None:
    assert resolve_secret(f"file:{_secret_file(tmp_path, VALUE, 0o400)}").reveal() == VALUE


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SecretNotFoundError, match="nope.txt"):
        resolve_secret(f"file:{tmp_path / 'nope.txt'}")


@pytest.mark.parametrize("text", ["", "\n"])
def test_empty_file_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(SecretEmptyError):
        resolve_secret(f"file:{_secret_file(tmp_path, text)}")


def test_directory_and_binary_files_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir(mode=0o700)
    with pytest.raises(SecretError, match="not a regular file"):
        resolve_secret(f"file:{folder}")
    binary = tmp_path / "b"
    binary.write_bytes(b"\xff\xfe\x00")
    binary.chmod(0o600)
    with pytest.raises(SecretError, match="not UTF-8"):
        resolve_secret(f"file:{binary}")


def test_relative_file_resolves_against_base_dir(tmp_path: Path) -> None:
    _secret_file(tmp_path, VALUE, name="key.txt")
    assert EnvFileProvider({}, base_dir=tmp_path).resolve(SecretRef.parse("file:key.txt")).reveal() == VALUE


def test_unserved_scheme_is_refused_by_the_default_provider() -> None:
    with pytest.raises(SecretError, match="'vault' is not served"):
        resolve_secret("vault://kv/assay#token")


def test_a_custom_provider_satisfies_the_protocol() -> None:
    class DictProvider:
        def __init__(self, values: dict[str, str]) -> None:
            self._values = values

        def resolve(self, ref: SecretRef) -> Secret:
            return Secret(self._values[str(ref)])

    provider: SecretProvider = DictProvider({"vault://kv/x#k": VALUE})
    assert resolve_secret("vault://kv/x#k", provider).reveal() == VALUE
