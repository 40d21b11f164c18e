"""One secret provider for every scheme: `SecretProviders` picks env/file, Vault or AWS by the
reference's scheme, and caches what it resolved for its own lifetime. Each composition root (a
CLI command's project, a server's service) makes one when it starts, so in practice a value is
fetched once per process.

Caching matters for the network providers: a server resolves its secrets once at start, and a CLI
command that names the same reference twice asks Vault once. Failures are not cached, so a retry
after fixing the environment works. The network providers are built on first use, so a project that
only uses env: and file: never needs VAULT_ADDR, AWS credentials, hvac or boto3.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from assay.security.aws_secrets import AwsSecretsProvider
from assay.security.secrets import EnvFileProvider, Secret, SecretError, SecretProvider, SecretRef
from assay.security.vault import VaultProvider, VaultSettings

SCHEMES = ("env", "file", "vault", "aws-sm")


class SecretProviders:
    """A `SecretProvider` that routes each reference to the provider for its scheme.

    `overrides` replaces the provider of a scheme (tests, or another Vault client); otherwise env
    and file come from `EnvFileProvider(environ, base_dir=...)`, vault from the VAULT_* variables of
    `environ`, aws-sm from the standard AWS environment.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, *, base_dir: Path | None = None,
                 overrides: Mapping[str, SecretProvider] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        env_file = EnvFileProvider(self._environ, base_dir=base_dir)
        self._factories: dict[str, Callable[[], SecretProvider]] = {
            "env": lambda: env_file,
            "file": lambda: env_file,
            "vault": lambda: VaultProvider(VaultSettings.from_environment(self._environ)),
            "aws-sm": lambda: AwsSecretsProvider(self._environ),
        }
        self._providers: dict[str, SecretProvider] = dict(overrides or {})
        self._cache: dict[SecretRef, Secret] = {}
        self._lock = threading.Lock()

    def resolve(self, ref: SecretRef) -> Secret:
        with self._lock:
            cached = self._cache.get(ref)
            if cached is not None:
                return cached
            secret = self._provider(ref).resolve(ref)
            self._cache[ref] = secret
            return secret

    def _provider(self, ref: SecretRef) -> SecretProvider:
        provider = self._providers.get(ref.scheme)
        if provider is None:
            factory = self._factories.get(ref.scheme)
            if factory is None:
                raise SecretError(
                    f"no secret provider serves scheme {ref.scheme!r} (secret {ref})",
                    hint="use env:NAME, file:PATH, vault://MOUNT/PATH#KEY or aws-sm://SECRET_ID#KEY",
                )
            provider = self._providers[ref.scheme] = factory()
        return provider

    def __repr__(self) -> str:
        return f"SecretProviders(resolved={len(self._cache)})"


__all__ = ["SCHEMES", "SecretProviders"]
