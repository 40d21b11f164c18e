"""Redaction: PII keys masked at any depth, secret values masked inside any string, inputs untouched."""

from __future__ import annotations

import io
import json

import structlog

from assay.security import REDACTED, Secret, redact_text, redactor

DB_URL = Secret("postgresql://assay:pw-9f8e7d@db:5432/assay")
PASSWORD = Secret("pw-9f8e7d")
TOKEN_KEY = Secret("k" * 32)


def test_redact_text_masks_every_occurrence_and_the_longest_secret_whole() -> None:
    text = f"connect {DB_URL.reveal()} failed; retry with {PASSWORD.reveal()}; key={TOKEN_KEY.reveal()}"
    assert redact_text(text, [PASSWORD, DB_URL, TOKEN_KEY]) == "connect *** failed; retry with ***; key=***"
    assert redact_text("nothing here", [DB_URL]) == "nothing here"
    assert redact_text("a.b*c", []) == "a.b*c"


def test_secret_with_regex_characters_is_matched_literally() -> None:
    assert redact_text("x a.c abc", [Secret("a.c")]) == "x *** abc"


def test_pii_keys_are_masked_at_any_depth() -> None:
    process = redactor(["email", "SSN"], [])
    event = {
        "event": "scored",
        "email": "alice@example.com",
        "request": {"rows": [{"Email": "bob@example.com", "amount": 3, "meta": {"ssn": ["123-45-6789"]}}]},
        "pairs": ({"email": "c@example.com"},),
    }
    out = process(None, "info", event)
    assert out["email"] == REDACTED
    row = out["request"]["rows"][0]
    assert row == {"Email": REDACTED, "amount": 3, "meta": {"ssn": REDACTED}}
    assert out["pairs"] == ({"email": REDACTED},)
    assert "example.com" not in json.dumps(out) and "6789" not in json.dumps(out)


def test_secrets_are_masked_inside_strings_keys_and_objects() -> None:
    class Url:
        def __str__(self) -> str:
            return DB_URL.reveal()

    process = redactor([], [DB_URL, PASSWORD])
    event = {"event": f"opening {DB_URL.reveal()}", "nested": [{"msg": f"pw={PASSWORD.reveal()}"}],
             PASSWORD.reveal(): 1, "tags": {"a", PASSWORD.reveal()}, "url": Url(), "n": 5, "none": None}
    out = process(None, "error", event)
    assert out["event"] == "opening ***"
    assert out["nested"] == [{"msg": "pw=***"}]
    assert out[REDACTED] == 1 and out["tags"] == {"a", REDACTED} and out["url"] == REDACTED
    assert (out["n"], out["none"]) == (5, None)
    assert "pw-9f8e7d" not in repr(out)


def test_the_event_is_copied_not_changed() -> None:
    nested = {"email": "alice@example.com", "msg": PASSWORD.reveal()}
    event = {"event": "x", "user": nested}
    redactor(["email"], [PASSWORD])(None, "info", event)
    assert nested == {"email": "alice@example.com", "msg": PASSWORD.reveal()}


def test_self_referencing_containers_do_not_loop() -> None:
    loop: list[object] = ["a"]
    loop.append(loop)
    out = redactor([], [PASSWORD])(None, "info", {"event": "x", "loop": loop})
    assert out["loop"] == ["a", "<cycle>"]


def test_processor_never_shows_its_secrets() -> None:
    text = repr(redactor(["email"], [PASSWORD]))
    assert "email" in text and PASSWORD.reveal() not in text


def test_works_as_a_structlog_processor_before_the_renderer() -> None:
    stream = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(stream),
        processors=[redactor(["email"], [DB_URL]), structlog.processors.JSONRenderer()],
    )
    logger.info("connecting", url=DB_URL.reveal(), user={"email": "alice@example.com", "id": 7})
    line = json.loads(stream.getvalue())
    assert line == {"event": "connecting", "url": REDACTED, "user": {"email": REDACTED, "id": 7}}
