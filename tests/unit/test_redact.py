"""Secrets never reach logs, errors or parked headers."""

from __future__ import annotations

from shared.redact import MEMO_ENTRIES, Redactor


def test_known_secret_values_are_replaced() -> None:
    redactor = Redactor(["tok_live_123456", "abc"])
    assert redactor.clean("401 with tok_live_123456 from crm") == "401 with *** from crm"
    assert redactor.clean("abc is too short to be a secret") == "abc is too short to be a secret"


def test_secret_looking_patterns_are_replaced() -> None:
    clean = Redactor().clean
    assert clean("amqp://guest:pa55@broker:5672/") == "amqp://guest:***@broker:5672/"
    assert clean("Authorization: Bearer eyJhbGciOi.x.y") == "Authorization: ***"
    assert clean("sent bearer eyJhbGciOi.x.y") == "sent bearer ***"
    assert clean("api_key=12345&x=1") == "api_key=***&x=1"
    assert clean("key whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == "key whsec_***"


def test_length_is_bounded() -> None:
    assert len(Redactor().clean("x" * 10_000)) == 500


def test_a_remembered_answer_never_outlives_a_new_secret() -> None:
    """Short texts are remembered once cleaned; a value hidden later is hidden in them too."""
    redactor = Redactor()
    text = '{"ok": true, "echo": "hunter2-value"}'
    assert redactor.clean(text) == text
    redactor.add("hunter2-value")
    assert "hunter2-value" not in redactor.clean(text)
    with redactor.hiding("true, "):
        assert "true, " not in redactor.clean(text)
    assert "true, " in redactor.clean(text)


def test_remembered_answers_are_bounded() -> None:
    """Many distinct short texts do not grow the memory of cleaned answers without bound."""
    redactor = Redactor()
    for n in range(3 * MEMO_ENTRIES):
        assert redactor.clean(f"status: {n}") == f"status: {n}"
    assert len(redactor._memo) <= MEMO_ENTRIES
