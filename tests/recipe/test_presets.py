"""The shipped presets: listed, rendered offline, and sampling coverage on real lists."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import cli
from tinygen.recipe.items import build_item
from tinygen.recipe.load import load_recipe
from tinygen.recipe.presets import preset_names, preset_summary
from tinygen.recipe.preview import list_coverage

PRESETS = ["codeexercises", "codetextbook", "stories", "tinystories"]


def test_presets_are_listed():
    assert preset_names() == PRESETS
    code, out, _ = cli("presets")
    assert code == 0
    assert all(name in out for name in PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
def test_the_list_read_from_toml_agrees_with_the_loaded_preset(preset):
    summary = preset_summary(preset)
    recipe = load_recipe(preset).recipe
    assert summary.description == recipe.description != ""
    assert summary.variables == recipe.declared_variables()


@pytest.mark.parametrize("preset", PRESETS)
def test_preview_renders_three_prompts(preset):
    code, out, _ = cli("preview", preset, "-n", "3", "--json", "--run-size", "0")
    assert code == 0
    assert len(out.strip().splitlines()) == 3


def test_stories_prompts_never_open_with_once_upon_a_time():
    resolved = load_recipe("stories")
    for index in range(50):
        prompt = build_item(resolved, index).messages[-1]["content"]
        assert 'Never begin with "Once upon a time"' in prompt


def test_stories_first_letters_are_drawn_by_their_weight():
    """`repeats = true`: a letter listed k times in 100 opens k stories in every 100."""
    resolved = load_recipe("stories")
    letters = Counter(build_item(resolved, i).variables["first_letter"] for i in range(300))
    assert letters["E"] == 39 and letters["T"] == 27 and letters["K"] == 3
    prompt = build_item(resolved, 0).messages[-1]["content"]
    assert f"starts with the letter {build_item(resolved, 0).variables['first_letter']}" in prompt


def test_balanced_uses_every_noun_exactly_once():
    resolved = load_recipe("tinystories", {"sampling": "balanced"})
    nouns = resolved.lists["noun"]
    used = Counter(build_item(resolved, i).variables["noun"] for i in range(len(nouns)))
    assert set(used) == set(nouns) and set(used.values()) == {1}


def test_uniform_covers_about_63_percent():
    resolved = load_recipe("tinystories", {"sampling": "uniform"})
    share = list_coverage(resolved, len(resolved.lists["noun"]))["noun"]
    assert abs(share - 0.632) < 0.03
