"""Data files: what ships with tinygen (word lists, presets), and where a recipe may
name files (its folder, the shipped data, folders the user allowed)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from tinygen.errors import UsageError

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the tinygen package


@cache
def data_dir(name: str) -> Path:
    """Return the directory `wordlists` or `prompts`, installed or in a source checkout.

    A wheel carries them as `tinygen/_data/<name>`; an editable install or a source tree
    has them at the repository's top level.
    """
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"tinygen data directory {name!r} is missing from the installation")


def wordlists_dir() -> Path:
    """Directory of the shipped word, topic and name lists."""
    return data_dir("wordlists")


def prompts_dir() -> Path:
    """Directory of the shipped presets (recipe TOML + Jinja2 template)."""
    return data_dir("prompts")


def allowed_roots(recipe_file: Path, allow_paths: Iterable[str | Path] = ()) -> tuple[Path, ...]:
    """Folders a recipe's files may lie in: its own, tinygen's shipped data, `allow_paths`."""
    folders = [recipe_file.parent, wordlists_dir(), prompts_dir(), *map(Path, allow_paths)]
    return tuple(folder.resolve() for folder in folders)


def confined(file: Path, name: str, recipe_file: Path, field: str, roots: tuple[Path, ...]) -> Path:
    """`file` (found for `field` = `name`), if it resolves inside one of `roots`."""
    if not any(file.resolve().is_relative_to(root) for root in roots):
        raise UsageError(
            f"{recipe_file}: {field} {name!r} is outside the recipe's folder",
            "move the file next to the recipe, or pass --allow-path DIR to allow files under DIR",
        )
    return file


def locate_data_file(name: str, recipe_file: Path, shipped: Path) -> Path | None:
    """`name` next to the recipe first, then in tinygen's shipped data; None if neither."""
    for base in (recipe_file.parent, shipped):
        if (base / name).is_file():
            return base / name
    return None


def find_data_file(name: str, recipe_file: Path, shipped: Path, what: str) -> Path:
    """Like `locate_data_file`, but a missing file is a usage error naming the field."""
    found = locate_data_file(name, recipe_file, shipped)
    if found is None:
        raise UsageError(
            f"{recipe_file}: {what} file {name!r} not found",
            f"put it next to the recipe, or name a file under {shipped}",
        )
    return found
