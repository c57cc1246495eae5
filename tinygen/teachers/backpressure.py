"""Backpressure: how many requests may be in flight, adapted to how the endpoint copes.

One request goes alone until the endpoint answers (a bad key or an empty account then
costs one request), then eight, and the limit doubles every window while answers come
back well (slow start), up to `maximum`. After that it moves by windows of answers, never by one:
- 15% or more throttled answers (429, 503, 529) among the last hundred cut the limit
  by 30%: the host is overloaded or over its rate. Isolated 429s (a shared gateway's
  5%) are retried, not taken as a reason to slow down;
- a window whose median latency is over 3x the best (the probe's, alone, or a window's
  median; taken as at least 0.1 s) cuts it by 10%: a saturated server (vLLM, TGI)
  queues instead of refusing, and more requests in flight only wait longer (and time
  out). Answers faster than that are no queue worth relieving: what inflates them is
  the client's own work (a loopback server answering in a millisecond);
- a good window adds one.
`reason` says why the limit is under the maximum, for the display and the manifest.

An item waiting to retry (a 429's Retry-After, a backoff) holds no request at the
endpoint, so it does not hold a slot either: `room` lets another item ask meanwhile, up
to as many waiting as the limit itself.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MIN_WINDOW = 8  # answers a window needs before it decides anything
THROTTLE_SPAN = 100  # the last outcomes whose throttled share decides a cut
THROTTLED_SHARE = 0.15  # 5% random 429s reach it in 100 outcomes once in ~2,500 windows
THROTTLE_CUT = 0.7
LATENCY_TOLERANCE = 3.0
LATENCY_CUT = 0.9
MIN_LATENCY_LIMIT = 2  # below this, latency is the answer's own, not a queue's
LATENCY_FLOOR = 0.1  # s: the least best latency inflation is measured against


@dataclass
class AdaptiveConcurrency:
    """The allowed concurrency (`current`), moved by windows of answers."""

    maximum: int
    limit: float = 1.0
    probing: bool = True  # no answer yet: one request at a time
    slow_start: bool = True  # doubling each good window, until the first cut
    reason: str = ""  # why `current` is under `maximum`
    baseline: float | None = None  # the probe's or the best window's median latency (s)
    waiting: int = 0  # items waiting to retry: they hold no request at the endpoint
    on_room: Callable[[], None] | None = field(default=None, repr=False)  # a slot freed
    _latencies: list[float] = field(default_factory=list, repr=False)
    window_throttled: dict[str, int] = field(default_factory=dict, repr=False)
    _recent: deque[str | None] = field(
        default_factory=lambda: deque(maxlen=THROTTLE_SPAN), repr=False
    )

    @property
    def current(self) -> int:
        """Requests allowed at once now."""
        return 1 if self.probing else max(1, min(self.maximum, int(self.limit)))

    def room(self, asking: int) -> int:
        """How many more items may ask now, `asking` being the items that hold a slot or
        wait to retry (those count up to the limit again, no more)."""
        return self.current - (asking - min(self.waiting, self.current))

    def wait_started(self) -> None:
        """An item sleeps before its next attempt: its slot is free meanwhile."""
        self.waiting += 1
        if self.on_room is not None:
            self.on_room()

    def wait_ended(self) -> None:
        self.waiting -= 1

    def on_answer(self, latency: float) -> None:
        """An answer came back (whatever the checks make of it)."""
        if self.probing:  # the one answer with nothing queued beside it
            self.probing, self.baseline = False, latency
            self.limit = float(min(self.maximum, MIN_WINDOW))
            self.reason = "starting" if self.limit < self.maximum else ""
            return
        self._latencies.append(latency)
        self._recent.append(None)
        self._maybe_decide()

    def on_throttled(self, why: str) -> None:
        """The endpoint refused a request as overloaded or over its rate (`why`: "429",
        "503", ...)."""
        self.window_throttled[why] = self.window_throttled.get(why, 0) + 1
        self._recent.append(why)
        self._maybe_decide()

    def _maybe_decide(self) -> None:
        throttled = sum(self.window_throttled.values())
        seen = len(self._latencies) + throttled
        if seen < max(MIN_WINDOW, self.current):
            return
        median = statistics.median(self._latencies) if self._latencies else None
        recent = [why for why in self._recent if why is not None]
        if len(self._recent) == THROTTLE_SPAN and len(recent) >= THROTTLED_SHARE * THROTTLE_SPAN:
            worst = max(set(recent), key=recent.count)
            self._cut(THROTTLE_CUT, f"{worst}s ({len(recent)} of the last {THROTTLE_SPAN})")
            for _ in range(THROTTLE_SPAN // 2):  # the next cut needs fresh evidence
                self._recent.popleft()
        elif self._inflated(median):
            assert median is not None and self.baseline is not None
            self._cut(LATENCY_CUT, f"latency x{median / self._reference():.1f}")
        else:
            self._grow()
        if median is not None and (self.baseline is None or median < self.baseline):
            self.baseline = median
        self._latencies, self.window_throttled = [], {}

    def _inflated(self, median: float | None) -> bool:
        return (
            median is not None
            and self.baseline is not None
            and self.current > MIN_LATENCY_LIMIT
            and median > LATENCY_TOLERANCE * self._reference()
        )

    def _reference(self) -> float:
        """The latency inflation is measured against: the best, or the floor."""
        assert self.baseline is not None
        return max(self.baseline, LATENCY_FLOOR)

    def _cut(self, factor: float, reason: str) -> None:
        self.limit = max(1.0, self.limit * factor)
        self.slow_start, self.reason = False, reason

    def _grow(self) -> None:
        step = self.limit if self.slow_start else 1.0
        self.limit = min(float(self.maximum), self.limit + step)
        if self.limit >= self.maximum:
            self.slow_start, self.reason = False, ""
