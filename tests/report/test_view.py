"""Rendering: the tables show the JSON's numbers, two corpora side by side."""

from __future__ import annotations

import json

from rich.console import Console

from tests.helpers import make_run, story_run
from tinygen.report.corpus import corpus_stats
from tinygen.report.view import render_stats, short_summary


def _render(stats: list[dict]) -> str:
    console = Console(record=True, width=240, force_terminal=False)
    render_stats(stats, console)
    return console.export_text()


def test_rendering_shows_the_json_numbers(tmp_path):
    stats = corpus_stats(story_run(tmp_path))
    json.dumps(stats)  # JSON-able
    text = _render([stats])
    d = stats["diversity"]
    for figure in (
        f"{100 * d['opening_3']['share']:.1f}%",
        f"{100 * d['name']['share']:.1f}%",
        f"{d['distinct_1']:.4g}",
        f"{d['distinct_2']:.4g}",
        f"{d['compression']['ratio']:.4g}",
        d["opening_3"]["most_common"],
        d["name"]["most_common"],
        "80.0% · 80.0% · 75.0% of 5",
    ):
        assert figure in text, figure
    assert "█" in text  # the length histogram
    summary = short_summary(stats)
    assert "4 records" in summary and "75.0%" in summary
    assert "of the noun list (4 of 5), 100.0% of the verb list (3 of 3)" in summary
    assert "answers used the word they were asked for: noun 75.0%" in summary


def test_compare_two_corpora_side_by_side(tmp_path):
    a = corpus_stats(story_run(tmp_path / "a"))
    b = corpus_stats(make_run(tmp_path / "b", ["Ana ran home.", "Then Ana sang."], name="other"))
    text = _render([a, b])
    assert "A: hand" in text and "B: other" in text
    row = next(line for line in text.splitlines() if "top 3-word opening share" in line)
    assert "75.0%" in row and "50.0%" in row
