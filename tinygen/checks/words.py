"""Word checks: does a text use a word in any inflected form?"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import lemminflect

from tinygen.text.tokens import word_tokens

_UPOS = ("NOUN", "VERB", "ADJ")


@lru_cache(maxsize=65536)
def word_forms(word: str) -> frozenset[str]:
    """The word and all its inflections as noun, verb and adjective (OOV words too)."""
    word = word.lower()
    forms = {word}
    for inflections in lemminflect.getAllInflections(word).values():
        forms.update(inflections)
    if len(forms) == 1:
        for upos in _UPOS:
            for inflections in lemminflect.getAllInflectionsOOV(word, upos).values():
                forms.update(inflections)
    return frozenset(form.lower() for form in forms)


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
