"""The errors users see, and the process exit codes.

What reaches the user is a TinygenError: one line and a hint naming the fix, printed by
the CLI as `Error:` / `Hint:` with its exit code. Messages are redacted (a server may
echo the key).

    Exception
    ├── TinygenError                exit 1: a run or command cannot go on
    │   ├── UsageError              exit 2: a bad flag, recipe, template, list or --out
    │   └── TeacherStopped          exit 1: the endpoint refuses every request (bad key,
    │       │                       wrong URL or model); raised by the engine
    │       └── QuotaExhausted      exit 5: the key has no quota or credit left (billing)
    └── (internal, never shown as such)
        ├── TeacherCallError        teachers/base.py: one failed call, for the retry
        │                           policy; a fatal one ends the run as TeacherStopped
        └── BudgetReached           teachers/limits.py: a budget refused a request; the
                                    run ends with exit 4 (ExitCode.BUDGET_REACHED)

Any other exception is a bug: the CLI reports it as one `Error:` line too (exit 1).
"""

from __future__ import annotations

from enum import IntEnum

from tinygen.text.redact import redact


class ExitCode(IntEnum):
    """Process exit codes of the `tinygen` command (documented in README)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    TARGET_NOT_REACHED = 3
    BUDGET_REACHED = 4
    QUOTA = 5
    HANGUP = 129
    INTERRUPTED = 130
    TERMINATED = 143

    @property
    def status(self) -> str:
        """The run status this exit code stands for (manifest and --json)."""
        return "done" if self is ExitCode.OK else self.name.lower()


class TinygenError(Exception):
    """An error meant for the user: a one-line message and a hint that names the fix."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        message = redact(message)  # may quote a server or a worker's stderr
        super().__init__(message)
        self.message = message
        self.hint = redact(hint) if hint else hint


class UsageError(TinygenError):
    """Bad input from the user: a recipe, a flag, a template (exit code 2)."""

    exit_code = ExitCode.USAGE


class TeacherStopped(TinygenError):
    """The endpoint refuses every request (bad key, wrong URL or model): the run stops."""


class QuotaExhausted(TeacherStopped):
    """The key has no quota or credit left: no retry can help until someone pays."""

    exit_code = ExitCode.QUOTA
