"""Corpus caps: one opening or main character may hold only its share of the target."""

from __future__ import annotations

from tinygen.engine.caps import CorpusCaps, Traits, caps_on, traits_of
from tinygen.recipe.model import ChecksConfig
from tinygen.report.names import main_character

CAPPED = ChecksConfig(max_opening_share=0.05, max_name_share=0.1)


def test_an_opening_is_refused_once_it_holds_its_share_of_the_target():
    caps = CorpusCaps(CAPPED, target=100)  # 5 openings, 10 names
    same = Traits("once upon a", None)
    for _ in range(5):
        assert caps.check(same) is None
        caps.add(same)
    refused = caps.check(same)
    assert refused is not None and refused.reason == "opening_overused" and refused.value == 5
    assert "'once upon a' already opens 5 records (max_opening_share 0.05: 5)" in refused.detail
    assert caps.check(Traits("one sunny morning", None)) is None


def test_a_main_character_is_refused_at_its_cap():
    caps = CorpusCaps(CAPPED, target=20)  # 2 names
    for _ in range(2):
        caps.add(Traits(None, "Lily"))
    refused = caps.check(Traits("lily went to", "Lily"))
    assert refused is not None and refused.reason == "name_overused"
    assert caps.check(Traits("lily went to", "Amara")) is None


def test_a_small_target_still_allows_one():
    caps = CorpusCaps(CAPPED, target=3)
    assert caps.opening_cap == 1 and caps.check(Traits("a b c", None)) is None


def test_traits_are_normalized_words_and_the_most_used_name():
    text = "Once upon a time, Lily met Amara. Lily smiled, and Amara waved. Then Lily ran."
    assert traits_of(text, CAPPED) == Traits("once upon a", "Lily")
    five = ChecksConfig(max_opening_share=0.5, opening_words=5)
    assert traits_of("“Look!” said Tom. Tom ran.", five) == Traits("look said tom tom ran", None)
    assert not caps_on(ChecksConfig()) and caps_on(five)


def test_the_main_character_is_the_first_of_equals_and_none_without_names():
    assert main_character("Yesterday Ravi met Ola, and Ola met Ravi.") == "Ravi"
    assert main_character("the cat sat on the mat.") is None
