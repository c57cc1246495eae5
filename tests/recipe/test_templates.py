"""Prompt templates: the sandbox refuses escapes and oversized output, naming file and line."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from tinygen.errors import UsageError
from tinygen.recipe.templates import MAX_PROMPT_CHARS, PromptTemplate

SOURCE = "prompts/x.j2"
PREFIX = "Line one.\nLine two about {{ noun }}.\n"  # the tested expression is on line 3


def render_error(body: str, context: dict | None = None) -> UsageError:
    """The UsageError compiling or rendering PREFIX + body raises."""
    with pytest.raises(UsageError) as info:
        PromptTemplate.from_text(PREFIX + body, SOURCE).render(context or {"noun": "cat"})
    return info.value


def test_plain_templates_still_render():
    text = (
        "{{ noun|upper }} {{ '%05d' % 42 }} {{ '{:>4}|{}'.format('x', 7) }} "
        "{{ 'a-b'.replace('-', '+') }} {{ [1, 2]|join(', ') }} {{ 'x' ~ noun }} "
        "{{ noun * 2 }} {{ 2 ** 10 }} {{ noun|center(7) }}"
    )
    rendered = PromptTemplate.from_text(text, SOURCE).render({"noun": "cat"})
    assert rendered == "CAT 00042    x|7 a+b 1, 2 xcat catcat 1024   cat"


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ joiner.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ self.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ '{0.__class__.__mro__}'.format(noun) }}",
        "{{ noun|attr('__class__') }}",
        "{% set x = [1] %}{{ x.append(2) }}",
    ],
)
def test_sandbox_escapes_are_refused_naming_the_line(body):
    error = render_error(body)
    assert error.message.startswith(f"{SOURCE} line 3: the template is not allowed to ")
    assert "unsafe" in error.message
    for leak in ("<module", "<function", "builtins", "uid="):
        assert leak not in error.message + (error.hint or "")


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("{% include '/etc/passwd' %}", "include"),
        ("{% import 'x' as y %}", "import"),
        ("{% from '/etc/passwd' import x %}", "from ... import"),
        ("{% extends '/etc/passwd' %}", "extends"),
    ],
)
def test_loading_other_templates_is_refused_when_the_template_loads(body, kind):
    with pytest.raises(UsageError) as info:
        PromptTemplate.from_text(PREFIX + body, SOURCE)
    message = info.value.message
    assert message == (
        f"{SOURCE} line 3: the template is not allowed to load other templates ({{% {kind} %}})"
    )
    assert "root:" not in message


def test_self_renders_nothing_of_the_context():
    rendered = PromptTemplate.from_text("{{ self }}", SOURCE).render({"secret": "sk-123"})
    assert "sk-123" not in rendered


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
        ("{{ noun + 1 }}", "TypeError"),
        ("{{ noun.missing }}", "has no attribute 'missing'"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
        ("{{ {'a': 1}|dictsort(by='size') }}", "FilterArgumentError"),
    ],
)
def test_render_errors_name_the_file_and_line(body, expected):
    error = render_error(body)
    assert error.message.startswith(f"{SOURCE} line 3: ")
    assert expected in error.message
    assert "\n" not in error.message


@pytest.mark.parametrize(
    "body",
    [
        "{{ 'a' * 300000000 }}",
        "{{ 300000000 * 'a' }}",
        "{{ ['a'] * 300000000 }}",
        "{{ ['a' * 199999] * 199999 }}",
        "{{ 7 ** 100000000 }}",
        "{{ '%300000000d' % 1 }}",
        "{{ '%*d' % (300000000, 1) }}",
        "{{ '%.300000000f' % 1.5 }}",
        "{{ '%300000000s'|format('a') }}",
        "{{ 'a'.center(300000000) }}",
        "{{ 'a'.zfill(300000000) }}",
        "{{ 'a'|center(300000000) }}",
        "{{ 'a'|indent(300000000, true) }}",
        "{{ '{:300000000}'.format('a') }}",
        "{{ '{:{w}}'.format('a', w='300000000') }}",
        "{% set a = 'a' * 150000 %}{{ a + a }}",
        "{% set a = 'a' * 150000 %}{{ (a ~ a)|length }}",
        "{% set a = 'a' * 199999 %}{{ a.replace('a', a)|length }}",
        "{% set a = 'a' * 199999 %}{{ a|replace('a', a)|length }}",
        "{% set a = 'a' * 1999 %}{{ a|join(a)|length }}",
        "{% set ns = namespace(s='ab') %}{% for i in range(60) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "{% set ns = namespace(s=[1]) %}{% for i in range(60) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
        "{{ range(1000000000)|list|length }}",
    ],
)
def test_oversized_values_are_refused_before_they_are_built(body):
    start = time.perf_counter()
    error = render_error(body)
    assert time.perf_counter() - start < 1.0
    assert error.message.startswith(
        f"{SOURCE} line 3: the template is not allowed to build values of more than 200,000"
    ), error.message


def test_huge_multiply_fails_fast_in_little_memory():
    template = PromptTemplate.from_text("{{ 'a' * 300000000 }}", SOURCE)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(UsageError, match="line 1: the template is not allowed"):
            template.render({})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 0.5
    assert peak < 1_000_000  # bytes; the string itself would be 300 MB


def test_output_is_cut_off_once_it_passes_the_limit():
    body = "{% for i in range(100000) %}\n{{ 'a' * 1000 }}\n{% endfor %}"
    error = render_error(body)
    assert error.message == (
        f"{SOURCE} line 4: the template renders more than {MAX_PROMPT_CHARS:,} characters"
    )


def test_output_just_under_the_limit_renders():
    text = "{{ 'a' * 100000 }}{{ 'b' * 99000 }}"
    assert len(PromptTemplate.from_text(text, SOURCE).render({})) == 199_000


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"Hello\n{{ noun }} caf\xe9\n", "t.j2 line 2: not UTF-8 (byte 0xe9 at offset 20)"),
        (b"Hello\x00{{ noun }}\n", "t.j2 line 1: is a binary file, not a text template"),
    ],
)
def test_template_files_must_be_utf8(tmp_path: Path, data, expected):
    (tmp_path / "t.j2").write_bytes(data)
    with pytest.raises(UsageError) as info:
        PromptTemplate.from_file(tmp_path / "t.j2")
    assert expected in info.value.message
    assert "UTF-8" in (info.value.hint or "")


def test_a_bom_is_not_part_of_the_template(tmp_path: Path):
    (tmp_path / "t.j2").write_bytes(b"\xef\xbb\xbfAbout {{ noun }}")
    template = PromptTemplate.from_file(tmp_path / "t.j2")
    assert template.render({"noun": "cat"}) == "About cat"
