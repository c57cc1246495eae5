"""OpenAI's batch line format: request lines out, result lines back in."""

from __future__ import annotations

import json

from tests.helpers import tiny
from tinygen.recipe.items import build_item, record_id
from tinygen.teachers.batch_lines import index_of, read_result, request_line


def test_a_request_line_is_the_online_body_under_the_record_id():
    resolved = tiny()
    params = resolved.recipe.teacher.model_copy(update={"model": "gpt-5-mini"})
    line = json.loads(request_line(build_item(resolved, 7), resolved.fingerprint, params))
    assert line["custom_id"] == record_id(resolved.fingerprint, 7)
    assert (line["method"], line["url"]) == ("POST", "/v1/chat/completions")
    assert line["body"]["messages"] == build_item(resolved, 7).messages
    assert "max_completion_tokens" in line["body"] and "max_tokens" not in line["body"]


def test_custom_ids_of_other_runs_are_not_ours():
    fingerprint = "abcdef0123456789"
    assert index_of("abcdef012345-00000042", fingerprint) == 42
    assert index_of("ffffff012345-00000042", fingerprint) is None
    assert index_of("abcdef012345-4x", fingerprint) is None
    assert index_of(42, fingerprint) is None


def result_line(custom_id: str, **fields) -> str:
    return json.dumps({"id": "batch_req_1", "custom_id": custom_id, **fields})


def test_result_lines():
    fingerprint, cid = "abcdef0123456789", "abcdef012345-00000003"
    body = {
        "choices": [{"message": {"content": "A story."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3},
    }
    ok = read_result(result_line(cid, response={"status_code": 200, "body": body}), fingerprint)
    assert ok.index == 3 and ok.completion.text == "A story." and ok.error is None
    expired = {"code": "batch_expired", "message": "not run"}
    assert read_result(result_line(cid, response=None, error=expired), fingerprint).unfinished
    refused = {"error": {"message": "Bad prompt.", "type": "invalid_request_error"}}
    bad = read_result(result_line(cid, response={"status_code": 400, "body": refused}), fingerprint)
    assert bad.error.status == 400 and "Bad prompt." in bad.error.message
    other = read_result(
        result_line(cid, response=None, error={"code": "x", "message": "y"}), fingerprint
    )
    assert other.error.kind == "batch_error" and "x: y" in other.error.message
    assert read_result("not json", fingerprint) is None
    assert read_result(result_line("someone-else-1"), fingerprint) is None
