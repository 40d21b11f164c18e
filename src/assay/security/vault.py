"""HashiCorp Vault as a secret provider: `vault://MOUNT/PATH#KEY` reads KEY of a KV v2 secret.

Where Vault is and who we are comes from the standard Vault environment, never from the spec:
`VAULT_ADDR`, `VAULT_TOKEN` (else the token file `vault login` writes, `~/.vault-token`, which
must be mode 600), `VAULT_NAMESPACE` and `VAULT_CACERT`. Each request has a timeout; connection
failures, timeouts and 5xx answers are retried a bounded number of times with jittered backoff,
then reported as `secret-unavailable`. hvac is an optional dependency (`pip install 'assay[vault]'`),
imported only when a vault reference is resolved.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.security.secrets import (
    EnvFileProvider,
    Secret,
    SecretError,
    SecretNotFoundError,
    SecretRef,
    SecretUnavailableError,
    nonempty_secret,
    remember_secret,
)

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_ATTEMPTS = 3
_BACKOFF_S = 0.2


@dataclass(frozen=True, slots=True)
class VaultSettings:
    """How to reach Vault. `token` is held as a Secret so it never prints."""

    address: str
    token: Secret
    namespace: str | None = None
    verify: bool | str = True
    timeout_s: float = DEFAULT_TIMEOUT_S
    attempts: int = DEFAULT_ATTEMPTS

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], *, home: Path | None = None) -> VaultSettings:
        address = environ.get("VAULT_ADDR", "").strip()
        if not address:
            raise SecretError(
                "VAULT_ADDR is not set, so vault:// secrets cannot be read",
                hint="export VAULT_ADDR=https://vault.example:8200 (and VAULT_TOKEN) in the service's environment",
            )
        return cls(address=address.rstrip("/"), token=_token(environ, home or Path.home()),
                   namespace=environ.get("VAULT_NAMESPACE") or None, verify=environ.get("VAULT_CACERT") or True)


class VaultProvider:
    """Serves `vault://MOUNT/PATH#KEY` from a KV version 2 secrets engine."""

    def __init__(self, settings: VaultSettings, *, client: Any = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._settings = settings
        self._client = client
        self._sleep = sleep

    def resolve(self, ref: SecretRef) -> Secret:
        if ref.scheme != "vault":
            raise SecretError(f"secret scheme {ref.scheme!r} is not served by the Vault provider",
                              hint="write Vault references as vault://MOUNT/PATH#KEY")
        mount, slash, path = ref.path.partition("/")
        if not slash or not path or not ref.key:
            raise SecretError(
                f"secret {ref} needs a mount, a path and a key: vault://MOUNT/PATH#KEY",
                hint="e.g. vault://secret/assay/prod#pii_key (mount 'secret', path 'assay/prod', key 'pii_key')",
            )
        data = self._read(ref, mount, path)
        if ref.key not in data:
            raise SecretNotFoundError(
                f"Vault secret {mount}/{path} has no key {ref.key!r} (secret {ref}; keys: {sorted(data)})",
                hint=f"add the key with `vault kv patch {mount}/{path} {ref.key}=...`, or fix the reference",
            )
        value = data[ref.key]
        if not isinstance(value, str):
            raise SecretError(f"Vault key {ref.key!r} of {mount}/{path} is not a string (secret {ref})",
                              hint="store the value as a string")
        return nonempty_secret(value, ref)

    def _read(self, ref: SecretRef, mount: str, path: str) -> dict[str, Any]:
        hvac, requests = _libraries()
        client = self._client or self._make_client(hvac)
        for attempt in range(1, self._settings.attempts + 1):
            try:
                answer = client.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=mount, raise_on_deleted_version=True)
                return dict(answer["data"]["data"] or {})
            except hvac.exceptions.InvalidPath:
                raise SecretNotFoundError(
                    f"Vault has no secret {mount}/{path} (secret {ref})",
                    hint=f"create it (`vault kv put {mount}/{path} KEY=...`) or check the mount is KV version 2",
                ) from None
            except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized):
                raise SecretError(
                    f"Vault refused to read {mount}/{path} (secret {ref}): the token lacks permission or has expired",
                    hint=f"grant the token's policy read on {mount}/data/{path}, or renew VAULT_TOKEN",
                ) from None
            except (hvac.exceptions.VaultDown, hvac.exceptions.InternalServerError,
                    hvac.exceptions.BadGateway, requests.exceptions.ConnectionError,
                    requests.exceptions.Timeout) as exc:
                if attempt == self._settings.attempts:
                    raise SecretUnavailableError(
                        f"Vault at {self._settings.address} did not answer for secret {ref} "
                        f"after {attempt} attempts ({type(exc).__name__})",
                        hint="check VAULT_ADDR, the network and that Vault is unsealed; then retry",
                    ) from None
                self._sleep(_BACKOFF_S * 2 ** (attempt - 1) * (0.5 + random.random()))
        raise AssertionError("unreachable: the loop returns or raises")

    def _make_client(self, hvac: Any) -> Any:
        settings = self._settings
        self._client = hvac.Client(url=settings.address, token=settings.token.reveal(),
                                   namespace=settings.namespace, verify=settings.verify, timeout=settings.timeout_s)
        return self._client

    def __repr__(self) -> str:
        return f"VaultProvider(address={self._settings.address!r})"


def _token(environ: Mapping[str, str], home: Path) -> Secret:
    token = environ.get("VAULT_TOKEN", "")
    if token:
        return remember_secret(Secret(token))
    token_file = home / ".vault-token"
    if token_file.is_file():
        return EnvFileProvider().resolve(SecretRef("file", str(token_file)))
    raise SecretError(
        "no Vault token: VAULT_TOKEN is not set and ~/.vault-token does not exist",
        hint="export VAULT_TOKEN=... for the service (or run `vault login` as its user)",
    )


def _libraries() -> tuple[Any, Any]:
    try:
        import hvac
        import hvac.exceptions
        import requests
    except ImportError:
        raise SecretError("vault:// secrets need the hvac package, which is not installed",
                          hint="pip install 'assay[vault]'") from None
    return hvac, requests


__all__ = ["DEFAULT_ATTEMPTS", "DEFAULT_TIMEOUT_S", "VaultProvider", "VaultSettings"]
