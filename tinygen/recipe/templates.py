"""Prompt templates: Jinja2, sandboxed, bounded, strict about undefined variables.

A recipe may come from anyone, so its templates run in recipe/sandbox.py (no Python
internals, no other template, nothing larger than MAX_PROMPT_CHARS) and render as a
stream cut off at MAX_PROMPT_CHARS. Every error a template raises, when it loads or when
an item renders, is a UsageError naming its line.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError

from tinygen.errors import UsageError
from tinygen.recipe.sandbox import MAX_PROMPT_CHARS, TEMPLATE_FILE, BoundedEnvironment, Refused
from tinygen.recipe.textfiles import read_text

_LOADING = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
}
_SECURITY_HINT = (
    "remove it: templates may use the recipe's variables, filters and plain expressions"
)
_SIZE_HINT = (
    f"make the template produce less text (a prompt has at most {MAX_PROMPT_CHARS:,} chars)"
)

_ENV = BoundedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)


@dataclass(frozen=True)
class PromptTemplate:
    """A compiled template, the variables it reads, and where it came from."""

    text: str
    source: str
    variables: frozenset[str]
    compiled: jinja2.Template = field(repr=False, compare=False)

    @classmethod
    def from_text(cls, text: str, source: str) -> PromptTemplate:
        """Compile `text`; a syntax error, or loading another template, names the line."""
        try:
            parsed = _ENV.parse(text)
            compiled = _ENV.from_string(text)
        except jinja2.TemplateSyntaxError as exc:
            raise UsageError(
                f"{source} line {exc.lineno}: template syntax error: {exc.message}",
                "fix the Jinja2 syntax on that line",
            ) from None
        for node in parsed.find_all(tuple(_LOADING)):
            raise UsageError(
                f"{source} line {node.lineno}: the template is not allowed to load other "
                f"templates ({{% {_LOADING[type(node)]} %}})",
                "write the text into this template instead",
            )
        variables = frozenset(meta.find_undeclared_variables(parsed))
        return cls(text, source, variables, compiled)

    @classmethod
    def from_file(cls, path: Path) -> PromptTemplate:
        """Read (strictly as UTF-8) and compile a template file."""
        return cls.from_text(read_text(path, "template"), str(path))

    def line_of(self, name: str) -> int:
        """First line (1-based) that mentions variable `name`, or 1."""
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        for number, line in enumerate(self.text.splitlines(), start=1):
            if "{" in line and pattern.search(line):
                return number
        return 1

    def render(self, context: dict[str, object]) -> str:
        """Render with `context`, stripped; any failure is a UsageError naming the line."""
        stream = self.compiled.generate(context)
        try:
            parts, total = [], 0
            for part in stream:
                total += len(part)
                if total > MAX_PROMPT_CHARS:
                    raise self._too_long(stream)
                parts.append(part)
        except UsageError:
            raise
        except Exception as exc:  # anything a template raises is the template's error
            raise self._render_error(exc) from None
        finally:
            stream.close()
        return "".join(parts).strip()

    def _too_long(self, stream: Iterator[str]) -> UsageError:
        line = _stream_line(stream, self.compiled)
        return UsageError(
            f"{_where(self.source, line)}: the template renders more than "
            f"{MAX_PROMPT_CHARS:,} characters",
            _SIZE_HINT,
        )

    def _render_error(self, exc: Exception) -> UsageError:
        where = _where(self.source, _error_line(exc))
        detail = _one_line(exc)
        if isinstance(exc, Refused):
            hint = _SIZE_HINT if exc.what.startswith("build") else _SECURITY_HINT
            return UsageError(f"{where}: the template is not allowed to {exc.what}: {detail}", hint)
        if isinstance(exc, SecurityError):
            return UsageError(
                f"{where}: the template is not allowed to use unsafe attributes or calls: {detail}",
                _SECURITY_HINT,
            )
        if isinstance(exc, jinja2.UndefinedError):
            return UsageError(f"{where}: {detail}", "declare the variable in the recipe")
        return UsageError(
            f"{where}: the template failed to render: {type(exc).__name__}: {detail}",
            "fix the expression on that line",
        )


def _where(source: str, line: int | None) -> str:
    return source if line is None else f"{source} line {line}"


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _error_line(exc: BaseException) -> int | None:
    """The template line an exception was raised at (from jinja2's rewritten traceback)."""
    lines = [
        lineno
        for frame, lineno in traceback.walk_tb(exc.__traceback__)
        if frame.f_code.co_filename == TEMPLATE_FILE
    ]
    return lines[-1] if lines else getattr(exc, "lineno", None)


def _stream_line(stream: object, compiled: jinja2.Template) -> int | None:
    """The template line a suspended `generate()` stream is at."""
    line = None
    while stream is not None:
        frame = getattr(stream, "gi_frame", None)
        if frame is not None and frame.f_code.co_filename == TEMPLATE_FILE:
            line = compiled.get_corresponding_lineno(frame.f_lineno)
        stream = getattr(stream, "gi_yieldfrom", None)
    return line
