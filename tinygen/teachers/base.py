"""The teacher interface: one raw call, no retries, errors normalised for the policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tinygen.recipe.model import TeacherParams
from tinygen.text.redact import redact


@dataclass(frozen=True)
class Completion:
    """What one successful teacher call returned."""

    text: str
    finish_reason: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    response_model: str | None = None
    usage_note: str | None = None  # what was wrong with the answer's `usage`, if anything
    reasoning_tokens: int | None = None  # of completion_tokens, spent thinking
    endpoint: str | None = None  # which of several endpoints answered (host:port)


class TeacherCallError(Exception):
    """One failed call, described for the retry policy.

    `kind` is a short stable label counted in the manifest (`rate_limit`, `server_error`,
    `timeout`, `connection`, `bad_response`, `client_error`, `auth`, `too_large`, ...).
    `fatal` errors (bad key, wrong URL or model) stop the whole run; `retryable` ones are
    tried again. Messages are redacted: servers may echo the key.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        retryable: bool,
        fatal: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
        body_prefix: str = "",
    ) -> None:
        message = redact(message)
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.fatal = fatal
        self.status = status
        self.retry_after = retry_after
        self.body_prefix = redact(body_prefix)  # the start of an answer too large to read


class Teacher(Protocol):
    """Anything that turns chat messages into one completion."""

    def describe(self) -> dict[str, object]:
        """Who answers: kind, model, and where (host only, never a key)."""
        ...

    async def complete(self, messages: list[dict[str, str]], params: TeacherParams) -> Completion:
        """Make exactly one call; raise TeacherCallError on failure."""
        ...

    def take_notices(self) -> list[str]:
        """What the teacher changed in its requests since last asked (e.g. a parameter
        the host refused), for the run to say once."""
        ...

    async def aclose(self) -> None:
        """Release connections or the model."""
        ...
