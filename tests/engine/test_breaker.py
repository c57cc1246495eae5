"""The breaker: the same hopeless outcome at the start, or over most of a window."""

from __future__ import annotations

from tinygen.engine.breaker import Breaker

BAD = "HTTP 400: Bad prompt."


def test_the_same_failure_on_the_first_five_items_trips():
    breaker = Breaker()
    assert [breaker.record(BAD, "fix it") for _ in range(4)] == [None] * 4
    tripped = breaker.record(BAD, "fix it")
    assert tripped is not None and tripped.outcome == BAD and tripped.hint == "fix it"
    assert tripped.message == f"5 of the last 5 items ended the same way: {BAD}"


def test_a_success_or_another_outcome_breaks_the_opening_streak():
    for other in (None, "HTTP 400: Another."):
        breaker = Breaker()
        breaker.record(BAD)
        breaker.record(other)
        assert all(breaker.record(BAD) is None for _ in range(10))


def test_most_of_a_window_trips_later_in_the_run():
    breaker = Breaker()
    for _ in range(100):
        assert breaker.record(None) is None
    results = [breaker.record(BAD if i % 10 else None) for i in range(60)]
    tripped = next(result for result in results if result is not None)
    assert tripped.count >= 40 and tripped.seen == 50


def test_scattered_failures_never_trip():
    breaker = Breaker()
    assert all(breaker.record(BAD if i % 3 == 0 else None) is None for i in range(1000))
