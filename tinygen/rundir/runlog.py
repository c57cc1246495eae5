"""`run.log` in the output directory: what each session did, one timestamped line each."""

from __future__ import annotations

from pathlib import Path

from tinygen.engine.records import utc_now
from tinygen.text.redact import redact

RUN_LOG = "run.log"


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
