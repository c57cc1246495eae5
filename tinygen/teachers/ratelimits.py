"""Pacing to the limits a host announces: `x-ratelimit-*` headers and retry hints.

OpenAI (and Groq, Together, OpenRouter's upstreams) send on every answer, 200 or 429,
`x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests` and
`x-ratelimit-reset-requests` (the time until the allowance is full again, as a Go
duration: `6m0s`, `1s`, `120ms`), and the same for `-tokens`. `HeaderPacer` keeps an
estimate of what is left and releases requests only while something is, so a run paces
itself to the host's limits with no --rpm or --tpm. With worker processes each paces to
its share of the announced allowance, so together they stay under it.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|ns|m|s)")
_GO_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_TRY_AGAIN = re.compile(r"try again in\s+([0-9.hmsuµn]+)", re.IGNORECASE)
KINDS = ("requests", "tokens")
MAX_HINT_S = 3600.0  # a hint past an hour is not one tinygen waits for in one go
MIN_WAIT_S = 0.001
DRIFT = 0.95  # between answers, assume the allowance refills 5% slower than measured


def go_duration(text: str) -> float | None:
    """Seconds in a Go-style duration (`6m0s`, `1.5s`, `120ms`, `1h2m3s`) or a plain
    number of seconds; None if `text` is neither."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _GO_PART.findall(text)
        if not parts or "".join(number + unit for number, unit in parts) != text:
            return None
        seconds = sum(float(number) * _GO_UNIT[unit] for number, unit in parts)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def retry_after(
    headers: Mapping[str, str], message: str = "", now: Callable[[], float] = time.time
) -> float | None:
    """Seconds the host asks to wait: `retry-after-ms`, `Retry-After` (seconds or an
    HTTP-date), else "try again in 1.2s" in the error message; None if it says nothing."""
    value = headers.get("retry-after-ms")
    if value is not None and (seconds := go_duration(value)) is not None:
        return seconds / 1000
    value = headers.get("retry-after")
    if value is not None:
        if (seconds := go_duration(value)) is not None:
            return seconds
        if (date := _http_date(value)) is not None:
            return max(0.0, date - now())
    hint = _TRY_AGAIN.search(message)
    if hint is not None:
        return go_duration(hint.group(1).rstrip("."))
    return None


def _http_date(value: str) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


@dataclass(frozen=True)
class Announced:
    """One allowance a host announced: its limit, what is left, and when it is full."""

    limit: float
    remaining: float
    reset_s: float

    def refill_rate(self) -> float | None:
        """Units a second the allowance refills at, if the figures tell it."""
        if self.remaining < self.limit and self.reset_s > 0:
            return (self.limit - self.remaining) / self.reset_s
        return None


def announced(headers: Mapping[str, str], kind: str) -> Announced | None:
    """The `kind` allowance (requests or tokens) in `headers`, if all three are there."""
    values = [headers.get(f"x-ratelimit-{part}-{kind}") for part in ("limit", "remaining")]
    reset = headers.get(f"x-ratelimit-reset-{kind}")
    if None in values or reset is None:
        return None
    try:
        limit, remaining = (float(value) for value in values)  # type: ignore[arg-type]
    except ValueError:
        return None
    reset_s = go_duration(reset)
    if reset_s is None or not (limit > 0 and remaining >= 0):
        return None
    return Announced(limit, min(remaining, limit), reset_s)


@dataclass
class Allowance:
    """This process's estimate of one allowance: what is left now, and its refill rate."""

    share: float
    level: float = 0.0
    capacity: float = 0.0
    rate: float = 0.0
    updated: float = 0.0
    known: bool = False

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate * DRIFT)
        self.updated = now

    def observe(self, figures: Announced, spent_since: float, now: float) -> None:
        """Take the host's figures as of a request, less what left after it."""
        rate = figures.refill_rate()
        if rate is not None:
            self.rate = rate * self.share
        elif not self.known:
            self.rate = figures.limit / 60.0 * self.share  # full: assume a minute's window
        self.capacity = figures.limit * self.share
        self.level = figures.remaining * self.share - spent_since
        self.updated, self.known = now, True

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until `amount` is there (0 if it is, or if nothing is known)."""
        if not self.known:
            return 0.0
        self.refill(now)
        amount = min(amount, self.capacity)
        if self.level >= amount - 1e-6:  # rounding must not leave a nanosecond to wait
            return 0.0
        if self.rate <= 0:
            return 1.0
        return max(MIN_WAIT_S, (amount - self.level) / (self.rate * DRIFT))


@dataclass
class HeaderPacer:
    """Releases requests while the announced allowances last (requests and tokens)."""

    share: float = 1.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    allowances: dict[str, Allowance] = field(default_factory=dict)
    released: int = 0
    released_tokens: float = 0.0
    _tokens_at: dict[int, float] = field(default_factory=dict, repr=False)
    _observed: int = -1
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def __post_init__(self) -> None:
        self.allowances = {kind: Allowance(self.share) for kind in KINDS}

    @property
    def active(self) -> bool:
        """Whether the host announced anything yet."""
        return any(allowance.known for allowance in self.allowances.values())

    async def release(self, tokens: float) -> int:
        """Wait until a request of about `tokens` tokens may go; take it from the
        allowances and return its sequence number (for `observe`)."""
        if self.active:
            async with self._lock:
                while (delay := self._delay(tokens)) > 0:
                    await self.sleep(min(delay, MAX_HINT_S))
        seq = self.released
        self.released += 1
        self.released_tokens += tokens
        self._tokens_at[seq] = self.released_tokens
        for kind, amount in (("requests", 1.0), ("tokens", tokens)):
            self.allowances[kind].level -= amount
        return seq

    def _delay(self, tokens: float) -> float:
        now = self.clock()
        requests = self.allowances["requests"].wait_for(1.0, now)
        return max(requests, self.allowances["tokens"].wait_for(tokens, now))

    def observe(self, headers: Mapping[str, str], seq: int) -> None:
        """Read the allowances an answer to request `seq` announces (older news than the
        last one read is ignored)."""
        released_by_then = self._tokens_at.pop(seq, None)
        if seq <= self._observed or released_by_then is None:
            return
        now = self.clock()
        spent = {
            "requests": self.released - seq - 1,
            "tokens": self.released_tokens - released_by_then,
        }
        seen = False
        for kind in KINDS:
            figures = announced(headers, kind)
            if figures is not None:
                self.allowances[kind].observe(figures, spent[kind], now)
                seen = True
        if seen:
            self._observed = seq

    def forget(self, seq: int) -> None:
        """A request that got no answer (a dropped connection)."""
        self._tokens_at.pop(seq, None)
