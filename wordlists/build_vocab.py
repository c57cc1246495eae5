"""Rebuild the child vocabulary in wordlists/vocab/ (nouns, verbs, adjectives).

Candidates are the most frequent English words in `wordfreq`; `lemminflect` says which parts of
speech a word is a base form (lemma) of. A word that is a lemma of several parts of speech goes to
the one whose own inflected forms are the most frequent (see `primary_pos`). The reviewed files
`vocab/allowlist.txt` (word<TAB>pos: always included, with that part of speech) and
`vocab/blocklist.txt` (never included) steer the choice. Each list is then filled in frequency
order up to its quota, sorted and written one word per line.

Usage: python wordlists/build_vocab.py [--check]
  --check  write nothing; exit 1 if the files on disk differ from what would be written.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib.metadata import version
from pathlib import Path

import lemminflect
import wordfreq

VOCAB_DIR = Path(__file__).resolve().parent / "vocab"
# Sized so that every chosen word is allow-listed or was read and kept in review (README.md).
QUOTAS = {"noun": 1800, "verb": 600, "adjective": 600}
# The lists on disk were built with these; other data versions may choose other words.
BUILT_WITH = {"wordfreq": "3.1.1", "lemminflect": "0.2.3"}
UPOS = {"noun": "NOUN", "verb": "VERB", "adjective": "ADJ"}
POOL_SIZE = 60_000  # how many of wordfreq's most frequent English words are considered
WORD_RE = re.compile(r"[a-z]{2,}")
# Suffixes of mostly abstract words (station, happiness, ...), dropped unless allow-listed.
ABSTRACT_RE = re.compile(r"...+(tion|sion|ment|ness|ity|ism|ist|ance|ence|ship|hood|ology|ics)")


def freq(word: str) -> float:
    """Frequency of `word` in English, as a fraction of all words (0.0 if unknown)."""
    return wordfreq.word_frequency(word, "en")


def read_entries(path: Path) -> list[list[str]]:
    """Non-empty lines of `path` without '#' comments, split on whitespace."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [fields for line in lines if (fields := line.split("#", 1)[0].split())]


def load_blocklist(path: Path) -> set[str]:
    """Words that must never be chosen (one or more per line)."""
    return {word for fields in read_entries(path) for word in fields}


def load_allowlist(path: Path) -> dict[str, str]:
    """Map word -> part of speech for `word<TAB>pos` lines; these words are always chosen."""
    allow: dict[str, str] = {}
    for fields in read_entries(path):
        if len(fields) != 2 or fields[1] not in QUOTAS or fields[0] in allow:
            raise SystemExit(f"{path}: bad or repeated entry {' '.join(fields)!r}")
        allow[fields[0]] = fields[1]
    return allow


def readings(word: str) -> list[str]:
    """Parts of speech (keys of QUOTAS) of which lemminflect knows `word` as a base form."""
    lemmas = lemminflect.getAllLemmas(word)
    return [pos for pos, upos in UPOS.items() if word in lemmas.get(upos, ())]


def is_inflected_form(word: str) -> bool:
    """True if `word` also inflects another lemma (things, saw, felt, building, clothes)."""
    lemmas = lemminflect.getAllLemmas(word)
    return any(lemma != word for found in lemmas.values() for lemma in found)


def form_freq(word: str, tags: tuple[str, ...]) -> float:
    """Summed frequency of `word`'s inflected forms with the given Penn tags, except `word`."""
    inflections = lemminflect.getAllInflections(word)
    forms = {form for tag in tags for form in inflections.get(tag, ()) if form != word}
    return sum(freq(form) for form in forms)


def primary_pos(word: str, options: list[str]) -> str:
    """Choose among several readings by the evidence of each reading's own forms.

    noun: twice the plural's frequency (the -s form is shared with verbs, so it counts double);
    verb: past tense, past participle and -ing forms; adjective: comparative and superlative
    forms plus a quarter of the base form's frequency, since most adjectives never inflect.
    Ties go to the earlier of noun, verb, adjective.
    """
    score = {
        "noun": 2 * form_freq(word, ("NNS",)),
        "verb": form_freq(word, ("VBD", "VBN", "VBG")),
        "adjective": form_freq(word, ("JJR", "JJS")) + freq(word) / 4,
    }
    return max(options, key=lambda pos: score[pos])


def classify(word: str, block: set[str]) -> str | None:
    """Part of speech for a frequency candidate, or None if it is not eligible."""
    if word in block or not WORD_RE.fullmatch(word) or ABSTRACT_RE.fullmatch(word):
        return None
    options = readings(word)
    if not options or is_inflected_form(word):
        return None
    return primary_pos(word, options)


def build(allow: dict[str, str], block: set[str]) -> dict[str, list[str]]:
    """Allow-listed words first, then frequency candidates, until every quota is met."""
    chosen: dict[str, list[str]] = {pos: [] for pos in QUOTAS}
    for word, pos in allow.items():
        chosen[pos].append(word)
    for pos, words in chosen.items():
        if len(words) > QUOTAS[pos]:
            raise SystemExit(f"allowlist has {len(words)} {pos}s, more than {QUOTAS[pos]}")
    for word in wordfreq.top_n_list("en", POOL_SIZE):
        pos = None if word in allow else classify(word, block)
        if pos and len(chosen[pos]) < QUOTAS[pos]:
            chosen[pos].append(word)
    for pos, words in chosen.items():
        if len(words) < QUOTAS[pos]:
            raise SystemExit(f"only {len(words)} {pos}s found, quota is {QUOTAS[pos]}")
    return {pos: sorted(words) for pos, words in chosen.items()}


def render(chosen: dict[str, list[str]]) -> dict[Path, str]:
    """File contents by path: one word per line with a trailing newline."""
    return {VOCAB_DIR / f"{pos}s.txt": "".join(f"{w}\n" for w in ws) for pos, ws in chosen.items()}


def main(argv: list[str] | None = None) -> int:
    """Write the lists, or with --check compare them with the files on disk."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    allow = load_allowlist(VOCAB_DIR / "allowlist.txt")
    block = load_blocklist(VOCAB_DIR / "blocklist.txt")
    if clash := sorted(set(allow) & block):
        raise SystemExit(f"both allowed and blocked: {', '.join(clash)}")
    chosen = build(allow, block)
    files = render(chosen)
    stale = [p for p, text in files.items() if not p.is_file() or p.read_bytes() != text.encode()]
    if args.check:
        for path in stale:
            print(f"out of date: {path.name} (run python wordlists/build_vocab.py)")
        installed = {name: version(name) for name in BUILT_WITH}
        if stale and installed != BUILT_WITH:
            print(f"note: installed {installed}, the lists were built with {BUILT_WITH}")
        return 1 if stale else 0
    for path, text in files.items():
        path.write_bytes(text.encode())
    print(", ".join(f"{len(words)} {pos}s" for pos, words in chosen.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
