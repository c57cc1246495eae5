"""InProcessAsks: items asked as tasks, handed back once each, on the fake teacher."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import Waits, bad_key, tiny
from tinygen.engine.asker import Asker, Kind
from tinygen.engine.asks import InProcessAsks
from tinygen.teachers.backpressure import AdaptiveConcurrency
from tinygen.teachers.base import TeacherCallError
from tinygen.teachers.fake import FakeTeacher
from tinygen.teachers.limits import Budget, Gate


def make_asks(teacher: FakeTeacher, concurrency: int = 2, gate: Gate | None = None):
    limit = AdaptiveConcurrency(concurrency)
    asker = Asker(tiny(), teacher, gate or Gate.unlimited(), Waits().policy(), limit)
    return InProcessAsks(asker, limit)


async def collect(asks: InProcessAsks) -> list:
    finished = []
    while asks.in_flight:
        finished += await asks.next_finished()
    return finished


def test_submitted_items_come_back_once_each():
    async def main():
        teacher = FakeTeacher(delay=0.01)
        asks = make_asks(teacher, concurrency=2)
        await asks.start()
        assert (asks.current, asks.maximum, asks.has_room()) == (1, 2, True)  # probing
        asks.submit(0)
        assert not asks.has_room()  # one at a time until the endpoint has answered
        finished = await asks.next_finished()
        assert asks.current == 2 and asks.has_room()
        asks.submit(1)
        asks.submit(2)
        asks.flush()
        assert (asks.in_flight, asks.has_room()) == (2, False)
        finished += await collect(asks)
        await asks.close()
        return teacher, finished, asks

    teacher, finished, asks = asyncio.run(main())
    assert sorted((f.index, f.kind) for f in finished) == [(i, Kind.CANDIDATE) for i in range(3)]
    assert teacher.calls == 3
    assert asks.in_flight == 0 and asks.has_room()


def test_cancel_hands_back_running_items_as_cancelled():
    async def main():
        teacher = FakeTeacher(delay=30)
        asks = make_asks(teacher, concurrency=3)
        for index in range(3):
            asks.submit(index)
        await asyncio.sleep(0.01)  # let them reach the teacher
        asks.stop_sending()  # nothing waits in-process: all three are running
        asks.cancel()
        return teacher, await collect(asks)

    teacher, finished = asyncio.run(asyncio.wait_for(main(), 5))
    assert sorted((f.index, f.kind) for f in finished) == [(i, Kind.CANCELLED) for i in range(3)]
    assert teacher.calls == 3


def test_a_fatal_error_is_raised_by_next_finished():
    async def main():
        asks = make_asks(FakeTeacher(bad_key()), concurrency=1)
        asks.submit(0)
        try:
            await asks.next_finished()
        finally:
            await asks.close()

    with pytest.raises(TeacherCallError) as raised:
        asyncio.run(main())
    assert raised.value.kind == "auth"


def test_budgets_spent_follows_the_gate():
    async def main():
        gate = Gate(Budget(max_requests=1), None)
        teacher = FakeTeacher()
        asks = make_asks(teacher, concurrency=2, gate=gate)
        assert not asks.budgets_spent()
        asks.submit(0)
        asks.submit(1)
        finished = await collect(asks)
        return teacher, finished, asks.budgets_spent()

    teacher, finished, spent = asyncio.run(main())
    assert sorted(f.kind for f in finished) == [Kind.CANDIDATE, Kind.UNSENT]
    assert spent and teacher.calls == 1


def test_close_cancels_and_waits_for_what_runs():
    async def main():
        teacher = FakeTeacher(delay=30)
        asks = make_asks(teacher, concurrency=2)
        asks.submit(0)
        await asyncio.sleep(0.01)
        await asks.close()
        return asks

    asks = asyncio.run(asyncio.wait_for(main(), 5))
    assert asks.in_flight == 0


def test_items_that_finish_with_a_fatal_error_are_handed_back_before_it():
    async def main():
        teacher = FakeTeacher("Tom saw the cat. The end.", bad_key())
        asks = make_asks(teacher, concurrency=2)
        asks.submit(0)
        asks.submit(1)
        await asyncio.sleep(0.05)  # both are done: one answer, one fatal error, queued together
        first = await asks.next_finished()
        assert asks.in_flight == 1  # the error still waits to be raised
        with pytest.raises(TeacherCallError):
            await asks.next_finished()
        return first

    first = asyncio.run(main())
    assert [f.index for f in first] == [0]
