"""A whole run on the fake teacher: counts, retries, fatal errors, dedup, resume, rejects."""

from __future__ import annotations

import pytest

from tests.conftest import read_jsonl, shard_records
from tests.helpers import (
    Waits,
    bad_key,
    manifest,
    rate_limited,
    run,
    server_error,
    tiny,
)
from tinygen.errors import ExitCode, TinygenError
from tinygen.recipe.items import build_item
from tinygen.teachers.base import Completion, TeacherCallError
from tinygen.teachers.fake import FakeTeacher, story
from tinygen.teachers.limits import Budget, Gate


def prompts(indexes) -> list[list[dict[str, str]]]:
    return [build_item(tiny(), i).messages for i in indexes]


def asked(teacher: FakeTeacher) -> list[list[dict[str, str]]]:
    return [call.messages for call in teacher.history]


def test_exact_count_of_unique_records_with_provenance(tmp_path):
    teacher = FakeTeacher()
    result = run(tmp_path, teacher, 12, concurrency=4)
    assert result.exit_code == ExitCode.OK
    records = shard_records(tmp_path)
    assert sorted(r["index"] for r in records) == list(range(12))
    assert len({r["id"] for r in records}) == len({r["text"] for r in records}) == 12
    assert teacher.calls == 12 and teacher.closed
    for record in records:
        assert record["messages"] == build_item(tiny(), record["index"]).messages
        assert record["variables"]["noun"] in record["text"]
        assert record["variables"]["verb"] in record["text"]
        assert record["teacher"]["kind"] == "fake"
        assert record["teacher"]["model"] == "test-model"
        assert record["attempts"] == 1
        assert record["usage"]["completion_tokens"] == len(record["text"].split())
    assert read_jsonl(tmp_path / "rejected.jsonl") == []
    assert read_jsonl(tmp_path / "failed.jsonl") == []
    written = manifest(tmp_path)
    assert written["status"] == "done"
    assert written["counts"]["accepted"] == 12
    assert written["session"]["requests"] == 12
    assert [(s["file"], s["records"]) for s in written["shards"]] == [("data/part-00000.jsonl", 12)]


@pytest.mark.parametrize(
    "faults",
    [[], [rate_limited()], [rate_limited(), server_error(), rate_limited()]],
    ids=["none", "one 429", "429-500-429"],
)
def test_retryable_faults_then_success_count_attempts(tmp_path, faults):
    waits = Waits()
    teacher = FakeTeacher(*faults)
    result = run(tmp_path, teacher, 2, concurrency=1, retry=waits.policy())
    assert result.exit_code == ExitCode.OK
    first, second = sorted(shard_records(tmp_path), key=lambda r: r["index"])
    assert (first["attempts"], second["attempts"]) == (len(faults) + 1, 1)
    assert teacher.calls == len(faults) + 2
    assert asked(teacher) == prompts([0] * (len(faults) + 1) + [1])
    assert len(waits.seconds) == len(faults)
    for failures, wait in enumerate(waits.seconds, start=1):
        assert 0.75 * 0.5 * 2 ** (failures - 1) <= wait <= 0.5 * 2 ** (failures - 1)
    written = manifest(tmp_path)
    kinds = [fault.kind for fault in faults]
    expected = {kind: kinds.count(kind) for kind in sorted(set(kinds))}
    assert written["counts"]["retries_by_kind"] == expected
    assert written["session"]["requests"] == len(faults) + 2


def test_retry_after_is_honoured_and_capped(tmp_path):
    waits = Waits()
    teacher = FakeTeacher(rate_limited(retry_after=7.0), rate_limited(retry_after=500.0))
    run(tmp_path, teacher, 1, concurrency=1, retry=waits.policy())
    assert waits.seconds == [7.0, 120.0]
    assert teacher.calls == 3


def test_attempts_run_out_and_the_item_fails(tmp_path):
    waits = Waits()
    teacher = FakeTeacher(server_error(), server_error(), server_error())
    result = run(tmp_path, teacher, 2, concurrency=1, retry=waits.policy(max_attempts=3))
    assert result.exit_code == ExitCode.OK
    [failed] = read_jsonl(tmp_path / "failed.jsonl")
    assert failed["index"] == 0
    assert failed["error"] == {"kind": "server_error", "message": "500 oops", "status": 500}
    assert failed["error_kinds"] == ["server_error"] * 3
    assert failed["attempts"] == 3
    assert sorted(r["index"] for r in shard_records(tmp_path)) == [1, 2]
    assert teacher.calls == 5 and len(waits.seconds) == 2
    counts = manifest(tmp_path)["counts"]
    assert counts["failed_by_kind"] == {"server_error": 1}
    assert counts["retries_by_kind"] == {"server_error": 2}


def test_client_error_fails_the_item_at_once(tmp_path):
    error = TeacherCallError("client_error", "400 bad request", retryable=False, status=400)
    teacher = FakeTeacher(error)
    run(tmp_path, teacher, 1, concurrency=1)
    assert teacher.calls == 2
    [failed] = read_jsonl(tmp_path / "failed.jsonl")
    assert (failed["index"], failed["attempts"], failed["error_kinds"]) == (0, 1, ["client_error"])


def test_fatal_error_stops_the_run_with_one_call(tmp_path):
    teacher = FakeTeacher(bad_key())
    with pytest.raises(TinygenError) as raised:
        run(tmp_path, teacher, 5, concurrency=1)
    assert raised.value.message == "the endpoint rejected the API key (401)"
    assert "API key" in (raised.value.hint or "")
    assert teacher.calls == 1 and teacher.closed
    assert manifest(tmp_path)["status"] == "error"
    assert shard_records(tmp_path) == []
    log = (tmp_path / "run.log").read_text(encoding="utf-8").splitlines()
    assert log[-1].endswith("stopped: the endpoint rejected the API key (401)")
    again = FakeTeacher()  # the lock was released and the same command resumes
    assert run(tmp_path, again, 5, concurrency=1).exit_code == ExitCode.OK
    assert again.calls == 5
    assert manifest(tmp_path)["status"] == "done"


def test_fatal_error_with_items_in_flight_still_ends_in_error(tmp_path):
    teacher = FakeTeacher(story(["cat", "jump"], 10**6 + 7), *[bad_key()] * 8, delay=0.01)
    with pytest.raises(TinygenError):
        run(tmp_path, teacher, 20, concurrency=8)
    assert teacher.calls == 9  # the first answer, then one round: nothing after the error
    assert manifest(tmp_path)["status"] == "error"


def test_exact_duplicates_are_rejected_and_counted(tmp_path):
    text = story(["cat", "jump"], 10**6)
    teacher = FakeTeacher(text, "  " + text.upper().replace(" ", "   "))
    result = run(tmp_path, teacher, 3, concurrency=1)
    assert result.exit_code == ExitCode.OK
    assert teacher.calls == 4
    records = sorted(shard_records(tmp_path), key=lambda r: r["index"])
    assert [r["index"] for r in records] == [0, 2, 3]
    assert records[0]["text"] == text
    [duplicate] = read_jsonl(tmp_path / "rejected.jsonl")
    assert duplicate["index"] == 1
    assert duplicate["reason"] == "duplicate"
    assert duplicate["detail"] == "same normalized text as item 0"
    counts = manifest(tmp_path)["counts"]
    assert counts["duplicates"] == 1
    assert counts["rejected_by_reason"] == {"duplicate": 1}
    assert result.stats.duplicates == 1


def test_near_duplicates_are_rejected_with_their_jaccard(tmp_path):
    text = story(["cat", "jump"], 10**6)
    near = text.replace("They counted 1000002 stars", "They counted 7 stars")
    teacher = FakeTeacher(text, near)
    run(tmp_path, teacher, 2, concurrency=1)
    [rejected] = read_jsonl(tmp_path / "rejected.jsonl")
    assert (rejected["index"], rejected["reason"]) == (1, "near_duplicate")
    assert rejected["detail"].startswith("near copy of item 0 (Jaccard ~")
    assert 0.8 < rejected["value"] <= 1.0
    assert manifest(tmp_path)["counts"]["duplicates"] == 1


def test_resume_asks_only_the_missing_items(tmp_path):
    first = FakeTeacher()
    assert run(tmp_path, first, 5, concurrency=2).exit_code == ExitCode.OK
    assert first.calls == 5
    second = FakeTeacher()
    assert run(tmp_path, second, 8, concurrency=2).exit_code == ExitCode.OK
    assert second.calls == 3
    assert sorted(map(str, asked(second))) == sorted(map(str, prompts([5, 6, 7])))
    records = shard_records(tmp_path)
    assert sorted(r["index"] for r in records) == list(range(8))
    written = manifest(tmp_path)
    assert (written["sessions"], written["status"]) == (2, "done")
    assert written["session"]["requests"] == 3
    assert written["totals"]["requests"] == 8
    third = FakeTeacher()
    assert run(tmp_path, third, 8).exit_code == ExitCode.OK
    assert third.calls == 0


def test_refused_answers_go_to_rejected_jsonl(tmp_path):
    whole = story(["cat"], 10**6)
    teacher = FakeTeacher(
        "",
        "The cat and the dog went down to the",
        Completion(whole, "length", 10, 200),
        "Sure! Here is a story. " + story(["cat"], 10**6 + 1),
        TeacherCallError("too_large", "past the bound", retryable=False, body_prefix="Once"),
    )
    result = run(tmp_path, teacher, 2, concurrency=1, max_items=10)
    assert result.exit_code == ExitCode.OK
    assert teacher.calls == 7
    rejected = read_jsonl(tmp_path / "rejected.jsonl")
    assert [(r["index"], r["reason"]) for r in rejected] == [
        (0, "empty"),
        (1, "cut_off"),
        (2, "length"),
        (3, "meta_talk"),
        (4, "too_large"),
    ]
    assert rejected[1]["text"] == "The cat and the dog went down to the"
    assert rejected[1]["detail"].startswith("the last sentence is left open")
    assert rejected[2]["finish_reason"] == "length"
    assert rejected[4]["text"] == "Once"
    assert rejected[4]["detail"] == "past the bound"
    for line in rejected:
        assert line["messages"] == build_item(tiny(), line["index"]).messages
    assert sorted(r["index"] for r in shard_records(tmp_path)) == [5, 6]
    counts = manifest(tmp_path)["counts"]
    assert counts["rejected"] == 5
    assert counts["rejected_by_reason"] == {
        "cut_off": 1,
        "empty": 1,
        "length": 1,
        "meta_talk": 1,
        "too_large": 1,
    }


def test_item_cap_reached_before_the_target(tmp_path):
    teacher = FakeTeacher(responder=lambda messages, params: "")
    result = run(tmp_path, teacher, 2, concurrency=1, max_items=4)
    assert result.exit_code == ExitCode.TARGET_NOT_REACHED
    assert teacher.calls == 4
    assert len(read_jsonl(tmp_path / "rejected.jsonl")) == 4
    assert manifest(tmp_path)["status"] == "target_not_reached"


def test_request_budget_stops_and_the_rerun_continues(tmp_path):
    teacher = FakeTeacher()
    gate = Gate(Budget(max_requests=3), None)
    result = run(tmp_path, teacher, 5, concurrency=2, gate=gate)
    assert result.exit_code == ExitCode.BUDGET_REACHED
    assert teacher.calls == 3
    assert len(shard_records(tmp_path)) == 3
    assert manifest(tmp_path)["status"] == "budget_reached"
    again = FakeTeacher()
    assert run(tmp_path, again, 5, concurrency=2).exit_code == ExitCode.OK
    assert again.calls == 2
    assert manifest(tmp_path)["totals"]["requests"] == 5


def test_a_bad_key_costs_one_request_whatever_the_concurrency(tmp_path):
    teacher = FakeTeacher(bad_key())
    with pytest.raises(TinygenError):
        run(tmp_path, teacher, 50, concurrency=64)
    assert teacher.calls == 1  # the first request goes alone until the endpoint answers
