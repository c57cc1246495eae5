"""How the OpenAI-compatible teacher reads an error status (no network: the pure parts)."""

from __future__ import annotations

import json

import pytest

from tinygen.teachers.openai_compat import (
    completion_from,
    is_out_of_credit,
    reasoning_count,
    status_error,
)


def body(message: str, kind: str | None = None, code: str | None = None) -> str:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


QUOTA = body(
    "You exceeded your current quota, please check your plan and billing details.",
    "insufficient_quota",
    "insufficient_quota",
)
RATE = body(
    "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3. "
    "Please try again in 20s.",
    "requests",
    "rate_limit_exceeded",
)


@pytest.mark.parametrize(
    ("status", "text", "out"),
    [
        (429, QUOTA, True),
        (429, RATE, False),
        (429, body("Quota exceeded for metric 'requests per minute'"), False),  # a rate limit
        (402, "", True),
        (402, body("Insufficient credits"), True),
        (403, body("Your credit balance is too low to access the API."), True),
        (403, body("You are not allowed to access this resource."), False),
        (500, body("billing service unavailable"), False),
    ],
)
def test_out_of_credit_is_told_apart_from_rate_limits(status, text, out):
    assert is_out_of_credit(status, text) is out


def test_quota_is_fatal_and_a_rate_limit_is_retried():
    quota, rate = status_error(429, {}, QUOTA), status_error(429, {"retry-after": "2"}, RATE)
    assert (quota.kind, quota.fatal, quota.retryable) == ("quota", True, False)
    assert (rate.kind, rate.fatal, rate.retryable, rate.retry_after) == (
        "rate_limit",
        False,
        True,
        2.0,
    )


def test_reasoning_tokens_are_read_from_the_usage_details():
    usage = {
        "prompt_tokens": 20,
        "completion_tokens": 500,
        "completion_tokens_details": {"reasoning_tokens": 300},
    }
    answer = {"choices": [{"message": {"content": "Hi."}, "finish_reason": "stop"}], "usage": usage}
    completion = completion_from(answer)
    assert (completion.completion_tokens, completion.reasoning_tokens) == (500, 300)
    assert reasoning_count({"completion_tokens_details": {"reasoning_tokens": "300"}}) is None
    assert reasoning_count({"completion_tokens_details": None}) is None
    assert reasoning_count("lots") is None and reasoning_count(None) is None


def test_a_429_says_when_to_try_again_in_its_message():
    text = (
        '{"error": {"message": "Rate limit reached for gpt-4o-mini on requests per min (RPM): '
        'Limit 600, Used 600, Requested 1. Please try again in 120ms.", "type": "requests", '
        '"code": "rate_limit_exceeded"}}'
    )
    error = status_error(429, {}, text)
    assert error.retryable and error.retry_after == 0.12
