"""Backpressure: how many requests may be in flight, adapted to how the endpoint copes.

One request goes alone until the endpoint answers (a bad key or an empty account then
costs one request), then eight, and the limit doubles every window while answers come
back well (slow start), up to `maximum`. After that it moves by windows of answers, never by one:
- a window where 15% or more of the answers were throttled (429, 503, 529) cuts the
  limit by 30%: the host is overloaded or over its rate. An isolated 429 (a shared
  gateway's 5%) is retried, not taken as a reason to slow down;
- a window whose median latency is over 3x the best (the probe's, alone, or a window's
  median) cuts it by 10%: a
  saturated server (vLLM, TGI) queues instead of refusing, and more requests in flight
  only wait longer (and time out);
- a good window adds one.
`reason` says why the limit is under the maximum, for the display and the manifest.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

MIN_WINDOW = 8  # answers a window needs before it decides anything
THROTTLED_SHARE = 0.15
THROTTLE_CUT = 0.7
LATENCY_TOLERANCE = 3.0
LATENCY_CUT = 0.9
MIN_LATENCY_LIMIT = 2  # below this, latency is the answer's own, not a queue's


@dataclass
class AdaptiveConcurrency:
    """The allowed concurrency (`current`), moved by windows of answers."""

    maximum: int
    limit: float = 1.0
    probing: bool = True  # no answer yet: one request at a time
    slow_start: bool = True  # doubling each good window, until the first cut
    reason: str = ""  # why `current` is under `maximum`
    baseline: float | None = None  # the probe's or the best window's median latency (s)
    _latencies: list[float] = field(default_factory=list, repr=False)
    window_throttled: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def current(self) -> int:
        """Requests allowed at once now."""
        return 1 if self.probing else max(1, min(self.maximum, int(self.limit)))

    def on_answer(self, latency: float) -> None:
        """An answer came back (whatever the checks make of it)."""
        if self.probing:  # the one answer with nothing queued beside it
            self.probing, self.baseline = False, latency
            self.limit = float(min(self.maximum, MIN_WINDOW))
            self.reason = "starting" if self.limit < self.maximum else ""
            return
        self._latencies.append(latency)
        self._maybe_decide()

    def on_throttled(self, why: str) -> None:
        """The endpoint refused a request as overloaded or over its rate (`why`: "429",
        "503", ...)."""
        self.window_throttled[why] = self.window_throttled.get(why, 0) + 1
        self._maybe_decide()

    def _maybe_decide(self) -> None:
        throttled = sum(self.window_throttled.values())
        seen = len(self._latencies) + throttled
        if seen < max(MIN_WINDOW, self.current):
            return
        median = statistics.median(self._latencies) if self._latencies else None
        if throttled >= max(2, THROTTLED_SHARE * seen):
            worst = max(self.window_throttled, key=self.window_throttled.__getitem__)
            self._cut(THROTTLE_CUT, f"{worst}s ({throttled} of {seen})")
        elif self._inflated(median):
            assert median is not None and self.baseline is not None
            self._cut(LATENCY_CUT, f"latency x{median / self.baseline:.1f}")
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
            and median > LATENCY_TOLERANCE * self.baseline
        )

    def _cut(self, factor: float, reason: str) -> None:
        self.limit = max(1.0, self.limit * factor)
        self.slow_start, self.reason = False, reason

    def _grow(self) -> None:
        step = self.limit if self.slow_start else 1.0
        self.limit = min(float(self.maximum), self.limit + step)
        if self.limit >= self.maximum:
            self.slow_start, self.reason = False, ""
