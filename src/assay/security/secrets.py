"""Secrets come from a provider (environment, file, Vault, AWS Secrets Manager), are held in a
`Secret`, and never print.

A spec or setting names a secret by reference (`env:ASSAY_TOKEN_KEY`, `file:/run/secrets/db_url`,
`vault://secret/assay#pii_key`, `aws-sm://prod/assay#redis_url`), never by value. `resolve_secret`
turns the reference into a `Secret` whose repr, str and format are `Secret('***')`; only `.reveal()`
gives the value, at the one place that needs it.

Every secret a provider resolves in this process is remembered (`known_secrets()`), so that every
output path (structlog, stdlib logging, CLI errors, reports) can mask the value without being
handed it: a value one part of the process resolved must not come out of another part. Values
shorter than `MIN_MASKED_LENGTH` are not remembered (masking them everywhere would mask ordinary
words); a secret that short is too weak to be one.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Protocol

from assay.errors import AssayError

_MASK = "Secret('***')"
_REF_FORMS = "'env:NAME', 'file:/path/to/file', 'vault://MOUNT/PATH#KEY' or 'aws-sm://SECRET_ID#KEY'"
_URL_SCHEMES = frozenset({"vault", "aws-sm"})  # written scheme://name
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SecretError(AssayError, ValueError):
    """A secret reference is malformed, or its source cannot be read."""

    code = "secret-invalid"


class SecretNotFoundError(SecretError, LookupError):
    """The environment variable is not set, or the file does not exist."""

    code = "secret-not-found"


class SecretEmptyError(SecretError):
    """The source exists but holds an empty value."""

    code = "secret-empty"


class SecretFileModeError(SecretError):
    """A secret file is readable by its group or by everyone."""

    code = "secret-file-permissions"


class SecretUnavailableError(SecretError):
    """A network provider (Vault, AWS) did not answer in time, or answered with a server error."""

    code = "secret-unavailable"


MIN_MASKED_LENGTH = 6
_KNOWN: dict[str, None] = {}  # every resolved secret value of this process, in order; see known_secrets()
_KNOWN_LOCK = threading.Lock()


class Secret:
    """A secret value that does not show itself: repr, str and f-strings all give `Secret('***')`.

    Pickling is refused, so a secret cannot end up in an artifact by accident.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value. Call it only where the value is used (an HMAC key, a connection), never to log."""
        return self._value

    def __repr__(self) -> str:
        return _MASK

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return _MASK

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled: store its reference (env:NAME, file:/path), not its value")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self


def remember_secret(secret: Secret) -> Secret:
    """Register a resolved secret for masking in every output of this process; returns it."""
    value = secret.reveal()
    if len(value) >= MIN_MASKED_LENGTH:
        with _KNOWN_LOCK:
            _KNOWN[value] = None
    return secret


def known_secret_count() -> int:
    """How many secrets are remembered: it only grows, so a cached mask pattern is current while it
    is unchanged."""
    return len(_KNOWN)


def known_secrets() -> tuple[Secret, ...]:
    """Every secret resolved in this process so far (for redaction; values are never shown)."""
    with _KNOWN_LOCK:
        values = list(_KNOWN)
    return tuple(Secret(value) for value in values)


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives: `scheme` says which provider, `name` what to ask it for.

    Text forms: `env:NAME`, `file:PATH`, `vault://MOUNT/PATH#KEY`, `aws-sm://SECRET_ID[#KEY]`, and
    `secret://env/NAME` / `secret://file/PATH`, aliases of the first two. Another scheme parses too,
    and is refused by the provider registry with the schemes it serves.
    """

    scheme: str
    name: str

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        # The text may be a pasted secret instead of a reference: no message below repeats it.
        scheme, sep, name = text.partition(":")
        if not sep or not _SCHEME.fullmatch(scheme) or not name:
            raise SecretError(
                f"not a secret reference: expected {_REF_FORMS}",
                hint="put the value in an environment variable or a mode-600 file and reference that",
            )
        if scheme == "secret":
            scheme, name = _alias(name)
        elif scheme in _URL_SCHEMES:
            if not name.startswith("//") or not name[2:] or name[2:].startswith("#"):
                raise SecretError(
                    f"a {scheme} secret reference is written {scheme}://...: expected {_REF_FORMS}",
                    hint="e.g. vault://secret/assay#pii_key or aws-sm://prod/assay#redis_url",
                )
            name = name[2:]
        if scheme == "env" and not _ENV_NAME.fullmatch(name):
            raise SecretError(
                "an env: secret reference needs a variable name (letters, digits, underscores)",
                hint="write it as env:NAME, e.g. env:ASSAY_TOKEN_KEY",
            )
        return cls(scheme, name)

    @property
    def key(self) -> str | None:
        """For `vault` and `aws-sm`: the key after `#` inside the stored document, if any."""
        return self.name.partition("#")[2] or None

    @property
    def path(self) -> str:
        """For `vault` and `aws-sm`: the part before `#` (the secret's path or id)."""
        return self.name.partition("#")[0]

    def __str__(self) -> str:
        sep = "://" if self.scheme in _URL_SCHEMES else ":"
        return f"{self.scheme}{sep}{self.name}"


def _alias(rest: str) -> tuple[str, str]:
    """`secret://env/NAME` is `env:NAME`; `secret://file/PATH` is `file:PATH`."""
    provider, slash, name = rest.removeprefix("//").partition("/")
    if not rest.startswith("//") or provider not in ("env", "file") or not slash or not name:
        raise SecretError(
            "a secret:// reference is written secret://env/NAME or secret://file/PATH",
            hint="for Vault or AWS Secrets Manager write vault://MOUNT/PATH#KEY or aws-sm://SECRET_ID#KEY",
        )
    return provider, name


class SecretProvider(Protocol):
    """Turns a reference into its value. Implementations: `EnvFileProvider`, `VaultProvider`,
    `AwsSecretsProvider`, and `SecretProviders`, which picks one of them by scheme."""

    def resolve(self, ref: SecretRef) -> Secret: ...


class EnvFileProvider:
    """The default provider: `env:NAME` reads an environment variable, `file:PATH` a file.

    A file must be readable by its owner only (mode 600 or 400; for a Kubernetes secret volume set
    `defaultMode: 0400`). One trailing newline is stripped. Relative paths resolve against `base_dir`.
    `environ` defaults to the live process environment: this adapter is the edge that reads it.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, *, base_dir: Path | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._base_dir = base_dir

    def resolve(self, ref: SecretRef) -> Secret:
        if ref.scheme == "env":
            return self._from_env(ref)
        if ref.scheme == "file":
            return self._from_file(ref)
        raise SecretError(
            f"secret scheme {ref.scheme!r} is not served by the environment/file provider",
            hint="use env:NAME or file:PATH here, or resolve through SecretProviders (all schemes)",
        )

    def _from_env(self, ref: SecretRef) -> Secret:
        value = self._environ.get(ref.name)
        if value is None:
            raise SecretNotFoundError(
                f"environment variable {ref.name!r} is not set (secret {ref})",
                hint=f"export {ref.name}=... in the service's environment, or reference a file: secret",
            )
        return nonempty_secret(value, ref)

    def _from_file(self, ref: SecretRef) -> Secret:
        path = Path(ref.name)
        if not path.is_absolute() and self._base_dir is not None:
            path = self._base_dir / path
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError as exc:
            raise SecretNotFoundError(
                f"secret file {str(path)!r} does not exist (secret {ref})",
                hint="create it with mode 600, or fix the path in the reference",
            ) from exc
        except OSError as exc:
            raise SecretError(f"cannot open secret file {str(path)!r}: {exc.strerror}",
                              hint="check that the service user can read it") from exc
        # Check and read the same open file, so the mode checked is the mode of what is read.
        try:
            _check_file(os.fstat(fd), path)
            with os.fdopen(fd, "rb", closefd=False) as handle:
                raw = handle.read()
        finally:
            os.close(fd)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SecretError(f"secret file {str(path)!r} is not UTF-8 text",
                              hint="store the value as text (hex or base64 for binary keys)") from exc
        return nonempty_secret(_strip_one_newline(text), ref)


def resolve_secret(ref: SecretRef | str, provider: SecretProvider | None = None) -> Secret:
    """The secret a reference names, from `provider` (default: `EnvFileProvider()`; pass
    `SecretProviders(...)` to serve every scheme)."""
    parsed = SecretRef.parse(ref) if isinstance(ref, str) else ref
    return (provider or EnvFileProvider()).resolve(parsed)


def _check_file(info: os.stat_result, path: Path) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise SecretError(f"secret file {str(path)!r} is not a regular file",
                          hint="point the reference at the file that holds the value")
    if info.st_mode & 0o077:
        raise SecretFileModeError(
            f"secret file {str(path)!r} is open to group or others (mode {stat.S_IMODE(info.st_mode):03o})",
            hint=f"run `chmod 600 {path}` (Kubernetes: defaultMode: 0400)",
        )


def _strip_one_newline(text: str) -> str:
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def nonempty_secret(value: str, ref: SecretRef) -> Secret:
    if not value:
        raise SecretEmptyError(f"secret {ref} is empty", hint="set it to the real value; empty secrets are refused")
    return remember_secret(Secret(value))


__all__ = [
    "EnvFileProvider",
    "Secret",
    "SecretEmptyError",
    "SecretError",
    "SecretFileModeError",
    "SecretNotFoundError",
    "SecretProvider",
    "SecretRef",
    "SecretUnavailableError",
    "MIN_MASKED_LENGTH",
    "known_secret_count",
    "known_secrets",
    "nonempty_secret",
    "remember_secret",
    "resolve_secret",
]
