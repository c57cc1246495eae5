"""Character names in a story: capitalised words that are neither sentence-initial nor in
a small stoplist of capitalised words that are not names (Mom, Monday, OK...)."""

from __future__ import annotations

import re
from collections import Counter

# Capitalised words that are not character names (compared lowercased).
_STOP_WORDS = """i i'm i'll i've i'd mom mum mommy mummy mama dad daddy papa grandma grandpa granny
    grandad nana mr mrs ms miss dr sir madam mister god ok okay oh hi hello yes no wow
    please thank thanks sorry goodbye bye the a an and but so then one once he she they it
    we you my his her their our your its this that there here when after before while
    what who why how where if as at in on of to for with from by up down out all every
    some look let let's come go good great dear little big baby mister
    monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december christmas halloween easter
    english tv"""
NAME_STOPLIST = frozenset(_STOP_WORDS.split())

_CAPITAL = re.compile(r"(?<![\w'])[A-ZÀ-ÖØ-Þ][^\W_]*(?:'[^\W_]+)*")
_SENTENCE_END = frozenset(".!?…:;\n\r#*>-—–•")
_OPEN_QUOTE = frozenset("\"“‘'«(")
_CLOSE_QUOTE = frozenset("\"”’'»)")


def names_in(text: str) -> set[str]:
    """Capitalised words of `text` that are neither sentence-initial nor stoplisted."""
    found = set()
    for match in _CAPITAL.finditer(text.replace("’", "'")):
        word = match.group()
        if word.lower() not in NAME_STOPLIST and not _sentence_initial(text, match.start()):
            found.add(word)
    return found


def main_character(text: str) -> str | None:
    """The name `text` uses most (the first of equals), if it names anyone: counted over
    every capitalised use, so a name that opens sentences counts there too."""
    names = names_in(text)
    if not names:
        return None
    uses = Counter(
        match.group()
        for match in _CAPITAL.finditer(text.replace("’", "'"))
        if match.group() in names
    )
    return max(uses, key=uses.__getitem__)  # insertion order: the first of equals


def _sentence_initial(text: str, start: int) -> bool:
    """Does the word at `start` begin a sentence, a line, or a quotation?"""
    i = start - 1
    if i >= 0 and text[i] in _OPEN_QUOTE:
        return True
    while i >= 0 and text[i] in " \t":
        i -= 1
    if i < 0 or text[i] in _SENTENCE_END:
        return True
    return text[i] in _CLOSE_QUOTE and i > 0 and text[i - 1] in _SENTENCE_END
