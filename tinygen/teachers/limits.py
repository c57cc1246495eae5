"""Client-side limits: request and token rates, and budgets (concurrency adapts in
teachers/backpressure.py).

Every attempt passes through `Gate.admit` (budgets, tokens a minute) before it is sent,
so retries are limited and counted exactly like first attempts. Requests a minute are
paced by `RequestPacer` at the HTTP layer, right before each request leaves.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tinygen.errors import UsageError
from tinygen.teachers.base import TeacherCallError
from tinygen.teachers.prices import Prices  # the one cost formula

if TYPE_CHECKING:
    from tinygen.recipe.model import TeacherParams
    from tinygen.teachers.base import Completion, Teacher

RATE_MARGIN = 1.05  # 5% under the limit: room for jitter between release and arrival


class BudgetReached(Exception):
    """No new attempt may start: a budget of this invocation is spent."""


@dataclass(frozen=True)
class Budget:
    """Caps for one invocation of `tinygen generate` (None = no cap)."""

    max_requests: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None


class RequestPacer:
    """At most `rpm` requests a minute: evenly spaced, and never more than rpm/60 in any
    window of a second, counted at the moment each request is really released."""

    def __init__(
        self,
        rpm: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.per_window = max(1, int(rpm / 60))
        self.window = self.per_window * 60.0 / rpm * RATE_MARGIN
        self.interval = self.window / self.per_window
        self._clock = clock
        self._sleep = sleep
        self._released: deque[float] = deque(maxlen=self.per_window)
        self._lock = asyncio.Lock()

    def _wait_needed(self) -> float:
        now = self._clock()
        if not self._released:
            return 0.0
        wait = self._released[-1] + self.interval - now
        if len(self._released) == self.per_window:
            wait = max(wait, self._released[0] + self.window - now)
        return wait

    async def wait(self) -> None:
        """Return when the next request may go; requests are released one at a time."""
        async with self._lock:
            while (delay := self._wait_needed()) > 0:
                await self._sleep(delay)
            self._released.append(self._clock())


class TokenBucket:
    """At most `tpm` tokens a minute: take an estimate up front, correct it later."""

    def __init__(self, tpm: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = tpm / 60.0
        self.capacity = tpm / 60.0 * 10  # up to 10 s of tokens at once
        self._clock = clock
        self._level = self.capacity
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._updated) * self.rate)
        self._updated = now

    def delay(self, tokens: float) -> float:
        """Take `tokens` (maybe into debt); return how long to wait until it is paid."""
        self._refill()
        self._level -= min(tokens, self.capacity)
        return max(0.0, -self._level / self.rate)

    def correct(self, estimated: float, actual: float) -> None:
        """Give back (or take) the difference once the real usage is known."""
        self._level = min(self.capacity, self._level + estimated - actual)


class Gate:
    """What every attempt passes before it is sent: budgets, then rate limits."""

    def __init__(
        self,
        budget: Budget,
        prices: Prices | None,
        tpm: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.budget = budget
        self.prices = prices
        self.tpm = tpm
        self.bucket = TokenBucket(tpm) if tpm else None
        self._sleep = sleep
        self.requests = 0
        self.tokens = 0
        self.cost = 0.0
        self._reserved_tokens = 0
        self._reserved_cost = 0.0
        self.reached: str | None = None

    @classmethod
    def unlimited(cls) -> Gate:
        """A gate with no budget and no rate limit."""
        return cls(Budget(), None)

    def _check_budget(self, prompt_estimate: int, max_tokens: int) -> None:
        budget, worst = self.budget, prompt_estimate + max_tokens
        if budget.max_requests is not None and self.requests >= budget.max_requests:
            self.reached = f"--max-requests {budget.max_requests}"
        elif budget.max_tokens is not None and (
            self.tokens + self._reserved_tokens + worst > budget.max_tokens
        ):
            self.reached = f"--max-tokens-total {budget.max_tokens}"
        elif (
            budget.max_cost is not None
            and self.prices is not None
            and (
                self.cost + self._reserved_cost + self.prices.cost(prompt_estimate, max_tokens)
                > budget.max_cost
            )
        ):
            self.reached = f"--max-cost {budget.max_cost}"
        if self.reached:
            raise BudgetReached(self.reached)

    async def admit(self, prompt_estimate: int, max_tokens: int) -> Callable[[int, int], None]:
        """Wait for a slot under the limits; return the callback that books the usage."""
        if self.reached:
            raise BudgetReached(self.reached)
        self._check_budget(prompt_estimate, max_tokens)
        worst_cost = self.prices.cost(prompt_estimate, max_tokens) if self.prices else 0.0
        self.requests += 1
        self._reserved_tokens += prompt_estimate + max_tokens
        self._reserved_cost += worst_cost
        estimate = prompt_estimate + max_tokens / 2
        wait = self.bucket.delay(estimate) if self.bucket else 0.0
        if wait > 0:
            await self._sleep(wait)

        def book(prompt_tokens: int, completion_tokens: int) -> None:
            self._reserved_tokens -= prompt_estimate + max_tokens
            self._reserved_cost -= worst_cost
            self.tokens += prompt_tokens + completion_tokens
            if self.prices is not None:
                self.cost += self.prices.cost(prompt_tokens, completion_tokens)
            if self.bucket is not None:
                self.bucket.correct(estimate, prompt_tokens + completion_tokens)

        return book

    def tally(self, requests: int, prompt_tokens: int, completion_tokens: int) -> None:
        """Count traffic admitted elsewhere (by worker processes' own gates)."""
        self.requests += requests
        self.tokens += prompt_tokens + completion_tokens
        if self.prices is not None:
            self.cost += self.prices.cost(prompt_tokens, completion_tokens)


def make_gate(model: str, budget: Budget, prices: Prices | None, tpm: float | None) -> Gate:
    """The gate for a run; a cost budget needs the model's prices."""
    if budget.max_cost is not None and prices is None:
        raise UsageError(
            f"--max-cost needs the price of model {model!r}, which tinygen does not know",
            "pass --price-in and --price-out (USD per million tokens)",
        )
    return Gate(budget, prices, tpm)


async def gated_complete(
    gate: Gate,
    teacher: Teacher,
    messages: list[dict[str, str]],
    params: TeacherParams,
    prompt_estimate: int,
) -> tuple[Completion, float]:
    """One call admitted by `gate` and booked with its usage (counts it did not report are
    booked as what was reserved for them; a failed call books nothing), and its seconds
    from when it was sent."""
    book = await gate.admit(prompt_estimate, params.max_tokens)
    started = time.monotonic()
    try:
        completion = await teacher.complete(messages, params)
    except TeacherCallError:
        book(0, 0)
        raise
    book(
        _known_or(completion.prompt_tokens, prompt_estimate),
        _known_or(completion.completion_tokens, params.max_tokens),
    )
    return completion, time.monotonic() - started


def _known_or(count: int | None, reserved: int) -> int:
    return count if count is not None else reserved
