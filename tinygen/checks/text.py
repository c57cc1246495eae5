"""Text checks: each looks at one answer and returns None (pass) or a Rejection."""

from __future__ import annotations

import re

from tinygen.checks.base import Answer, Check, Rejection
from tinygen.checks.words import missing_words
from tinygen.text.encoding import describe_unencodable, unencodable_at

_SENTENCE_END = frozenset(".!?…")


_CLOSERS = "\"'”’)]*_"


_META = re.compile(
    "|".join(
        [
            r"\bas an ai\b",
            r"\bas a language model\b",
            r"\bI(?: a|')m (?:sorry|unable)\b",
            r"\bI (?:cannot|can't|can not) (?:help|write|create|provide|assist)\b",
            r"^\W*(?:sure|certainly|of course|absolutely|okay)\b[!,.:]",
            r"^\W*here(?:'s| is) (?:a|an|the|your|my)\b",
            r"^\W*(?:\*\*|#+\s*)?title\s*:",
        ]
    ),
    re.IGNORECASE,
)


def unencodable(answer: Answer) -> Rejection | None:
    """A lone surrogate (half an emoji, legal in JSON): the text cannot be UTF-8. The
    rejected record keeps it with U+FFFD in its place."""
    at = unencodable_at(answer.text)
    if at is not None:
        detail = describe_unencodable(answer.text, at)
        return Rejection("encoding", f"{detail}; kept in rejected.jsonl as U+FFFD")
    return None


def reasoning_exhausted(answer: Answer) -> Rejection | None:
    """The token budget ran out before any answer: a reasoning model spent it thinking."""
    if answer.finish_reason == "length" and not answer.text.strip():
        spent = answer.reasoning_tokens
        detail = f"{spent} reasoning tokens" if spent else "reasoning (or nothing)"
        return Rejection(
            "reasoning_exhausted",
            f"{detail} used up max_tokens before any answer: raise --max-tokens or lower "
            "--reasoning-effort",
            None if spent is None else float(spent),
        )
    return None


def empty(answer: Answer) -> Rejection | None:
    """Nothing but whitespace came back."""
    if not answer.text.strip():
        return Rejection("empty", "the answer is empty")
    return None


def content_filter(answer: Answer) -> Rejection | None:
    """The provider's content filter stopped the answer."""
    if answer.finish_reason == "content_filter":
        return Rejection("content_filter", "finish_reason is 'content_filter'")
    return None


def cut_off(answer: Answer) -> Rejection | None:
    """Stopped at max_tokens, or the last sentence is left open."""
    if answer.finish_reason == "length":
        return Rejection("length", "finish_reason is 'length' (raise max_tokens?)")
    if not _ends_closed(answer.text):
        tail = answer.text.rstrip()[-40:]
        return Rejection("cut_off", f"the last sentence is left open: ...{tail!r}")
    return None


def _ends_closed(text: str) -> bool:
    """Ends with sentence punctuation (closing quotes or brackets may follow) or a fence."""
    end = text.rstrip()
    return end.endswith("```") or end.rstrip(_CLOSERS)[-1:] in _SENTENCE_END


def meta_talk(answer: Answer) -> Rejection | None:
    """Refusals and talk about the task ("As an AI", "Sure! Here is", "Title:")."""
    head = answer.text.strip()[:400]
    match = _META.search(head)
    if match:
        return Rejection("meta_talk", f"the answer says {match.group(0).strip()!r}")
    return None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def broken_encoding(answer: Answer) -> Rejection | None:
    """Mojibake (text decoded with the wrong codec) or control characters."""
    control = _CONTROL.search(answer.text)
    if control:
        return Rejection("encoding", f"control character {control.group(0)!r} in the text")
    if answer.text.isascii():
        return None  # mojibake needs non-ASCII characters; skip ftfy's slower scan
    from ftfy.badness import is_bad  # 0.07 s to load: an ASCII corpus never needs it

    if "\ufffd" in answer.text or is_bad(answer.text):
        return Rejection("encoding", "mojibake or replacement characters in the text")
    return None


def repetition_share(tokens: list[str], n: int = 4) -> float:
    """Share of the word n-grams in `tokens` that repeat an earlier one (0 = none)."""
    count = len(tokens) - n + 1
    if count <= 0:
        return 0.0
    return 1 - len(set(zip(*(tokens[i:] for i in range(n)), strict=False))) / count


TAIL_TOKENS = 100  # small models often loop only at the end: measure the tail alone too


def repetition(limit: float) -> Check:
    """Reject degenerate repetition: too many repeated word 4-grams in the whole answer
    or in its last 100 words (where a small model's loop usually sits)."""

    def check(answer: Answer) -> Rejection | None:
        tokens = answer.tokens
        share = round(max(repetition_share(tokens), repetition_share(tokens[-TAIL_TOKENS:])), 4)
        answer.figures["repetition"] = share
        if share > limit:
            return Rejection(
                "repetition", f"{share:.0%} of word 4-grams repeat (limit {limit:.0%})", share
            )
        return None

    return check


def length_bounds(min_words: int | None, max_words: int | None) -> Check:
    """Reject answers shorter or longer than the bounds, in words."""

    def check(answer: Answer) -> Rejection | None:
        words = len(answer.tokens)
        answer.figures["words"] = words
        if min_words is not None and words < min_words:
            return Rejection("too_short", f"{words} words (minimum {min_words})", words)
        if max_words is not None and words > max_words:
            return Rejection("too_long", f"{words} words (maximum {max_words})", words)
        return None

    return check


def required_words(list_names: list[str]) -> Check:
    """Reject answers that leave out a word the prompt required (any inflected form)."""

    def check(answer: Answer) -> Rejection | None:
        wanted: list[str] = []
        for name in list_names:
            value = answer.variables.get(name)
            wanted += value if isinstance(value, list) else [str(value)]
        missing = missing_words(answer.tokens, wanted)
        answer.figures["missing_words"] = missing
        if missing:
            return Rejection("missing_word", f"does not use: {', '.join(missing)}", len(missing))
        return None

    return check
