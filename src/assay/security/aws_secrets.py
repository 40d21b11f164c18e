"""AWS Secrets Manager as a secret provider: `aws-sm://SECRET_ID#KEY` (a key of a JSON secret) or
`aws-sm://SECRET_ID` (the whole secret string).

Region and credentials come from the standard AWS chain (AWS_REGION or AWS_DEFAULT_REGION, profile,
instance or pod role), and the endpoint from AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL
when set (a VPC endpoint, or a local test server): never from the spec. botocore's own retry mode
("standard", bounded attempts with jitter) and explicit connect/read timeouts bound each call.
boto3 is an optional dependency (`pip install 'assay[aws]'`), imported only when needed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from assay.security.secrets import (
    Secret,
    SecretError,
    SecretNotFoundError,
    SecretRef,
    SecretUnavailableError,
    nonempty_secret,
)

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
MAX_ATTEMPTS = 3

_NOT_FOUND = {"ResourceNotFoundException"}
_DENIED = {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
           "ExpiredTokenException", "DecryptionFailure"}


class AwsSecretsProvider:
    """Serves `aws-sm://` references from AWS Secrets Manager (one client, made on first use)."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, client: Any = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._client = client

    def resolve(self, ref: SecretRef) -> Secret:
        if ref.scheme != "aws-sm":
            raise SecretError(f"secret scheme {ref.scheme!r} is not served by the AWS Secrets Manager provider",
                              hint="write AWS references as aws-sm://SECRET_ID#KEY")
        text = self._fetch(ref)
        if ref.key is None:
            return nonempty_secret(text, ref)
        try:
            document = json.loads(text)
        except ValueError:
            document = None  # never echo the text: it is the secret
        if not isinstance(document, dict):
            raise SecretError(
                f"AWS secret {ref.path!r} is not a JSON object, so it has no key {ref.key!r} (secret {ref})",
                hint=f"reference the whole string as aws-sm://{ref.path}, or store key/value pairs",
            )
        if ref.key not in document:
            raise SecretNotFoundError(
                f"AWS secret {ref.path!r} has no key {ref.key!r} (secret {ref}; keys: {sorted(document)})",
                hint="add the key to the secret, or fix the reference",
            )
        value = document[ref.key]
        if not isinstance(value, str):
            raise SecretError(f"key {ref.key!r} of AWS secret {ref.path!r} is not a string (secret {ref})",
                              hint="store the value as a JSON string")
        return nonempty_secret(value, ref)

    def _fetch(self, ref: SecretRef) -> str:
        botocore = _botocore()
        client = self._client or self._make_client()
        try:
            answer = client.get_secret_value(SecretId=ref.path)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _NOT_FOUND:
                raise SecretNotFoundError(
                    f"AWS Secrets Manager has no secret {ref.path!r} in this account and region (secret {ref})",
                    hint="check the secret id and AWS_REGION, or create the secret",
                ) from None
            if code in _DENIED:
                raise SecretError(
                    f"AWS refused to read secret {ref.path!r} ({code}; secret {ref})",
                    hint="grant secretsmanager:GetSecretValue (and kms:Decrypt) to the service's role",
                ) from None
            raise SecretUnavailableError(f"AWS Secrets Manager failed for secret {ref} ({code or 'error'})",
                                         hint="retry; if it persists, check the AWS service health") from None
        except botocore.exceptions.NoCredentialsError:
            raise SecretError(f"no AWS credentials to read secret {ref}",
                              hint="give the service a role, or set AWS_PROFILE or the AWS_ACCESS_KEY_ID pair") from None
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
                botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError) as exc:
            raise SecretUnavailableError(
                f"AWS Secrets Manager did not answer for secret {ref} after {MAX_ATTEMPTS} attempts "
                f"({type(exc).__name__})",
                hint="check the network path to Secrets Manager (or AWS_ENDPOINT_URL), then retry",
            ) from None
        if "SecretString" not in answer:
            raise SecretError(f"AWS secret {ref.path!r} is binary (secret {ref})",
                              hint="store it as a SecretString (base64 text for binary keys)")
        return str(answer["SecretString"])

    def _make_client(self) -> Any:
        boto3 = _boto3()
        from botocore.config import Config
        from botocore.exceptions import NoRegionError

        config = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
                        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"})
        try:
            # boto3 reads AWS_DEFAULT_REGION; the other AWS SDKs (and containers) set AWS_REGION.
            region = self._environ.get("AWS_REGION") or None
            self._client = boto3.client("secretsmanager", config=config, region_name=region)
        except NoRegionError:
            raise SecretError("no AWS region for aws-sm:// secrets",
                              hint="export AWS_REGION (or AWS_DEFAULT_REGION) in the service's environment") from None
        return self._client

    def __repr__(self) -> str:
        return "AwsSecretsProvider()"


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise SecretError("aws-sm:// secrets need the boto3 package, which is not installed",
                          hint="pip install 'assay[aws]'") from None
    return boto3


def _botocore() -> Any:
    _boto3()
    import botocore.exceptions

    return botocore


__all__ = ["CONNECT_TIMEOUT_S", "MAX_ATTEMPTS", "READ_TIMEOUT_S", "AwsSecretsProvider"]
