"""The breaker: stop a run whose items keep failing the same way, retrying cannot help.

A host that refuses every request with the same 400 (a parameter it does not take, a
prompt it rejects), or a reasoning model whose budget is spent before any answer, would
otherwise fail or reject item after item until the item cap, at a request (and maybe a
price) each. The breaker watches outcomes in the main process (all workers' at once)
and trips when the first few items all ended the same such way, or when most of a recent
window did.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

FIRST_ITEMS = 5  # the same failure on the first five items: stop
WINDOW = 50  # or on this share of the last fifty
WINDOW_SHARE = 0.8
# rejections no retry or later item fixes: the request itself is wrong for this model
HOPELESS_REJECTIONS = {
    "reasoning_exhausted": (
        "the model spends max_tokens on reasoning before it answers: raise --max-tokens "
        "or lower --reasoning-effort (recipe teacher.reasoning_effort)"
    ),
    "judge_unreadable": (
        "the judge does not answer with the JSON object of scores: use a larger judge model "
        "(checks.judge.model, or --judge-url), or an endpoint with structured output"
    ),
}


@dataclass(frozen=True)
class Tripped:
    """Why the breaker stopped the run: the outcome, how often, and what to do."""

    outcome: str
    count: int
    seen: int
    hint: str

    @property
    def message(self) -> str:
        return f"{self.count} of the last {self.seen} items ended the same way: {self.outcome}"


@dataclass
class Breaker:
    """Counts how items end; `record` returns a `Tripped` when the run should stop."""

    first_items: int = FIRST_ITEMS
    window: int = WINDOW
    share: float = WINDOW_SHARE
    _recent: deque[str | None] = field(default_factory=deque)
    _opening: str | None = None  # the outcome every item so far ended with
    _streak: int = 0  # items in a row since the start that ended with it (0: broken)
    _broken: bool = False

    def record(self, outcome: str | None, hint: str = "") -> Tripped | None:
        """Count one finished item (`outcome` None: it went through, or failed in a way
        that may pass; else a label like "HTTP 400: ..."); say whether to stop."""
        self._recent.append(outcome)
        if len(self._recent) > self.window:
            self._recent.popleft()
        if outcome is None:
            self._broken = True
            return None
        if not self._broken and self._opening in (None, outcome):
            self._opening, self._streak = outcome, self._streak + 1
            if self._streak >= self.first_items:
                return Tripped(outcome, self._streak, self._streak, hint)
        else:
            self._broken = True
        count = self._recent.count(outcome)
        if len(self._recent) == self.window and count >= self.share * self.window:
            return Tripped(outcome, count, self.window, hint)
        return None
