"""A run's progress on stderr: its counters as a live status that fits the terminal."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tinygen.display.live import LiveStatus, Status
from tinygen.engine.counters import RunStats
from tinygen.teachers.router import EndpointCounts

TOP_REASONS = 2  # reject reasons named on the status line
LIMIT_NOTE_EVERY = 60.0  # seconds between notes of a limit one kind of reason keeps moving


class ProgressDisplay(LiveStatus):
    """Renders `RunStats` a few times a second; a no-op when `enabled` is False."""

    def __init__(self, stats: RunStats, *, enabled: bool, title: str) -> None:
        super().__init__(lambda: run_status(stats, title), enabled=enabled)


def run_status(stats: RunStats, title: str) -> Status:
    """What the display shows of a run: accepted of the target, requests a second, ETA;
    rejects and failures always; the rest, most telling first, as room allows."""
    return Status(
        title=title,
        done=stats.accepted,
        total=stats.target,
        rate=f"{stats.requests / stats.elapsed:.1f} req/s",
        eta_s=stats.eta_seconds(),
        must=[_rejected(stats), f"failed {sum(stats.failed.values())}"],
        more=_more(stats),
    )


def _rejected(stats: RunStats) -> str:
    rejected = stats.rejected.copy()
    for reason in ("duplicate", "near_duplicate"):
        rejected.pop(reason, None)
    top = ", ".join(f"{reason} {n}" for reason, n in rejected.most_common(TOP_REASONS))
    return f"rejected {sum(rejected.values())}" + (f" ({top})" if top else "")


def _more(stats: RunStats) -> list[str]:
    parts = [f"dups {stats.duplicates}", f"retries {sum(stats.retries.values())}"]
    limit = stats.concurrency
    if limit and (note := limit.status_note()):
        parts.append(f"batches: {note}")
    if endpoints := stats.endpoints():
        parts.append("endpoints " + ", ".join(_endpoint_note(count) for count in endpoints))
    if stats.cost is not None:
        parts.append(f"${stats.cost:.4f}")
    parts += [
        f"{stats.completion_tokens / stats.elapsed:.0f} tok/s",
        f"in flight {stats.in_flight}",
    ]
    if limit and limit.current < limit.maximum:
        why = f" ({limit.limit_reason})" if limit.limit_reason else ""
        parts.append(f"limit {limit.current}/{limit.maximum}{why}")
    return parts


def _endpoint_note(count: EndpointCounts) -> str:
    """e.g. `gpu1:8000 212` or `gpu2:8000 80 down`."""
    return f"{count.label} {count.answered}" + (" down" if count.down else "")


@dataclass
class LimitNotes:
    """When run.log notes the concurrency limit: whenever the kind of its reason changes
    ("starting", "latency", "429s", back at the maximum), and while one kind keeps moving
    it (a saturated server: "latency x3.2", then "latency x3.6"...), once a minute."""

    reason: str = ""
    kind: str = ""
    noted_at: float = float("-inf")

    def due(self, reason: str, now: float | None = None) -> bool:
        """Whether the limit's new `reason` is to be noted now."""
        now = time.monotonic() if now is None else now
        kind = reason.split(" ", 1)[0]
        changed = reason != self.reason
        self.reason = reason
        if not changed or (kind == self.kind and now - self.noted_at < LIMIT_NOTE_EVERY):
            return False
        self.kind, self.noted_at = kind, now
        return True
