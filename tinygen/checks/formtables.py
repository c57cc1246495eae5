"""Word forms from lemminflect, and the same forms of every word of the shipped lists read
from two tables beside them (`wordlists/forms/`), so that checks and reports on those
words do not load lemminflect's dictionaries (about 0.25 s in every process that checks
or reports).

- `inflections.txt`: a word and its inflections (`word_forms`: required words, coverage);
- `lemma_of.txt`: a word and every form lemminflect gives that word as a lemma of (the
  vocabulary check allows a token when one of its lemmas is an allowed word).

Both are built by wordlists/build_forms.py from the lemminflect version the dev extras pin;
a word the tables lack is looked up in lemminflect, as before the tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path

from tinygen.recipe.datafiles import wordlists_dir

FORMS_DIR = "forms"
INFLECTIONS = "inflections.txt"
LEMMA_OF = "lemma_of.txt"
_UPOS = ("NOUN", "VERB", "ADJ")

Table = dict[str, frozenset[str]]


@cache
def shipped(name: str) -> Table:
    """The table `name` of wordlists/forms/ ({} if it is not there)."""
    path = wordlists_dir() / FORMS_DIR / name
    if not path.is_file():
        return {}
    return read_table(path.read_text(encoding="utf-8"))


def read_table(text: str) -> Table:
    """Lines of a word and its forms, tab-separated (a form may hold a space: "book
    shelves"); the word is one of its own forms."""
    table = {}
    for line in text.splitlines():
        word, *forms = line.split("\t")
        table[word] = frozenset([word, *forms])
    return table


def table_text(table: dict[str, Iterable[str]]) -> str:
    """The file of a table: sorted lines of a word and its forms, tab-separated."""
    lines = []
    for word in sorted(table):
        forms = sorted(set(table[word]) - {word})
        lines.append("\t".join([word, *forms]))
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=65536)
def inflections(word: str) -> frozenset[str]:
    """The word and all its inflections as noun, verb and adjective (OOV words by
    lemminflect's rules), lowercased."""
    import lemminflect

    word = word.lower()
    forms = {word}
    for found in lemminflect.getAllInflections(word).values():
        forms.update(found)
    if len(forms) == 1:
        for upos in _UPOS:
            for found in lemminflect.getAllInflectionsOOV(word, upos).values():
                forms.update(found)
    return frozenset(form.lower() for form in forms)


@lru_cache(maxsize=200_000)
def lemmas(token: str) -> frozenset[str]:
    """The token and the lemmas lemminflect's dictionary gives it, lowercased."""
    import lemminflect

    found = {token}
    for spellings in lemminflect.getAllLemmas(token).values():
        found.update(spellings)
    return frozenset(lemma.lower() for lemma in found)


def lemma_of(words: Iterable[str]) -> dict[str, set[str]]:
    """For each of `words` (lowercase), every lowercase form of which it is a lemma, found
    by looking up each form of lemminflect's dictionary (only the build script calls this)."""
    import lemminflect.core.Lemmatizer as lemmatizer

    wanted = set(words)
    table: dict[str, set[str]] = {word: {word} for word in wanted}
    source = lemmatizer.Lemmatizer()
    candidates = {key.lower() for key in source._getLemmaDict()}
    candidates |= {key.lower() for key in source._getOverridesDict()}
    for form in sorted(candidates):
        for lemma in lemmas(form) & wanted:
            table[lemma].add(form)
    return table


def shipped_words(root: Path) -> set[str]:
    """Every word of the shipped list files under `root`, lowercased: each word token
    (a phrase gives each of its words) and each entry without a space as it is."""
    from tinygen.text.tokens import word_tokens

    words: set[str] = set()
    for path in sorted(root.rglob("*.txt")):
        if path.parent.name == FORMS_DIR or path.name in ("allowlist.txt", "blocklist.txt"):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            words.update(word_tokens(line))
            if (entry := line.strip().lower()) and " " not in entry:
                words.add(entry)
    return words
