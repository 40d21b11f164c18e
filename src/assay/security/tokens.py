"""Tokenisation of PII: a keyed HMAC turns each value into a stable pseudonym.

Tokens are pseudonyms, not encryption. The same value under the same key always gives the same
token, so tokenised columns still join and count distinct, and anyone holding the key can test a
guess ("is this the token of alice@example.com?"). They cannot be decrypted, and without the key they
cannot be linked to values. Rotate the key and every token changes; tokens from different keys do not
link. Guard the key like a password; it comes from a secret provider, never from the spec.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import numbers
from collections.abc import Sequence
from datetime import date, datetime, time

from assay.errors import AssayError
from assay.security.secrets import Secret, SecretError

MIN_KEY_BYTES = 16
TOKEN_PREFIX = "tok_"
_TOKEN_HEX_CHARS = 32  # 128 bits of HMAC-SHA256: collisions are negligible for any table


class TokeniserKeyError(SecretError):
    """The tokenisation key is too short to resist guessing."""

    code = "tokeniser-key-too-short"


class TokenValueError(AssayError, TypeError):
    """A value has a type with no canonical text, so its token would not be stable."""

    code = "token-unsupported-type"


class Tokeniser:
    """Deterministic keyed tokens: `token(v) = "tok_" + HMAC-SHA256(key, canonical text of v)[:32 hex]`.

    Canonical text: strings as they are (no trimming or case folding: normalise upstream if wanted),
    integers in decimal, integral floats as integers (so 42 and 42.0 match, as when a null turns an
    int column into floats), other floats by `repr`, booleans as `true`/`false`, dates and times in
    ISO 8601. `None` and NaN are missing and stay `None`.
    """

    __slots__ = ("_key",)

    def __init__(self, key: Secret) -> None:
        key_bytes = key.reveal().encode("utf-8")
        if len(key_bytes) < MIN_KEY_BYTES:
            raise TokeniserKeyError(
                f"the tokenisation key is shorter than {MIN_KEY_BYTES} bytes",
                hint="generate one with `python -c 'import secrets; print(secrets.token_hex(32))'`",
            )
        self._key = key_bytes

    def token(self, value: object) -> str | None:
        text = _canonical_text(value)
        if text is None:
            return None
        digest = hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()
        return TOKEN_PREFIX + digest[:_TOKEN_HEX_CHARS]

    def tokenise_column(self, values: Sequence[object]) -> list[str | None]:
        return [self.token(value) for value in values]

    def __repr__(self) -> str:
        return "Tokeniser(key=Secret('***'))"


def _canonical_text(value: object) -> str | None:
    # The value is PII: the error below names its type, never the value.
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    raise TokenValueError(
        f"cannot tokenise a value of type {type(value).__name__}",
        hint="convert the column to text, numbers, booleans or dates before tokenising",
    )


__all__ = ["MIN_KEY_BYTES", "TOKEN_PREFIX", "TokenValueError", "Tokeniser", "TokeniserKeyError"]
