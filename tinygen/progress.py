"""Progress on stderr: a rich live display, silent when asked or when nothing watches."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from tinygen.stats import RunStats


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

    def refresh(self) -> None:
        """Copy the counters into the display (cheap; rich redraws on its own clock)."""
        if not self._enabled:
            return
        self._progress.update(
            self._task, completed=self._stats.accepted, detail=status_line(self._stats)
        )


def status_line(stats: RunStats) -> str:
    """One line of rates and counts, e.g. for the live display."""
    eta = stats.eta_seconds()
    parts = [
        f"{stats.requests_per_second():.1f} req/s",
        f"{stats.tokens_per_second():.0f} tok/s",
        f"in flight {stats.in_flight}",
        f"retries {sum(stats.retries.values())}",
        f"rejected {sum(stats.rejected.values()) - stats.duplicates}",
        f"dups {stats.duplicates}",
        f"failed {sum(stats.failed.values())}",
    ]
    if eta is not None:
        parts.append(f"ETA {eta:.0f}s")
    return " · ".join(parts)
