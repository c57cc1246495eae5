"""Asker: one item from prompt to `Finished`, for every way an item can end."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.helpers import Waits, bad_key, rate_limited, server_error, tiny
from tinygen.checks.base import Rejection
from tinygen.engine.asker import Asker, Finished, Kind, duplicate_line
from tinygen.engine.records import record_id, rejected_record
from tinygen.recipe.items import build_item
from tinygen.rundir.jsonl import dump_line
from tinygen.teachers.backpressure import AdaptiveConcurrency
from tinygen.teachers.base import Completion, TeacherCallError
from tinygen.teachers.fake import FakeTeacher, story
from tinygen.teachers.limits import Budget, Gate
from tinygen.text.canonical import text_key
from tinygen.text.redact import register_secret

TEXT = story(["cat", "jump"], 10**6 + 100)


def make_asker(
    teacher: FakeTeacher, gate: Gate | None = None, attempts: int = 6, concurrency: int = 8
) -> Asker:
    policy = Waits().policy(max_attempts=attempts)
    limit = AdaptiveConcurrency(concurrency)
    return Asker(tiny(), teacher, gate or Gate.unlimited(), policy, limit)


def ask(asker: Asker, index: int = 0) -> Finished:
    return asyncio.run(asker.ask(index))


def test_an_answer_that_passes_the_checks_is_a_candidate():
    teacher = FakeTeacher(Completion(TEXT, "stop", 30, 90))
    finished = ask(make_asker(teacher), 3)
    assert (finished.index, finished.kind, finished.reason) == (3, Kind.CANDIDATE, "")
    assert (finished.attempts, finished.retried) == (1, ())
    assert (finished.prompt_tokens, finished.completion_tokens) == (30, 90)
    assert finished.text == TEXT and finished.key == text_key(TEXT)
    assert finished.signature is None  # computed where dedup runs
    record = json.loads(finished.line)
    assert record["id"] == record_id(tiny().fingerprint, 3)
    assert record["messages"] == build_item(tiny(), 3).messages
    assert (record["text"], record["attempts"]) == (TEXT, 1)
    assert record["usage"] == {"prompt_tokens": 30, "completion_tokens": 90}
    assert record["checks"].keys() == {"repetition"}
    assert [call.messages for call in teacher.history] == [build_item(tiny(), 3).messages]


def test_a_refused_answer_is_rejected_with_its_reason():
    finished = ask(make_asker(FakeTeacher(Completion("  ", "stop", 5, 1))))
    assert (finished.kind, finished.reason) == (Kind.REJECTED, "empty")
    assert finished.text is None and finished.key is None
    assert (finished.prompt_tokens, finished.completion_tokens) == (5, 1)
    line = json.loads(finished.line)
    assert (line["reason"], line["detail"], line["text"]) == ("empty", "the answer is empty", "  ")


def test_retries_are_counted_and_a_rate_limit_is_told_to_the_backpressure():
    teacher = FakeTeacher(rate_limited(), server_error(), TEXT)
    asker = make_asker(teacher, concurrency=8)
    finished = ask(asker)
    assert finished.kind == Kind.CANDIDATE
    assert (finished.attempts, finished.retried) == (3, ("rate_limit", "server_error"))
    assert json.loads(finished.line)["attempts"] == 3
    assert asker.concurrency.window_throttled == {"429": 1}  # a 500 is no throttle
    assert teacher.calls == 3


def test_calls_that_fail_for_good_fail_the_item():
    teacher = FakeTeacher(server_error(), server_error())
    finished = ask(make_asker(teacher, attempts=2))
    assert (finished.kind, finished.reason) == (Kind.FAILED, "server_error")
    assert (finished.attempts, finished.retried) == (2, ("server_error",))
    line = json.loads(finished.line)
    assert line["error"] == {"kind": "server_error", "message": "500 oops", "status": 500}
    assert line["error_kinds"] == ["server_error", "server_error"]
    assert "text" not in line


def test_a_spent_budget_leaves_the_item_unsent():
    teacher = FakeTeacher()
    gate = Gate(Budget(max_requests=0), None)
    finished = ask(make_asker(teacher, gate))
    assert (finished.kind, finished.reason) == (Kind.UNSENT, "--max-requests 0")
    assert (finished.attempts, finished.line) == (0, "")
    assert teacher.calls == 0
    assert gate.reached == "--max-requests 0"


def test_a_budget_spent_between_attempts_counts_the_attempt_sent():
    teacher = FakeTeacher(rate_limited())
    finished = ask(make_asker(teacher, Gate(Budget(max_requests=1), None)))
    assert (finished.kind, finished.reason) == (Kind.UNSENT, "--max-requests 1")
    assert finished.attempts == 1
    assert teacher.calls == 1


def test_a_budget_spent_between_attempts_keeps_the_retry_kind():
    teacher = FakeTeacher(rate_limited())
    finished = ask(make_asker(teacher, Gate(Budget(max_requests=1), None)))
    assert finished.retried == ("rate_limit",)  # counted in retries_by_kind otherwise lost


def test_an_answer_too_large_to_read_is_rejected_with_its_start():
    error = TeacherCallError(
        "too_large", "the answer passed 1,000 bytes", retryable=False, body_prefix="Once upon"
    )
    finished = ask(make_asker(FakeTeacher(error)))
    assert (finished.kind, finished.reason) == (Kind.REJECTED, "too_large")
    line = json.loads(finished.line)
    assert (line["text"], line["detail"]) == ("Once upon", "the answer passed 1,000 bytes")
    assert line["finish_reason"] is None
    assert finished.text is None


def test_a_check_that_raises_fails_the_item_not_the_run():
    secret = "sk-asker-test-0123456789"
    register_secret(secret)

    def broken(answer):
        raise ValueError(f"boom with {secret} " + "x" * 1000)

    asker = make_asker(FakeTeacher(TEXT))
    asker.checks.insert(0, broken)
    finished = ask(asker)
    assert (finished.kind, finished.reason, finished.attempts) == (Kind.FAILED, "check_error", 1)
    error = json.loads(finished.line)["error"]
    assert error["kind"] == "check_error" and error["status"] is None
    assert error["message"].startswith("ValueError('boom with [redacted] xxx")
    assert len(error["message"]) == 500
    assert secret not in finished.line


def test_warm_up_survives_a_check_that_raises():
    asker = make_asker(FakeTeacher())
    asker.checks.append(lambda answer: 1 / 0)
    asker.warm_up()


def test_a_fatal_error_is_raised():
    teacher = FakeTeacher(bad_key())
    with pytest.raises(TeacherCallError) as raised:
        ask(make_asker(teacher))
    assert raised.value.fatal and teacher.calls == 1


def test_duplicate_line_is_the_candidate_with_the_reason():
    finished = ask(make_asker(FakeTeacher(TEXT)))
    line = json.loads(duplicate_line(finished, Rejection("duplicate", "same as item 0")))
    assert line == {**json.loads(finished.line), "reason": "duplicate", "detail": "same as item 0"}


@pytest.mark.parametrize("chars", [40, 20_000])
def test_a_duplicates_line_is_the_rejected_record_of_its_candidate(chars):
    record = {"id": "x", "index": 3, "text": 'é"q" ' * (chars // 5), "checks": {"words": 2}}
    candidate = Finished(3, Kind.CANDIDATE, line=dump_line(record))
    rejection = Rejection("near_duplicate", "0.91 like item 2", 0.91)
    assert duplicate_line(candidate, rejection) == dump_line(rejected_record(record, rejection))
