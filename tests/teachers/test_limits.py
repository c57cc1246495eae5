"""Rate limits and budgets, with a fake clock and no sleeping."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tinygen.errors import UsageError
from tinygen.teachers.limits import (
    Budget,
    BudgetReached,
    Gate,
    RequestPacer,
    TokenBucket,
    make_gate,
)
from tinygen.teachers.prices import Prices


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_pacer_spaces_requests_and_bounds_every_window():
    clock = Clock()

    async def sleep(seconds: float) -> None:
        clock.now += seconds

    async def release(count: int) -> list[float]:
        pacer = RequestPacer(600, clock, sleep)
        times = []
        for _ in range(count):
            await pacer.wait()
            times.append(clock.now)
            clock.now += 0.001  # each release takes a moment
        return times

    times = asyncio.run(release(30))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.105 - 1e-9
    assert max(sum(1 for t in times if s <= t < s + 1.0) for s in times) <= 10


def test_token_bucket_waits_for_debt_and_takes_corrections():
    clock = Clock()
    bucket = TokenBucket(6000, clock)  # 100 tokens/s, 1000 capacity
    assert bucket.delay(1000) == 0
    assert bucket.delay(200) == pytest.approx(2.0)
    bucket.correct(estimated=200, actual=100)
    clock.now = 1.0
    assert bucket.delay(0) == 0


def run(coro):
    return asyncio.run(coro)


async def no_sleep(seconds: float) -> None:
    return None


def test_request_budget_counts_every_attempt():
    gate = Gate(Budget(max_requests=3), None, sleep=no_sleep)
    for _ in range(3):
        run(gate.admit(10, 100))(5, 50)
    with pytest.raises(BudgetReached):
        run(gate.admit(10, 100))
    assert gate.reached == "--max-requests 3"


def test_cost_budget_reserves_the_worst_case_of_calls_in_flight():
    prices = Prices(per_m_in=1.0, per_m_out=10.0)  # worst case per call: 100+1000*10 = 0.0101
    gate = Gate(Budget(max_cost=0.025), prices, sleep=no_sleep)
    first = run(gate.admit(100, 1000))
    run(gate.admit(100, 1000))
    with pytest.raises(BudgetReached):
        run(gate.admit(100, 1000))  # two in flight could already cost 0.0202
    first(100, 200)
    assert gate.cost == pytest.approx(0.0021)


def test_token_budget():
    gate = Gate(Budget(max_tokens=1000), None, sleep=no_sleep)
    run(gate.admit(100, 400))(100, 300)
    run(gate.admit(100, 400))
    with pytest.raises(BudgetReached):
        run(gate.admit(100, 400))


def test_cost_budget_needs_prices():
    with pytest.raises(UsageError, match="needs the price of model 'my-model'") as info:
        make_gate("my-model", Budget(max_cost=1.0), None, None)
    assert "--price-in" in info.value.hint


def test_the_gate_prices_tokens_with_the_one_formula():
    from tinygen.teachers import prices

    assert Prices is prices.Prices  # limits re-exports the one Prices, it has none of its own
    table = prices.prices_for("gpt-4o-mini", None, None)
    gate = Gate(Budget(max_cost=1.0), table, sleep=no_sleep)
    run(gate.admit(10, 100))(80, 800)
    gate.tally(1, 20, 200)
    assert gate.cost == pytest.approx(table.cost(80, 800) + table.cost(20, 200))
