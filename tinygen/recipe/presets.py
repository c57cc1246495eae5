"""The shipped presets: their names, and the table `tinygen presets` prints.

The table reads each preset's TOML alone, without validating or resolving it (pydantic
and Jinja2 would double the command's time): every preset is loaded in full by the tests,
and by any command that runs it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from tinygen.errors import UsageError
from tinygen.recipe.choices import template_variables
from tinygen.recipe.datafiles import prompts_dir


@dataclass(frozen=True)
class PresetSummary:
    """What the preset list shows of one preset."""

    name: str
    description: str
    variables: frozenset[str]


def preset_names() -> list[str]:
    """Names of the shipped presets."""
    return sorted(path.stem for path in prompts_dir().glob("*.toml"))


def preset_path(name: str) -> Path:
    """Where the shipped preset `name` is (whether or not there is one by that name)."""
    return prompts_dir() / f"{name}.toml"


def preset_summary(name: str) -> PresetSummary:
    """A shipped preset's description and template variables, from its TOML."""
    path = preset_path(name)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            f"{path}: {exc}", "reinstall tinygen: a shipped preset is damaged"
        ) from None
    variables = template_variables(
        raw.get("lists", {}), raw.get("constants", {}), "features" in raw
    )
    return PresetSummary(name, str(raw.get("description", "")), frozenset(variables))


def preset_table() -> Table:
    """The shipped presets with their description and variables."""
    table = Table("preset", "description", "variables", title="tinygen presets")
    for name in preset_names():
        summary = preset_summary(name)
        table.add_row(name, summary.description, ", ".join(sorted(summary.variables)))
    return table
