"""Vocabulary conformance: how much of a text lies outside an allowed vocabulary.

A token is in the vocabulary if it, or one of its lemmas, is an allowed word; function
words, numbers and names (words capitalised in mid-sentence) always count as allowed. The
forms of the shipped lists' words come from a table (checks/formtables.py); only the
lemmas of tokens, for allowed words the table lacks, are looked up in lemminflect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from tinygen.checks.base import Answer, Check, Rejection
from tinygen.checks.formtables import LEMMA_OF, lemmas, shipped
from tinygen.recipe.datafiles import wordlists_dir
from tinygen.recipe.textfiles import read_text
from tinygen.text.tokens import word_tokens

FUNCTION_WORDS = "common/function_words.txt"
_CONTRACTION = re.compile(r"'(?:s|t|ll|re|ve|d|m)$")
_MID_SENTENCE_CAPITAL = re.compile(r"(?<![.!?\"“”:]\s)(?<!^)\b([A-Z][a-z]+)\b", re.MULTILINE)


def _adverb_stems(token: str) -> list[str]:
    """Adjectives an -ly adverb may come from (happily -> happy, softly -> soft)."""
    if token.endswith("ily"):
        return [token[:-3] + "y"]
    if token.endswith("ly") and len(token) > 4:
        return [token[:-2], token[:-2] + "e"]
    return []


class Vocabulary:
    """A set of allowed base words, with lemma-aware lookup of tokens."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(word.lower() for word in words if " " not in word)
        self._allowed: dict[str, bool] = {}
        table = shipped(LEMMA_OF)
        # every form of which a tabled word is a lemma; the other words by lemminflect
        self._forms = frozenset().union(*(table[w] for w in self.words if w in table))
        self._untabled = frozenset(word for word in self.words if word not in table)

    @classmethod
    def from_files(cls, files: Iterable[Path], extra: Iterable[str] = ()) -> Vocabulary:
        """Words from list files (one per line), the function words, and `extra`."""
        words = set(extra)
        for path in [*files, wordlists_dir() / FUNCTION_WORDS]:
            words.update(line.strip() for line in read_text(path, "list").splitlines())
        return cls(word for word in words if word)

    def allows(self, token: str) -> bool:
        """Is `token` (or a lemma of it) allowed? Answers are cached per token."""
        known = self._allowed.get(token)
        if known is None:
            known = self._allowed[token] = self._lookup(token)
        return known

    def _lookup(self, token: str) -> bool:
        token = _CONTRACTION.sub("", token)
        if token.isdigit():
            return True
        return any(map(self._lemma_allowed, [token, *_adverb_stems(token)]))

    def _lemma_allowed(self, token: str) -> bool:
        """Is `token` or one of its lemmas an allowed word?"""
        if token in self._forms:
            return True
        return bool(self._untabled) and not self._untabled.isdisjoint(lemmas(token))

    def outside_share(self, text: str, tokens: list[str] | None = None) -> tuple[float, list[str]]:
        """Share of word tokens outside the vocabulary, and those tokens (names excluded)."""
        names = {name.lower() for name in _MID_SENTENCE_CAPITAL.findall(text)}
        tokens = [t for t in (word_tokens(text) if tokens is None else tokens) if t not in names]
        if not tokens:
            return 0.0, []
        verdicts = {token: self.allows(token) for token in set(tokens)}
        outside = [token for token in tokens if not verdicts[token]]
        return len(outside) / len(tokens), outside


def vocabulary_check(vocabulary: Vocabulary, limit: float) -> Check:
    """Reject answers with more than `limit` of their words outside the vocabulary."""

    def check(answer: Answer) -> Rejection | None:
        share, outside = vocabulary.outside_share(answer.text, answer.tokens)
        answer.figures["outside_vocabulary"] = round(share, 4)
        if share > limit:
            sample = ", ".join(sorted(set(outside))[:8])
            return Rejection(
                "vocabulary",
                f"{share:.0%} of words outside the vocabulary (limit {limit:.0%}): {sample}",
                round(share, 4),
            )
        return None

    return check
