"""The security package's public surface is pinned, and it needs nothing beyond the stdlib."""

from __future__ import annotations

import subprocess
import sys

import assay.security


def test_public_api_is_exactly_the_curated_names() -> None:
    assert sorted(assay.security.__all__) == sorted(
        [
            "PERMISSIONS", "REDACTED", "Action", "ApiKey", "Identity", "PermissionDeniedError", "identity_for", "AuthError", "EnvFileProvider", "ForbiddenError",
            "InvalidKeyError", "MalformedCredentialsError", "MissingCredentialsError", "Role", "Secret",
            "SecretEmptyError", "SecretError", "SecretFileModeError", "SecretNotFoundError", "SecretProvider",
            "SecretProviders", "SecretRef", "SecretUnavailableError", "TokenValueError", "Tokeniser", "TokeniserKeyError", "UnauthenticatedError", "authorize",
            "can", "generate_key", "key_hash", "key_id", "install_logging_redaction", "known_secrets", "parse_bearer", "redact_text", "redactor",
            "resolve_secret", "verify",
        ]
    )
    assert all(getattr(assay.security, name) is not None for name in assay.security.__all__)


def test_importing_it_loads_only_the_stdlib_and_assay() -> None:
    code = (
        "import sys; before = set(sys.modules); import assay.security; "
        "print(sorted({m.split('.')[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "['assay']"
