"""PII tokens: deterministic per key, different across keys, None stays None, short keys refused."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.security.secrets import Secret, SecretError
from assay.security.tokens import TokenValueError, Tokeniser, TokeniserKeyError

KEY = Secret("k" * 32)
OTHER_KEY = Secret("o" * 32)


def test_token_is_tok_plus_32_hex_of_the_keyed_hmac() -> None:
    expected = hmac.new(b"k" * 32, b"alice@example.com", hashlib.sha256).hexdigest()[:32]
    assert Tokeniser(KEY).token("alice@example.com") == "tok_" + expected


@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.dates()))
def test_same_value_same_token_and_keys_differ(value: object) -> None:
    token = Tokeniser(KEY).token(value)
    assert token == Tokeniser(KEY).token(value)
    assert token is not None and token.startswith("tok_") and len(token) == 36
    assert token != Tokeniser(OTHER_KEY).token(value)


def test_distinct_values_get_distinct_tokens() -> None:
    values = [f"user{i}@example.com" for i in range(2000)]
    assert len(set(Tokeniser(KEY).tokenise_column(values))) == len(values)


def test_missing_values_stay_missing() -> None:
    tokeniser = Tokeniser(KEY)
    assert tokeniser.token(None) is None
    assert tokeniser.token(float("nan")) is None
    assert tokeniser.tokenise_column(["a", None, "a"]) == [tokeniser.token("a"), None, tokeniser.token("a")]


def test_canonical_text_matches_across_number_types_but_not_booleans() -> None:
    tokeniser = Tokeniser(KEY)
    assert tokeniser.token(42) == tokeniser.token(42.0) == tokeniser.token("42")
    assert tokeniser.token(True) == tokeniser.token("true") != tokeniser.token(1)
    assert tokeniser.token(0.5) == tokeniser.token("0.5")
    assert tokeniser.token(date(2024, 1, 2)) == tokeniser.token("2024-01-02")
    assert tokeniser.token(datetime(2024, 1, 2, tzinfo=UTC)) == tokeniser.token("2024-01-02T00:00:00+00:00")


def test_unsupported_type_names_the_type_not_the_value() -> None:
    with pytest.raises(TokenValueError) as info:
        Tokeniser(KEY).token({"ssn": "123-45-6789"})
    assert "dict" in info.value.message and "123-45-6789" not in str(info.value)


@pytest.mark.parametrize("key", ["", "short", "x" * 15, "é" * 7])
def test_short_keys_are_refused(key: str) -> None:
    with pytest.raises(TokeniserKeyError) as info:
        Tokeniser(Secret(key))
    assert isinstance(info.value, SecretError)
    assert "secrets.token_hex" in info.value.hint


def test_sixteen_bytes_is_enough_and_the_key_never_shows() -> None:
    tokeniser = Tokeniser(Secret("é" * 8))  # 8 characters, 16 bytes
    assert "é" not in repr(tokeniser) and "é" not in str(tokeniser)
