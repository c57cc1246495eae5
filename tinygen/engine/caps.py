"""Caps on the corpus as a whole: how many accepted records may share one opening, or one
main character (`checks.max_opening_share`, `checks.max_name_share`).

A cap is a share of the run's target (of this part's, with `--part`), so the finished
corpus holds at most that share of any one opening or name. Only the main process can
count the corpus, so the caps are checked there, after the per-answer checks and before
dedup; a resume counts again as it scans the shards (`count_text`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tinygen.checks.base import Rejection
from tinygen.recipe.model import ChecksConfig
from tinygen.report.names import main_character
from tinygen.text.tokens import opening, word_tokens


@dataclass(frozen=True)
class Traits:
    """What the caps count of one answer."""

    opening: str | None = None
    name: str | None = None


def traits_of(text: str, config: ChecksConfig, tokens: list[str] | None = None) -> Traits:
    """The opening and main character of `text` (its word `tokens`, if known), where the
    recipe caps them."""
    first = None
    if config.max_opening_share:
        first = opening(tokens if tokens is not None else word_tokens(text), config.opening_words)
    return Traits(first, main_character(text) if config.max_name_share else None)


def caps_on(config: ChecksConfig) -> bool:
    return bool(config.max_opening_share or config.max_name_share)


class CorpusCaps:
    """Counts the accepted records' openings and main characters; refuses one more of
    either once it reaches its cap."""

    def __init__(self, config: ChecksConfig, target: int) -> None:
        self.config = config
        self.opening_cap = _cap(config.max_opening_share, target)
        self.name_cap = _cap(config.max_name_share, target)
        self.openings: Counter[str] = Counter()
        self.names: Counter[str] = Counter()

    def count_text(self, text: str) -> None:
        """Count a record already in the shards (the resume scan shows each)."""
        self.add(traits_of(text, self.config))

    def check(self, traits: Traits) -> Rejection | None:
        """A rejection if the answer's opening or main character is at its cap."""
        config = self.config
        return _over(
            "opening", self.openings, traits.opening, self.opening_cap, config.max_opening_share
        ) or _over("name", self.names, traits.name, self.name_cap, config.max_name_share)

    def add(self, traits: Traits) -> None:
        """Count an accepted record."""
        if traits.opening:
            self.openings[traits.opening] += 1
        if traits.name:
            self.names[traits.name] += 1


_SAID = {  # how a detail says what is overused
    "opening": "{key!r} already opens {count} records",
    "name": "{key} is already the main character of {count} records",
}


def _over(
    kind: str, counts: Counter[str], key: str | None, cap: int | None, share: float | None
) -> Rejection | None:
    """`{kind}_overused` if `key` has reached `cap` in `counts`."""
    if cap is None or not key or counts[key] < cap:
        return None
    said = _SAID[kind].format(key=key, count=counts[key])
    return Rejection(f"{kind}_overused", f"{said} (max_{kind}_share {share:g}: {cap})", counts[key])


def _cap(share: float | None, target: int) -> int | None:
    return None if share is None else max(1, int(share * target))
