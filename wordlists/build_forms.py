"""Rebuild wordlists/forms/: the word forms of every word of the shipped lists, so that
checks and reports need not load lemminflect's dictionaries for them
(tinygen/checks/formtables.py says how each table is used).

Usage: python wordlists/build_forms.py [--check]
  --check  write nothing; exit 1 if the files on disk differ from what would be written.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import version
from pathlib import Path

from tinygen.checks.formtables import (
    FORMS_DIR,
    INFLECTIONS,
    LEMMA_OF,
    inflections,
    lemma_of,
    shipped_words,
    table_text,
)

WORDLISTS = Path(__file__).resolve().parent
BUILT_WITH = {"lemminflect": "0.2.3"}  # the dev extras pin it: other data, other forms


def tables() -> dict[str, str]:
    """The text of each table file, by name."""
    words = shipped_words(WORDLISTS)
    return {
        INFLECTIONS: table_text({word: inflections(word) for word in words}),
        LEMMA_OF: table_text(lemma_of(words)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args()
    for package, wanted in BUILT_WITH.items():
        if version(package) != wanted:
            raise SystemExit(f"{package} {version(package)} is installed; the tables use {wanted}")
    out = WORDLISTS / FORMS_DIR
    differ = []
    for name, text in tables().items():
        path = out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                differ.append(name)
        else:
            out.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if differ:
        print(f"out of date: {', '.join(differ)} (run python wordlists/build_forms.py)")
        sys.exit(1)


if __name__ == "__main__":
    main()
