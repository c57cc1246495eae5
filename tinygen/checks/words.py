"""Word checks: does a text use a word in any inflected form?"""

from __future__ import annotations

from collections.abc import Iterable

from tinygen.checks.formtables import INFLECTIONS, inflections, shipped
from tinygen.text.tokens import word_tokens


def word_forms(word: str) -> frozenset[str]:
    """The word and all its inflections as noun, verb and adjective (OOV words too):
    from the shipped table when it has the word, else from lemminflect."""
    word = word.lower()
    return shipped(INFLECTIONS).get(word) or inflections(word)


def uses_word(text: str | list[str], word: str) -> bool:
    """True if `text` (or its word tokens) uses `word` (a word or phrase) in any form."""
    tokens = word_tokens(text) if isinstance(text, str) else text
    parts = word_tokens(word)
    if len(parts) == 1:
        return not word_forms(parts[0]).isdisjoint(tokens)
    return _uses_phrase(tokens, parts)


def _uses_phrase(tokens: list[str], parts: list[str]) -> bool:
    """A multi-word entry: its words in order, the last one in any inflected form."""
    head, last = parts[:-1], word_forms(parts[-1])
    width = len(parts)
    return any(
        tokens[i : i + width - 1] == head and tokens[i + width - 1] in last
        for i in range(len(tokens) - width + 1)
    )


def missing_words(text: str | list[str], words: Iterable[str]) -> list[str]:
    """The words of `words` that `text` (or its word tokens) does not use in any form."""
    tokens = word_tokens(text) if isinstance(text, str) else text
    return [word for word in words if not uses_word(tokens, word)]
