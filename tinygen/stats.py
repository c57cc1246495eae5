"""Run counters: one dataclass updated by the pipeline, rendered elsewhere."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RunStats:
    """What happened in a run so far (this session and, for outcomes, earlier ones)."""

    target: int
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    in_flight: int = 0
    resumed_accepted: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def duplicates(self) -> int:
        return self.rejected["duplicate"]

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    def requests_per_second(self) -> float:
        return self.requests / self.elapsed

    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.elapsed

    def eta_seconds(self) -> float | None:
        """Seconds to the target at this session's acceptance rate, if it can be told."""
        new = self.accepted - self.resumed_accepted
        if new <= 0:
            return None
        return (self.target - self.accepted) * self.elapsed / new

    def summary(self) -> dict[str, object]:
        """Counts for the manifest and the --json summary."""
        return {
            "target": self.target,
            "accepted": self.accepted,
            "rejected": sum(self.rejected.values()),
            "duplicates": self.duplicates,
            "failed": sum(self.failed.values()),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "failed_by_kind": dict(sorted(self.failed.items())),
            "retries_by_kind": dict(sorted(self.retries.items())),
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "elapsed_s": round(self.elapsed, 3),
        }
