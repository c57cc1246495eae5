"""Locate the data that ships with tinygen: word lists and prompt presets."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


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
