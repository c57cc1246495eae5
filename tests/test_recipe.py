"""Recipes: loading, resolving, and the errors bad ones give."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DATA, TINY, cli
from tinygen.errors import UsageError
from tinygen.items import build_item
from tinygen.quality import recipe_vocabulary
from tinygen.recipe import load_recipe

TEMPLATE = 'Write about the "{{ noun }}".\n'


def write_recipe(tmp_path: Path, body: str, template: str = TEMPLATE) -> str:
    (tmp_path / "t.j2").write_text(template)
    path = tmp_path / "r.toml"
    path.write_text('name = "r"\ntemplate = "t.j2"\n' + body)
    return str(path)


def error_of(recipe: str) -> str:
    with pytest.raises(UsageError) as info:
        load_recipe(recipe)
    return f"{info.value.message} | {info.value.hint}"


def test_tiny_recipe_resolves_with_stable_fingerprint():
    first, second = load_recipe(TINY), load_recipe(TINY)
    assert first.fingerprint == second.fingerprint
    assert load_recipe(TINY, {"seed": 1}).fingerprint != first.fingerprint
    assert load_recipe(TINY, {"teacher.model": "x"}).fingerprint != first.fingerprint
    assert load_recipe(TINY, {"shard_size": 5}).fingerprint == first.fingerprint


def test_fingerprint_covers_template_and_lists(tmp_path):
    base = load_recipe(write_recipe(tmp_path, '[lists.noun]\nitems = ["a", "b"]\n'))
    other_words = load_recipe(write_recipe(tmp_path, '[lists.noun]\nitems = ["a", "c"]\n'))
    other_text = load_recipe(
        write_recipe(tmp_path, '[lists.noun]\nitems = ["a", "b"]\n', 'About "{{ noun }}".')
    )
    assert len({base.fingerprint, other_words.fingerprint, other_text.fingerprint}) == 3


def test_item_is_a_function_of_seed_and_index():
    resolved = load_recipe(TINY, {"seed": 5})
    assert build_item(resolved, 7) == build_item(load_recipe(TINY, {"seed": 5}), 7)
    items = [build_item(resolved, i).messages for i in range(20)]
    assert len({str(m) for m in items}) > 10


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[lists.noun]\nitems = ["a"]\nbogus = 1\n', "lists.noun.bogus"),
        ('[lists.noun]\nitems = ["a"]\n[teacher]\ntemperature = 9\n', "teacher.temperature"),
        ('[lists.noun]\nitems = ["a"]\nfile = "x.txt"\n', "exactly one of `file`"),
        ('[lists.noun]\nfile = "missing.txt"\n', "lists.noun file 'missing.txt' not found"),
        ('[lists.noun]\nitems = ["a"]\ndraw = 2\n', "draws 2 per item"),
        ('[lists.noun]\nitems = ["a"\n', "invalid TOML"),
        ('[lists.noun]\nitems = ["a"]\n[lists.verb]\nitems = ["b"]\n', "declares `verb`"),
        ('[lists.noun]\nitems = ["a"]\nsampling = "random"\n', "lists.noun.sampling"),
    ],
)
def test_bad_recipes_name_the_field(tmp_path, body, expected):
    assert expected in error_of(write_recipe(tmp_path, body))


def test_undeclared_template_variable_names_file_line_and_declared(tmp_path):
    recipe = write_recipe(
        tmp_path, '[lists.noun]\nitems = ["a"]\n', 'Hello.\nUse "{{ noun }}" and "{{ colour }}".\n'
    )
    message = error_of(recipe)
    assert "t.j2 line 2 uses {{ colour }}" in message
    assert "provides: noun" in message


def test_template_syntax_error_names_line(tmp_path):
    recipe = write_recipe(tmp_path, '[lists.noun]\nitems = ["a"]\n', "ok\n{{ noun \n")
    assert "line 2" in error_of(recipe)


def test_unknown_preset_lists_presets():
    message = error_of("no-such-preset")
    assert "Unknown preset 'no-such-preset'" in message and "tinystories" in message


def test_cli_exit_codes_for_bad_input(tmp_path):
    code, _, err = cli("preview", "no-such-preset")
    assert code == 2 and "Error: Unknown preset" in err and "Hint:" in err
    bad = write_recipe(tmp_path, '[lists.noun]\nitems = ["a"]\n', "{{ nope }}")
    code, _, err = cli(
        "generate", bad, "--out", str(tmp_path / "o"), "--base-url", "http://127.0.0.1:9/v1"
    )
    assert code == 2 and "uses {{ nope }}" in err
    assert not (tmp_path / "o").exists()
    code, _, _ = cli("generate", TINY, "-n", "0", "--out", str(tmp_path / "o"))
    assert code == 2


def test_preview_prints_prompts_without_network():
    code, out, _ = cli("preview", str(DATA / "tiny.toml"), "-n", "3", "--json")
    assert code == 0
    assert len(out.strip().splitlines()) == 3


def test_vocabulary_files_are_found_next_to_the_recipe(tmp_path):
    (tmp_path / "mine.txt").write_text("zeppelin\n")
    body = '[lists.noun]\nitems = ["a"]\n[checks]\nvocabulary = ["mine.txt"]\n'
    vocabulary = recipe_vocabulary(load_recipe(write_recipe(tmp_path, body)))
    assert vocabulary.allows("zeppelin")
    missing = write_recipe(tmp_path, body.replace("mine.txt", "nope.txt"))
    with pytest.raises(UsageError, match=r"checks\.vocabulary file 'nope\.txt' not found"):
        recipe_vocabulary(load_recipe(missing))
