"""OpenAI's batch file format: request lines in, result lines out.

The same format serves OpenAI's Batch API and offline runners (`vllm run_batch` reads
and writes it): a request line is `{"custom_id", "method": "POST", "url":
"/v1/chat/completions", "body"}`, with the body the online mode sends (the model's
profile applied); a result line is `{"id", "custom_id", "response": {"status_code",
"body"}, "error"}`. The custom_id is the item's record id, so a result finds its item.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tinygen.recipe.items import Item, record_id
from tinygen.recipe.model import TeacherParams
from tinygen.teachers.base import Completion, TeacherCallError
from tinygen.teachers.openai_compat import completion_from, error_message
from tinygen.teachers.profiles import RequestShape, profile_for

CHAT_URL = "/v1/chat/completions"
UNFINISHED = frozenset({"batch_expired", "batch_cancelled"})  # not run: ask again


def request_line(item: Item, fingerprint: str, params: TeacherParams) -> str:
    """One request line for `item` (no newline)."""
    shape = RequestShape(profile_for(params.model))
    body = {"messages": item.messages, **shape.body(params, continuing=bool(item.prefill))}
    line = {
        "custom_id": record_id(fingerprint, item.index),
        "method": "POST",
        "url": CHAT_URL,
        "body": body,
    }
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def index_of(custom_id: object, fingerprint: str) -> int | None:
    """The item index a custom_id names, if it is one of this run's."""
    if not isinstance(custom_id, str):
        return None
    prefix, _, number = custom_id.rpartition("-")
    if prefix != fingerprint[:12] or not number.isdigit():
        return None
    return int(number)


@dataclass(frozen=True)
class Result:
    """What a result line says of one item: an answer, an error, or not run at all."""

    index: int
    completion: Completion | None = None
    error: TeacherCallError | None = None
    unfinished: str = ""  # batch_expired / batch_cancelled: ask again


def read_result(line: str, fingerprint: str) -> Result | None:
    """Parse one output or error file line (None if it is not one of this run's)."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    index = index_of(data.get("custom_id"), fingerprint)
    if index is None:
        return None
    error, response = data.get("error"), data.get("response")
    if isinstance(error, dict) and error.get("code") in UNFINISHED:
        return Result(index, unfinished=str(error["code"]))
    if isinstance(response, dict) and response.get("status_code") == 200:
        try:
            return Result(index, completion=completion_from(response.get("body")))
        except TeacherCallError as bad:
            return Result(index, error=bad)
    return Result(index, error=line_error(response, error))


def line_error(response: object, error: object) -> TeacherCallError:
    """The failure a result line reports (an HTTP error in its response, or its error)."""
    if isinstance(response, dict) and isinstance(response.get("status_code"), int):
        status = response["status_code"]
        text = json.dumps(response.get("body"))
        return TeacherCallError(
            "client_error" if status < 500 else "server_error",
            f"HTTP {status}: {error_message(text)}",
            retryable=False,
            status=status,
        )
    message = error.get("message") if isinstance(error, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return TeacherCallError(
        "batch_error", f"{code or 'error'}: {message or 'no message'}"[:300], retryable=False
    )
