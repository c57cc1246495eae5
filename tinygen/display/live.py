"""A live status that fits the terminal: two lines, the important fields always shown.

Line 1 is the bar and what a watcher looks for first: `done/total`, the rate and the ETA.
Line 2 starts with the fields that must stay visible (rejects, failures) and adds the
others in order of importance while they fit; the bar takes the room that is left on
line 1 (a title goes first when the line is short). At 80 columns:

    stories ████████████████████████░░░░░░░░░░░ 212/300  71%  42.8 req/s  ETA 12s
    rejected 31 (too_short 20, cut_off 11) · failed 0 · dups 4 · retries 2 · $0.0123

Drawn on stderr by rich's Live, only on a terminal (`enabled`); off, it costs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.markup import escape
from rich.text import Text

SEPARATOR = " · "
_DETAIL = re.compile(r" \(.*?\)")  # a field's parenthesised detail, dropped first
MIN_BAR = 8  # narrower than this, the bar is left out
MAX_BAR = 60


@dataclass
class Status:
    """What the display shows at one moment."""

    title: str
    done: int
    total: int | None = None
    rate: str = ""  # e.g. "42.8 req/s"
    eta_s: float | None = None
    must: list[str] = field(default_factory=list)  # always on line 2
    more: list[str] = field(default_factory=list)  # on line 2 while they fit, in order
    unit: str = ""  # of done and total, e.g. MiB


def eta_text(seconds: float | None) -> str:
    """e.g. `ETA 42s`, `ETA 12m`, `ETA 3h05m`; `ETA ?` when it cannot be told yet."""
    if seconds is None:
        return "ETA ?"
    seconds = max(0, round(seconds))
    if seconds < 100:
        return f"ETA {seconds}s"
    if seconds < 6000:
        return f"ETA {round(seconds / 60)}m"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"ETA {hours}h{minutes:02d}m"


def count_text(status: Status) -> str:
    """e.g. `212/300  71%`, `12/95 MiB  13%`, or `212` with no total."""
    unit = f" {status.unit}" if status.unit else ""
    if not status.total:
        return f"{status.done:,}{unit}"
    share = min(status.done / status.total, 1.0)
    return f"{status.done:,}/{status.total:,}{unit}  {share:.0%}"


def first_line(status: Status, width: int) -> Text:
    """The bar, `done/total`, the rate and the ETA; the title and bar take what is left."""
    parts = (count_text(status), status.rate, eta_text(status.eta_s))
    tail = "  ".join(part for part in parts if part)
    room = width - len(tail) - 1
    title = status.title if room - len(status.title) - 1 >= MIN_BAR else ""
    bar_width = min(room - (len(title) + 1 if title else 0), MAX_BAR)
    if bar_width < MIN_BAR or not status.total:
        return Text(_cut(tail, width))
    line = Text()
    if title:
        line.append(title + " ", style="bold")
    share = min(status.done / status.total, 1.0)
    filled = round(share * bar_width)
    line.append("█" * filled, style="green")
    line.append("░" * (bar_width - filled), style="grey37")
    line.append(" " + tail)
    return line


def second_line(status: Status, width: int) -> Text:
    """The must-show fields (without their details if they do not fit otherwise), then
    as many of the others as fit in `width`."""
    line = SEPARATOR.join(status.must)
    if len(line) > width:
        line = SEPARATOR.join(_DETAIL.sub("", part) for part in status.must)
    for part in status.more:
        longer = f"{line}{SEPARATOR}{part}" if line else part
        if len(longer) <= width:  # else a shorter, less important field may still fit
            line = longer
    return Text(_cut(line, width))


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


class StatusView:
    """A renderable of the latest `Status`, laid out for the console's width each time."""

    def __init__(self, status: Status) -> None:
        self.status = status

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        status, width = self.status, options.max_width
        yield first_line(status, width)
        yield second_line(status, width)


class LiveStatus:
    """The live display: `with LiveStatus(source, enabled=...) as live: live.refresh()`.

    `refresh` takes a new `Status` from `source` in the caller's thread (counters are
    never read while they change); rich redraws the latest one four times a second."""

    def __init__(self, source: Callable[[], Status], *, enabled: bool) -> None:
        self.enabled = enabled
        self.source = source
        self.console = Console(stderr=True)
        self.view = StatusView(source()) if enabled else None
        self._live = Live(self.view, console=self.console, refresh_per_second=4)

    def __enter__(self) -> LiveStatus:
        if self.enabled:
            self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.enabled:
            self.refresh()
            self._live.refresh()
            self._live.stop()

    def refresh(self) -> None:
        """Take the current status (cheap; a no-op when the display is off)."""
        if self.view is not None:
            self.view.status = self.source()

    def note(self, text: str) -> None:
        """Print a note above the live display (or alone, when it is off)."""
        self.console.print(f"[bold]Note:[/] {escape(text)}", soft_wrap=True)


def lines_of(status: Status, width: int) -> Iterator[str]:
    """The display's two lines as plain text at `width` columns (for tests and logs)."""
    console = Console(width=width, record=True, file=_Null(), color_system=None)
    console.print(StatusView(status))
    yield from console.export_text().split("\n")[:2]


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass
