"""Answer checks: each looks at one answer and returns None (pass) or a rejection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tinygen.teachers.base import Completion


@dataclass(frozen=True)
class Rejection:
    """Why a check refused an answer, with the figure it measured where there is one."""

    reason: str
    detail: str = ""
    value: float | None = None


Check = Callable[[Completion], Rejection | None]


def cut_off(completion: Completion) -> Rejection | None:
    """The teacher stopped at max_tokens: the answer is cut mid-way."""
    if completion.finish_reason == "length":
        return Rejection("length", "finish_reason is 'length' (raise max_tokens?)")
    return None


def content_filter(completion: Completion) -> Rejection | None:
    """The provider's content filter stopped the answer."""
    if completion.finish_reason == "content_filter":
        return Rejection("content_filter", "finish_reason is 'content_filter'")
    return None


def empty(completion: Completion) -> Rejection | None:
    """Nothing but whitespace came back."""
    if not completion.text.strip():
        return Rejection("empty", "the answer is empty")
    return None


DEFAULT_CHECKS: tuple[Check, ...] = (content_filter, empty, cut_off)


def first_rejection(completion: Completion, checks: tuple[Check, ...]) -> Rejection | None:
    """Run the checks in order; the first refusal wins."""
    for check in checks:
        rejection = check(completion)
        if rejection is not None:
            return rejection
    return None
