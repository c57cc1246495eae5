"""Progress on stderr: a rich live display, silent when asked or when nothing watches."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from tinygen.engine.counters import RunStats
from tinygen.teachers.router import EndpointCounts


class ProgressDisplay:
    """Renders `RunStats` a few times a second; a no-op when `enabled` is False."""

    def __init__(self, stats: RunStats, *, enabled: bool, title: str) -> None:
        self._stats = stats
        self._enabled = enabled
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[detail]}"),
            console=Console(stderr=True),
            refresh_per_second=4,
            disable=not enabled,
        )
        self._task = self._progress.add_task(title, total=stats.target, detail="")

    def __enter__(self) -> ProgressDisplay:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.refresh()
        self._progress.stop()

    def note(self, text: str) -> None:
        """Print a note above the live display (or alone, when it is off)."""
        self._progress.console.print(f"[bold]Note:[/] {escape(text)}", soft_wrap=True)

    def refresh(self) -> None:
        """Copy the counters into the display (cheap; rich redraws on its own clock)."""
        if not self._enabled:
            return
        self._progress.update(
            self._task, completed=self._stats.accepted, detail=status_line(self._stats)
        )


def _endpoint_note(count: EndpointCounts) -> str:
    """e.g. `gpu1:8000 212` or `gpu2:8000 80 down`."""
    return f"{count.label} {count.answered}" + (" down" if count.down else "")


def status_line(stats: RunStats) -> str:
    """One line of rates and counts, e.g. for the live display."""
    sent = stats.requests
    parts = [
        f"{sent / stats.elapsed:.1f} req/s",
        f"{stats.completion_tokens / stats.elapsed:.0f} tok/s",
        f"in flight {stats.in_flight}",
    ]
    limit = stats.concurrency
    if limit and limit.current < limit.maximum:
        why = f" ({limit.limit_reason})" if limit.limit_reason else ""
        parts.append(f"limit {limit.current}/{limit.maximum}{why}")
    parts.append(f"retries {sum(stats.retries.values())}")
    rejected = stats.rejected.copy()
    for reason in ("duplicate", "near_duplicate"):
        rejected.pop(reason, None)
    top = ", ".join(f"{reason} {n}" for reason, n in rejected.most_common(3))
    parts.append(f"rejected {sum(rejected.values())}" + (f" ({top})" if top else ""))
    parts += [f"dups {stats.duplicates}", f"failed {sum(stats.failed.values())}"]
    if stats.cost is not None:
        parts.append(f"${stats.cost:.4f}")
    if endpoints := stats.endpoints():
        parts.append("endpoints " + ", ".join(_endpoint_note(count) for count in endpoints))
    if limit and (note := limit.status_note()):
        parts.append(f"batches: {note}")
    eta = stats.eta_seconds()
    if eta is not None:
        parts.append(f"ETA {eta:.0f}s")
    return " · ".join(parts)
