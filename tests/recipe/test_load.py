"""Recipes: loading, resolving, and the errors bad ones give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import DATA, TINY, cli, gen_args, run_cli_subprocess
from tinygen.checks.build import recipe_vocabulary
from tinygen.engine.pool import PoolSpec, worker_setups
from tinygen.errors import UsageError
from tinygen.recipe.items import build_item
from tinygen.recipe.load import load_recipe
from tinygen.teachers.factory import TeacherOptions
from tinygen.teachers.limits import Budget, Gate

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


LATIN1 = b"cat\ndog\ncaf\xe9\n"  # the bad byte is at offset 11, on line 3


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (LATIN1, "words.txt line 3: not UTF-8 (byte 0xe9 at offset 11)"),
        (b"cat\ndog\x00\x01\x02\n", "words.txt line 2: is a binary file, not a text list"),
    ],
)
def test_word_list_files_must_be_utf8(tmp_path, data, expected):
    (tmp_path / "words.txt").write_bytes(data)
    message = error_of(write_recipe(tmp_path, '[lists.noun]\nfile = "words.txt"\n'))
    assert expected in message
    assert "UTF-8" in message.split(" | ")[1]


def test_recipe_and_template_files_must_be_utf8(tmp_path):
    recipe = write_recipe(tmp_path, '[lists.noun]\nitems = ["a"]\n')
    (tmp_path / "t.j2").write_bytes(b'Hello\n"{{ noun }}" caf\xe9')
    assert "t.j2 line 2: not UTF-8 (byte 0xe9 at offset 22) | save t.j2 as UTF-8" in error_of(
        recipe
    )
    Path(recipe).write_bytes(b'name = "r"\n# caf\xe9\ntemplate = "t.j2"\n')
    assert "r.toml line 2: not UTF-8 (byte 0xe9 at offset 16)" in error_of(recipe)


def test_vocabulary_files_must_be_utf8(tmp_path):
    (tmp_path / "mine.txt").write_bytes(LATIN1)
    body = '[lists.noun]\nitems = ["a"]\n[checks]\nvocabulary = ["mine.txt"]\n'
    with pytest.raises(UsageError, match=r"mine\.txt line 3: not UTF-8 \(byte 0xe9 at offset 11\)"):
        recipe_vocabulary(load_recipe(write_recipe(tmp_path, body)))


def test_a_template_that_fails_to_render_fails_when_the_recipe_loads(tmp_path):
    recipe = write_recipe(tmp_path, '[lists.noun]\nitems = ["a"]\n', '"{{ noun }}"\n{{ 1 / 0 }}\n')
    assert "t.j2 line 2: the template failed to render: ZeroDivisionError" in error_of(recipe)


def test_a_later_item_that_fails_to_render_is_a_usage_error(tmp_path):
    template = "{{ noun }}\n{% if noun == 'b' %}{{ noun.__class__ }}{% endif %}\n"
    recipe = write_recipe(tmp_path, '[lists.noun]\nitems = ["a", "b", "c"]\n', template)
    resolved = load_recipe(recipe, {"seed": 1})  # its item 0 draws another noun than "b"
    with pytest.raises(UsageError) as info:
        for index in range(1, 10):
            build_item(resolved, index)
    assert info.value.message.endswith(
        "t.j2 line 2: the template is not allowed to use unsafe attributes or calls: "
        "access to attribute '__class__' of 'str' object is unsafe."
    )


OUTSIDE_HINT = "move the file next to the recipe, or pass --allow-path DIR to allow files under DIR"


def recipe_in_folder(tmp_path: Path, body: str, template: str = TEMPLATE) -> str:
    """A recipe in tmp_path/recipe/, so that tmp_path itself is outside its folder."""
    folder = tmp_path / "recipe"
    folder.mkdir(exist_ok=True)
    (tmp_path / "outside.txt").write_text("cat\ndog\n")
    (tmp_path / "outside.j2").write_text(TEMPLATE)
    return write_recipe(folder, body, template)


@pytest.mark.parametrize(
    ("body", "field", "name"),
    [
        ('[lists.noun]\nfile = "/etc/passwd"\n', "lists.noun.file", "/etc/passwd"),
        ('[lists.noun]\nfile = "../outside.txt"\n', "lists.noun.file", "../outside.txt"),
        ('[lists.noun]\nfile = "link.txt"\n', "lists.noun.file", "link.txt"),
        (
            '[lists.noun]\nitems = ["a"]\n[checks]\nvocabulary = ["../outside.txt"]\n',
            "checks.vocabulary",
            "../outside.txt",
        ),
    ],
)
def test_files_outside_the_recipe_folder_are_refused(tmp_path, body, field, name):
    recipe = recipe_in_folder(tmp_path, body)
    (tmp_path / "recipe" / "link.txt").symlink_to(tmp_path / "outside.txt")
    message = error_of(recipe)
    assert message == f"{recipe}: {field} {name!r} is outside the recipe's folder | {OUTSIDE_HINT}"


def test_a_template_outside_the_recipe_folder_is_refused(tmp_path):
    recipe = recipe_in_folder(tmp_path, '[lists.noun]\nitems = ["a"]\n')
    Path(recipe).write_text('name = "r"\ntemplate = "../outside.j2"\n[lists.noun]\nitems = ["a"]\n')
    assert error_of(recipe).startswith(f"{recipe}: template '../outside.j2' is outside")


def test_allow_path_lets_files_under_that_folder_through(tmp_path):
    body = '[lists.noun]\nfile = "../outside.txt"\n[checks]\nvocabulary = ["../outside.txt"]\n'
    recipe = recipe_in_folder(tmp_path, body)
    resolved = load_recipe(recipe, allow_paths=[tmp_path])
    assert resolved.lists["noun"] == ("cat", "dog")
    assert recipe_vocabulary(resolved).allows("dog")
    assert load_recipe(recipe, allow_paths=[str(tmp_path)]).fingerprint == resolved.fingerprint
    code, _, err = cli("preview", recipe, "-n", "1")
    assert code == 2 and "is outside the recipe's folder" in err and "--allow-path" in err
    code, out, _ = cli("preview", recipe, "-n", "1", "--json", "--allow-path", str(tmp_path))
    assert code == 0 and json.loads(out)["variables"]["noun"] in ("cat", "dog")


def test_allow_path_travels_to_worker_processes(tmp_path, server):
    body = (
        '[lists.noun]\nfile = "../outside.txt"\n[lists.verb]\nitems = ["jump", "run"]\n'
        '[teacher]\nmodel = "test-model"\nmax_tokens = 200\n'
    )
    recipe = recipe_in_folder(tmp_path, body, 'Use the noun "{{ noun }}" and verb "{{ verb }}".')
    srv = server()
    args = gen_args(srv.base_url, tmp_path / "out", 4, "--workers", "2", recipe=recipe)
    code, _, err = cli(*args, "--allow-path", str(tmp_path))
    assert code == 0, err
    setups = worker_setups(  # workers are sent the lists: they read no file
        PoolSpec(2, TeacherOptions(base_url="http://x/v1")),
        load_recipe(recipe, allow_paths=[tmp_path]),
        6,
        Gate(Budget(), None),
    )
    assert [setup.recipe.lists["noun"] for setup in setups] == [("cat", "dog")] * 2


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"words.txt": LATIN1}, "words.txt line 3: not UTF-8 (byte 0xe9 at offset 11)"),
        (
            {"words.txt": b"cat\n", "t.j2": b'"{{ noun }}"\n\n{{ cycler.__init__.__globals__ }}\n'},
            "t.j2 line 3: the template is not allowed to use unsafe attributes",
        ),
    ],
)
def test_cli_preview_reports_bad_files_without_a_traceback(tmp_path, files, expected):
    recipe = write_recipe(tmp_path, '[lists.noun]\nfile = "words.txt"\n')
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    result = run_cli_subprocess(["preview", recipe], timeout=60)
    assert result.returncode == 2, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and expected in error_lines[0]
    assert "Traceback" not in result.stderr
    assert "Hint:" in result.stderr


def test_a_prefill_is_the_answers_start_and_part_of_the_fingerprint(tmp_path):
    body = '[lists.noun]\nitems = ["cat", "dog"]\n'
    plain = load_recipe(write_recipe(tmp_path, body))
    started = load_recipe(write_recipe(tmp_path, 'prefill = "The {{ noun }} was"\n' + body))
    item = build_item(started, 0)
    assert item.prefill == f"The {item.variables['noun']} was"
    assert item.messages[-1] == {"role": "assistant", "content": item.prefill}
    assert (
        build_item(plain, 0).prefill == "" and build_item(plain, 0).messages[-1]["role"] == "user"
    )
    assert started.fingerprint != plain.fingerprint
    assert error_of(write_recipe(tmp_path, 'prefill = "{{ nope }}"\n' + body)).startswith(
        f"{tmp_path / 'r.toml'}: prefill line 1 uses {{{{ nope }}}}"
    )
