"""A run's word lists, read back for coverage: loaded from what its manifest recorded, and
indexed to find every list's entries in a tokenised text at once.

List files are found as the recipe found them (next to the recipe, then in tinygen's
shipped lists) and read as strict UTF-8; a file outside both folders is not read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tinygen.checks.words import word_forms
from tinygen.recipe.datafiles import allowed_roots, locate_data_file, wordlists_dir
from tinygen.recipe.textfiles import read_text
from tinygen.text.tokens import word_tokens

Hit = tuple[str, str]  # (list name, entry)


class TextIndex:
    """All word lists of a recipe, indexed to find their entries in tokenised text at once.

    Single-word entries are found through their inflected forms (one set intersection per
    text for all lists); multi-word entries through their longest word, then as phrases.
    """

    def __init__(self, lists: dict[str, list[str]]) -> None:
        self.lists = lists
        self.forms: dict[str, list[Hit]] = {}
        self.phrases: dict[str, list[tuple[Hit, str]]] = {}
        self.entry_forms: dict[Hit, frozenset[str] | str] = {}
        for name, entries in lists.items():
            for entry in entries:
                self._add(name, entry)

    def _add(self, name: str, entry: str) -> None:
        tokens = word_tokens(entry)
        if len(tokens) == 1:
            forms = word_forms(tokens[0])
            self.entry_forms[name, entry] = forms
            for form in forms:
                self.forms.setdefault(form, []).append((name, entry))
        elif tokens:
            phrase = " ".join(tokens)
            self.entry_forms[name, entry] = phrase
            self.phrases.setdefault(max(tokens, key=len), []).append(((name, entry), phrase))

    def multiword(self, name: str) -> int:
        return sum(isinstance(self.entry_forms.get((name, e)), str) for e in self.lists[name])

    def found(self, tokens: set[str], padded: str) -> Iterator[Hit]:
        """(list, entry) pairs present in a text (its token set and ` joined words `)."""
        for form in tokens & self.forms.keys():
            yield from self.forms[form]
        for key in tokens & self.phrases.keys():
            yield from (hit for hit, phrase in self.phrases[key] if f" {phrase} " in padded)

    def contains(self, name: str, entry: str, tokens: set[str], padded: str) -> bool:
        """Does the text contain `entry` of list `name` (in any simple form)?"""
        forms = self.entry_forms.get((name, entry))
        if forms is None:
            norm = word_tokens(entry)
            forms = " ".join(norm) if len(norm) != 1 else word_forms(norm[0])
        if isinstance(forms, str):
            return f" {forms} " in padded
        return not forms.isdisjoint(tokens)


def load_lists(manifest: dict) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The recipe's lists from the manifest (inline items or files), and lists not read
    with the reason; a list file that is not UTF-8 text is a TinygenError."""
    recipe = _dict(manifest.get("recipe"))
    specs = _dict(_dict(recipe.get("resolved")).get("lists"))
    source = Path(recipe.get("source") or ".")
    lists, missing = {}, {}
    for name, spec in specs.items():
        raw = _entries(_dict(spec), source)
        if isinstance(raw, str):
            missing[name] = raw
            continue
        lists[name] = list(dict.fromkeys(e.strip() for e in raw if e.strip()))
    return lists, missing


def _entries(spec: dict, source: Path) -> list[str] | str:
    """A list's raw entries (inline items or the lines of its file), or why there are none."""
    items = spec.get("items")
    if items is not None:
        return [str(item) for item in items] if isinstance(items, list) else "items not a list"
    file = spec.get("file") or ""
    path = locate_data_file(file, source, wordlists_dir()) if isinstance(file, str) else None
    if path is None:
        return f"list file {spec.get('file')!r} not found"
    if not any(path.resolve().is_relative_to(root) for root in allowed_roots(source)):
        return f"list file {file!r} is outside the recipe's folder and tinygen's lists: not read"
    return read_text(path, "word list").splitlines()


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}
