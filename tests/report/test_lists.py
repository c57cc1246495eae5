"""A run's word lists read back from its manifest: inline, next to the recipe, shipped."""

from __future__ import annotations

import pytest

from tests.helpers import make_run
from tinygen.errors import TinygenError
from tinygen.report.corpus import corpus_stats
from tinygen.report.lists import load_lists


def test_coverage_reads_list_files_and_reports_missing_ones(tmp_path):
    lists = {
        "noun": {"file": "words.txt", "items": None, "draw": 1},  # next to the recipe
        "verb": {"file": "vocab/verbs.txt", "items": None, "draw": 1},  # shipped
        "gone": {"file": "nope/missing.txt", "items": None, "draw": 1},
    }
    (tmp_path / "words.txt").write_text("cat\n\ndog\ncat\n")
    stats = corpus_stats(make_run(tmp_path / "run", ["The cats jumped."], lists=lists))
    coverage = stats["coverage"]
    assert (coverage["noun"]["entries"], coverage["noun"]["in_text_share"]) == (2, 0.5)
    assert coverage["verb"]["entries"] > 100 and coverage["verb"]["in_text"] >= 1
    assert "not found" in coverage["gone"]["error"]


def test_a_damaged_list_file_is_one_error_not_a_traceback(tmp_path):
    lists = {"noun": {"file": "words.txt", "items": None, "draw": 1}}
    (tmp_path / "words.txt").write_bytes(b"cat\ncaf\xe9\n")  # Latin-1, not UTF-8
    run = make_run(tmp_path / "run", ["The cat sat."], lists=lists)
    with pytest.raises(TinygenError, match=r"words.txt line 2: not UTF-8 \(byte 0xe9"):
        corpus_stats(run)


def test_list_files_outside_the_recipe_folder_are_not_read(tmp_path):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "secret.txt").write_text("cat\n")
    lists = {"noun": {"file": "../secret.txt", "items": None, "draw": 1}}
    source = str(tmp_path / "recipes" / "r.toml")
    listed, missing = load_lists({"recipe": {"source": source, "resolved": {"lists": lists}}})
    assert listed == {} and "outside the recipe's folder" in missing["noun"]


def test_damaged_list_specs_are_reported_not_raised():
    specs = {"a": "not a spec", "b": {"items": "cat"}, "c": {"items": ["cat", " cat ", "", 7]}}
    listed, missing = load_lists({"recipe": {"resolved": {"lists": specs}}})
    assert listed == {"c": ["cat", "7"]} and set(missing) == {"a", "b"}
    assert load_lists({"recipe": "damaged"}) == ({}, {})
