"""The one word tokenizer, for every word count and word check: checks (lengths,
repetition, required words, vocabulary), `tinygen stats`, the card.

A word is a run of letters or digits (any script: "café", "naïve", "5"), with inner
apostrophes ("don't", "o'clock"; the curly ’ counts as '), lowercased. Punctuation,
dashes and hyphens separate words ("ice-cream" is two).
"""

from __future__ import annotations

import re

WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def word_tokens(text: str) -> list[str]:
    """Lowercase word tokens of `text`."""
    return WORD_RE.findall(text.lower().replace("’", "'"))


def opening(tokens: list[str], words: int) -> str:
    """A text's opening: its first `words` word tokens (the opening checks and
    `tinygen stats` count)."""
    return " ".join(tokens[:words])
