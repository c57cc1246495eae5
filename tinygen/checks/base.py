"""The check seam: an Answer, a Rejection, and a Check that maps one to the other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from tinygen.text.tokens import word_tokens


@dataclass(frozen=True)
class Rejection:
    """Why a check refused an answer, with the figure it measured where there is one."""

    reason: str
    detail: str = ""
    value: float | None = None


@dataclass
class Answer:
    """What the checks look at: the text, how it ended, and what the item asked for."""

    text: str
    finish_reason: str | None
    variables: dict[str, object] = field(default_factory=dict)
    reasoning_tokens: int | None = None  # spent thinking before the text, if reported
    figures: dict[str, object] = field(default_factory=dict)

    @cached_property
    def tokens(self) -> list[str]:
        """Lowercase word tokens of the text, computed once for all checks."""
        return word_tokens(self.text)


Check = Callable[[Answer], Rejection | None]


def first_rejection(answer: Answer, checks: list[Check]) -> Rejection | None:
    """Run the checks in order; the first refusal wins (later checks do not run)."""
    for check in checks:
        rejection = check(answer)
        if rejection is not None:
            return rejection
    return None
