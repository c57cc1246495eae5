"""The one word tokenizer: lowercase words, with inner apostrophes."""

from __future__ import annotations

import re

WORD_RE = re.compile(r"[a-z]+(?:'[a-z]+)?")


def word_tokens(text: str) -> list[str]:
    """Lowercase word tokens of `text` (letters, with inner apostrophes)."""
    return WORD_RE.findall(text.lower())
