"""Format and content checks for the hand-curated word lists in wordlists/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

WORDLISTS = ROOT / "wordlists"
STORIES = WORDLISTS / "stories"
CODE = WORDLISTS / "code"

MIN_COUNTS = {
    "stories/themes.txt": 80,
    "stories/topics.txt": 150,
    "stories/styles.txt": 40,
    "stories/narrative_devices.txt": 30,
    "stories/perspectives.txt": 15,
    "stories/settings.txt": 100,
    "stories/names.txt": 400,
    "stories/openings.txt": 40,
    "code/topics.txt": 300,
    "code/audiences.txt": 20,
}

AVOIDED_NAMES = {
    "lily",
    "timmy",
    "tom",
    "sara",
    "max",
    "benny",
    "lucy",
    "sam",
    "ben",
    "mia",
    "elara",
    "luna",
}

NAME_RE = re.compile(r"[A-Z][a-z]+")


def _all_txt_files() -> list[Path]:
    return sorted([*STORIES.glob("*.txt"), *CODE.glob("*.txt")])


def _rel(path: Path) -> str:
    return path.relative_to(WORDLISTS).as_posix()


def _raw_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


def _items(path: Path) -> list[str]:
    lines = _raw_lines(path)
    if lines and lines[-1] == "":
        lines = lines[:-1]  # a single trailing newline is fine
    return lines


ALL_FILES = _all_txt_files()
FILE_IDS = [_rel(p) for p in ALL_FILES]


def test_expected_files_exist() -> None:
    present = {_rel(p) for p in ALL_FILES}
    missing = set(MIN_COUNTS) - present
    assert not missing, f"missing word lists: {sorted(missing)}"


@pytest.mark.parametrize("rel", sorted(MIN_COUNTS))
def test_minimum_counts(rel: str) -> None:
    items = _items(WORDLISTS / rel)
    assert len(items) >= MIN_COUNTS[rel], (
        f"{rel} has {len(items)} items, needs at least {MIN_COUNTS[rel]}"
    )


@pytest.mark.parametrize("path", ALL_FILES, ids=FILE_IDS)
def test_file_is_utf8_and_non_empty(path: Path) -> None:
    data = path.read_bytes()
    data.decode("utf-8")  # raises if not valid UTF-8
    assert not data.startswith(b"\xef\xbb\xbf"), "file must not start with a BOM"
    assert b"\r" not in data, "use Unix line endings"
    assert _items(path), "file is empty"


@pytest.mark.parametrize("path", ALL_FILES, ids=FILE_IDS)
def test_no_blank_or_padded_lines(path: Path) -> None:
    for number, line in enumerate(_items(path), start=1):
        assert line.strip(), f"line {number} is blank"
        assert line == line.strip(), f"line {number} has surrounding whitespace: {line!r}"
        assert "\t" not in line, f"line {number} contains a tab: {line!r}"


@pytest.mark.parametrize("path", ALL_FILES, ids=FILE_IDS)
def test_no_comment_lines(path: Path) -> None:
    comments = [line for line in _items(path) if line.startswith("#")]
    assert not comments, f"comment lines are not allowed: {comments[:5]}"


WEIGHTED = {"stories/first_letters.txt"}  # repeats are its weights (`repeats = true`)


@pytest.mark.parametrize("path", ALL_FILES, ids=FILE_IDS)
def test_no_case_insensitive_duplicates(path: Path) -> None:
    if _rel(path) in WEIGHTED:
        pytest.skip("entries repeat on purpose")
    seen: dict[str, str] = {}
    duplicates = []
    for line in _items(path):
        key = line.casefold()
        if key in seen:
            duplicates.append((seen[key], line))
        else:
            seen[key] = line
    assert not duplicates, f"duplicates: {duplicates[:10]}"


@pytest.mark.parametrize("path", ALL_FILES, ids=FILE_IDS)
def test_no_once_upon_a_time(path: Path) -> None:
    text = " ".join(path.read_text(encoding="utf-8").split()).casefold()
    assert "once upon a time" not in text


def test_names_are_single_capitalised_ascii_words() -> None:
    bad = [n for n in _items(STORIES / "names.txt") if not NAME_RE.fullmatch(n)]
    assert not bad, f"names must be one capitalised ASCII word: {bad[:10]}"


def test_avoided_names_are_absent() -> None:
    names = {n.casefold() for n in _items(STORIES / "names.txt")}
    present = sorted(names & AVOIDED_NAMES)
    assert not present, f"overused names must not appear: {present}"


def test_openings_fit_their_slot() -> None:
    for opening in _items(STORIES / "openings.txt"):
        sentence = f"Begin the story {opening}."
        assert "upon a time" not in sentence.casefold()
        assert not opening.endswith("."), f"no trailing full stop: {opening!r}"


@pytest.mark.parametrize("path", ALL_FILES, ids=FILE_IDS)
def test_items_have_no_trailing_full_stop(path: Path) -> None:
    bad = [line for line in _items(path) if line.endswith(".")]
    assert not bad, f"items are dropped into a sentence; drop the full stop: {bad[:5]}"


def test_first_letters_follow_english_letter_frequency() -> None:
    letters = _items(STORIES / "first_letters.txt")
    counts = {letter: letters.count(letter) for letter in dict.fromkeys(letters)}
    assert len(letters) == 100 and all(re.fullmatch(r"[A-Z]", letter) for letter in counts)
    assert counts["E"] > counts["T"] > counts["D"] > counts["K"] >= 1
    assert not {"J", "Q", "X", "Z"} & set(counts)
