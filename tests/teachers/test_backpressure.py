"""Backpressure decisions: windows of answers, not single events."""

from __future__ import annotations

import random

from tinygen.teachers.backpressure import AdaptiveConcurrency


def opened(maximum: int = 64, latency: float = 0.3) -> AdaptiveConcurrency:
    """A limit past its probe and slow start, at `maximum`."""
    limit = AdaptiveConcurrency(maximum)
    while limit.current < maximum:
        limit.on_answer(latency)
    return limit


def test_one_request_at_a_time_until_the_first_answer():
    limit = AdaptiveConcurrency(64)
    limit.on_throttled("429")  # a 429 on the first request: still one at a time
    assert (limit.current, limit.probing) == (1, True)
    limit.on_answer(0.3)
    assert (limit.current, limit.probing, limit.reason) == (8, False, "starting")


def test_slow_start_doubles_each_good_window_up_to_the_maximum():
    limit = AdaptiveConcurrency(64)
    limit.on_answer(0.3)
    seen = [limit.current]
    for _ in range(200):
        limit.on_answer(0.3)
        if limit.current != seen[-1]:
            seen.append(limit.current)
    assert seen == [8, 16, 32, 64]
    assert limit.reason == "" and not limit.slow_start


def test_isolated_429s_do_not_cut_the_limit():
    """A shared gateway's 5% random 429s: retried, never a reason to slow down."""
    limit, rng = opened(32), random.Random(1)
    for _ in range(5000):
        if rng.random() < 0.05:
            limit.on_throttled("429")
        else:
            limit.on_answer(0.3)
    assert limit.current == 32


def test_sustained_429s_cut_by_windows_and_say_why():
    limit = opened(64)  # its last hundred outcomes were answers
    for _ in range(64):  # one window
        limit.on_throttled("429")
    assert limit.current == 44 and limit.reason == "429s (64 of the last 100)"
    outcomes = 0
    while limit.current >= 10:
        limit.on_throttled("429")
        outcomes += 1
    assert outcomes < 600  # a cut at the first window with fifty fresh outcomes


def test_a_host_over_its_rate_a_fifth_of_the_time_is_slowed():
    limit, rng = opened(32), random.Random(2)
    for _ in range(300):
        if rng.random() < 0.25:
            limit.on_throttled("429")
        else:
            limit.on_answer(0.3)
    assert limit.current < 32 and limit.reason.startswith("429s")


def test_503_bursts_cut_too():
    limit = opened(64)
    for n in range(128):  # a quarter of the answers are 503s
        if n % 4 == 0:
            limit.on_throttled("503")
        else:
            limit.on_answer(0.3)
    assert limit.current < 64 and "503s" in limit.reason


def test_latency_inflation_cuts_and_recovery_adds_one_a_window():
    limit = opened(64, latency=0.3)
    for _ in range(64 * 10):
        limit.on_answer(1.5)  # 5x the best window: a queue at the server
    inflated = limit.current
    assert inflated < 64 * 0.9**5 and limit.reason.startswith("latency x5.0")
    for _ in range(max(8, inflated) * 3):
        limit.on_answer(0.3)
    assert limit.current == inflated + 3


def test_fast_answers_are_measured_against_the_floor():
    """A loopback server answers in a millisecond alone and in ten under load: that is
    the client's own work, no queue; past 3x the floor (0.1 s) it is one."""
    limit = opened(64, latency=0.001)
    for _ in range(64 * 20):
        limit.on_answer(0.01)
    assert limit.current == 64
    for _ in range(64 * 5):
        limit.on_answer(0.5)
    assert limit.current < 64 and limit.reason.startswith("latency x5.0")


def test_latency_under_the_tolerance_is_left_alone():
    limit = opened(64, latency=0.3)
    for _ in range(64 * 20):
        limit.on_answer(0.8)  # slower answers, but no queue
    assert limit.current == 64
