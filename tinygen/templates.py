"""Prompt templates: Jinja2, sandboxed, strict about undefined variables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from tinygen.errors import UsageError

_ENV = SandboxedEnvironment(
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
        """Compile `text`; a syntax error names the source and line."""
        try:
            parsed = _ENV.parse(text)
            compiled = _ENV.from_string(text)
        except jinja2.TemplateSyntaxError as exc:
            raise UsageError(
                f"{source} line {exc.lineno}: template syntax error: {exc.message}",
                "fix the Jinja2 syntax on that line",
            ) from None
        variables = frozenset(meta.find_undeclared_variables(parsed))
        return cls(text, source, variables, compiled)

    @classmethod
    def from_file(cls, path: Path) -> PromptTemplate:
        """Read and compile a template file."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: cannot read template: {exc}") from None
        return cls.from_text(text, str(path))

    def line_of(self, name: str) -> int:
        """First line (1-based) that mentions variable `name`, or 1."""
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        for number, line in enumerate(self.text.splitlines(), start=1):
            if "{" in line and pattern.search(line):
                return number
        return 1

    def render(self, context: dict[str, object]) -> str:
        """Render with `context`; the result is stripped of surrounding whitespace."""
        try:
            return self.compiled.render(context).strip()
        except jinja2.UndefinedError as exc:
            raise UsageError(
                f"{self.source}: {exc.message}", "declare the variable in the recipe"
            ) from None
