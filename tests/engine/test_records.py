"""The records a run writes: provenance fields, usage, and bounded rejected texts."""

from __future__ import annotations

import re

from tests.helpers import tiny
from tinygen import SCHEMA_VERSION, __version__
from tinygen.checks.base import Rejection
from tinygen.engine.records import (
    REJECTED_TEXT_CHARS,
    Provenance,
    accepted_record,
    failed_record,
    record_id,
    rejected_record,
    usage_field,
)
from tinygen.recipe.items import build_item
from tinygen.teachers.base import Completion, TeacherCallError
from tinygen.teachers.retry import CallOutcome
from tinygen.text.canonical import sha256_hex

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


def provenance() -> Provenance:
    return Provenance(tiny(), {"kind": "fake", "host": "fake", "model": "test-model"})


def accepted(text: str = "A cat sat.", **completion) -> dict:
    item = build_item(tiny(), 7)
    return accepted_record(provenance(), item, Completion(text, "stop", **completion), 2, 0.12345)


def test_record_id_is_the_fingerprint_start_and_the_padded_index():
    assert record_id("abcdef0123456789", 42) == "abcdef012345-00000042"


def test_accepted_record_carries_every_field():
    record = accepted(prompt_tokens=11, completion_tokens=3)
    item = build_item(tiny(), 7)
    assert record["id"] == record_id(tiny().fingerprint, 7)
    assert (record["index"], record["messages"], record["variables"]) == (
        7,
        item.messages,
        item.variables,
    )
    assert record["recipe"] == {
        "name": "tiny",
        "fingerprint": tiny().fingerprint,
        "template_hash": tiny().template_hash,
    }
    assert record["teacher"] == {
        "kind": "fake",
        "host": "fake",
        "model": "test-model",
        "temperature": 1.0,
        "top_p": 1.0,
        "max_tokens": 200,
    }
    assert (record["text"], record["finish_reason"]) == ("A cat sat.", "stop")
    assert record["usage"] == {"prompt_tokens": 11, "completion_tokens": 3}
    assert (record["latency_s"], record["attempts"]) == (0.123, 2)
    assert ISO_UTC.fullmatch(record["created_at"])
    assert (record["tinygen_version"], record["schema_version"]) == (__version__, SCHEMA_VERSION)


def test_usage_note_says_what_was_wrong():
    completion = Completion("x.", "stop", None, None, usage_note="usage.prompt_tokens is 'lots'")
    assert usage_field(completion) == {
        "prompt_tokens": None,
        "completion_tokens": None,
        "note": "usage.prompt_tokens is 'lots'",
    }
    assert "note" not in usage_field(Completion("x.", "stop", 1, 2))


def test_rejected_record_adds_reason_detail_and_value():
    record = accepted()
    out = rejected_record(record, Rejection("too_short", "3 words (minimum 50)", 3))
    assert out == {**record, "reason": "too_short", "detail": "3 words (minimum 50)", "value": 3}
    assert "value" not in rejected_record(record, Rejection("empty", "the answer is empty"))
    assert rejected_record(record, Rejection("repetition", "", 0.0))["value"] == 0.0


def test_rejected_text_at_the_bound_is_kept_whole():
    assert REJECTED_TEXT_CHARS == 16_384  # as README.md says
    text = "a" * REJECTED_TEXT_CHARS
    out = rejected_record(accepted(text), Rejection("too_long", ""))
    assert out["text"] == text
    assert "text_chars" not in out and "text_sha256" not in out


def test_rejected_text_past_the_bound_keeps_its_start_length_and_hash():
    text = "b" * REJECTED_TEXT_CHARS + "tail"
    out = rejected_record(accepted(text), Rejection("too_long", ""))
    assert out["text"] == "b" * REJECTED_TEXT_CHARS
    assert out["text_chars"] == REJECTED_TEXT_CHARS + 4
    assert out["text_sha256"] == sha256_hex(text)


def test_rejected_text_with_a_lone_surrogate_is_hashed_as_written():
    text = "c" * REJECTED_TEXT_CHARS + "\ud83d"
    out = rejected_record(accepted(text), Rejection("encoding", ""))
    assert out["text_sha256"] == sha256_hex("c" * REJECTED_TEXT_CHARS + "\ufffd")


def test_failed_record_from_the_last_error():
    error = TeacherCallError("server_error", "500 oops", retryable=True, status=500)
    call = CallOutcome(None, error, 3, ["server_error"] * 3)
    record = failed_record(provenance(), build_item(tiny(), 2), call)
    assert record["error"] == {"kind": "server_error", "message": "500 oops", "status": 500}
    assert (record["error_kinds"], record["attempts"], record["index"]) == (
        ["server_error"] * 3,
        3,
        2,
    )
    assert "text" not in record and "usage" not in record


def test_failed_record_with_an_explicit_error():
    call = CallOutcome(Completion("x.", "stop"), None, 1, [])
    error = {"kind": "check_error", "message": "ValueError()", "status": None}
    record = failed_record(provenance(), build_item(tiny(), 0), call, error)
    assert (record["error"], record["error_kinds"], record["attempts"]) == (error, [], 1)
