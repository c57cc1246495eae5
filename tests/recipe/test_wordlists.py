"""Checks on the child vocabulary in wordlists/vocab/ (see wordlists/README.md)."""

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

lemminflect = pytest.importorskip("lemminflect")

WORDLISTS = ROOT / "wordlists"
VOCAB = WORDLISTS / "vocab"
LISTS = {"noun": "nouns.txt", "verb": "verbs.txt", "adjective": "adjectives.txt"}
UPOS = {"noun": "NOUN", "verb": "VERB", "adjective": "ADJ"}
TOTAL = 3000


def entries(name: str) -> list[list[str]]:
    """Lines of a review file without '#' comments, split on whitespace."""
    lines = (VOCAB / name).read_text(encoding="utf-8").splitlines()
    return [fields for line in lines if (fields := line.split("#", 1)[0].split())]


def words(pos: str) -> list[str]:
    return (VOCAB / LISTS[pos]).read_text(encoding="utf-8").splitlines()


def allowlist() -> dict[str, str]:
    return {fields[0]: fields[1] for fields in entries("allowlist.txt")}


def test_total_is_3000_and_each_list_is_non_empty():
    counts = {pos: len(words(pos)) for pos in LISTS}
    assert all(counts.values()), counts
    assert sum(counts.values()) == TOTAL, counts


@pytest.mark.parametrize("pos", LISTS)
def test_file_format(pos):
    raw = (VOCAB / LISTS[pos]).read_bytes()
    assert raw.endswith(b"\n") and not raw.endswith(b"\n\n")
    listed = words(pos)
    bad = [w for w in listed if not re.fullmatch(r"[a-z]+", w)]
    assert not bad, f"not lowercase ASCII letters: {bad[:10]}"
    assert listed == sorted(listed), "not sorted"
    assert len(listed) == len(set(listed)), "duplicates within the list"


def test_no_word_in_two_lists():
    seen: dict[str, str] = {}
    clashes = []
    for pos in LISTS:
        for word in words(pos):
            if word in seen:
                clashes.append(f"{word} ({seen[word]}, {pos})")
            seen[word] = pos
    assert not clashes, clashes[:10]


def test_blocked_words_absent():
    blocked = {word for fields in entries("blocklist.txt") for word in fields}
    present = sorted(blocked & {w for pos in LISTS for w in words(pos)})
    assert not present, present[:10]


def test_allowlist_is_well_formed_and_honoured():
    rows = entries("allowlist.txt")
    assert all(len(fields) == 2 and fields[1] in LISTS for fields in rows)
    assert len({fields[0] for fields in rows}) == len(rows), "word allowed twice"
    missing = [f"{w} ({pos})" for w, pos in allowlist().items() if w not in set(words(pos))]
    assert not missing, missing[:10]


@pytest.mark.parametrize("pos", LISTS)
def test_part_of_speech_is_plausible(pos):
    """lemminflect knows each word as a base form of its list's part of speech, or a reviewed
    allow-list entry vouches for it (tired, scared, crayon)."""
    allowed = allowlist()
    implausible = [
        word
        for word in words(pos)
        if allowed.get(word) != pos
        and word not in lemminflect.getAllLemmas(word).get(UPOS[pos], ())
    ]
    assert not implausible, implausible[:10]


def test_rebuild_reproduces_the_lists_byte_for_byte():
    pytest.importorskip("wordfreq")
    result = subprocess.run(
        [sys.executable, str(WORDLISTS / "build_vocab.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
