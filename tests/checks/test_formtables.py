"""The shipped form tables give what lemminflect gives, and spare loading it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tinygen.checks import vocabulary
from tinygen.checks.build import recipe_vocabulary
from tinygen.checks.formtables import INFLECTIONS, LEMMA_OF, inflections, shipped
from tinygen.checks.words import word_forms
from tinygen.recipe.load import load_recipe
from tinygen.text.tokens import word_tokens

ROOT = Path(__file__).resolve().parents[2]
STORY = (
    "Lily ran happily to the biggest trees. She didn't cry; the puppies were barking "
    "loudly and softly, and Tom's kites flew higher. They'd swum, sang and eaten "
    "cookies. A zyzzogeton glimmered xenially near 42 bridges."
)


def test_rebuild_reproduces_the_tables_byte_for_byte():
    rebuilt = subprocess.run(
        [sys.executable, str(ROOT / "wordlists" / "build_forms.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr


def test_the_inflection_table_is_lemminflects():
    table = shipped(INFLECTIONS)
    assert len(table) > 4000
    for word, forms in table.items():
        assert forms == inflections(word), word


def test_a_word_the_tables_lack_is_looked_up():
    assert "zyzzogeton" not in shipped(INFLECTIONS)
    assert word_forms("zyzzogeton") == inflections("zyzzogeton")
    assert "ran" in word_forms("run") and "run" in shipped(INFLECTIONS)


@pytest.mark.parametrize("preset", ["tinystories", "stories"])
def test_vocabulary_verdicts_are_those_without_tables(preset, monkeypatch):
    words = set(recipe_vocabulary(load_recipe(preset)).words)
    tokens = set(word_tokens(STORY)) | {"happily", "softly", "don't", "bigger", "xenially"}
    for word in sorted(words)[::7]:  # forms of many allowed words, and of their neighbours
        tokens |= shipped(LEMMA_OF).get(word, frozenset()) | inflections(word)
    tabled = vocabulary.Vocabulary(words)
    monkeypatch.setattr(vocabulary, "shipped", lambda name: {})
    looked_up = vocabulary.Vocabulary(words)
    assert not looked_up._forms and looked_up._untabled == looked_up.words
    differ = [token for token in tokens if tabled.allows(token) != looked_up.allows(token)]
    assert differ == []
    assert tabled.allows("ran") and tabled.allows("happily") and not tabled.allows("zyzzogeton")


def test_a_users_own_word_is_allowed_through_lemminflect():
    own = vocabulary.Vocabulary(["the", "zorble", "swim"])
    assert "zorble" in own._untabled
    assert own.allows("zorble") and own.allows("swam") and not own.allows("zorbling")


def test_checking_shipped_words_does_not_load_lemminflect():
    code = (
        "import sys\n"
        "from tinygen.checks.build import build_checks\n"
        "from tinygen.checks.base import Answer\n"
        "from tinygen.recipe.load import load_recipe\n"
        "resolved = load_recipe('tinystories')\n"
        "variables = {'noun': 'tree', 'verb': 'run', 'adjective': 'big'}\n"
        f"answer = Answer({STORY!r} * 3, 'stop', variables)\n"
        "verdicts = [check(answer) for check in build_checks(resolved)]\n"
        "print('lemminflect' in sys.modules, sum(v is not None for v in verdicts))\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert ran.stdout.split()[0] == "False", ran.stderr
