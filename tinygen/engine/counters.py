"""Run counters: one dataclass updated by the pipeline, rendered elsewhere."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinygen.engine.asks import Asks
    from tinygen.teachers.limits import Gate
    from tinygen.teachers.router import EndpointCounts


@dataclass
class RunStats:
    """What happened in a run: outcomes over all sessions, traffic in this one."""

    target: int
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0  # of completion_tokens
    in_flight: int = 0
    resumed_accepted: int = 0
    notices: list[str] = field(default_factory=list)  # what changed in the requests
    gate: Gate | None = None
    concurrency: Asks | None = None  # its current and maximum concurrency
    started: float = field(default_factory=time.monotonic)

    @property
    def requests(self) -> int:
        """Requests sent in this session: the gate counts each as it admits it (workers'
        gates report theirs to the main process's), so they are counted once."""
        return self.gate.requests if self.gate is not None else 0

    @property
    def duplicates(self) -> int:
        return self.rejected["duplicate"] + self.rejected["near_duplicate"]

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def cost(self) -> float | None:
        """USD spent in this session, if the model's prices are known."""
        if self.gate is None or self.gate.prices is None:
            return None
        return self.gate.cost

    def eta_seconds(self) -> float | None:
        """Seconds to the target at this session's acceptance rate, if it can be told."""
        new = self.accepted - self.resumed_accepted
        if new <= 0:
            return None
        return (self.target - self.accepted) * self.elapsed / new

    def outcomes(self) -> dict[str, object]:
        """Counts of item outcomes (all sessions) and of retries (this session)."""
        return {
            "target": self.target,
            "accepted": self.accepted,
            "rejected": sum(self.rejected.values()),
            "duplicates": self.duplicates,
            "failed": sum(self.failed.values()),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "failed_by_kind": dict(sorted(self.failed.items())),
            "retries_by_kind": dict(sorted(self.retries.items())),
        }

    def summary(self) -> dict[str, object]:
        """Outcomes plus this session's traffic, for the manifest and --json."""
        cost = self.cost
        return {
            **self.outcomes(),
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_usd": None if cost is None else round(cost, 6),
            "elapsed_s": round(self.elapsed, 3),
            "notices": list(self.notices),
            **self._concurrency(),
            **self._endpoints(),
        }

    def endpoints(self) -> list[EndpointCounts]:
        """Per-endpoint counts of this session, when several endpoints answer."""
        return self.concurrency.endpoints() if self.concurrency is not None else []

    def _endpoints(self) -> dict[str, object]:
        counts = self.endpoints()
        if not counts:
            return {}
        return {"endpoints": {count.label: count.describe() for count in counts}}

    def _concurrency(self) -> dict[str, object]:
        limit = self.concurrency
        if limit is None:
            return {}
        return {
            "concurrency": {
                "limit": limit.current,
                "maximum": limit.maximum,
                "reason": limit.limit_reason,
            }
        }
