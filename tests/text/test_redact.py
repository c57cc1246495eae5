"""Secret masking (tinygen/text/redact.py): what a teacher registers never reaches output.

(The module lives in text/; these tests sit here, by the teachers that register keys.)
"""

from __future__ import annotations

from tinygen.errors import TinygenError
from tinygen.teachers.base import TeacherCallError
from tinygen.text.redact import MASK, MIN_SECRET_CHARS, redact, register_secret


def test_registered_secrets_are_masked_everywhere_in_a_text():
    register_secret("sk-redact-test-one-111")
    register_secret("sk-redact-test-two-222")
    text = "a sk-redact-test-one-111 b sk-redact-test-two-222 c sk-redact-test-one-111"
    assert redact(text) == f"a {MASK} b {MASK} c {MASK}"


def test_short_or_missing_values_are_not_secrets():
    short = "q" * (MIN_SECRET_CHARS - 1)
    register_secret(short)
    register_secret(None)
    register_secret("")
    assert redact(f"x {short} y") == f"x {short} y"
    exact = "r" * MIN_SECRET_CHARS
    register_secret(exact)
    assert redact(f"x {exact} y") == f"x {MASK} y"


def test_unregistered_text_is_left_alone():
    assert redact("Incorrect API key provided: sk-never-registered") == (
        "Incorrect API key provided: sk-never-registered"
    )


def test_errors_redact_their_messages():
    secret = "sk-redact-test-errors-333"
    register_secret(secret)
    call = TeacherCallError("auth", f"bad key {secret}", retryable=False, body_prefix=secret)
    assert (call.message, str(call)) == (f"bad key {MASK}", f"bad key {MASK}")
    assert call.body_prefix == MASK
    error = TinygenError(f"stopped: {secret}", f"hint {secret}")
    assert (error.message, error.hint) == (f"stopped: {MASK}", f"hint {MASK}")
