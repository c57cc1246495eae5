"""Retry policy: small pure functions, and one tenacity loop that owns every attempt."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from tinygen.teachers.base import Completion, TeacherCallError

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failed teacher call."""

    max_attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 30.0
    max_retry_after: float = 120.0
    sleep: Sleep = field(default=asyncio.sleep, repr=False)


def should_retry(exc: BaseException) -> bool:
    """Retry only what the teacher marked retryable (timeouts, 408/409/429/5xx, ...)."""
    return isinstance(exc, TeacherCallError) and exc.retryable


def backoff_seconds(policy: RetryPolicy, failures: int, retry_after: float | None) -> float:
    """Wait before the next attempt after `failures` failures.

    A server's Retry-After wins, capped at `max_retry_after`; otherwise exponential
    backoff from `initial_wait`, capped at `max_wait`, with up to 25% jitter downwards.
    """
    if retry_after is not None:
        return min(retry_after, policy.max_retry_after)
    exponential = min(policy.initial_wait * 2 ** (failures - 1), policy.max_wait)
    return exponential * (1 - 0.25 * random.random())


@dataclass
class CallOutcome:
    """The result of a call with retries: a completion or the last error, and the history."""

    completion: Completion | None
    error: TeacherCallError | None
    attempts: int
    error_kinds: list[str]


async def call_with_retries(
    call: Callable[[], Awaitable[Completion]],
    policy: RetryPolicy,
    on_retry: Callable[[TeacherCallError], None] | None = None,
) -> CallOutcome:
    """Run `call` until it succeeds, fails for good, or runs out of attempts.

    Fatal errors (bad key, wrong URL) are raised; every other failure is returned.
    """
    kinds: list[str] = []

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, TeacherCallError) else None
        return backoff_seconds(policy, state.attempt_number, retry_after)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if on_retry and isinstance(exc, TeacherCallError):
            on_retry(exc)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=wait,
        retry=retry_if_exception(should_retry),
        sleep=policy.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                try:
                    completion = await call()
                except TeacherCallError as exc:
                    kinds.append(exc.kind)
                    raise
    except TeacherCallError as exc:
        if exc.fatal:
            raise
        return CallOutcome(None, exc, retrying.statistics["attempt_number"], kinds)
    return CallOutcome(completion, None, retrying.statistics["attempt_number"], kinds)
