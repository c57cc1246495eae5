"""`run.log` in the output directory: what each session did, one timestamped line each."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tinygen.rundir.layout import RUN_LOG
from tinygen.text.redact import redact


def utc_now() -> str:
    """Current UTC time, ISO 8601 with seconds (every time stamp a run writes)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunLog:
    """Appends lines to DIR/run.log (secrets masked)."""

    def __init__(self, out_dir: Path | None) -> None:
        """Log into `out_dir`; None gives a log that writes nothing (before the dir exists)."""
        self._handle = (out_dir / RUN_LOG).open("a", encoding="utf-8") if out_dir else None

    def info(self, message: str) -> None:
        if self._handle is not None:
            self._handle.write(f"{utc_now()} {redact(message)}\n")
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
