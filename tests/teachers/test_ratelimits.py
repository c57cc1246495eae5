"""Rate-limit headers and retry hints, and pacing to them (on a fake clock)."""

from __future__ import annotations

import asyncio
import email.utils

import pytest

from tinygen.teachers.ratelimits import (
    Announced,
    HeaderPacer,
    announced,
    go_duration,
    retry_after,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("120ms", 0.12),
        ("1m30.5s", 90.5),
        ("1h2m3s", 3723.0),
        ("0s", 0.0),
        ("7.66s", 7.66),
        ("2m59.56s", 179.56),
        ("250us", 0.00025),
        ("0.5", 0.5),
        ("20", 20.0),
    ],
)
def test_go_durations(text, seconds):
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "1x", "s", "-1s", "-3", "1s2", "nan", "inf"])
def test_not_durations(text):
    assert go_duration(text) is None


def test_retry_after_headers_in_order():
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_retry_after_http_date():
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after({"retry-after": date}, now=lambda: 1_000_000.0) == pytest.approx(30)
    assert retry_after({"retry-after": date}, now=lambda: 2_000_000.0) == 0.0


def test_retry_after_from_the_message():
    message = (
        "Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): "
        "Limit 600, Used 600, Requested 1. Please try again in 1.2s. Visit "
        "https://platform.openai.com/account/rate-limits to learn more."
    )
    assert retry_after({}, message) == pytest.approx(1.2)
    assert retry_after({}, "Please try again in 120ms.") == pytest.approx(0.12)
    assert retry_after({}, "try again in 6m0s") == 360.0
    assert retry_after({"retry-after": "2"}, message) == 2.0  # a header wins
    assert retry_after({}, "Please try again later.") is None


def headers(remaining: int, limit: int = 600, reset: str = "1s", kind: str = "requests"):
    return {
        f"x-ratelimit-limit-{kind}": str(limit),
        f"x-ratelimit-remaining-{kind}": str(remaining),
        f"x-ratelimit-reset-{kind}": reset,
    }


def test_announced_reads_all_three_or_nothing():
    assert announced(headers(590, reset="1s"), "requests") == Announced(600, 590, 1.0)
    assert announced(headers(590, reset="1s"), "tokens") is None
    partial = headers(590)
    del partial["x-ratelimit-reset-requests"]
    assert announced(partial, "requests") is None
    assert announced(headers(590, reset="later"), "requests") is None
    assert announced({**headers(5), "x-ratelimit-limit-requests": "lots"}, "requests") is None


def test_refill_rate_from_the_reset_time():
    assert Announced(600, 590, 1.0).refill_rate() == pytest.approx(10.0)
    # Groq announces requests a day: 14400 a day refill at 1/6 a second
    assert Announced(14400, 14370, 179.56).refill_rate() == pytest.approx(30 / 179.56)
    assert Announced(600, 600, 0.0).refill_rate() is None


class Clock:
    """A fake clock whose sleep moves time on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(clock: Clock, share: float = 1.0) -> HeaderPacer:
    return HeaderPacer(share=share, clock=clock, sleep=clock.sleep)


def test_no_headers_no_waiting():
    clock = Clock()
    pace = pacer(clock)

    async def go():
        for _ in range(1000):
            pace.observe({}, await pace.release(100))

    asyncio.run(go())
    assert clock.slept == [] and not pace.active


def test_paces_to_the_announced_refill_once_the_allowance_is_spent():
    """A host with 600 a minute and 5 left: 5 go at once, the rest at 10 a second."""
    clock, sent = Clock(), []
    pace = pacer(clock)

    async def go():
        pace.observe(headers(5, reset="59.5s"), await pace.release(10))
        for _ in range(25):
            await pace.release(10)
            sent.append(clock.now)

    asyncio.run(go())
    assert sent[:5] == [0.0] * 5
    rate = 20 / (sent[-1] - sent[4])
    assert 9.0 < rate <= 10.0


def test_requests_sent_after_an_answer_count_against_what_it_announced():
    clock = Clock()
    pace = pacer(clock)

    async def go():
        first = await pace.release(10)
        for _ in range(3):
            await pace.release(10)  # in flight when the first answer comes back
        pace.observe(headers(3, reset="59.7s"), first)
        await pace.release(10)

    asyncio.run(go())
    assert clock.slept and clock.slept[0] == pytest.approx(1 / (10 * 0.95))


def test_older_answers_do_not_overwrite_newer_news():
    clock = Clock()
    pace = pacer(clock)

    async def go():
        a, b = await pace.release(10), await pace.release(10)
        pace.observe(headers(0, reset="1m0s"), b)
        pace.observe(headers(500, reset="10s"), a)  # arrived late, describes an older state
        await pace.release(10)

    asyncio.run(go())
    assert clock.slept  # still waiting on the newer answer's empty allowance


def test_tokens_pace_too():
    clock, sent = Clock(), []
    pace = pacer(clock)
    tpm = {**headers(1000, limit=60_000, reset="58s", kind="tokens")}

    async def go():
        pace.observe(tpm, await pace.release(500))
        for _ in range(6):
            await pace.release(500)
            sent.append(clock.now)

    asyncio.run(go())
    # 1000 left: two requests of 500 go at once, then one a half second (1000 tokens/s)
    assert sent[:2] == [0.0, 0.0]
    assert (sent[-1] - sent[1]) / 4 == pytest.approx(0.5 / 0.95, rel=0.05)


def test_workers_pace_to_their_share():
    clock, sent = Clock(), []
    pace = pacer(clock, share=0.5)

    async def go():
        pace.observe(headers(10, reset="59s"), await pace.release(1))
        for _ in range(15):
            await pace.release(1)
            sent.append(clock.now)

    asyncio.run(go())
    assert sent[:5] == [0.0] * 5 and sent[5] > 0  # half of the 10 left
    assert 10 / (sent[-1] - sent[4]) == pytest.approx(5 * 0.95, rel=0.05)
