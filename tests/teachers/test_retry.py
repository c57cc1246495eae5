"""The retry policy, tested by patching the wait, never by sleeping."""

from __future__ import annotations

import asyncio

import pytest

from tinygen.teachers.base import Completion, TeacherCallError
from tinygen.teachers.retry import RetryPolicy, backoff_seconds, call_with_retries

OK = Completion("a story.", "stop", 3, 4)


def failing(errors: list[TeacherCallError]):
    """A call that raises the given errors in turn, then succeeds; counts its calls."""
    calls = []

    async def call() -> Completion:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return OK

    return call, calls


def policy(sleeps: list[float], attempts: int = 4) -> RetryPolicy:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return RetryPolicy(max_attempts=attempts, sleep=sleep)


def retryable(kind: str = "server_error", retry_after: float | None = None):
    return TeacherCallError(kind, kind, retryable=True, retry_after=retry_after)


@pytest.mark.parametrize("failures", [0, 1, 3])
def test_succeeds_after_failures(failures):
    call, calls = failing([retryable() for _ in range(failures)])
    sleeps: list[float] = []
    outcome = asyncio.run(call_with_retries(call, policy(sleeps)))
    assert outcome.completion == OK
    assert outcome.attempts == len(calls) == failures + 1
    assert outcome.error_kinds == ["server_error"] * failures
    assert len(sleeps) == failures


def test_gives_up_after_max_attempts():
    call, calls = failing([retryable("timeout") for _ in range(10)])
    outcome = asyncio.run(call_with_retries(call, policy([], attempts=3)))
    assert outcome.completion is None and outcome.error.kind == "timeout"
    assert len(calls) == 3 and outcome.attempts == 3


def test_client_error_is_not_retried():
    call, calls = failing([TeacherCallError("client_error", "400", retryable=False)])
    outcome = asyncio.run(call_with_retries(call, policy([])))
    assert outcome.error.kind == "client_error" and len(calls) == 1


def test_fatal_error_is_raised_after_one_call():
    fatal = TeacherCallError("auth", "401", retryable=False, fatal=True, status=401)
    call, calls = failing([fatal])
    with pytest.raises(TeacherCallError):
        asyncio.run(call_with_retries(call, policy([])))
    assert len(calls) == 1


def test_retry_after_wins_and_is_capped():
    sleeps: list[float] = []
    call, _ = failing([retryable("rate_limit", 2.5), retryable("rate_limit", 999.0)])
    asyncio.run(call_with_retries(call, policy(sleeps)))
    assert sleeps == [2.5, RetryPolicy().max_retry_after]


def test_backoff_grows_with_jitter_and_cap():
    p = RetryPolicy(initial_wait=1.0, max_wait=8.0)
    for failures, full in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 8.0)]:
        wait = backoff_seconds(p, failures, None)
        assert 0.75 * full <= wait <= full
