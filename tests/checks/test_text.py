"""Answer checks: each refuses what it should and passes what it should."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tinygen.checks.base import Answer
from tinygen.checks.text import (
    broken_encoding,
    cut_off,
    length_bounds,
    meta_talk,
    reasoning_exhausted,
    repetition,
    repetition_share,
    required_words,
)
from tinygen.checks.vocabulary import Vocabulary, vocabulary_check
from tinygen.text.tokens import word_tokens

STORY = (
    "Ada found a red ball in the park. She kicked it high, and it flew over the tree. "
    '"Come back!" she laughed, running after it.'
)


def answer(text: str, finish: str = "stop", **variables) -> Answer:
    return Answer(text, finish, variables)


def test_cut_off_by_finish_reason_and_open_sentence():
    assert cut_off(answer(STORY)) is None
    assert cut_off(answer(STORY, "length")).reason == "length"
    assert cut_off(answer("The dog ran to the")).reason == "cut_off"
    assert cut_off(answer("Done.\n```python\nx = 1\n```")) is None
    assert cut_off(answer('She said, "Yes!"')) is None


@pytest.mark.parametrize(
    "text",
    [
        "As an AI, I cannot write stories.",
        "Sure! Here is a story about a cat.",
        "Here's a short story for you:\n\nA cat sat.",
        "Title: The Cat\n\nA cat sat.",
        "**Title: The Cat**\n\nA cat sat.",
        "I'm sorry, but I can't help with that.",
    ],
)
def test_meta_talk_is_refused(text):
    assert meta_talk(answer(text)).reason == "meta_talk"


def test_ordinary_story_is_not_meta_talk():
    assert meta_talk(answer(STORY)) is None
    assert meta_talk(answer("Sure enough, the sun came out.")) is None


def test_broken_encoding():
    assert broken_encoding(answer(STORY)) is None
    assert broken_encoding(answer("The cafÃ© was nice.")).reason == "encoding"
    assert broken_encoding(answer("A bell\x07 rang.")).reason == "encoding"
    assert broken_encoding(answer("Bad \ufffd char.")).reason == "encoding"


def test_ascii_answers_never_load_ftfy():
    code = (
        "import sys\n"
        "from tinygen.checks.base import Answer\n"
        "from tinygen.checks.text import broken_encoding\n"
        "assert broken_encoding(Answer('Tom ran home.', 'stop', {})) is None\n"
        "print('ftfy' in sys.modules)\n"
        "assert broken_encoding(Answer('The caf\\u00c3\\u00a9 was nice.', 'stop', {}))\n"
        "print('ftfy' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True"]


def test_repetition_measure_and_check():
    assert repetition_share(word_tokens(STORY)) == 0.0
    loop = "the brave dog ran " * 20
    assert repetition_share(word_tokens(loop)) > 0.9
    check = repetition(0.2)
    assert check(answer(STORY)) is None
    rejection = check(answer(loop))
    assert rejection.reason == "repetition" and rejection.value > 0.9


def test_length_bounds_in_words():
    check = length_bounds(5, 30)
    assert check(answer(STORY)) is None
    assert check(answer("Too short.")).reason == "too_short"
    assert check(answer("word " * 31 + ".")).reason == "too_long"


def test_required_words_in_any_form():
    check = required_words(["noun", "verb"])
    item = answer("The mice jumped.", noun="mouse", verb="jump")
    assert check(item) is None and item.figures["missing_words"] == []
    rejection = check(answer("The mice sat.", noun="mouse", verb="jump"))
    assert rejection.reason == "missing_word" and "jump" in rejection.detail


def test_vocabulary_share_counts_names_and_inflections_as_in():
    vocabulary = Vocabulary.from_files([], extra=["dog", "run", "happy", "see", "big"])
    share, outside = vocabulary.outside_share("The happy dogs ran. Then Zanele saw a zeppelin.")
    assert outside == ["zeppelin"]
    assert share == pytest.approx(1 / 8)
    check = vocabulary_check(vocabulary, 0.05)
    item = answer("The happy dogs ran. Then Zanele saw a zeppelin.")
    assert check(item).reason == "vocabulary"
    assert item.figures["outside_vocabulary"] == pytest.approx(1 / 8, abs=1e-4)


def test_reasoning_exhausted_is_length_with_nothing_said():
    rejection = reasoning_exhausted(Answer("", "length", {}, reasoning_tokens=600))
    assert rejection is not None and rejection.reason == "reasoning_exhausted"
    assert rejection.value == 600 and "600 reasoning tokens" in rejection.detail
    assert "raise --max-tokens or lower --reasoning-effort" in rejection.detail
    assert reasoning_exhausted(Answer("  ", "length")).value is None
    assert reasoning_exhausted(Answer("A story cut", "length")) is None  # cut_off says so
    assert reasoning_exhausted(Answer("", "stop")) is None  # plain empty
