"""The word check: inflected forms count, absent words do not."""

from __future__ import annotations

import pytest

from tinygen.checks.words import missing_words, uses_word
from tinygen.text.canonical import text_key


@pytest.mark.parametrize(
    ("word", "text"),
    [
        ("jump", "The frog jumped over the log."),
        ("jump", "They were jumping all day."),
        ("mouse", "Two mice ate the cheese."),
        ("happy", "She was happier than ever."),
        ("go", "He went home."),
        ("child", "The children laughed."),
        ("run", "The dog ran fast."),
        ("fly", "The bird flew away."),
        ("good", "This is the best cake."),
        ("swim", "We swam in the lake."),
        ("tooth", "Brush your teeth!"),
        ("ice cream", "They shared two ice creams."),
    ],
)
def test_inflected_forms_are_accepted(word, text):
    assert uses_word(text, word)


@pytest.mark.parametrize(
    ("word", "text"),
    [
        ("jump", "The frog sat on the log."),
        ("mouse", "A cat slept."),
        ("happy", "She was unhappy."),
        ("run", "The brunette girl smiled."),
        ("cat", "The catalogue was thick."),
    ],
)
def test_absent_words_are_rejected(word, text):
    assert not uses_word(text, word)


def test_missing_words_lists_only_the_absent():
    text = "The happy dogs jumped."
    assert missing_words(text, ["dog", "jump", "happy", "kite"]) == ["kite"]


def test_text_key_ignores_case_width_and_spacing():
    assert text_key("  Ｔhe  Cat\tsat.\n") == text_key("the cat sat.")
    assert text_key("the cat sat.") != text_key("the cat sat!")
